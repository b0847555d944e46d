"""The database module: pool opened at start, queueing, recovery, hygiene."""
import concurrent.futures
import time

from conftest import Client


def api_backends(stack):
    return stack.sql("SELECT pid, state, backend_xid FROM pg_stat_activity "
                     "WHERE application_name = 'api'")


def test_pool_is_open_before_first_db_request(stack):
    # The stack's start-up only called /healthz, which needs no database.
    workers = int(stack.env.get("CRM_WORKERS") or __import__("os").cpu_count())
    pool = int(stack.env.get("CRM_DB_POOL", "8"))
    assert len(api_backends(stack)) == workers * pool


def test_app_role_cannot_bypass_rls_or_own_tables(stack):
    row = stack.sql("SELECT rolsuper, rolbypassrls FROM pg_roles "
                    "WHERE rolname = 'crm_app'")[0]
    assert row == (False, False)
    owned = stack.sql("SELECT count(*) FROM pg_tables WHERE "
                      "schemaname = 'public' AND tableowner = 'crm_app'")
    assert owned[0][0] == 0


def test_more_requests_than_connections(stack):
    client = Client(stack.http, stack.ca)

    def one(_):
        return client.get("/readyz").status_code

    with concurrent.futures.ThreadPoolExecutor(64) as ex:
        codes = list(ex.map(one, range(512)))
    assert codes == [200] * 512


def test_no_connection_left_in_a_transaction(stack, backend):
    for _ in range(50):
        backend.get("/readyz")
    for pid, state, xid in api_backends(stack):
        assert state == "idle", (pid, state)
        assert xid is None


def test_recovers_when_connections_are_killed(stack, backend):
    assert backend.get("/readyz").status_code == 200
    killed = stack.sql("SELECT count(pg_terminate_backend(pid)) FROM "
                       "pg_stat_activity WHERE application_name = 'api'")
    assert killed[0][0] > 0
    time.sleep(0.2)
    # Dropped idle connections are noticed and reset before use.
    codes = [backend.get("/readyz").status_code for _ in range(40)]
    assert codes == [200] * 40
