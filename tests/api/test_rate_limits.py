"""Rate limits per API key and per person (CRM_RATE_LIMIT_KEY,
CRM_RATE_LIMIT_USER per CRM_RATE_LIMIT_WINDOW seconds): the RateLimit
headers (draft-ietf-httpapi-ratelimit-headers-06) on every authenticated
response, 429 problems with Retry-After beyond the limit, credentials
counted apart, and the limit back after the wait.

The suite's own server runs with limits no test reaches; the limits are
exercised on a second Kore of their own (same database, two workers, 5
requests per 10 s per person and 3 per key), so the limit is shown to
hold across workers: every request opens a new connection."""
import os
import signal
from concurrent.futures import ThreadPoolExecutor
import subprocess
import time

import pytest
import requests

from conftest import DEMO, SPEC, Client, bearer, free_port

USER_LIMIT = 5
KEY_LIMIT = 3
WINDOW = 10


@pytest.fixture(scope="module")
def limited(stack, tmp_path_factory):
    """A second Kore with low limits, stopped (and its log checked for
    sanitizer reports) after the module."""
    tmp = tmp_path_factory.mktemp("limited")
    port = free_port()
    conf = (stack.state / "kore.conf").read_text()
    conf = conf.replace(f"bind 127.0.0.1 {stack.backend_port}",
                        f"bind 127.0.0.1 {port}")
    conf = conf.replace(str(stack.state / "run" / "kore-parent.pid"),
                        str(tmp / "kore-parent.pid"))
    conf = "\n".join("workers\t\t\t2" if line.startswith("workers")
                     else line for line in conf.splitlines()) + "\n"
    (tmp / "kore.conf").write_text(conf)
    env = dict(stack.env, CRM_RATE_LIMIT_USER=str(USER_LIMIT),
               CRM_RATE_LIMIT_KEY=str(KEY_LIMIT),
               CRM_RATE_LIMIT_WINDOW=str(WINDOW), CRM_DB_POOL="2",
               CRM_DATABASE_URL=(f"host=127.0.0.1 port={stack.pg_port} "
                                 "dbname=crm user=crm_app "
                                 "application_name=limited"))
    env["ASAN_OPTIONS"] = "verify_asan_link_order=0:detect_leaks=0"
    if stack.env["CRM_BUILD"] == "debug":
        env["LD_PRELOAD"] = ":".join(
            subprocess.run(["gcc", f"-print-file-name={lib}"], text=True,
                           capture_output=True).stdout.strip()
            for lib in ("libasan.so", "libubsan.so"))
    log = tmp / "kore.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            ["stdbuf", "-oL", "-eL", "/usr/bin/kore", "-c",
             str(tmp / "kore.conf"), "-f", "-n", "-r"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(base + "/healthz", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        else:
            pytest.fail("the rate-limited server did not start: " +
                        log.read_text(errors="replace")[-2000:])
        yield Client(base, stack.ca)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = log.read_text(errors="replace")
    for marker in ("AddressSanitizer", "runtime error:", "LeakSanitizer",
                   "sandbox violation"):
        assert marker not in text, f"{marker} in the limited server's log"


def new_connection_client(client):
    """A client that opens a new connection for every request (each may
    land on either worker)."""
    c = Client(client.base, client.ca)
    c.session.headers["Connection"] = "close"
    return c


def make_key(api, tokens, scopes, user=None):
    body = {"name": "限流测试", "scopes": scopes}
    if user:
        body["user_id"] = user
    r = api.post("/v1/api-keys", headers=bearer(tokens["admin"]), json=body)
    assert r.status_code == 201, r.text
    return r.json()["key"]


def ints(r):
    return (int(r.headers["ratelimit-limit"]),
            int(r.headers["ratelimit-remaining"]),
            int(r.headers["ratelimit-reset"]))


def test_headers_on_every_authenticated_response(api, tokens):
    """The suite's server: its (high) limits are announced on successes
    and on errors of authenticated requests, not on public ones."""
    for r in (api.get("/v1/me", headers=bearer(tokens["rep1"])),
              api.get("/v1/customers/00000000-0000-4000-8000-00000000dead",
                      headers=bearer(tokens["rep1"])),
              api.post("/v1/customers", headers=bearer(tokens["rep1"]),
                       json={})):
        assert r.status_code in (200, 404, 422)
        limit, remaining, reset = ints(r)
        assert limit == 1000000
        assert 0 < remaining < limit
        assert reset >= 1
        assert r.headers["ratelimit-policy"] == "1000000;w=60"
    for r in (api.get("/healthz"), api.get("/v1/me")):
        assert r.status_code in (200, 401)
        assert "ratelimit-limit" not in r.headers


def test_user_limit_across_workers(limited, api, tokens):
    client = new_connection_client(limited)
    h = bearer(tokens["service"])
    seen = []
    for i in range(USER_LIMIT):
        r = client.get("/v1/me", headers=h)
        assert r.status_code == 200, r.text
        seen.append(ints(r)[:2])
        assert r.headers["ratelimit-policy"] == f"{USER_LIMIT};w={WINDOW}"
    assert seen == [(USER_LIMIT, USER_LIMIT - 1 - i)
                    for i in range(USER_LIMIT)]

    r = client.get("/v1/me", headers=h)
    assert r.status_code == 429
    doc = r.json()
    assert doc["type"] == "urn:crm:problem:rate-limited"
    assert "this user" in doc["detail"]
    wait = int(r.headers["retry-after"])
    assert 1 <= wait <= WINDOW // USER_LIMIT
    limit, remaining, reset = ints(r)
    assert (limit, remaining) == (USER_LIMIT, 0)
    assert 1 <= reset <= WINDOW

    # Another person is not affected.
    assert client.get("/v1/me", headers=bearer(tokens["marketing"])
                      ).status_code == 200

    # After Retry-After one more request goes through, then 429 again.
    time.sleep(wait)
    r = client.get("/v1/me", headers=h)
    assert r.status_code == 200, r.text
    assert ints(r)[1] == 0
    assert client.get("/v1/me", headers=h).status_code == 429


def test_key_limit_and_keys_apart(limited, api, tokens):
    client = new_connection_client(limited)
    k1 = make_key(api, tokens, ["users:read"], DEMO["rep2"][1])
    k2 = make_key(api, tokens, ["users:read"], DEMO["rep2"][1])
    for i in range(KEY_LIMIT):
        r = client.get("/v1/me", headers={"X-API-Key": k1})
        assert r.status_code == 200, r.text
        assert ints(r)[:2] == (KEY_LIMIT, KEY_LIMIT - 1 - i)
    # The same key as a Bearer credential is the same bucket.
    r = client.get("/v1/me", headers=bearer(k1))
    assert r.status_code == 429
    assert "this API key" in r.json()["detail"]
    assert int(r.headers["retry-after"]) >= 1

    # Another key of the same user, and the user's own token, are apart.
    r = client.get("/v1/me", headers={"X-API-Key": k2})
    assert r.status_code == 200
    assert ints(r)[:2] == (KEY_LIMIT, KEY_LIMIT - 1)
    r = client.get("/v1/me", headers=bearer(tokens["rep2"]))
    assert r.status_code == 200
    assert ints(r)[0] == USER_LIMIT


def test_refused_before_anything_runs(limited, api, stack, tokens):
    """Over the limit, a create is answered 429 before its body is read
    or the database is asked: nothing is written, even for a valid body."""
    client = new_connection_client(limited)
    h = bearer(tokens["ceo"])
    for _ in range(USER_LIMIT):
        assert client.get("/v1/me", headers=h).status_code == 200
    before = stack.sql("SELECT count(*) FROM customers")[0][0]
    r = client.post("/v1/customers", headers=h, json={"name": "限流有限公司"})
    assert r.status_code == 429
    r = client.post("/v1/customers", headers=h, json={"nope": 1})
    assert r.status_code == 429
    assert stack.sql("SELECT count(*) FROM customers")[0][0] == before


def test_whole_limit_back_after_the_window(limited, tokens):
    client = new_connection_client(limited)
    h = bearer(tokens["manager"])
    for _ in range(USER_LIMIT):
        assert client.get("/v1/me", headers=h).status_code == 200
    r = client.get("/v1/me", headers=h)
    assert r.status_code == 429
    time.sleep(int(r.headers["ratelimit-reset"]))
    for i in range(USER_LIMIT):
        r = client.get("/v1/me", headers=h)
        assert r.status_code == 200, r.text
        assert ints(r)[1] == USER_LIMIT - 1 - i


def test_concurrent_requests_get_exactly_the_limit(limited, tokens):
    """Twelve requests at once on twelve connections (both workers take
    some): exactly the limit goes through."""
    h = bearer(tokens["admin"])

    def one(_):
        return new_connection_client(limited).get("/v1/me", headers=h)

    with ThreadPoolExecutor(12) as pool:
        statuses = sorted(r.status_code for r in pool.map(one, range(12)))
    assert statuses == [200] * USER_LIMIT + [429] * (12 - USER_LIMIT)


def test_every_authenticated_operation_documents_429():
    for path, item in SPEC["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete") and \
                    op.get("security", SPEC.get("security")):
                assert op["responses"].get("429") == {
                    "$ref": "#/components/responses/RateLimitExceeded"
                }, (method, path)
