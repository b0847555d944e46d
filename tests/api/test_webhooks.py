"""Webhooks (R61): subscriptions, URL checks, signed deliveries with
retries, the delivery log, redelivery, and the worker's limits.

A local receiver (http.server in a thread, plain or TLS with the test
CA's certificate) checks every delivery's signature and timestamp the way
a real receiver should. The stack's worker (crm-webhookd) retries after
1 s and then 3 s (CRM_WEBHOOK_BACKOFF in conftest), so the tests run in
seconds. They run in an organisation of their own.
"""
import hashlib
import hmac
import http.server
import json
import re
import ssl
import subprocess
import threading
import time
import uuid
from datetime import datetime

import psycopg
import pytest

from conftest import ROOT, bearer, own_org

SECRET_RE = re.compile(r"^whsec_[A-Za-z0-9_-]{43}$")


@pytest.fixture(scope="module")
def org(stack):
    return own_org(stack, "hooks", "杭州钩子测试有限公司")


class Receiver:
    """An HTTP(S) server on 127.0.0.1 that answers each POST with the next
    status of `statuses` (the last one repeating) and records it."""

    def __init__(self, statuses=(200,), tls=None):
        self.statuses = list(statuses)
        self.requests = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append({
                        "at": time.time(), "headers": dict(self.headers),
                        "path": self.path, "body": body})
                    i = min(len(receiver.requests), len(receiver.statuses))
                    status = receiver.statuses[i - 1]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket,
                                                 server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/crm"
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def wait(self, n, secs=20):
        deadline = time.time() + secs
        while time.time() < deadline:
            with self.lock:
                if len(self.requests) >= n:
                    return list(self.requests)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.requests)} of {n} deliveries came")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(*a, **kw):
        r = Receiver(*a, **kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def verify(request, secret, tolerance=300):
    """What a receiver does: recompute the signature over the raw body and
    refuse stale timestamps. Returns the event."""
    h = request["headers"]
    t, v1 = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})",
                         h["X-CRM-Signature"]).groups()
    assert h["X-CRM-Timestamp"] == t
    assert abs(time.time() - int(t)) <= tolerance, "stale timestamp"
    want = hmac.new(secret.encode(), t.encode() + b"." + request["body"],
                    hashlib.sha256).hexdigest()
    assert hmac.compare_digest(want, v1), "bad signature"
    assert h["Content-Type"] == "application/json"
    event = json.loads(request["body"])
    assert h["X-CRM-Event"] == event["type"]
    return event


def subscribe(api, org, url, events=("customer.created",), **extra):
    body = {"url": url, "events": list(events), **extra}
    r = api.post("/v1/webhooks", headers=bearer(org["tokens"]["admin"]),
                 json=body)
    assert r.status_code == 201, r.text
    return r.json()


def unsubscribe(api, org, hook):
    r = api.delete(f"/v1/webhooks/{hook['id']}",
                   headers=bearer(org["tokens"]["admin"]))
    assert r.status_code == 204


def deliveries(api, org, hook, **params):
    r = api.get(f"/v1/webhooks/{hook['id']}/deliveries",
                headers=bearer(org["tokens"]["admin"]), params=params)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def settled(api, org, hook, n, secs=20):
    """The subscription's deliveries once `n` of them are no longer
    waiting."""
    deadline = time.time() + secs
    while time.time() < deadline:
        got = deliveries(api, org, hook)
        done = [d for d in got if d["status"] not in ("pending", "sending")]
        if len(done) >= n:
            return got
        time.sleep(0.1)
    raise AssertionError(f"deliveries did not settle: {got}")


def customer(api, org, rep="rep1"):
    r = api.post("/v1/customers", headers=bearer(org["tokens"][rep]),
                 json={"name": "钩子客户" + uuid.uuid4().hex[:6]})
    assert r.status_code == 201, r.text
    return r.json()


def ts(s):
    return datetime.fromisoformat(s).timestamp()


def rows(stack, table, org):
    return stack.sql(f"SELECT count(*) FROM {table} WHERE org_id = %s",
                     (org["id"],))[0][0]


# --- subscriptions ---------------------------------------------------------

def test_create_shows_the_secret_once(api, stack, org):
    admin = bearer(org["tokens"]["admin"])
    r = api.post("/v1/webhooks", headers=admin, json={
        "url": "https://93.184.216.34/hooks/crm?src=crm",
        "events": ["customer.created", "order.*"],
        "description": "金蝶 ERP 同步"})
    assert r.status_code == 201, r.text
    hook = r.json()
    assert r.headers["location"] == f"/v1/webhooks/{hook['id']}"
    assert SECRET_RE.match(hook["secret"])
    assert hook["secret_prefix"] == hook["secret"][:12]
    assert hook["events"] == ["customer.created", "order.*"]
    assert (hook["active"], hook["allow_internal"]) == (True, False)
    assert hook["created_by"] == org["users"]["admin"]

    got = api.get(f"/v1/webhooks/{hook['id']}", headers=admin)
    assert got.status_code == 200 and got.headers["etag"] == '"1"'
    assert "secret" not in got.json()
    listed = api.get("/v1/webhooks", headers=admin).json()["data"]
    assert hook["id"] in {w["id"] for w in listed}
    assert hook["secret"] not in json.dumps(listed)
    # Two subscriptions never share a secret.
    other = subscribe(api, org, "https://93.184.216.34/other")
    assert other["secret"] != hook["secret"]
    for h in (hook, other):
        unsubscribe(api, org, h)


def test_patch_and_delete(api, stack, org):
    admin = bearer(org["tokens"]["admin"])
    hook = subscribe(api, org, "https://93.184.216.34/a")
    r = api.patch(f"/v1/webhooks/{hook['id']}", headers=admin,
                  json={"events": ["*"], "description": None,
                        "active": False})
    assert r.status_code == 200, r.text
    assert (r.json()["events"], r.json()["active"]) == (["*"], False)
    assert r.headers["etag"] == '"2"'
    r = api.patch(f"/v1/webhooks/{hook['id']}",
                  headers={**admin, "If-Match": '"1"'}, json={"active": True})
    assert r.status_code == 412
    r = api.patch(f"/v1/webhooks/{hook['id']}",
                  headers={**admin, "If-Match": '"2"'},
                  json={"url": "https://93.184.216.35/b"})
    assert r.status_code == 200 and r.json()["url"] == \
        "https://93.184.216.35/b"
    r = api.patch(f"/v1/webhooks/{hook['id']}", headers=admin,
                  json={"url": "https://10.0.0.7/b"})
    assert r.status_code == 422
    assert api.delete(f"/v1/webhooks/{hook['id']}",
                      headers=admin).status_code == 204
    for method in ("GET", "PATCH", "DELETE"):
        r = api.request(method, f"/v1/webhooks/{hook['id']}", headers=admin,
                        json={"active": True} if method == "PATCH" else None)
        assert r.status_code == 404
    assert hook["id"] not in {w["id"] for w in api.get(
        "/v1/webhooks", headers=admin).json()["data"]}


BAD_URLS = [
    # Internal: only with allow_internal.
    ("https://127.0.0.1/x", "internal"),
    ("https://10.1.2.3/x", "internal"),
    ("https://172.16.5.4/x", "internal"),
    ("https://192.168.0.10/x", "internal"),
    ("https://100.64.0.1/x", "internal"),
    ("https://169.254.10.10/x", "internal"),
    ("https://[::1]/x", "internal"),
    ("https://[fd12:3456::1]/x", "internal"),
    ("https://[fe80::1]/x", "internal"),
    ("https://[::ffff:10.0.0.1]/x", "internal"),
    ("https://localhost:8443/x", "internal"),
    ("http://93.184.216.34/x", "scheme"),
    # Never, even with allow_internal.
    ("https://169.254.169.254/latest/meta-data/", "address"),
    ("https://[fd00:ec2::254]/", "address"),
    ("https://[::ffff:169.254.169.254]/", "address"),
    ("https://0.0.0.0/", "address"),
    ("https://224.0.0.1/", "address"),
    ("https://192.0.2.1/", "address"),
    ("https://no-such-host.invalid/", "address"),
    ("https://2130706433/", "address"),
    ("https://0x7f000001/", "address"),
    ("https://admin:pw@93.184.216.34/", "address"),
    ("https://93.184.216.34/#top", "address"),
    ("ftp://93.184.216.34/", "format"),
]


@pytest.mark.parametrize("url, code", BAD_URLS)
def test_url_checks(api, stack, org, url, code):
    before = rows(stack, "webhook_subscriptions", org)
    r = api.post("/v1/webhooks", headers=bearer(org["tokens"]["admin"]),
                 json={"url": url, "events": ["customer.created"]})
    assert r.status_code == 422, r.text
    errs = r.json()["errors"]
    assert {e["field"] for e in errs} == {"url"}
    assert code in {e["code"] for e in errs}, errs
    if code in ("internal", "scheme"):
        r = api.post("/v1/webhooks", headers=bearer(org["tokens"]["admin"]),
                     json={"url": url, "events": ["customer.created"],
                           "allow_internal": True})
        assert r.status_code == 201, r.text
        unsubscribe(api, org, r.json())
        before += 1
    elif code == "address":
        r = api.post("/v1/webhooks", headers=bearer(org["tokens"]["admin"]),
                     json={"url": url, "events": ["customer.created"],
                           "allow_internal": True})
        assert r.status_code == 422
    assert rows(stack, "webhook_subscriptions", org) == before


def test_every_field_error_listed(api, stack, org):
    before = rows(stack, "webhook_subscriptions", org)
    r = api.post("/v1/webhooks", headers=bearer(org["tokens"]["admin"]),
                 json={"url": "https://169.254.169.254/",
                       "events": ["customer.exploded", "nothing.*"]})
    assert r.status_code == 422
    fields = sorted((e["field"], e["code"]) for e in r.json()["errors"])
    assert fields == [("events", "enum"), ("url", "address")]
    assert "customer.exploded, nothing.*" in r.json()["errors"][1]["message"] \
        or "customer.exploded, nothing.*" in r.json()["errors"][0]["message"]
    for body in ({"url": "https://93.184.216.34/", "events": []},
                 {"url": "https://93.184.216.34/"},
                 {"events": ["*"]},
                 {"url": "https://93.184.216.34/", "events": ["*"],
                  "secret": "mine"},
                 {"url": 5, "events": ["*"]}):
        r = api.post("/v1/webhooks", headers=bearer(org["tokens"]["admin"]),
                     json=body)
        assert r.status_code == 422, (body, r.text)
    assert rows(stack, "webhook_subscriptions", org) == before


def test_only_admins_with_their_own_token(api, stack, org, org2):
    t = org["tokens"]
    hook = subscribe(api, org, "https://93.184.216.34/c")
    ghost = str(uuid.uuid4())
    for who in ("ceo", "manager", "rep1"):
        h = bearer(t[who])
        assert api.get("/v1/webhooks", headers=h).status_code == 403
        assert api.post("/v1/webhooks", headers=h, json={
            "url": "https://93.184.216.34/", "events": ["*"]}
        ).status_code == 403
        for hid in (hook["id"], ghost):
            for method, path in (("GET", "/v1/webhooks/{}"),
                                 ("DELETE", "/v1/webhooks/{}"),
                                 ("GET", "/v1/webhooks/{}/deliveries")):
                r = api.request(method, path.format(hid), headers=h)
                assert r.status_code == 403, (who, method, path)
    # API keys cannot manage webhooks, whatever their scopes.
    k = api.post("/v1/api-keys", headers=bearer(t["admin"]), json={
        "name": "钩子密钥", "scopes": ["customers:write", "events:read"]}
    ).json()["key"]
    assert api.get("/v1/webhooks", headers=bearer(k)).status_code == 403
    # Another organisation's admin: as for a subscription that does not
    # exist, on every route.
    h = bearer(org2["admin"])
    for method, path, body in (
            ("GET", "/v1/webhooks/{}", None),
            ("PATCH", "/v1/webhooks/{}", {"active": False}),
            ("DELETE", "/v1/webhooks/{}", None),
            ("GET", "/v1/webhooks/{}/deliveries", None),
            ("POST", "/v1/webhooks/{}/deliveries/" + ghost + "/redeliver",
             None)):
        real = api.request(method, path.format(hook["id"]), headers=h,
                           json=body)
        fake = api.request(method, path.format(ghost), headers=h, json=body)
        assert real.status_code == fake.status_code == 404
        assert real.json()["detail"] == fake.json()["detail"]
    assert hook["id"] not in {w["id"] for w in api.get(
        "/v1/webhooks", headers=h).json()["data"]}
    assert api.get(f"/v1/webhooks/{hook['id']}",
                   headers=bearer(t["admin"])).json()["active"] is True
    unsubscribe(api, org, hook)


# --- deliveries ------------------------------------------------------------

def test_signed_delivery_retried_after_two_failures(api, stack, org,
                                                     receiver):
    rx = receiver(statuses=(500, 500, 200))
    hook = subscribe(api, org, rx.url, allow_internal=True)
    c = customer(api, org)
    got = rx.wait(3)
    events = [verify(req, hook["secret"]) for req in got]
    assert [e["record_id"] for e in events] == [c["id"]] * 3
    assert events[0]["type"] == "customer.created"
    assert events[0]["data"]["name"] == c["name"]
    assert {req["headers"]["X-CRM-Delivery"] for req in got} == \
        {got[0]["headers"]["X-CRM-Delivery"]}
    assert all(req["path"] == "/crm" for req in got)
    # The body is the event as the feed shows it.
    feed = api.get("/v1/events", headers=bearer(org["tokens"]["admin"]),
                   params={"record_id": c["id"]}).json()["data"]
    assert events[0] == feed[0]

    (d,) = settled(api, org, hook, 1)
    assert d["id"] == got[0]["headers"]["X-CRM-Delivery"]
    assert (d["status"], d["attempt_count"], d["last_status_code"]) == (
        "delivered", 3, 200)
    assert d["event_id"] == events[0]["id"]
    assert d["event_type"] == "customer.created"
    assert [a["attempt"] for a in d["attempts"]] == [1, 2, 3]
    assert [a["status_code"] for a in d["attempts"]] == [500, 500, 200]
    assert d["attempts"][2]["next_retry_at"] is None
    assert d["next_attempt_at"] is None and d["delivered_at"] is not None
    # Growing delays: 1 s, then 3 s (the test schedule), as scheduled.
    starts = [ts(a["started_at"]) for a in d["attempts"]]
    gap1, gap2 = starts[1] - starts[0], starts[2] - starts[1]
    assert 0.9 <= gap1 < 2.5 and 2.9 <= gap2 < 5, (gap1, gap2)
    for a, nxt in zip(d["attempts"][:2], starts[1:]):
        assert abs(ts(a["next_retry_at"]) - nxt) < 1.5
    # What the receiver saw matches: the same gaps.
    seen = [req["at"] for req in got]
    assert seen[2] - seen[1] > seen[1] - seen[0] + 1
    unsubscribe(api, org, hook)


def test_a_forged_or_replayed_delivery_fails_verification(api, org, receiver):
    rx = receiver()
    hook = subscribe(api, org, rx.url, allow_internal=True)
    customer(api, org)
    (req,) = rx.wait(1)
    verify(req, hook["secret"])
    with pytest.raises(AssertionError, match="bad signature"):
        verify(dict(req, body=req["body"].replace(b"customer", b"Customer")),
               hook["secret"])
    with pytest.raises(AssertionError, match="bad signature"):
        verify(req, "whsec_" + "x" * 43)
    # Replayed much later: the timestamp gives it away.
    with pytest.raises(AssertionError, match="stale"):
        verify(req, hook["secret"], tolerance=-1)
    unsubscribe(api, org, hook)


def test_tls_receiver_verified_against_the_trust_store(api, stack, org,
                                                       receiver, tmp_path):
    tls = (str(stack.state / "tls" / "server.crt"),
           str(stack.state / "tls" / "server.key"))
    rx = receiver(tls=tls)
    hook = subscribe(api, org, rx.url, allow_internal=True)
    c = customer(api, org)
    (req,) = rx.wait(1)
    assert verify(req, hook["secret"])["record_id"] == c["id"]
    unsubscribe(api, org, hook)

    # A certificate no trusted CA signed: refused, nothing sent.
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(tmp_path / "k.pem"),
                    "-out", str(tmp_path / "c.pem")],
                   check=True, capture_output=True)
    rogue = receiver(tls=(str(tmp_path / "c.pem"), str(tmp_path / "k.pem")))
    hook = subscribe(api, org, rogue.url, allow_internal=True)
    customer(api, org)
    deadline = time.time() + 10
    while time.time() < deadline:
        d = deliveries(api, org, hook)
        if d and d[0]["attempts"]:
            break
        time.sleep(0.1)
    err = d[0]["attempts"][0]["error"]
    assert err.startswith("tls: certificate not trusted"), err
    assert d[0]["attempts"][0]["status_code"] is None
    assert rogue.requests == []
    unsubscribe(api, org, hook)


def test_delivery_time_check_refuses_a_rebound_name(api, stack, org,
                                                    receiver):
    """A name that was public when saved and resolves to loopback now (DNS
    rebinding): simulated by storing localhost as if it had checked out
    public. The worker resolves it again and refuses to connect."""
    rx = receiver()
    hook = subscribe(api, org, "https://93.184.216.34/rebind")
    stack.sql("UPDATE webhook_subscriptions SET url = %s WHERE id = %s",
              (f"https://localhost:{rx.port}/crm", hook["id"]))
    customer(api, org)
    deadline = time.time() + 10
    while time.time() < deadline:
        d = deliveries(api, org, hook)
        if d and d[0]["attempts"]:
            break
        time.sleep(0.1)
    a = d[0]["attempts"][0]
    assert a["status_code"] is None
    assert a["error"].startswith("refused: localhost resolves to "), a
    assert "without allow_internal" in a["error"]
    assert a["next_retry_at"] is not None
    assert rx.requests == []
    unsubscribe(api, org, hook)


def test_attempts_run_out(api, stack, org, receiver):
    rx = receiver(statuses=(503,))
    hook = subscribe(api, org, rx.url, allow_internal=True,
                     events=["customer.*"])
    customer(api, org)
    # CRM_WEBHOOK_MAX_ATTEMPTS=4 in the test stack: 1 + 3 + 3 s.
    (d,) = settled(api, org, hook, 1, secs=25)
    assert (d["status"], d["attempt_count"]) == ("failed", 4)
    assert [a["status_code"] for a in d["attempts"]] == [503] * 4
    assert d["attempts"][-1]["next_retry_at"] is None
    assert len(rx.requests) == 4
    assert deliveries(api, org, hook, status="failed")[0]["id"] == d["id"]
    assert deliveries(api, org, hook, status="delivered") == []

    # Redelivery: a new delivery of the same event, sent at once.
    rx.statuses = [200]
    r = api.post(f"/v1/webhooks/{hook['id']}/deliveries/{d['id']}/redeliver",
                 headers=bearer(org["tokens"]["admin"]))
    assert r.status_code == 202, r.text
    again = r.json()
    assert again["redelivery_of"] == d["id"] and again["status"] == "pending"
    assert again["event_id"] == d["event_id"]
    req = rx.wait(5)[4]
    assert req["headers"]["X-CRM-Delivery"] == again["id"]
    assert verify(req, hook["secret"])["id"] == d["event_id"]
    got = settled(api, org, hook, 2)
    assert [x["status"] for x in got] == ["delivered", "failed"]
    audit = stack.sql("SELECT count(*) FROM audit_log WHERE entity = "
                      "'webhook_deliveries' AND entity_id = %s",
                      (again["id"],))[0][0]
    assert audit == 1
    unsubscribe(api, org, hook)


def test_only_subscribed_types_and_active_subscriptions(api, stack, org,
                                                        receiver):
    rx = receiver()
    deals = subscribe(api, org, rx.url, allow_internal=True,
                      events=["opportunity.won"])
    paused = subscribe(api, org, rx.url, allow_internal=True, events=["*"],
                       active=False)
    c = customer(api, org)
    deal = api.post("/v1/opportunities", headers=bearer(org["tokens"]["rep1"]),
                    json={"name": "赢单", "customer_id": c["id"],
                          "amount": "9.90"}).json()
    assert api.post(f"/v1/opportunities/{deal['id']}/win",
                    headers=bearer(org["tokens"]["rep1"])).status_code == 200
    (req,) = rx.wait(1)
    e = verify(req, deals["secret"])
    assert (e["type"], e["record_id"]) == ("opportunity.won", deal["id"])
    time.sleep(0.5)
    assert len(rx.requests) == 1
    assert deliveries(api, org, paused) == []
    # Redelivering through a paused subscription is refused.
    (d,) = deliveries(api, org, deals)
    stack.sql("UPDATE webhook_subscriptions SET active = false "
              "WHERE id = %s", (deals["id"],))
    r = api.post(f"/v1/webhooks/{deals['id']}/deliveries/{d['id']}"
                 "/redeliver", headers=bearer(org["tokens"]["admin"]))
    assert r.status_code == 409
    r = api.post(f"/v1/webhooks/{paused['id']}/deliveries/{d['id']}"
                 "/redeliver", headers=bearer(org["tokens"]["admin"]))
    assert r.status_code == 404
    for h in (deals, paused):
        unsubscribe(api, org, h)


# --- the worker and its role -----------------------------------------------

@pytest.fixture
def worker_stopped(stack):
    """The stack's worker stopped for the test, started again after."""
    lib = ROOT / ".dev" / "lib.sh"
    subprocess.run(["bash", "-c", f"source {lib} && crm_webhookd_stop"],
                   env=stack.env, check=True)
    yield
    subprocess.run(["bash", "-c", f"source {lib} && crm_webhookd_start"],
                   env=stack.env, check=True)


def worker_sql(stack, query, params=None):
    with psycopg.connect(stack.dsn("crm_webhookd"), autocommit=True) as c:
        return c.execute(query, params).fetchall()


def test_workers_share_the_queue_and_leases_expire(api, stack, org,
                                                   worker_stopped):
    hook = subscribe(api, org, "https://93.184.216.34/queue")
    for _ in range(4):
        customer(api, org)
    with psycopg.connect(stack.dsn("crm_webhookd")) as a:
        first = json.loads(a.execute(
            "SELECT webhookd_claim('a', 2, 60)").fetchone()[0])
        # While a's claim is still open, b neither waits nor gets a's.
        t0 = time.time()
        second = json.loads(worker_sql(
            stack, "SELECT webhookd_claim('b', 10, 1)")[0][0])
        assert time.time() - t0 < 2
    ids_a = {d["id"] for d in first["deliveries"]}
    ids_b = {d["id"] for d in second["deliveries"]}
    assert len(ids_a) == 2 and len(ids_b) == 2 and not ids_a & ids_b
    d = first["deliveries"][0]
    assert d["secret"] == hook["secret"] and d["attempt"] == 1
    assert json.loads(d["body"])["type"] == "customer.created"
    # A worker reports only what it holds.
    one = next(iter(ids_b))
    args = (one, 1, 200, 5, None, None)
    assert worker_sql(stack, "SELECT webhookd_complete('a', %s, %s, %s, "
                      "%s, %s, %s)", args) == [(False,)]
    # b's lease (1 s) runs out: the next claim takes them back, and the
    # log shows the lost attempt.
    time.sleep(1.2)
    third = json.loads(worker_sql(
        stack, "SELECT webhookd_claim('c', 10, 60)")[0][0])
    assert {d["id"] for d in third["deliveries"]} == ids_b
    assert {d["attempt"] for d in third["deliveries"]} == {2}
    assert worker_sql(stack, "SELECT webhookd_complete('b', %s, 1, 200, 5, "
                      "NULL, NULL)", (one,)) == [(False,)]
    assert worker_sql(stack, "SELECT webhookd_complete('c', %s, 2, 204, 5, "
                      "NULL, NULL)", (one,)) == [(True,)]
    got = {x["id"]: x for x in deliveries(api, org, hook)}
    assert got[one]["status"] == "delivered"
    lost, ok = got[one]["attempts"]
    assert lost["status_code"] is None and "lease" in lost["error"]
    assert ok["status_code"] == 204
    stack.sql("UPDATE webhook_deliveries SET status = 'cancelled', "
              "next_attempt_at = NULL WHERE subscription_id = %s "
              "AND status = 'sending'", (hook["id"],))
    unsubscribe(api, org, hook)


def test_worker_role_can_only_do_its_job(stack):
    for q in ("SELECT * FROM events", "SELECT * FROM webhook_secrets",
              "SELECT * FROM webhook_deliveries", "SELECT * FROM customers",
              "UPDATE webhook_deliveries SET status = 'delivered'",
              "SELECT crm_bind('{}'::jsonb)",
              "SELECT crm_event_emit(gen_random_uuid(), 'x', 'y', "
              "gen_random_uuid(), NULL, '{}', NULL)",
              "SELECT crm_event_reserve(gen_random_uuid(), 1)",
              "SELECT crm_event_queue(gen_random_uuid(), 'x', 1, 1)"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            worker_sql(stack, q)
    row = stack.sql("SELECT rolsuper, rolbypassrls, rolcreaterole FROM "
                    "pg_roles WHERE rolname = 'crm_webhookd'")[0]
    assert row == (False, False, False)


def test_deleting_cancels_waiting_deliveries(api, stack, org, receiver):
    rx = receiver(statuses=(500, 200))
    hook = subscribe(api, org, rx.url, allow_internal=True)
    customer(api, org)
    rx.wait(1)
    # At once: the first attempt may still be in flight (sending); it
    # must end cancelled too, not back in the queue.
    unsubscribe(api, org, hook)
    deadline = time.time() + 10
    while stack.sql("SELECT status, next_attempt_at FROM webhook_deliveries "
                    "WHERE subscription_id = %s", (hook["id"],)) != [
                        ("cancelled", None)]:
        assert time.time() < deadline
        time.sleep(0.1)
    time.sleep(1.5)
    assert len(rx.requests) == 1


# --- secrets ---------------------------------------------------------------

def test_secrets_are_never_logged_or_listed(api, stack, org):
    hooks = stack.sql("SELECT s.secret FROM webhook_secrets s JOIN "
                      "webhook_subscriptions w ON w.id = s.subscription_id "
                      "WHERE w.org_id = %s", (org["id"],))
    assert len(hooks) >= 5
    secrets = [s for (s,) in hooks]
    admin = bearer(org["tokens"]["admin"])
    texts = [json.dumps(stack.sql(
        "SELECT changes FROM audit_log WHERE org_id = %s", (org["id"],)))]
    for w in api.get("/v1/webhooks?limit=500", headers=admin).json()["data"]:
        texts.append(json.dumps(w))
    texts += [p.read_text(errors="replace") for p in (
        stack.kore_log, stack.webhookd_log,
        stack.state / "pg" / "postgres.log") if p.exists()]
    blob = "\n".join(texts)
    for s in secrets:
        assert s not in blob and s[12:] not in blob
    assert not re.search(r"whsec_[A-Za-z0-9_-]{43}", blob)
    # The server's role can neither read nor write them.
    principal = '{"user": "%s", "org": "%s"}' % (org["users"]["admin"],
                                                  org["id"])
    for q in ("SELECT secret FROM webhook_secrets",
              "UPDATE webhook_secrets SET secret = 'x'",
              "INSERT INTO webhook_secrets VALUES (gen_random_uuid(), "
              "'whsec_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')"):
        with psycopg.connect(stack.dsn("crm_app")) as conn:
            conn.execute("SELECT crm_bind(%s::jsonb)", (principal,))
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(q)


def test_worker_log_is_clean(stack):
    text = stack.webhookd_log.read_text(errors="replace")
    assert "crm-webhookd: worker" in text
    for marker in ("AddressSanitizer", "runtime error:", "LeakSanitizer"):
        assert marker not in text
