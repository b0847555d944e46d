"""Users: admin-only changes, validation, versions, the reporting tree."""
import uuid

from conftest import DEMO, bearer, login


def new_user(api, tokens, **over):
    body = {"email": f"u{uuid.uuid4().hex[:10]}@example.com",
            "name": "测试用户", "role": "sales_rep",
            "password": "a-long-passphrase"}
    body.update(over)
    return api.post("/v1/users", headers=bearer(tokens["admin"]), json=body)


def test_create_user(api, tokens):
    r = new_user(api, tokens, manager_id=DEMO["manager"][1])
    assert r.status_code == 201
    u = r.json()
    assert r.headers["location"].endswith("/v1/users/" + u["id"])
    assert r.headers["etag"] == '"1"'
    assert u["manager_id"] == DEMO["manager"][1] and u["active"]
    assert "password" not in u and "password_hash" not in u
    got = api.get("/v1/users/" + u["id"], headers=bearer(tokens["rep1"]))
    assert got.status_code == 200 and got.json() == u
    assert login(api, u["email"], "a-long-passphrase").status_code == 200


def test_create_user_validation_lists_every_field(api, tokens):
    r = api.post("/v1/users", headers=bearer(tokens["admin"]),
                 json={"email": "not-an-email", "name": "", "role": "boss",
                       "password": "short", "manager_id": "x", "extra": 1})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"email", "name", "role", "password", "manager_id",
                      "extra"}


def test_duplicate_email_conflicts(api, tokens):
    r = new_user(api, tokens, email="REP1@example.com")
    assert r.status_code == 409


def test_only_admins_create_users(api, tokens):
    for who in ("rep1", "manager", "ceo"):
        r = api.post("/v1/users", headers=bearer(tokens[who]),
                     json={"email": "x@example.com", "name": "x",
                           "role": "admin", "password": "a-long-passphrase"})
        assert r.status_code == 403, who


def test_update_with_if_match(api, tokens):
    u = new_user(api, tokens).json()
    h = bearer(tokens["admin"])
    r = api.patch("/v1/users/" + u["id"], headers={**h, "If-Match": '"1"'},
                  json={"name": "改名了"})
    assert r.status_code == 200 and r.json()["name"] == "改名了"
    assert r.headers["etag"] == '"2"'
    stale = api.patch("/v1/users/" + u["id"],
                      headers={**h, "If-Match": '"1"'}, json={"name": "x"})
    assert stale.status_code == 412
    assert api.get("/v1/users/" + u["id"], headers=h).json()["name"] == "改名了"


def test_manager_cycle_refused(api, tokens):
    h = bearer(tokens["admin"])
    a = new_user(api, tokens).json()
    b = new_user(api, tokens, manager_id=a["id"]).json()
    r = api.patch("/v1/users/" + a["id"], headers=h,
                  json={"manager_id": b["id"]})
    assert r.status_code == 422
    assert api.patch("/v1/users/" + a["id"], headers=h,
                     json={"manager_id": a["id"]}).status_code == 422


def test_unknown_or_foreign_manager_refused(api, tokens, org2):
    r = new_user(api, tokens, manager_id=org2["admin_id"])
    assert r.status_code == 422


def test_deactivated_user_is_locked_out_at_once(api, tokens):
    u = new_user(api, tokens).json()
    t = login(api, u["email"], "a-long-passphrase").json()
    assert api.get("/v1/me", headers=bearer(t["access_token"])
                   ).status_code == 200
    r = api.delete("/v1/users/" + u["id"], headers=bearer(tokens["admin"]))
    assert r.status_code == 200 and r.json()["active"] is False
    assert api.get("/v1/me", headers=bearer(t["access_token"])
                   ).status_code == 401
    assert login(api, u["email"], "a-long-passphrase").status_code == 401
    assert api.post("/v1/auth/refresh",
                    json={"refresh_token": t["refresh_token"]}
                    ).status_code == 401


def test_admin_cannot_lock_themselves_out(api, tokens):
    r = api.delete("/v1/users/" + DEMO["admin"][1],
                   headers=bearer(tokens["admin"]))
    assert r.status_code == 409


def test_role_change_takes_effect_immediately(api, tokens):
    u = new_user(api, tokens).json()
    t = login(api, u["email"], "a-long-passphrase").json()["access_token"]
    assert api.get("/v1/api-keys", headers=bearer(t)).status_code == 403
    api.patch("/v1/users/" + u["id"], headers=bearer(tokens["admin"]),
              json={"role": "admin"})
    assert api.get("/v1/api-keys", headers=bearer(t)).status_code == 200


def test_password_change(api, tokens):
    u = new_user(api, tokens).json()
    old = login(api, u["email"], "a-long-passphrase").json()
    api.patch("/v1/users/" + u["id"], headers=bearer(tokens["admin"]),
              json={"password": "another-long-one"})
    # Every session of the user ended with the old password.
    assert api.post("/v1/auth/refresh",
                    json={"refresh_token": old["refresh_token"]}
                    ).status_code == 401
    assert login(api, u["email"], "a-long-passphrase").status_code == 401
    assert login(api, u["email"], "another-long-one").status_code == 200


def test_list_users_pages_without_gaps(api, tokens):
    h = bearer(tokens["rep1"])
    seen, cursor = [], None
    while True:
        q = "/v1/users?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(q, headers=h).json()
        seen += [u["id"] for u in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    everyone = api.get("/v1/users?limit=500", headers=h).json()["data"]
    assert seen == [u["id"] for u in everyone]
    assert len(seen) == len(set(seen)) >= 7


def test_list_users_filters(api, tokens):
    h = bearer(tokens["admin"])
    reps = api.get("/v1/users?role=sales_rep&manager_id=" +
                   DEMO["manager"][1], headers=h).json()["data"]
    assert {u["email"] for u in reps} >= {"rep1@example.com",
                                          "rep2@example.com"}
    found = api.get("/v1/users?q=%E5%BC%A0%E4%BC%9F", headers=h).json()
    assert [u["email"] for u in found["data"]] == ["rep1@example.com"]


def test_list_users_bad_query(api, tokens):
    h = bearer(tokens["admin"])
    r = api.get("/v1/users?limit=0&role=boss&sort=name", headers=h)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"limit", "role",
                                                        "sort"}
    assert api.get("/v1/users?cursor=bm90LWEtY3Vyc29y",
                   headers=h).status_code == 400


def test_unknown_and_malformed_ids_are_404(api, tokens):
    h = bearer(tokens["admin"])
    assert api.get("/v1/users/" + str(uuid.uuid4()), headers=h
                   ).status_code == 404
    assert api.get("/v1/users/not-a-uuid", headers=h).status_code == 404
    assert api.patch("/v1/users/" + str(uuid.uuid4()), headers=h,
                     json={"name": "x"}).status_code == 404
