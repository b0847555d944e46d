"""Racing a request against another transaction, deterministically.

`race` changes rows in a transaction of its own (as the superuser, so
the change stands for another user's request), starts the API request in
a thread while those row locks are held, waits until the request's
statement is blocked by that transaction, and only then commits: the
request goes on against the committed change, as it would when two
people act at the same moment. A statement that read the row before
taking its lock sees the old row and acts on it: the race these tests
are there to catch."""
import concurrent.futures
import time

import psycopg


def _blocked(stack, holder):
    """Whether some backend waits on a lock that backend `holder` holds."""
    return stack.sql("SELECT count(*) FROM pg_stat_activity "
                     "WHERE %s = ANY (pg_blocking_pids(pid))",
                     (holder,))[0][0] > 0


def race(stack, changes, request, timeout=10):
    """Run `changes` (a list of (SQL, params)) in an open transaction,
    then `request()` in a thread; commit once the request waits for the
    transaction's locks (or has finished without waiting). Returns
    (request()'s result, whether it had to wait)."""
    with psycopg.connect(stack.dsn()) as conn:
        for sql, params in changes:
            conn.execute(sql, params)
        holder = conn.info.backend_pid
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            fut = pool.submit(request)
            waited = False
            deadline = time.monotonic() + timeout
            while not fut.done() and time.monotonic() < deadline:
                if _blocked(stack, holder):
                    waited = True
                    break
                time.sleep(0.05)
            conn.commit()
            return fut.result(timeout=timeout), waited
