"""Idempotency-Key on POST: the first answer of a request is stored with
its work in one transaction and replayed, byte for byte with its status,
Location and ETag, to a retry of the same request; the same key with
another request is a 422; a retry while the first still runs waits for
it (then 409); keys belong to their caller; errors are not stored; keys
expire after 24 hours and are purged; routes that cannot honour a key
refuse it (400)."""
import hashlib
import hmac
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests

from conftest import DEMO, DEMO_ORG, SPEC, TEST_JWT_SECRET, bearer
from leads_helpers import count, lead

REP1 = DEMO["rep1"][1]


def post(api, path, token, body=None, key=None, **kw):
    headers = dict(bearer(token) if token else {}, **kw.pop("headers", {}))
    if key is not None:
        headers["Idempotency-Key"] = key
    return api.post(path, headers=headers, json=body, **kw)


def customers_named(stack, name):
    return count(stack, "customers", "name = %s", (name,))


def new_key():
    return "order-" + str(uuid.uuid4())


def request_hash(path, body):
    """What the server stores: HMAC-SHA256 under its JWT secret of the
    method, the path and the body as canonical JSON."""
    text = json.dumps(body, separators=(",", ":"), sort_keys=True,
                      ensure_ascii=False)
    msg = "crm-idempotency-v1\nPOST\n%s\n%s" % (path, text)
    return hmac.new(TEST_JWT_SECRET.encode(), msg.encode(),
                    hashlib.sha256).hexdigest()


def test_replay_returns_the_first_answer_and_writes_once(api, stack, tokens):
    name = "幂等测试有限公司" + uuid.uuid4().hex[:6]
    body = {"name": name, "grade": "A", "tags": ["重点客户"]}
    key = new_key()
    first = post(api, "/v1/customers", tokens["rep1"], body, key)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    cid = first.json()["id"]
    audits = count(stack, "audit_log", "entity_id = %s", (cid,))

    again = post(api, "/v1/customers", tokens["rep1"], body, key)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    for h in ("location", "etag", "content-type"):
        assert again.headers[h] == first.headers[h]
    assert again.headers["x-request-id"] != first.headers["x-request-id"]

    # The same request with other key order and white space is the same.
    raw = json.dumps(dict(reversed(list(body.items()))), indent=4,
                     ensure_ascii=False).encode()
    third = api.post("/v1/customers", data=raw, headers=dict(
        bearer(tokens["rep1"]), **{"Idempotency-Key": key,
                                   "Content-Type": "application/json"}))
    assert third.status_code == 201
    assert third.content == first.content

    assert customers_named(stack, name) == 1
    assert count(stack, "audit_log", "entity_id = %s", (cid,)) == audits
    row = stack.sql("SELECT caller_id::text, user_id::text, api_key_id, "
                    "response, expires_at - created_at FROM "
                    "idempotency_keys WHERE key = %s", (key,))
    assert len(row) == 1
    caller, user, api_key, response, ttl = row[0]
    assert (caller, user, api_key) == (REP1, REP1, None)
    assert json.loads(response) == first.json()
    assert ttl.total_seconds() == 24 * 3600


def test_same_key_other_request_is_422(api, stack, tokens):
    name = "幂等冲突公司" + uuid.uuid4().hex[:6]
    key = new_key()
    assert post(api, "/v1/customers", tokens["rep1"], {"name": name},
                key).status_code == 201
    before = count(stack, "customers")
    for path, body in (("/v1/customers", {"name": name + "乙"}),
                       ("/v1/customers", {"name": name, "grade": "B"}),
                       ("/v1/leads", {"name": name})):
        r = post(api, path, tokens["rep1"], body, key)
        assert r.status_code == 422, r.text
        doc = r.json()
        assert doc["type"] == "urn:crm:problem:validation-failed"
        assert doc["errors"] == [{
            "field": "Idempotency-Key", "code": "reused",
            "message": "The key was first sent with another method, "
                       "path or body."}]
        assert "idempotent-replayed" not in r.headers
    assert count(stack, "customers") == before
    assert count(stack, "leads", "name = %s", (name,)) == 0


def test_concurrent_retries_run_the_work_once(api, stack, tokens):
    name = "并发幂等公司" + uuid.uuid4().hex[:6]
    key = new_key()

    def one(_):
        return post(api, "/v1/customers", tokens["rep1"], {"name": name},
                    key)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(8)))
    assert [r.status_code for r in answers] == [201] * 8
    assert len({r.content for r in answers}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true"
               for r in answers) == 7
    assert customers_named(stack, name) == 1


def test_keys_belong_to_their_caller(api, stack, tokens, org2):
    """Another person, an API key of the same person and another
    organisation sending the same key and body get their own record: no
    replay, no 422, nothing learnt of anyone else's key."""
    name = "各自幂等公司" + uuid.uuid4().hex[:6]
    key = new_key()
    r = api.post("/v1/api-keys", headers=bearer(tokens["admin"]), json={
        "name": "幂等 ERP", "scopes": ["customers:write"], "user_id": REP1})
    assert r.status_code == 201, r.text
    api_key = r.json()

    ids = set()
    for headers in (bearer(tokens["rep1"]), bearer(tokens["rep2"]),
                    {"X-API-Key": api_key["key"]}, bearer(org2["rep"])):
        r = api.post("/v1/customers", json={"name": name}, headers=dict(
            headers, **{"Idempotency-Key": key}))
        assert r.status_code == 201, r.text
        assert "idempotent-replayed" not in r.headers
        ids.add(r.json()["id"])
    assert len(ids) == 4
    assert customers_named(stack, name) == 4
    rows = stack.sql("SELECT org_id::text, caller_id::text, user_id::text, "
                     "api_key_id::text FROM idempotency_keys WHERE key = %s "
                     "ORDER BY created_at", (key,))
    assert sorted(rows) == sorted([
        (DEMO_ORG, REP1, REP1, None),
        (DEMO_ORG, DEMO["rep2"][1], DEMO["rep2"][1], None),
        (DEMO_ORG, api_key["id"], REP1, api_key["id"]),
        (org2["org"], org2["rep_id"], org2["rep_id"], None)])

    # Each caller's replay is its own answer.
    r = post(api, "/v1/customers", tokens["rep2"], {"name": name}, key)
    assert r.headers["idempotent-replayed"] == "true"
    assert r.json()["owner_id"] == DEMO["rep2"][1]


def test_a_key_without_the_scope_gets_403_and_keeps_nothing(api, stack,
                                                           tokens):
    r = api.post("/v1/api-keys", headers=bearer(tokens["admin"]), json={
        "name": "只读 ERP", "scopes": ["customers:read"]})
    assert r.status_code == 201, r.text
    h = {"X-API-Key": r.json()["key"], "Idempotency-Key": new_key()}
    name = "无权幂等公司" + uuid.uuid4().hex[:6]
    for _ in range(2):
        r = api.post("/v1/customers", headers=h, json={"name": name})
        assert r.status_code == 403
        assert "customers:write" in r.json()["detail"]
        assert "idempotent-replayed" not in r.headers
    assert customers_named(stack, name) == 0
    assert count(stack, "idempotency_keys", "key = %s",
                 (h["Idempotency-Key"],)) == 0


def test_the_database_sees_only_the_callers_keys(api, stack, tokens):
    for short in ("rep1", "rep2"):
        assert post(api, "/v1/customers", tokens[short],
                    {"name": "可见性" + uuid.uuid4().hex[:6]},
                    new_key()).status_code == 201
    principal = '{"user": "%s", "org": "%s"}' % (DEMO["rep2"][1], DEMO_ORG)
    with psycopg.connect(stack.dsn("crm_app")) as conn:
        conn.execute("SELECT crm_bind(%s::jsonb)", (principal,))
        seen = conn.execute("SELECT DISTINCT caller_id::text FROM "
                            "idempotency_keys").fetchall()
    assert seen == [(DEMO["rep2"][1],)]
    with psycopg.connect(stack.dsn("crm_app")) as conn:
        assert conn.execute("SELECT count(*) FROM idempotency_keys"
                            ).fetchone()[0] == 0


def test_errors_are_not_stored(api, stack, tokens):
    """A request that failed wrote nothing, so nothing is kept: the key
    may be sent again, with the request corrected."""
    key = new_key()
    name = "先错后对公司" + uuid.uuid4().hex[:6]
    r = post(api, "/v1/customers", tokens["rep1"], {"grade": "Z"}, key)
    assert r.status_code == 422
    # An error raised by the database: a customer nobody can see.
    body = {"name": "商机" + name, "customer_id": str(uuid.uuid4()),
            "amount": "100"}
    r = post(api, "/v1/opportunities", tokens["rep1"], body, key)
    assert r.status_code in (404, 422), r.text
    assert "idempotent-replayed" not in r.headers
    r2 = post(api, "/v1/opportunities", tokens["rep1"], body, key)
    assert (r2.status_code, r2.json()["detail"]) == (
        r.status_code, r.json()["detail"])
    assert "idempotent-replayed" not in r2.headers
    assert count(stack, "idempotency_keys", "key = %s", (key,)) == 0

    r = post(api, "/v1/customers", tokens["rep1"], {"name": name}, key)
    assert r.status_code == 201
    assert count(stack, "idempotency_keys", "key = %s", (key,)) == 1


def test_a_404_from_the_database_is_replayed(api, tokens):
    """An action on a record the caller cannot see committed nothing but
    its answer: the retry gets the same 404, marked as a replay."""
    path = "/v1/customers/%s/restore" % uuid.uuid4()
    key = new_key()
    r = post(api, path, tokens["rep1"], key=key)
    assert r.status_code == 404
    assert "idempotent-replayed" not in r.headers
    again = post(api, path, tokens["rep1"], key=key)
    assert again.status_code == 404
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["detail"] == r.json()["detail"]


def test_replay_keeps_the_first_status(api, stack, tokens):
    """Converting a lead answers 201, and 200 when asked again; with a key
    the retry is the first answer: 201, the same body."""
    x = lead(api, tokens["rep1"], company="幂等转化公司" + uuid.uuid4().hex[:6])
    key = new_key()
    path = "/v1/leads/%s/convert" % x["id"]
    first = post(api, path, tokens["rep1"], {}, key)
    assert first.status_code == 201, first.text
    again = post(api, path, tokens["rep1"], {}, key)
    assert (again.status_code, again.content) == (201, first.content)
    plain = post(api, path, tokens["rep1"], {})
    assert plain.status_code == 200
    assert plain.json()["customer_id"] == first.json()["customer_id"]


def test_a_retry_waits_for_the_running_request(api, stack, tokens):
    """A key held by a transaction still running (here: a test holding
    the row) makes the retry wait; when it commits, the retry answers what
    it stored, without running anything."""
    name = "等待幂等公司" + uuid.uuid4().hex[:6]
    body = {"name": name}
    key = new_key()
    # What the running request will have stored: a customer's answer.
    made = post(api, "/v1/customers", tokens["rep1"], body)
    assert made.status_code == 201
    stored = made.text
    result = {}

    def retry():
        result["r"] = post(api, "/v1/customers", tokens["rep1"], body, key)

    with psycopg.connect(stack.dsn()) as conn:
        conn.execute(
            "INSERT INTO idempotency_keys (org_id, caller_id, key, user_id, "
            "request_hash, response, expires_at) VALUES "
            "(%s, %s, %s, %s, %s, %s, now() + interval '1 day')",
            (DEMO_ORG, REP1, key, REP1, request_hash("/v1/customers", body),
             stored))
        t = threading.Thread(target=retry)
        start = time.monotonic()
        t.start()
        time.sleep(1.0)
        assert "r" not in result
        conn.commit()
    t.join(10)
    r = result["r"]
    assert time.monotonic() - start >= 1.0
    assert r.status_code == 201, r.text
    assert r.headers["idempotent-replayed"] == "true"
    assert r.text == stored
    assert customers_named(stack, name) == 1


def test_a_retry_gives_up_after_five_seconds(api, stack, tokens):
    body = {"name": "超时幂等公司"}
    key = new_key()
    with psycopg.connect(stack.dsn()) as conn:
        conn.execute(
            "INSERT INTO idempotency_keys (org_id, caller_id, key, user_id, "
            "request_hash, expires_at) VALUES "
            "(%s, %s, %s, %s, %s, now() + interval '1 day')",
            (DEMO_ORG, REP1, key, REP1, request_hash("/v1/customers", body)))
        start = time.monotonic()
        r = post(api, "/v1/customers", tokens["rep1"], body, key)
        waited = time.monotonic() - start
        conn.rollback()
    assert r.status_code == 409, r.text
    assert "still running" in r.json()["detail"]
    assert 5.0 <= waited < 9.0
    # The first request never committed: the key is free again.
    r = post(api, "/v1/customers", tokens["rep1"], body, key)
    assert r.status_code == 201
    assert "idempotent-replayed" not in r.headers


def test_expired_keys_run_again_and_are_purged(api, stack, tokens):
    name = "过期幂等公司" + uuid.uuid4().hex[:6]
    key = new_key()
    first = post(api, "/v1/customers", tokens["rep1"], {"name": name}, key)
    assert first.status_code == 201
    stack.sql("UPDATE idempotency_keys SET expires_at = now() - "
              "interval '1 second' WHERE key = %s", (key,))
    again = post(api, "/v1/customers", tokens["rep1"], {"name": name}, key)
    assert again.status_code == 201
    assert "idempotent-replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]
    assert customers_named(stack, name) == 2
    left = stack.sql("SELECT expires_at > now() + interval '23 hours' FROM "
                     "idempotency_keys WHERE key = %s", (key,))
    assert left == [(True,)]

    # Expired keys of anyone are deleted, a few with every keyed request.
    stack.sql("INSERT INTO idempotency_keys (org_id, caller_id, key, "
              "user_id, request_hash, created_at, expires_at) "
              "SELECT %s, %s, 'old-' || i, %s, 'x', now() - interval "
              "'2 days', now() - interval '1 day' "
              "FROM generate_series(1, 15) i",
              (DEMO_ORG, DEMO["rep2"][1], DEMO["rep2"][1]))
    old = "caller_id = %s AND key LIKE 'old-%%'"
    assert count(stack, "idempotency_keys", old, (DEMO["rep2"][1],)) == 15
    assert post(api, "/v1/customers", tokens["rep1"],
                {"name": name + "丙"}, new_key()).status_code == 201
    assert count(stack, "idempotency_keys", old, (DEMO["rep2"][1],)) == 5
    assert stack.sql("SELECT crm_idempotency_purge(100)",
                     user="crm_app") == [(5,)]
    assert count(stack, "idempotency_keys", "expires_at <= now()") == 0


def test_bad_keys_are_400_and_nothing_runs(api, stack, tokens):
    name = "坏钥匙公司" + uuid.uuid4().hex[:6]
    for key in ("x" * 256, "x" * 1000):
        r = post(api, "/v1/customers", tokens["rep1"], {"name": name}, key)
        assert r.status_code == 400, r.text
        doc = r.json()
        assert doc["errors"] == [{
            "field": "Idempotency-Key", "code": "invalid",
            "message": "Idempotency-Key must be 1 to 255 printable ASCII "
                       "characters."}]
    assert post(api, "/v1/customers", tokens["rep1"], {"name": name},
                "x" * 255).status_code == 201
    assert customers_named(stack, name) == 1


@pytest.mark.parametrize("key", [b"", "订单-1".encode(), b"tab\there",
                                 b"del\x7f"])
def test_keys_kore_itself_refuses(stack, tokens, key):
    """Empty values and bytes outside printable ASCII never reach the
    server's code: Kore 4.1 answers any such header with a bare 400 (no
    problem document). Still nothing runs."""
    name = "坏钥匙公司" + uuid.uuid4().hex[:6]
    r = requests.post(stack.http + "/v1/customers",
                      data=json.dumps({"name": name}), timeout=10,
                      headers=dict(bearer(tokens["rep1"]), **{
                          "Content-Type": "application/json",
                          "Idempotency-Key": key}))
    assert r.status_code == 400
    assert customers_named(stack, name) == 0


def test_routes_that_cannot_honour_a_key_refuse_it(api, stack, tokens):
    keys = count(stack, "api_keys")
    forms = count(stack, "lead_forms")
    hooks = count(stack, "webhook_subscriptions")
    for path, token, body, why in (
            ("/v1/api-keys", tokens["admin"],
             {"name": "一次性", "scopes": ["users:read"]}, "secret"),
            ("/v1/lead-forms", tokens["admin"], {"name": "官网表单"},
             "secret"),
            ("/v1/webhooks", tokens["admin"],
             {"url": "https://erp.example.cn/hooks", "events":
              ["customer.created"]}, "secret"),
            ("/v1/auth/login", None, {"email": DEMO["rep1"][0],
                                      "password": "whatever-it-is"},
             "public"),
            ("/v1/forms/lf_nope/leads", None, {"name": "张三"}, "public"),
            ("/v1/imports/customers", tokens["rep1"], None, "upsert")):
        r = post(api, path, token, body, new_key())
        assert r.status_code == 400, (path, r.text)
        assert why in r.json()["detail"]
        assert r.json()["errors"][0]["code"] == "unsupported"
    assert count(stack, "api_keys") == keys
    assert count(stack, "lead_forms") == forms
    assert count(stack, "webhook_subscriptions") == hooks


def test_other_methods_ignore_the_header(api, tokens):
    h = dict(bearer(tokens["rep1"]), **{"Idempotency-Key": "x" * 300})
    r = api.get("/v1/me", headers=h)
    assert r.status_code == 200
    assert "idempotent-replayed" not in r.headers


def test_every_authenticated_post_documents_the_key():
    refused = {"createApiKey", "createLeadForm", "createWebhook"}
    for path, item in SPEC["paths"].items():
        op = item.get("post")
        if op is None or not op.get("security", SPEC.get("security")):
            continue
        params = [p.get("$ref") for p in op.get("parameters", [])]
        if op["operationId"].startswith("import"):
            # Streamed imports refuse a key; upsert makes them repeatable.
            assert "#/components/parameters/IdempotencyKey" not in params
            assert "Idempotency-Key" in SPEC["components"]["responses"][
                op["responses"]["400"]["$ref"].split("/")[-1]]["description"]
            continue
        if op["operationId"] in refused:
            assert "#/components/parameters/IdempotencyKey" not in params
            assert op["responses"]["400"] == {
                "$ref": "#/components/responses/IdempotencyKeyRefused"}
            continue
        assert "#/components/parameters/IdempotencyKey" in params, path
        for status in ("400", "409", "422"):
            assert status in op["responses"], (path, status)


def test_a_batch_is_replayed_whole(api, stack, tokens):
    """A batch under a key runs once: the retry gets the same per-item
    results, and the customers exist once."""
    name = "批量幂等" + uuid.uuid4().hex[:6]
    body = {"items": [{"op": "create", "data": {"name": name + str(i)}}
                      for i in range(3)]}
    key = new_key()
    first = post(api, "/v1/customers/batch", tokens["rep1"], body, key)
    assert first.status_code == 200, first.text
    assert first.json()["succeeded"] == 3
    again = post(api, "/v1/customers/batch", tokens["rep1"], body, key)
    assert again.status_code == 200
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json()
    (n,) = stack.sql("SELECT count(*) FROM customers WHERE name LIKE %s",
                     (name + "%",))[0]
    assert n == 3


@pytest.mark.parametrize("header", ["X-Skip-Assignment-Rules",
                                    "X-Skip-Duplicate-Check"])
def test_a_batch_option_header_is_part_of_the_request(api, stack, tokens,
                                                      header):
    """The same key and body with another value of a header that changes
    what the batch does is another request (422), not a replay."""
    name = "批量选项" + uuid.uuid4().hex[:6]
    body = {"items": [{"op": "create", "data": {"name": name}}]}
    key = new_key()
    first = post(api, "/v1/leads/batch", tokens["rep1"], body, key,
                 headers={header: "false"})
    assert first.status_code == 200, first.text
    again = post(api, "/v1/leads/batch", tokens["rep1"], body, key,
                 headers={header: "false"})
    assert again.headers.get("idempotent-replayed") == "true"
    for other in ({header: "true"}, {}):
        r = post(api, "/v1/leads/batch", tokens["rep1"], body, key,
                 headers=other)
        assert r.status_code == 422, (other, r.text)
        assert r.headers.get("idempotent-replayed") is None
    assert count(stack, "leads", "name = %s", (name,)) == 1
