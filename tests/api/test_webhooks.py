"""Webhooks (R61): subscriptions and their URL checks, for admins only.

They run in an organisation of their own.
"""
import json
import re
import uuid

import psycopg
import pytest

from conftest import bearer, own_org

SECRET_RE = re.compile(r"^whsec_[A-Za-z0-9_-]{43}$")


@pytest.fixture(scope="module")
def org(stack):
    return own_org(stack, "hooks", "杭州钩子测试有限公司")


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


def worker_sql(stack, query, params=None):
    with psycopg.connect(stack.dsn("crm_webhookd"), autocommit=True) as c:
        return c.execute(query, params).fetchall()


def test_worker_role_can_only_do_its_job(stack):
    for q in ("SELECT * FROM events", "SELECT * FROM webhook_secrets",
              "SELECT * FROM webhook_deliveries", "SELECT * FROM customers",
              "UPDATE webhook_deliveries SET status = 'delivered'",
              "SELECT crm_bind('{}'::jsonb)",
              "SELECT crm_event_emit(gen_random_uuid(), 'x', 'y', "
              "gen_random_uuid(), NULL, '{}', NULL)"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            worker_sql(stack, q)
    row = stack.sql("SELECT rolsuper, rolbypassrls, rolcreaterole FROM "
                    "pg_roles WHERE rolname = 'crm_webhookd'")[0]
    assert row == (False, False, False)
