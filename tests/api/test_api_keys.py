"""API keys: shown once, stored hashed, scoped, revocable, last use kept."""
import time

from conftest import DEMO, bearer


def make_key(api, tokens, scopes, **over):
    body = {"name": "金蝶 ERP", "scopes": scopes}
    body.update(over)
    r = api.post("/v1/api-keys", headers=bearer(tokens["admin"]), json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_key_is_shown_once_and_stored_hashed(api, stack, tokens):
    k = make_key(api, tokens, ["users:read"])
    assert k["key"].startswith("crm_") and k["prefix"] == k["key"][:12]
    listed = api.get("/v1/api-keys", headers=bearer(tokens["admin"])).json()
    mine = [x for x in listed["data"] if x["id"] == k["id"]][0]
    assert "key" not in mine
    stored = stack.sql("SELECT key_hash FROM api_keys WHERE id = %s",
                       (k["id"],))[0][0]
    assert k["key"] not in stored and len(stored) == 64


def test_key_works_both_ways_and_records_use(api, stack, tokens):
    k = make_key(api, tokens, ["users:read"], user_id=DEMO["rep1"][1])
    for h in ({"X-API-Key": k["key"]}, bearer(k["key"])):
        me = api.get("/v1/me", headers=h)
        assert me.status_code == 200
        assert me.json()["user"]["id"] == DEMO["rep1"][1]
        assert me.json()["api_key_id"] == k["id"]
    used = api.get("/v1/api-keys", headers=bearer(tokens["admin"])).json()
    mine = [x for x in used["data"] if x["id"] == k["id"]][0]
    assert mine["last_used_at"] is not None
    assert k["key"] not in stack.kore_log.read_text(errors="replace")


def test_key_scope_enforced(api, tokens):
    k = make_key(api, tokens, ["customers:read"])
    r = api.get("/v1/users", headers={"X-API-Key": k["key"]})
    assert r.status_code == 403
    assert "users:read" in r.json()["detail"]


def test_keys_cannot_manage_people_or_keys(api, tokens):
    k = make_key(api, tokens, ["users:read"])
    h = {"X-API-Key": k["key"]}
    assert api.get("/v1/api-keys", headers=h).status_code == 403
    assert api.post("/v1/users", headers=h, json={
        "email": "k@example.com", "name": "k", "role": "admin",
        "password": "a-long-passphrase"}).status_code == 403
    assert api.get("/v1/audit", headers=h).status_code == 403


def test_revoked_key_refused(api, tokens):
    k = make_key(api, tokens, ["users:read"])
    h = {"X-API-Key": k["key"]}
    assert api.get("/v1/me", headers=h).status_code == 200
    assert api.delete("/v1/api-keys/" + k["id"],
                      headers=bearer(tokens["admin"])).status_code == 204
    assert api.get("/v1/me", headers=h).status_code == 401
    # Revoking again is fine.
    assert api.delete("/v1/api-keys/" + k["id"],
                      headers=bearer(tokens["admin"])).status_code == 204


def test_expired_key_refused(api, tokens):
    past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    k = make_key(api, tokens, ["users:read"], expires_at=past)
    assert api.get("/v1/me", headers={"X-API-Key": k["key"]}
                   ).status_code == 401


def test_unknown_key_refused(api):
    r = api.get("/v1/me", headers={"X-API-Key": "crm_" + "A" * 43})
    assert r.status_code == 401


def test_key_of_deactivated_user_refused(api, tokens):
    u = api.post("/v1/users", headers=bearer(tokens["admin"]), json={
        "email": "erp-bot@example.com", "name": "ERP 同步",
        "role": "integration", "password": "a-long-passphrase"}).json()
    k = make_key(api, tokens, ["users:read"], user_id=u["id"])
    assert api.get("/v1/me", headers={"X-API-Key": k["key"]}
                   ).status_code == 200
    api.delete("/v1/users/" + u["id"], headers=bearer(tokens["admin"]))
    assert api.get("/v1/me", headers={"X-API-Key": k["key"]}
                   ).status_code == 401


def test_key_validation(api, tokens):
    r = api.post("/v1/api-keys", headers=bearer(tokens["admin"]),
                 json={"name": "", "scopes": ["root:all", "root:all"]})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"name", "scopes"}


def test_only_admins_handle_keys(api, tokens):
    k = make_key(api, tokens, ["users:read"])
    for who in ("rep1", "manager", "ceo"):
        h = bearer(tokens[who])
        assert api.get("/v1/api-keys", headers=h).status_code == 403
        assert api.post("/v1/api-keys", headers=h, json={
            "name": "x", "scopes": ["users:read"]}).status_code == 403
        # Keys are invisible to non-admins: 404, like any unseen record.
        assert api.delete("/v1/api-keys/" + k["id"], headers=h
                          ).status_code == 404
