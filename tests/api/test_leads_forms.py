"""Public web forms: a key shown once and stored hashed, that can only
create a lead (rate-limited, no actor), and nothing else (R20)."""
import hashlib
import uuid

import pytest

from conftest import DEMO, bearer
from leads_helpers import count, problem_shape, reset_lead_config

MARKETING = DEMO["marketing"][1]
REP2 = DEMO["rep2"][1]


@pytest.fixture
def clean(stack, tokens):
    reset_lead_config(stack, tokens["admin"])
    yield
    reset_lead_config(stack, tokens["admin"])


def form(api, tokens, **body):
    body.setdefault("name", "官网表单" + uuid.uuid4().hex[:6])
    body.setdefault("default_owner_id", MARKETING)
    r = api.post("/v1/lead-forms", headers=bearer(tokens["admin"]), json=body)
    assert r.status_code == 201, r.text
    return r.json()


def submit(api, key, **body):
    body.setdefault("name", "访客" + uuid.uuid4().hex[:6])
    return api.post("/v1/forms/%s/leads" % key, json=body)


def test_key_shown_once_stored_hashed(api, stack, tokens):
    f = form(api, tokens, source="官网", rate_limit_per_minute=30)
    key = f["form_key"]
    assert key.startswith("lf_") and len(key) == 46
    assert f["prefix"] == key[:12] and f["rate_limit_per_minute"] == 30
    stored = stack.sql("SELECT key_hash FROM lead_forms WHERE id = %s",
                       (f["id"],))[0][0]
    assert stored == hashlib.sha256(key.encode()).hexdigest()
    listed = api.get("/v1/lead-forms", headers=bearer(tokens["admin"])
                     ).json()["data"]
    mine = [x for x in listed if x["id"] == f["id"]][0]
    assert "form_key" not in mine and mine["prefix"] == key[:12]
    assert key not in stack.sql("SELECT string_agg(changes::text, ' ') FROM "
                                "audit_log WHERE entity = 'lead_forms'")[0][0]
    assert form(api, tokens)["form_key"] != key


def test_a_submission_creates_only_a_lead_with_no_actor(api, stack, tokens,
                                                        clean):
    campaign = str(uuid.uuid4())
    f = form(api, tokens, source="官网" + campaign[:6], campaign_id=campaign)
    r = submit(api, f["form_key"], name="赵敏", company="杭州云栖科技有限公司",
               title="CTO", phone="13900139000",
               email="zhaomin@yunqi.example.cn", message="想了解企业版价格")
    assert r.status_code == 201, r.text
    doc = r.json()
    assert set(doc) == {"id", "status"} and doc["status"] == "new"
    row = stack.sql("SELECT name, company, source, campaign_id::text, "
                    "owner_id::text, notes, form_id::text FROM leads "
                    "WHERE id = %s", (doc["id"],))[0]
    assert row == ("赵敏", "杭州云栖科技有限公司", "官网" + campaign[:6],
                   campaign, MARKETING, "想了解企业版价格", f["id"])
    audit = stack.sql("SELECT actor_id, api_key_id, request_id FROM "
                      "audit_log WHERE entity = 'leads' AND entity_id = %s "
                      "AND action = 'insert'", (doc["id"],))
    assert audit == [(None, None, r.headers["x-request-id"])]
    got = api.get("/v1/leads/" + doc["id"],
                  headers=bearer(tokens["marketing"]))
    assert (got.json()["form_id"], got.json()["notes"]) == (
        f["id"], "想了解企业版价格")
    hist = api.get("/v1/leads/%s/history" % doc["id"],
                   headers=bearer(tokens["marketing"])).json()["data"]
    assert [(e["from_status"], e["to_status"], e["changed_by"])
            for e in hist] == [(None, "new", None)]
    # The assignment rules decide first.
    api.post("/v1/assignment-rules", headers=bearer(tokens["admin"]),
             json={"name": "官网给刘芳", "source": "官网" + campaign[:6],
                   "user_id": REP2})
    r = submit(api, f["form_key"])
    assert stack.sql("SELECT owner_id::text FROM leads WHERE id = %s",
                     (r.json()["id"],))[0][0] == REP2


def test_wrong_revoked_and_bad_submissions_write_nothing(api, stack, tokens):
    f = form(api, tokens)
    before = count(stack, "leads")
    wrong = submit(api, "lf_" + "x" * 43)
    assert wrong.status_code == 404
    r = submit(api, f["form_key"], colour="红", age=3)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"colour", "age"}
    r = api.post("/v1/forms/%s/leads" % f["form_key"],
                 json={"email": "not-an-email", "phone": "电话"})
    assert {e["field"] for e in r.json()["errors"]} == {
        "name", "email", "phone"}
    assert count(stack, "leads") == before
    # Revoked: exactly as a key that never existed.
    assert api.delete("/v1/lead-forms/" + f["id"],
                      headers=bearer(tokens["admin"])).status_code == 204
    assert api.delete("/v1/lead-forms/" + f["id"],
                      headers=bearer(tokens["admin"])).status_code == 204
    revoked = submit(api, f["form_key"])
    assert problem_shape(revoked)[:3] == problem_shape(wrong)[:3]
    assert revoked.json()["detail"] == wrong.json()["detail"]
    assert count(stack, "leads") == before
    # The key is no API credential either.
    assert api.get("/v1/leads", headers=bearer(f["form_key"])
                   ).status_code == 401


def test_flood_beyond_the_rate_limit_is_429(api, stack, tokens):
    f = form(api, tokens, rate_limit_per_minute=3)
    codes = [submit(api, f["form_key"]).status_code for _ in range(3)]
    assert codes == [201, 201, 201]
    flood = submit(api, f["form_key"])
    assert flood.status_code == 429
    assert 1 <= int(flood.headers["retry-after"]) <= 60
    assert flood.json()["type"] == "urn:crm:problem:rate-limited"
    assert submit(api, f["form_key"]).status_code == 429
    assert count(stack, "leads", "form_id = %s", (f["id"],)) == 3
    # Another form's limit is its own.
    assert submit(api, form(api, tokens)["form_key"]).status_code == 201


def test_only_admins_manage_forms(api, stack, tokens, org2):
    f = form(api, tokens)
    before = count(stack, "lead_forms")
    body = {"name": "越权表单", "default_owner_id": MARKETING}
    for who in ("marketing", "manager", "rep1"):
        h = bearer(tokens[who])
        assert api.post("/v1/lead-forms", headers=h, json=body
                        ).status_code == 403
        assert api.get("/v1/lead-forms", headers=h).status_code == 403
        assert api.delete("/v1/lead-forms/" + f["id"], headers=h
                          ).status_code == 403
    r = api.post("/v1/api-keys", headers=bearer(tokens["admin"]),
                 json={"name": "表单集成", "scopes": ["leads:write"]})
    key = {"X-API-Key": r.json()["key"]}
    assert api.get("/v1/lead-forms", headers=key).status_code == 403
    assert api.post("/v1/lead-forms", headers=key, json=body
                    ).status_code == 403
    # Another organisation's admin: no such form, no such owner.
    h = bearer(org2["admin"])
    assert api.delete("/v1/lead-forms/" + f["id"], headers=h
                      ).status_code == 404
    assert f["id"] not in {x["id"] for x in api.get(
        "/v1/lead-forms", headers=h).json()["data"]}
    r = api.post("/v1/lead-forms", headers=h, json=body)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["default_owner_id"]
    assert count(stack, "lead_forms") == before
    assert submit(api, f["form_key"]).status_code == 201
