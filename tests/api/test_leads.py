"""Leads: capture, the status machine and its history, lists and search,
and who sees what (R20)."""
import uuid

import pytest

from conftest import DEMO, Client, bearer
from leads_helpers import count, create, lead, problem_shape

REP1 = DEMO["rep1"][1]
REP2 = DEMO["rep2"][1]
MANAGER = DEMO["manager"][1]
MARKETING = DEMO["marketing"][1]


def test_create_get_and_location(api, tokens):
    r = create(api, tokens["rep1"], name="王建国",
               company="成都天府软件园有限公司", title="采购经理",
               phone="028-85001234", email="wangjg@tfsp.example.cn",
               source="展会", industry="软件", region="西南", province="四川",
               city="成都", notes="糖酒会上认识", external_id="L-" +
               uuid.uuid4().hex[:8])
    assert r.status_code == 201, r.text
    x = r.json()
    assert r.headers["location"].endswith("/v1/leads/" + x["id"])
    assert r.headers["etag"] == '"1"'
    assert x["owner_id"] == REP1 and x["status"] == "new"
    assert (x["score"], x["grade"]) == (0, "D")
    assert x["customer_id"] is None and x["converted_at"] is None
    got = api.get("/v1/leads/" + x["id"], headers=bearer(tokens["rep1"]))
    assert got.status_code == 200 and got.json() == x
    assert got.headers["etag"] == '"1"'


def test_bad_input_names_every_field_and_writes_nothing(api, stack, tokens):
    before = count(stack, "leads")
    r = api.post("/v1/leads", headers=bearer(tokens["rep1"]), json={
        "company": "x" * 201, "phone": "打电话", "email": "not-an-email",
        "campaign_id": "nope", "owner_id": None, "status": "sql",
        "colour": "red"})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {
        "name", "company", "phone", "email", "campaign_id", "owner_id",
        "status", "colour"}
    assert count(stack, "leads") == before


def test_owner_rules_as_for_customers(api, stack, tokens):
    before = count(stack, "leads")
    # A rep cannot give a lead away; an unknown owner is 422.
    assert create(api, tokens["rep1"], owner_id=REP2).status_code == 403
    assert create(api, tokens["admin"], owner_id=str(uuid.uuid4())
                  ).status_code == 422
    assert count(stack, "leads") == before
    # The manager gives it within the team; marketing to anyone.
    assert lead(api, tokens["manager"], owner_id=REP2)["owner_id"] == REP2
    assert lead(api, tokens["marketing"], owner_id=REP1)["owner_id"] == REP1


def test_update_with_if_match(api, tokens):
    h = bearer(tokens["rep1"])
    x = lead(api, tokens["rep1"])
    r = api.patch("/v1/leads/" + x["id"], headers={**h, "If-Match": '"1"'},
                  json={"company": "重庆山城机械制造厂", "title": None})
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    assert r.json()["company"] == "重庆山城机械制造厂"
    stale = api.patch("/v1/leads/" + x["id"], headers={**h, "If-Match": '"1"'},
                      json={"name": "x"})
    assert stale.status_code == 412
    assert api.delete("/v1/leads/" + x["id"], headers={**h, "If-Match": '"1"'}
                      ).status_code == 412


def test_status_machine_and_history(api, stack, tokens):
    h = bearer(tokens["rep1"])
    x = lead(api, tokens["rep1"])
    path = "/v1/leads/" + x["id"]
    for want in ("working", "mql"):
        r = api.patch(path, headers=h, json={"status": want})
        assert r.status_code == 200 and r.json()["status"] == want
    r = api.post(path + "/qualify", headers=h, json={"to": "sql"})
    assert r.status_code == 200 and r.json()["status"] == "sql"
    assert r.headers["etag"] == '"4"'
    # Illegal moves: 409 naming what is allowed, nothing written.
    for want, allowed in (("new", "working, disqualified"),
                          ("mql", "working, disqualified"),
                          ("converted", "working, disqualified")):
        r = api.patch(path, headers=h, json={"status": want})
        assert r.status_code == 409, want
        assert r.json()["detail"] == (
            "lead cannot go from sql to %s; allowed from sql: %s."
            % (want, allowed))
    assert api.post(path + "/qualify", headers=h, json={"to": "mql"}
                    ).status_code == 409
    # Disqualifying needs a reason, by PATCH and by the action.
    rows = count(stack, "lead_status_history", "lead_id = %s", (x["id"],))
    r = api.patch(path, headers=h, json={"status": "disqualified"})
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == [
        "disqualified_reason"]
    r = api.post(path + "/disqualify", headers=h, json={})
    assert r.status_code == 422
    assert api.patch(path, headers=h, json={"disqualified_reason": "无预算"}
                     ).status_code == 422
    assert count(stack, "lead_status_history", "lead_id = %s",
                 (x["id"],)) == rows
    assert api.get(path, headers=h).json()["status"] == "sql"
    r = api.post(path + "/disqualify", headers=h, json={"reason": "无采购预算"})
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["disqualified_reason"]) == (
        "disqualified", "无采购预算")
    r = api.patch(path, headers=h, json={"status": "sql"})
    assert r.status_code == 409
    assert r.json()["detail"].endswith("allowed from disqualified: working.")
    # Back to working clears the reason.
    r = api.patch(path, headers=h, json={"status": "working"})
    assert r.status_code == 200 and r.json()["disqualified_reason"] is None
    hist = api.get(path + "/history", headers=h).json()["data"]
    assert [(e["from_status"], e["to_status"]) for e in hist] == [
        (None, "new"), ("new", "working"), ("working", "mql"),
        ("mql", "sql"), ("sql", "disqualified"), ("disqualified", "working")]
    assert all(e["changed_by"] == REP1 for e in hist)


def test_new_cannot_jump_to_sql(api, tokens):
    x = lead(api, tokens["rep1"])
    r = api.post("/v1/leads/%s/qualify" % x["id"],
                 headers=bearer(tokens["rep1"]), json={"to": "sql"})
    assert r.status_code == 409
    assert r.json()["detail"] == ("lead cannot go from new to sql; allowed "
                                  "from new: working, mql, disqualified.")
    r = api.post("/v1/leads/%s/qualify" % x["id"],
                 headers=bearer(tokens["rep1"]), json={"to": "converted"})
    assert r.status_code == 422


def test_soft_delete(api, stack, tokens):
    h = bearer(tokens["rep1"])
    x = lead(api, tokens["rep1"])
    assert api.delete("/v1/leads/" + x["id"], headers=h).status_code == 204
    for method, path, body in (
            ("GET", "", None), ("PATCH", "", {"name": "x"}),
            ("DELETE", "", None), ("GET", "/history", None)):
        assert api.request(method, "/v1/leads/" + x["id"] + path, headers=h,
                           json=body).status_code == 404
    listed = api.get("/v1/leads?limit=500", headers=h).json()["data"]
    assert x["id"] not in {y["id"] for y in listed}
    assert count(stack, "leads", "id = %s AND deleted_at IS NOT NULL",
                 (x["id"],)) == 1


def test_list_filters_search_and_pages(api, tokens):
    h = bearer(tokens["rep2"])
    tag = uuid.uuid4().hex[:6]
    campaign = str(uuid.uuid4())
    made = [lead(api, tokens["rep2"], name="翻页%02d" % i, source="src" + tag,
                 company="杭州西湖茶业%s有限公司" % tag if i % 2 else None,
                 campaign_id=campaign if i < 3 else None,
                 email="p%d@%s.example.cn" % (i, tag))
            for i in range(7)]
    seen, cursor = [], None
    while True:
        q = "/v1/leads?limit=3&source=src" + tag + (
            f"&cursor={cursor}" if cursor else "")
        page = api.get(q, headers=h).json()
        seen += [x["id"] for x in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [x["id"] for x in reversed(made)], "newest first, no gaps"
    by_campaign = api.get("/v1/leads?campaign_id=" + campaign, headers=h
                          ).json()["data"]
    assert {x["id"] for x in by_campaign} == {x["id"] for x in made[:3]}
    cjk = api.get("/v1/leads?q=西湖茶业" + tag, headers=h).json()["data"]
    assert {x["id"] for x in cjk} == {x["id"] for x in made[1::2]}
    mail = api.get("/v1/leads?q=P4@" + tag.upper(), headers=h).json()["data"]
    assert [x["id"] for x in mail] == [made[4]["id"]]
    working = made[0]["id"]
    api.patch("/v1/leads/" + working, headers=h, json={"status": "working"})
    st = api.get("/v1/leads?status=working&source=src" + tag, headers=h
                 ).json()["data"]
    assert [x["id"] for x in st] == [working]
    after = api.get("/v1/leads?source=src%s&created_after=%s" % (
        tag, made[5]["created_at"].replace("+", "%2B")), headers=h).json()
    assert [x["id"] for x in after["data"]] == [made[6]["id"], made[5]["id"]]
    graded = api.get("/v1/leads?grade=D&owner_id=%s&source=src%s" % (
        REP2, tag), headers=h).json()["data"]
    assert len(graded) == 7


def test_bad_list_queries(api, tokens):
    h = bearer(tokens["rep1"])
    r = api.get("/v1/leads?status=hot&grade=E&limit=0&colour=red", headers=h)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {
        "status", "grade", "limit", "colour"}
    assert api.get("/v1/leads?cursor=bm9wZQ", headers=h).status_code == 400


# --- who sees what -----------------------------------------------------------

LEAD_ROUTES = (
    ("GET", "", None),
    ("PATCH", "", {"notes": "越权"}),
    ("DELETE", "", None),
    ("GET", "/history", None),
    ("POST", "/qualify", {"to": "mql"}),
    ("POST", "/disqualify", {"reason": "越权"}),
    ("POST", "/assign", {}),
    ("POST", "/assign", {"owner_id": DEMO["rep2"][1]}),
    ("POST", "/convert", {}),
    ("POST", "/convert", {"create_opportunity": False}),
)


def assert_like_ghost(api, token, victim, routes=LEAD_ROUTES):
    """Every route on `victim` answers exactly as on a random id."""
    h = bearer(token)
    ghost = str(uuid.uuid4())
    for method, path, body in routes:
        real = api.request(method, "/v1/leads/" + victim + path, headers=h,
                           json=body)
        fake = api.request(method, "/v1/leads/" + ghost + path, headers=h,
                           json=body)
        assert real.status_code == 404, (method, path, real.text)
        assert problem_shape(real) == problem_shape(fake), (method, path)


def test_rep_cannot_see_change_list_or_detect_another_reps_lead(
        api, stack, tokens):
    x = lead(api, tokens["rep1"], name="张伟的线索", source="私有来源")
    version = count(stack, "leads", "id = %s AND version = 1", (x["id"],))
    assert_like_ghost(api, tokens["rep2"], x["id"])
    assert count(stack, "leads", "id = %s AND version = 1 AND deleted_at "
                 "IS NULL AND status = 'new'", (x["id"],)) == version == 1
    listed = api.get("/v1/leads?limit=500", headers=bearer(tokens["rep2"])
                     ).json()["data"]
    assert x["id"] not in {y["id"] for y in listed}
    assert api.get("/v1/leads?q=张伟的线索", headers=bearer(tokens["rep2"])
                   ).json()["data"] == []


def test_manager_and_marketing_see_both_reps(api, tokens):
    a = lead(api, tokens["rep1"])
    b = lead(api, tokens["rep2"])
    for who in ("manager", "marketing", "admin", "ceo"):
        h = bearer(tokens[who])
        for x in (a, b):
            assert api.get("/v1/leads/" + x["id"], headers=h
                           ).status_code == 200, who
        ids = {y["id"] for y in api.get("/v1/leads?limit=500", headers=h
                                        ).json()["data"]}
        assert {a["id"], b["id"]} <= ids, who
    # Service works no leads; marketing changes any.
    assert_like_ghost(api, tokens["service"], a["id"], LEAD_ROUTES[:1])
    r = api.patch("/v1/leads/" + a["id"], headers=bearer(tokens["marketing"]),
                  json={"status": "working"})
    assert r.status_code == 200 and r.json()["owner_id"] == REP1


def test_other_organisation_sees_nothing(api, tokens, org2):
    x = lead(api, tokens["rep1"])
    for token in (org2["admin"], org2["rep"]):
        assert_like_ghost(api, token, x["id"])
        assert api.get("/v1/leads?limit=500", headers=bearer(token)
                       ).json()["data"] == []
    # And the other way round.
    y = lead(api, org2["rep"], name="杭州的线索")
    assert y["owner_id"] == org2["rep_id"]
    assert_like_ghost(api, tokens["admin"], y["id"], LEAD_ROUTES[:1])


@pytest.fixture(scope="module")
def keys(stack, tokens):
    """API keys of the admin: without the leads scopes, read, write."""
    api = Client(stack.https, stack.ca)
    out = {}
    for name, scopes in (("none", ["customers:read"]),
                         ("read", ["leads:read"]),
                         ("write", ["leads:write"])):
        r = api.post("/v1/api-keys", headers=bearer(tokens["admin"]),
                     json={"name": "线索集成-" + name, "scopes": scopes})
        assert r.status_code == 201, r.text
        out[name] = {"X-API-Key": r.json()["key"]}
    return out


def test_api_key_scopes(api, stack, tokens, keys):
    x = lead(api, tokens["rep1"])
    before = count(stack, "leads")
    routes = [("GET", "/v1/leads", None),
              ("POST", "/v1/leads", {"name": "集成线索"})] + [
        (method, "/v1/leads/" + x["id"] + path, body)
        for method, path, body in LEAD_ROUTES]
    for method, path, body in routes:
        r = api.request(method, path, headers=keys["none"], json=body)
        assert r.status_code == 403, (method, path)
        if method != "GET":
            r = api.request(method, path, headers=keys["read"], json=body)
            assert r.status_code == 403, (method, path)
            assert "leads:write" in r.json()["detail"]
    assert count(stack, "leads") == before
    assert count(stack, "leads", "id = %s AND version = 1 AND status = "
                 "'new' AND deleted_at IS NULL", (x["id"],)) == 1
    assert api.get("/v1/leads/" + x["id"], headers=keys["read"]
                   ).status_code == 200
    r = api.post("/v1/leads", headers=keys["write"], json={"name": "集成线索"})
    assert r.status_code == 201 and r.json()["owner_id"] == DEMO["admin"][1]
