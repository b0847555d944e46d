"""Access control: row-level security decides, and nothing leaks.

The matrix runs every route that exists for a record, as a caller who must
not reach it (rep A on rep B's data, one organisation on another's), and
checks the answers are exactly those for a record that does not exist: same
status, same problem type and detail, same counts.
"""
import uuid

import psycopg
import pytest

from conftest import DEMO, DEMO_ORG, bearer

REP1 = DEMO["rep1"][1]
REP2 = DEMO["rep2"][1]
MANAGER = DEMO["manager"][1]


def bound(stack, principal, query, params=None):
    """Run `query` as crm_app in one transaction with `principal` bound."""
    with psycopg.connect(stack.dsn("crm_app")) as conn:
        conn.execute("SELECT crm_bind(%s::jsonb)", (principal,))
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else cur.rowcount


def as_user(short):
    return '{"user": "%s", "org": "%s"}' % (DEMO[short][1], DEMO_ORG)


def test_rls_holds_for_sql_that_forgets_the_owner_filter(stack):
    count = "SELECT count(*) FROM customers"
    assert bound(stack, as_user("rep1"), count) == [(2,)]
    assert bound(stack, as_user("rep2"), count) == [(2,)]
    assert bound(stack, as_user("manager"), count) == [(5,)]
    assert bound(stack, as_user("admin"), count) == [(5,)]
    assert bound(stack, as_user("marketing"), count) == [(5,)]
    # Unbound: fails closed.
    with psycopg.connect(stack.dsn("crm_app")) as conn:
        assert conn.execute(count).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)


def test_rls_limits_writes_too(stack):
    touched = bound(stack, as_user("rep1"),
                    "UPDATE customers SET grade = grade")
    assert touched == 2
    assert bound(stack, as_user("marketing"),
                 "UPDATE customers SET grade = grade") == 0
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        bound(stack, as_user("rep1"),
              "INSERT INTO customers (org_id, owner_id, name) "
              "VALUES (%s, %s, '越权客户')", (DEMO_ORG, REP2))


def test_binding_does_not_leak_to_the_next_transaction(stack):
    with psycopg.connect(stack.dsn("crm_app"), autocommit=True) as conn:
        conn.execute("SELECT crm_bind(%s::jsonb)", (as_user("admin"),))
        assert conn.execute("SELECT count(*) FROM customers"
                            ).fetchone() == (0,)
        assert conn.execute("SELECT current_setting('app.user_id', true)"
                            ).fetchone()[0] in ("", None)


def test_app_role_cannot_read_secrets(stack):
    for q in ("SELECT password_hash FROM users",
              "SELECT key_hash FROM api_keys",
              "SELECT * FROM refresh_tokens",
              "SELECT * FROM auth_failures"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            bound(stack, as_user("admin"), q)


def test_app_role_cannot_write_the_audit_log(stack):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        bound(stack, as_user("admin"),
              "INSERT INTO audit_log (org_id, action, entity) "
              "VALUES (%s, 'forged', 'x')", (DEMO_ORG,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        bound(stack, as_user("admin"), "DELETE FROM audit_log")


def test_every_table_forces_rls(stack):
    rows = stack.sql("SELECT relname FROM pg_class c JOIN pg_namespace n "
                     "ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
                     "AND c.relkind = 'r' AND relname <> 'schema_migrations' "
                     "AND NOT (relrowsecurity AND relforcerowsecurity)")
    assert rows == []


def problem_shape(r):
    d = r.json()
    return r.status_code, d["type"], d["title"], d["detail"]


def test_cross_org_matrix(api, tokens, org2):
    """Org 2 reaching org 1's records answers as for records that don't
    exist; and the other way round."""
    ghost = str(uuid.uuid4())
    for token, victim in ((org2["admin"], DEMO["rep1"][1]),
                          (org2["rep"], DEMO["admin"][1]),
                          (tokens["admin"], org2["rep_id"])):
        h = bearer(token)
        for method, path, body in (
                ("GET", "/v1/users/{}", None),
                ("PATCH", "/v1/users/{}", {"name": "x"}),
                ("DELETE", "/v1/users/{}", None),
                ("DELETE", "/v1/api-keys/{}", None)):
            real = api.request(method, path.format(victim), headers=h,
                               json=body)
            fake = api.request(method, path.format(ghost), headers=h,
                               json=body)
            if real.status_code == 403:
                # Role refusal comes before lookup only for other roles'
                # actions: the ghost must be refused identically.
                assert problem_shape(real) == problem_shape(fake)
                continue
            assert real.status_code == 404, (method, path)
            assert problem_shape(real) == problem_shape(fake)
        listed = api.get("/v1/users?limit=500", headers=h).json()["data"]
        assert victim not in {u["id"] for u in listed}
        assert api.get("/v1/users?manager_id=" + MANAGER, headers=h
                       ).json()["data"] == [] or token == tokens["admin"]


def test_cross_org_audit_and_keys_invisible(api, tokens, org2):
    h = bearer(org2["admin"])
    audit = api.get("/v1/audit?limit=500", headers=h).json()["data"]
    assert all(e["entity_id"] != DEMO["admin"][1] for e in audit)
    assert all(e["actor_id"] not in {u for _, u in DEMO.values()}
               for e in audit)
    keys = api.get("/v1/api-keys", headers=h).json()["data"]
    org1_keys = api.get("/v1/api-keys", headers=bearer(tokens["admin"])
                        ).json()["data"]
    assert not {k["id"] for k in keys} & {k["id"] for k in org1_keys}


def test_rep_cannot_change_another_rep(api, tokens):
    for method, body in (("PATCH", {"name": "x"}), ("DELETE", None)):
        r = api.request(method, "/v1/users/" + REP2,
                        headers=bearer(tokens["rep1"]), json=body)
        assert r.status_code == 403
    assert api.get("/v1/users/" + REP2, headers=bearer(tokens["admin"])
                   ).json()["name"] == "刘芳"


def test_me_reports_visibility(api, tokens):
    expect = {"admin": "organization", "ceo": "organization",
              "manager": "team", "rep1": "own",
              "marketing": "organization_read",
              "service": "organization_read"}
    for who, vis in expect.items():
        me = api.get("/v1/me", headers=bearer(tokens[who])).json()
        assert me["visibility"] == vis, who
    team = api.get("/v1/me", headers=bearer(tokens["manager"])).json()["team"]
    assert set(team) == {MANAGER, REP1, REP2}


CUSTOMER_OF_REP1 = "00000000-0000-4000-8000-000000001001"


def test_reassigning_owner_is_a_manager_action_and_audited(stack):
    move = "UPDATE customers SET owner_id = %s WHERE id = %s"
    # A rep cannot hand a record to someone outside their own team.
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        bound(stack, as_user("rep1"), move, (REP2, CUSTOMER_OF_REP1))
    # The manager moves it within the team, and back.
    p = ('{"user": "%s", "org": "%s", "rid": "reassign-test"}'
         % (MANAGER, DEMO_ORG))
    assert bound(stack, p, move, (REP2, CUSTOMER_OF_REP1)) == 1
    assert bound(stack, p, move, (REP1, CUSTOMER_OF_REP1)) == 1
    rows = stack.sql("SELECT actor_id::text, changes->'owner_id' FROM "
                     "audit_log WHERE request_id = 'reassign-test' "
                     "ORDER BY id")
    assert rows == [(MANAGER, {"before": REP1, "after": REP2}),
                    (MANAGER, {"before": REP2, "after": REP1})]
