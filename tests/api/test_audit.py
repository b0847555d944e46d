"""The audit log: every write, who and how, before and after."""
import uuid

from conftest import DEMO, bearer, login


def audit(api, tokens, **filters):
    q = "&".join(f"{k}={v}" for k, v in filters.items())
    r = api.get("/v1/audit?limit=500&" + q, headers=bearer(tokens["admin"]))
    assert r.status_code == 200
    return r.json()["data"]


def test_user_changes_are_audited_with_before_and_after(api, tokens):
    h = bearer(tokens["admin"])
    u = api.post("/v1/users", headers=h, json={
        "email": f"a{uuid.uuid4().hex[:8]}@example.com", "name": "审计",
        "role": "sales_rep", "password": "a-long-passphrase"}).json()
    rid = "audit-" + uuid.uuid4().hex
    api.patch("/v1/users/" + u["id"], headers={**h, "X-Request-Id": rid},
              json={"role": "sales_manager", "password": "new-long-pass"})
    entries = audit(api, tokens, entity="users", entity_id=u["id"])
    assert entries[-1]["action"] == "insert"
    updates = [e for e in entries if e["request_id"] == rid]
    assert updates and {e["action"] for e in updates} == {"update"}
    changes = {}
    for e in updates:
        assert e["actor_id"] == DEMO["admin"][1]
        assert e["token_id"]
        changes.update(e["changes"])
    assert changes["role"] == {"before": "sales_rep",
                               "after": "sales_manager"}
    assert changes["password_hash"] == {"changed": True}
    assert "scrypt" not in str(entries)


def test_logins_are_audited(api, tokens):
    login(api, "service@example.com", "wrong-password-1")
    login(api, "service@example.com")
    entries = audit(api, tokens, entity_id=DEMO["service"][1])
    actions = [e["action"] for e in entries]
    assert "login" in actions and "login_failed" in actions


def test_key_use_is_attributed(api, tokens):
    k = api.post("/v1/api-keys", headers=bearer(tokens["admin"]),
                 json={"name": "审计钥匙", "scopes": ["users:read"]}).json()
    created = audit(api, tokens, entity="api_keys", entity_id=k["id"])
    assert created[0]["action"] == "insert"
    assert created[0]["actor_id"] == DEMO["admin"][1]
    assert "key_hash" not in created[0]["changes"] or \
        created[0]["changes"]["key_hash"] == {"changed": True}


def test_audit_is_admin_only(api, tokens):
    for who in ("rep1", "manager", "ceo"):
        assert api.get("/v1/audit", headers=bearer(tokens[who])
                       ).status_code == 403


def test_audit_filters_and_pages(api, tokens):
    first = api.get("/v1/audit?limit=3", headers=bearer(tokens["admin"])
                    ).json()
    assert len(first["data"]) == 3 and first["next_cursor"]
    nxt = api.get("/v1/audit?limit=3&cursor=" + first["next_cursor"],
                  headers=bearer(tokens["admin"])).json()
    ids = [int(e["id"]) for e in first["data"] + nxt["data"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 6
    bad = api.get("/v1/audit?since=yesterday", headers=bearer(tokens["admin"]))
    assert bad.status_code == 422
