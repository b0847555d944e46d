"""Opportunities: the record and its rules (references, exact money, real
dates, owners), stage moves and the stage history, win / lose / reopen,
lists with filters, sorts and cursors, the funnel to the cent, and who
sees what."""
import datetime
import urllib.parse
import uuid

import pytest

from conftest import DEMO, Client, bearer

REP1 = DEMO["rep1"][1]
REP2 = DEMO["rep2"][1]
MANAGER = DEMO["manager"][1]
REP1_CUSTOMER = "00000000-0000-4000-8000-000000001001"   # 四川糖酒有限公司
REP2_CUSTOMER = "00000000-0000-4000-8000-000000001003"   # 北京华夏出版传媒集团
OPEN_NAMES = "初步接触, 需求确认, 方案报价, 商务谈判"


@pytest.fixture(scope="module")
def default(api_module):
    """The default pipeline's stages by name (and the pipeline's id)."""
    api, tokens = api_module
    p = api.get("/v1/pipelines", headers=bearer(tokens["rep1"])
                ).json()["data"][0]
    assert p["is_default"]
    stages = {s["name"]: s for s in p["stages"]}
    stages["id"] = p["id"]
    return stages


@pytest.fixture(scope="module")
def api_module(stack, tokens):
    return Client(stack.https, stack.ca), tokens


def customer(api, token, name=None):
    r = api.post("/v1/customers", headers=bearer(token),
                 json={"name": name or "商机客户" + uuid.uuid4().hex[:6]})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def create(api, token, **fields):
    body = {"name": "商机" + uuid.uuid4().hex[:6],
            "customer_id": REP1_CUSTOMER, "amount": "1000"}
    body.update(fields)
    return api.post("/v1/opportunities", headers=bearer(token), json=body)


def made(api, token, **fields):
    r = create(api, token, **fields)
    assert r.status_code == 201, r.text
    return r.json()


def move(api, token, oid, **body):
    r = api.patch("/v1/opportunities/" + oid, headers=bearer(token),
                  json=body)
    assert r.status_code == 200, r.text
    return r.json()


def act(api, token, oid, verb, body=None, headers=None):
    return api.post("/v1/opportunities/%s/%s" % (oid, verb),
                    headers={**bearer(token), **(headers or {})},
                    json=body or {})


def rows(stack):
    return stack.sql("SELECT (SELECT count(*) FROM opportunities), "
                     "(SELECT count(*) FROM opportunity_stage_history), "
                     "(SELECT coalesce(sum(version), 0) FROM opportunities)"
                     )[0]


def problem_shape(r):
    d = r.json()
    return (r.status_code, d["type"], d["title"], d["detail"],
            d.get("errors"))


# --- the record ------------------------------------------------------------

def test_create_with_defaults_and_get(api, tokens, default):
    r = create(api, tokens["rep1"], name="糖酒会广告位", amount="12345.6",
               expected_close_date="2026-12-31")
    assert r.status_code == 201, r.text
    o = r.json()
    assert r.headers["location"].endswith("/v1/opportunities/" + o["id"])
    assert r.headers["etag"] == '"1"'
    assert (o["owner_id"], o["customer_id"], o["pipeline_id"]) == (
        REP1, REP1_CUSTOMER, default["id"])
    assert o["stage_id"] == default["初步接触"]["id"]
    assert o["stage"] == default["初步接触"]
    assert (o["status"], o["amount"], o["weighted_amount"], o["currency"],
            o["expected_close_date"], o["closed_at"], o["close_reason"]) == (
        "open", "12345.60", "1234.56", "CNY", "2026-12-31", None, None)
    got = api.get("/v1/opportunities/" + o["id"],
                  headers=bearer(tokens["rep1"]))
    assert got.status_code == 200 and got.json() == o
    assert got.headers["etag"] == '"1"'


def test_create_with_every_field(api, tokens, default):
    t = tokens["rep1"]
    c = customer(api, t)
    ct = api.post("/v1/customers/%s/contacts" % c, headers=bearer(t),
                  json={"name": "王采购", "buying_role": "decision_maker"}
                  ).json()
    campaign = str(uuid.uuid4())
    ext = "ERP-OPP-" + uuid.uuid4().hex[:8]
    o = made(api, t, name="华西医院信息化二期", customer_id=c,
             contact_id=ct["id"], pipeline_id=default["id"],
             stage_id=default["方案报价"]["id"], amount="999.99",
             currency="USD", expected_close_date="2027-02-28",
             source="展会", campaign_id=campaign, next_step="周五报价",
             description="二期包括移动端", external_id=ext, owner_id=REP1)
    assert (o["contact_id"], o["stage"]["name"], o["amount"],
            o["weighted_amount"], o["currency"], o["source"],
            o["campaign_id"], o["next_step"], o["description"],
            o["external_id"]) == (
        ct["id"], "方案报价", "999.99", "500.00", "USD", "展会", campaign,
        "周五报价", "二期包括移动端", ext)
    # external_id is unique in the organisation.
    r = create(api, t, customer_id=c, external_id=ext)
    assert r.status_code == 409
    # A manager creates for a rep of the team.
    m = made(api, tokens["manager"], owner_id=REP2,
             customer_id=REP2_CUSTOMER)
    assert m["owner_id"] == REP2


def test_bad_input_is_refused_and_nothing_written(api, stack, tokens,
                                                  default):
    t = tokens["rep1"]
    other = api.post("/v1/pipelines", headers=bearer(tokens["admin"]), json={
        "name": "其他流程" + uuid.uuid4().hex[:6], "stages": [
            {"name": "甲", "probability": 10}, {"name": "赢", "kind": "won"},
            {"name": "输", "kind": "lost"}]}).json()
    c2 = customer(api, t)
    ct2 = api.post("/v1/customers/%s/contacts" % c2, headers=bearer(t),
                   json={"name": "别家的人"}).json()
    before = rows(stack)
    cases = [
        ({"amount": "1.234"}, [("amount", "scale")]),
        ({"amount": "-5"}, [("amount", "range")]),
        ({"amount": 12.5}, [("amount", "type")]),
        ({"amount": "12345678901234"}, [("amount", "range")]),
        ({"stage_id": other["stages"][0]["id"]}, [("stage_id", "not_found")]),
        ({"pipeline_id": other["id"], "stage_id": default["初步接触"]["id"]},
         [("stage_id", "not_found")]),
        ({"stage_id": default["签订合同"]["id"]}, [("stage_id", "state")]),
        ({"expected_close_date": "2026-02-30"},
         [("expected_close_date", "format")]),
        ({"expected_close_date": "31/12/2026"},
         [("expected_close_date", "format")]),
        ({"currency": "cny"}, [("currency", "format")]),
        ({"currency": "CNYX"}, [("currency", "length")]),
        ({"contact_id": ct2["id"]}, [("contact_id", "not_found")]),
        ({"pipeline_id": str(uuid.uuid4())}, [("pipeline_id", "not_found")]),
        ({"owner_id": str(uuid.uuid4())}, [("owner_id", "not_found")]),
        ({"lead_id": str(uuid.uuid4())}, [("lead_id", "not_found")]),
        ({"customer_id": str(uuid.uuid4()), "currency": "rmb"},
         [("customer_id", "not_found"), ("currency", "format")]),
        ({"name": "", "customer_id": None, "colour": "red"},
         [("colour", "unknown_field"), ("name", "length"),
          ("customer_id", "not_nullable")]),
    ]
    for fields, errors in cases:
        r = create(api, t, **fields)
        assert r.status_code == 422, (fields, r.text)
        assert [(e["field"], e["code"]) for e in r.json()["errors"]] == \
            errors, fields
    r = api.post("/v1/opportunities", headers=bearer(t), json={})
    assert {e["field"] for e in r.json()["errors"]} == {
        "name", "customer_id", "amount"}
    # Someone else's customer is worded exactly as one that does not exist.
    theirs = create(api, t, customer_id=REP2_CUSTOMER)
    ghost = create(api, t, customer_id=str(uuid.uuid4()))
    assert theirs.status_code == 422
    assert problem_shape(theirs)[1:] == problem_shape(ghost)[1:]
    assert theirs.json()["errors"] == [{
        "field": "customer_id", "code": "not_found",
        "message": "customer_id names no customer you can see."}]
    # An owner outside the rep's team: 403.
    r = create(api, t, owner_id=REP2)
    assert r.status_code == 403
    r = create(api, t, owner_id=MANAGER)
    assert r.status_code == 403
    assert rows(stack) == before


# --- stages and history ------------------------------------------------------

def test_stage_moves_forward_and_back_with_history(api, stack, tokens,
                                                   default):
    t = tokens["rep1"]
    o = made(api, t, amount="1000")
    h = bearer(t)
    r = api.patch("/v1/opportunities/" + o["id"],
                  headers={**h, "If-Match": '"1"'},
                  json={"stage_id": default["方案报价"]["id"]})
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    assert r.json()["stage"]["name"] == "方案报价"
    assert r.json()["weighted_amount"] == "500.00"
    back = move(api, t, o["id"], stage_id=default["需求确认"]["id"],
                amount="1500.50")
    assert (back["stage"]["name"], back["amount"],
            back["weighted_amount"]) == ("需求确认", "1500.50", "375.13")
    at = datetime.datetime.fromisoformat
    assert at(back["stage_changed_at"]) > at(o["stage_changed_at"])
    stale = api.patch("/v1/opportunities/" + o["id"],
                      headers={**h, "If-Match": '"1"'}, json={"name": "旧"})
    assert stale.status_code == 412
    # A change that is not a move leaves the history alone.
    move(api, t, o["id"], next_step="发送合同草稿")
    hist = api.get("/v1/opportunities/%s/history" % o["id"], headers=h)
    assert hist.status_code == 200
    data = hist.json()["data"]
    assert [(x["from_stage_name"], x["to_stage_name"], x["probability"],
             x["amount"], x["changed_by"]) for x in data] == [
        (None, "初步接触", 10, "1000.00", REP1),
        ("初步接触", "方案报价", 50, "1000.00", REP1),
        ("方案报价", "需求确认", 25, "1500.50", REP1)]
    assert [x["from_stage_id"] for x in data] == [
        None, default["初步接触"]["id"], default["方案报价"]["id"]]
    # How long it stayed: set the clock of each move, read it back.
    ids = [i for (i,) in stack.sql(
        "SELECT id FROM opportunity_stage_history WHERE opportunity_id = %s "
        "ORDER BY id", (o["id"],))]
    for i, at in zip(ids, ("2026-11-02 09:00:00+08", "2026-11-02 10:00:00+08",
                           "2026-11-04 10:01:30.5+08")):
        stack.sql("UPDATE opportunity_stage_history SET changed_at = %s "
                  "WHERE id = %s", (at, i))
    data = api.get("/v1/opportunities/%s/history" % o["id"], headers=h
                   ).json()["data"]
    assert [x["seconds_in_previous_stage"] for x in data] == [
        None, 3600, 2 * 86400 + 90.5]


def test_closed_opportunities_and_transitions(api, stack, tokens, default):
    t = tokens["rep1"]
    o = made(api, t, amount="8800")
    oid = o["id"]
    move(api, t, oid, stage_id=default["商务谈判"]["id"])
    before = rows(stack)
    # The won and lost stages are reached by /win and /lose only.
    for closed in ("签订合同", "丢单"):
        r = api.patch("/v1/opportunities/" + oid, headers=bearer(t),
                      json={"stage_id": default[closed]["id"]})
        assert r.status_code == 409
        assert r.json()["detail"] == (
            "An open opportunity moves by PATCH among open stages only (%s); "
            "allowed from open: won (POST /v1/opportunities/{id}/win), lost "
            "(POST /v1/opportunities/{id}/lose)." % OPEN_NAMES)
    r = act(api, t, oid, "reopen")
    assert r.status_code == 409 and r.json()["detail"] == (
        "The opportunity is already open; allowed from open: won, lost.")
    # Losing needs a reason.
    for body in ({}, {"reason": ""}, {"why": "x"}):
        r = act(api, t, oid, "lose", body)
        assert r.status_code == 422
    assert rows(stack) == before

    won = act(api, t, oid, "win", {"reason": "方案与报价均获认可"},
              headers={"If-Match": '"2"'})
    assert won.status_code == 200, won.text
    w = won.json()
    assert (w["status"], w["stage"]["name"], w["close_reason"],
            w["weighted_amount"]) == ("won", "签订合同", "方案与报价均获认可",
                                      "8800.00")
    assert w["closed_at"] is not None and won.headers["etag"] == '"3"'
    before = rows(stack)
    for body in ({"amount": "9000"}, {"stage_id": default["需求确认"]["id"]},
                 {"currency": "USD"}):
        r = api.patch("/v1/opportunities/" + oid, headers=bearer(t),
                      json=body)
        assert r.status_code == 409, body
        assert r.json()["detail"] == (
            "The opportunity is won: its stage, pipeline and amount change "
            "only after it is reopened; allowed from won: open (POST "
            "/v1/opportunities/{id}/reopen).")
    assert act(api, t, oid, "lose", {"reason": "x"}).json()["detail"] == (
        "The opportunity cannot go from won to lost; allowed from won: open.")
    assert act(api, t, oid, "win").json()["detail"] == (
        "The opportunity is already won; allowed from won: open.")
    assert rows(stack) == before
    # Restating the amount is no change; other fields stay editable.
    r = api.patch("/v1/opportunities/" + oid, headers=bearer(t),
                  json={"amount": "8800.00", "next_step": "回款跟进"})
    assert r.status_code == 200 and r.json()["next_step"] == "回款跟进"

    # Reopen: back to the last open stage it was in.
    r = act(api, t, oid, "reopen")
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["stage"]["name"],
            r.json()["close_reason"], r.json()["closed_at"]) == (
        "open", "商务谈判", None, None)
    lost = act(api, t, oid, "lose", {"reason": "预算取消"}).json()
    assert (lost["status"], lost["stage"]["name"], lost["close_reason"],
            lost["weighted_amount"]) == ("lost", "丢单", "预算取消", "0.00")
    assert act(api, t, oid, "win").json()["detail"] == (
        "The opportunity cannot go from lost to won; allowed from lost: open.")
    before = rows(stack)
    for stage in (default["签订合同"]["id"], str(uuid.uuid4())):
        r = act(api, t, oid, "reopen", {"stage_id": stage})
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "stage_id"
        assert OPEN_NAMES in r.json()["errors"][0]["message"]
    assert act(api, t, oid, "reopen", headers={"If-Match": '"2"'}
               ).status_code == 412
    assert rows(stack) == before
    r = act(api, t, oid, "reopen", {"stage_id": default["需求确认"]["id"]})
    assert r.status_code == 200 and r.json()["stage"]["name"] == "需求确认"
    hist = api.get("/v1/opportunities/%s/history" % oid, headers=bearer(t)
                   ).json()["data"]
    assert [(x["to_stage_name"], x["to_stage_kind"]) for x in hist] == [
        ("初步接触", "open"), ("商务谈判", "open"), ("签订合同", "won"),
        ("商务谈判", "open"), ("丢单", "lost"), ("需求确认", "open")]


def test_pipeline_change_needs_a_stage_of_the_new_pipeline(api, stack, tokens,
                                                          default):
    t = tokens["rep1"]
    p2 = api.post("/v1/pipelines", headers=bearer(tokens["admin"]), json={
        "name": "续订流程" + uuid.uuid4().hex[:6], "stages": [
            {"name": "到期提醒", "probability": 30},
            {"name": "续订成功", "kind": "won"},
            {"name": "不再续订", "kind": "lost"}]}).json()
    o = made(api, t)
    before = rows(stack)
    r = api.patch("/v1/opportunities/" + o["id"], headers=bearer(t),
                  json={"pipeline_id": p2["id"]})
    assert r.status_code == 422
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
        ("stage_id", "required")]
    r = api.patch("/v1/opportunities/" + o["id"], headers=bearer(t),
                  json={"pipeline_id": p2["id"],
                        "stage_id": default["需求确认"]["id"]})
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
        ("stage_id", "not_found")]
    assert rows(stack) == before
    moved = move(api, t, o["id"], pipeline_id=p2["id"],
                 stage_id=p2["stages"][0]["id"])
    assert (moved["pipeline_id"], moved["stage"]["name"],
            moved["weighted_amount"]) == (p2["id"], "到期提醒", "300.00")
    # An inactive pipeline takes no new opportunities.
    api.patch("/v1/pipelines/" + p2["id"], headers=bearer(tokens["admin"]),
              json={"active": False})
    r = create(api, t, pipeline_id=p2["id"])
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
        ("pipeline_id", "not_found")]
    # ... but the ones in it go on.
    assert act(api, t, o["id"], "win").json()["stage"]["name"] == "续订成功"


def test_soft_delete(api, stack, tokens):
    t = tokens["rep1"]
    o = made(api, t)
    h = bearer(t)
    assert api.delete("/v1/opportunities/" + o["id"],
                      headers={**h, "If-Match": '"7"'}).status_code == 412
    assert api.delete("/v1/opportunities/" + o["id"],
                      headers={**h, "If-Match": '"1"'}).status_code == 204
    for method, path, body in (
            ("GET", "/v1/opportunities/{}", None),
            ("GET", "/v1/opportunities/{}/history", None),
            ("PATCH", "/v1/opportunities/{}", {"name": "x"}),
            ("DELETE", "/v1/opportunities/{}", None),
            ("POST", "/v1/opportunities/{}/win", {})):
        r = api.request(method, path.format(o["id"]), headers=h, json=body)
        assert r.status_code == 404, (method, path)
    listed = api.get("/v1/opportunities?limit=500&customer_id=" +
                     REP1_CUSTOMER, headers=h).json()["data"]
    assert o["id"] not in {x["id"] for x in listed}
    assert stack.sql("SELECT deleted_at IS NOT NULL FROM opportunities "
                     "WHERE id = %s", (o["id"],)) == [(True,)]


# --- lists -------------------------------------------------------------------

def pages(api, token, query, limit=2):
    seen, cursor = [], None
    while True:
        q = "/v1/opportunities?limit=%d&%s" % (limit, query)
        if cursor:
            q += "&cursor=" + cursor
        r = api.get(q, headers=bearer(token))
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["data"]) <= limit
        seen += [x["id"] for x in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            return seen


def test_every_sort_pages_with_its_cursor(api, tokens):
    t = tokens["rep1"]
    c = customer(api, t)
    spec = [("500", "2027-01-10"), ("120.5", None), ("500", "2026-12-20"),
            ("9999.99", "2027-01-10"), ("0", None), ("120.50", "2026-12-20"),
            ("75", "2027-03-01")]
    made_ = [made(api, t, customer_id=c, amount=a, expected_close_date=d)
             for a, d in spec]
    created = [o["id"] for o in made_]
    amount = {o["id"]: float(o["amount"]) for o in made_}
    date = {o["id"]: o["expected_close_date"] for o in made_}
    dated = [i for i in created if date[i]]
    undated = [i for i in created if not date[i]]
    expect = {
        "created_at": created,
        "-created_at": created[::-1],
        "amount": sorted(created, key=lambda i: (amount[i], i)),
        "-amount": sorted(created, key=lambda i: (amount[i], i),
                          reverse=True),
        "expected_close_date": sorted(dated, key=lambda i: (date[i], i)) +
        sorted(undated),
        "-expected_close_date": sorted(dated, key=lambda i: (date[i], i),
                                       reverse=True) +
        sorted(undated, reverse=True),
    }
    for sort, ids in expect.items():
        assert pages(api, t, "customer_id=%s&sort=%s" % (c, sort)) == ids, \
            sort
        assert pages(api, t, "customer_id=%s&sort=%s" % (c, sort),
                     limit=3) == ids, sort
    assert pages(api, t, "customer_id=" + c) == created[::-1]


def test_filters(api, tokens, default):
    t = tokens["rep1"]
    c = customer(api, t)
    a = made(api, t, customer_id=c, name="华西医院信息化", amount="10",
             expected_close_date="2026-12-01")
    b = made(api, t, customer_id=c, name="成都地铁广告", amount="20",
             expected_close_date="2026-12-31",
             stage_id=default["方案报价"]["id"])
    d = made(api, t, customer_id=c, name="华西口腔医院耗材", amount="30")
    act(api, t, d["id"], "lose", {"reason": "价格"})

    def ids(query):
        r = api.get("/v1/opportunities?limit=500&customer_id=%s&%s"
                    % (c, query), headers=bearer(t))
        assert r.status_code == 200, r.text
        return {x["id"] for x in r.json()["data"]}

    assert ids("") == {a["id"], b["id"], d["id"]}
    assert ids("status=open") == {a["id"], b["id"]}
    assert ids("status=lost") == {d["id"]}
    assert ids("status=won") == set()
    assert ids("stage_id=" + default["方案报价"]["id"]) == {b["id"]}
    assert ids("pipeline_id=" + default["id"]) == {a["id"], b["id"], d["id"]}
    assert ids("owner_id=" + REP1) == {a["id"], b["id"], d["id"]}
    assert ids("close_after=2026-12-01") == {a["id"], b["id"]}
    assert ids("close_after=2026-12-02") == {b["id"]}
    assert ids("close_before=2026-12-31") == {a["id"]}
    assert ids("close_after=2026-12-01&close_before=2027-01-01") == {
        a["id"], b["id"]}
    assert ids("q=" + urllib.parse.quote("华西")) == {a["id"], d["id"]}
    assert ids("q=" + urllib.parse.quote("医院信息")) == {a["id"]}
    assert ids("q=%E5%9C%B0%E9%93%81&status=open") == {b["id"]}
    r = api.get("/v1/opportunities?status=maybe&close_after=2026-02-30"
                "&sort=name&limit=0&colour=red", headers=bearer(t))
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {
        "status", "close_after", "sort", "limit", "colour"}
    assert api.get("/v1/opportunities?cursor=bm9wZQ", headers=bearer(t)
                   ).status_code == 400
    cur = api.get("/v1/opportunities?limit=1&customer_id=" + c,
                  headers=bearer(t)).json()["next_cursor"]
    assert cur and api.get("/v1/opportunities?sort=amount&cursor=" + cur,
                           headers=bearer(t)).status_code == 400


# --- who sees what -----------------------------------------------------------

def test_rep2_cannot_see_change_list_or_detect_rep1s(api, stack, tokens):
    o = made(api, tokens["rep1"], name="张伟的商机")
    h = bearer(tokens["rep2"])
    ghost = str(uuid.uuid4())
    for method, path, body in (
            ("GET", "/v1/opportunities/{}", None),
            ("PATCH", "/v1/opportunities/{}", {"name": "越权"}),
            ("PATCH", "/v1/opportunities/{}", {"owner_id": REP2}),
            ("DELETE", "/v1/opportunities/{}", None),
            ("POST", "/v1/opportunities/{}/win", {}),
            ("POST", "/v1/opportunities/{}/lose", {"reason": "越权"}),
            ("POST", "/v1/opportunities/{}/reopen", {}),
            ("GET", "/v1/opportunities/{}/history", None)):
        real = api.request(method, path.format(o["id"]), headers=h,
                           json=body)
        fake = api.request(method, path.format(ghost), headers=h, json=body)
        assert real.status_code == 404, (method, path)
        assert problem_shape(real) == problem_shape(fake), (method, path)
    for q in ("", "&customer_id=" + REP1_CUSTOMER, "&owner_id=" + REP1,
              "&q=" + urllib.parse.quote("张伟的商机")):
        page = api.get("/v1/opportunities?limit=500" + q, headers=h).json()
        assert o["id"] not in {x["id"] for x in page["data"]}
        assert all(x["owner_id"] == REP2 for x in page["data"])
    assert api.get("/v1/opportunities?owner_id=" + REP1, headers=h
                   ).json()["data"] == []
    assert stack.sql("SELECT name, version, status FROM opportunities "
                     "WHERE id = %s", (o["id"],)) == [("张伟的商机", 1, "open")]


def test_manager_sees_and_reassigns_the_team(api, tokens):
    a = made(api, tokens["rep1"])
    b = made(api, tokens["rep2"], customer_id=REP2_CUSTOMER)
    m = bearer(tokens["manager"])
    for o in (a, b):
        assert api.get("/v1/opportunities/" + o["id"], headers=m
                       ).status_code == 200
    listed = {x["id"] for x in api.get("/v1/opportunities?limit=500",
                                       headers=m).json()["data"]}
    assert {a["id"], b["id"]} <= listed
    moved = move(api, tokens["manager"], a["id"], owner_id=REP2)
    assert moved["owner_id"] == REP2
    assert api.get("/v1/opportunities/" + a["id"],
                   headers=bearer(tokens["rep1"])).status_code == 404
    assert api.get("/v1/opportunities/" + a["id"],
                   headers=bearer(tokens["rep2"])).status_code == 200
    # Roles without the team see none of it.
    for who in ("marketing", "service"):
        assert api.get("/v1/opportunities/" + b["id"],
                       headers=bearer(tokens[who])).status_code == 404


def test_other_organisations_see_none(api, tokens, org2):
    o = made(api, tokens["rep1"])
    h = bearer(org2["admin"])
    ghost = str(uuid.uuid4())
    for method, path, body in (
            ("GET", "/v1/opportunities/{}", None),
            ("PATCH", "/v1/opportunities/{}", {"name": "越权"}),
            ("DELETE", "/v1/opportunities/{}", None),
            ("POST", "/v1/opportunities/{}/win", {}),
            ("GET", "/v1/opportunities/{}/history", None)):
        real = api.request(method, path.format(o["id"]), headers=h,
                           json=body)
        fake = api.request(method, path.format(ghost), headers=h, json=body)
        assert problem_shape(real) == problem_shape(fake)
        assert real.status_code == 404
    assert o["id"] not in {x["id"] for x in api.get(
        "/v1/opportunities?limit=500", headers=h).json()["data"]}
    # Org 1's customers and pipelines do not exist for org 2.
    r = create(api, org2["rep"], customer_id=REP1_CUSTOMER)
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
        ("customer_id", "not_found")]
    real = api.get("/v1/opportunities/funnel?pipeline_id=" + o["pipeline_id"],
                   headers=h)
    fake = api.get("/v1/opportunities/funnel?pipeline_id=" + ghost, headers=h)
    assert real.status_code == 422
    assert problem_shape(real)[1:] == problem_shape(fake)[1:]
    # Their own opportunity stays theirs.
    c = customer(api, org2["rep"], "杭州西湖龙井茶业")
    mine = made(api, org2["rep"], customer_id=c, amount="66.60")
    assert mine["stage"]["name"] == "初步接触"
    assert mine["pipeline_id"] != o["pipeline_id"]
    assert api.get("/v1/opportunities/" + mine["id"],
                   headers=bearer(tokens["admin"])).status_code == 404
    funnel = api.get("/v1/opportunities/funnel", headers=h).json()
    assert funnel["totals"] == {"count": 1, "amount": "66.60",
                                "weighted_amount": "6.66"}


def test_api_key_scopes(api, tokens):
    o = made(api, tokens["rep1"])

    def key(*scopes):
        r = api.post("/v1/api-keys", headers=bearer(tokens["admin"]), json={
            "name": "ERP 商机", "scopes": list(scopes), "user_id": REP1})
        assert r.status_code == 201, r.text
        return {"X-API-Key": r.json()["key"]}

    reads = (("GET", "/v1/opportunities", None),
             ("GET", "/v1/opportunities/" + o["id"], None),
             ("GET", "/v1/opportunities/%s/history" % o["id"], None),
             ("GET", "/v1/opportunities/funnel", None),
             ("GET", "/v1/pipelines", None),
             ("GET", "/v1/pipelines/" + o["pipeline_id"], None))
    writes = (("POST", "/v1/opportunities", {
        "name": "接口商机", "customer_id": REP1_CUSTOMER, "amount": "1"}),
        ("PATCH", "/v1/opportunities/" + o["id"], {"name": "改"}),
        ("POST", "/v1/opportunities/%s/win" % o["id"], {}),
        ("DELETE", "/v1/opportunities/" + o["id"], None))
    none = key("customers:read")
    for method, path, body in reads + writes:
        r = api.request(method, path, headers=none, json=body)
        assert r.status_code == 403, (method, path)
    ro = key("opportunities:read")
    for method, path, body in reads:
        assert api.request(method, path, headers=ro, json=body
                           ).status_code == 200, path
    page = api.get("/v1/opportunities?limit=500", headers=ro).json()["data"]
    assert page and all(x["owner_id"] == REP1 for x in page)
    for method, path, body in writes:
        r = api.request(method, path, headers=ro, json=body)
        assert r.status_code == 403
        assert r.json()["detail"] == ("The API key lacks the scope "
                                      "opportunities:write.")
    rw = key("opportunities:write")
    r = api.post("/v1/opportunities", headers=rw, json=writes[0][2])
    assert r.status_code == 201 and r.json()["owner_id"] == REP1


# --- the funnel --------------------------------------------------------------

FUNNEL_STAGES = ["线索", "报价", "谈判", "赢单", "输单"]


@pytest.fixture(scope="module")
def funnel_data(stack, api_module):
    """A pipeline of its own and a data set whose funnel is known:
    rep1: a S1 1000.05; b S1>S2 2500.50; c S1>S3>S2 333.33;
          d S2>won 10000.00; e S1>S2>lost 777.77
    rep2: f S3 1234.56; g S1>S3>won 5000.00; h S1 99.99 (deleted)."""
    api, tokens = api_module
    p = api.post("/v1/pipelines", headers=bearer(tokens["admin"]), json={
        "name": "漏斗测试" + uuid.uuid4().hex[:6], "stages": [
            {"name": "线索", "probability": 10},
            {"name": "报价", "probability": 40,
             "forecast_category": "best_case"},
            {"name": "谈判", "probability": 70, "forecast_category": "commit"},
            {"name": "赢单", "kind": "won"},
            {"name": "输单", "kind": "lost"}]}).json()
    s = {x["name"]: x["id"] for x in p["stages"]}
    r1, r2 = tokens["rep1"], tokens["rep2"]
    c1, c2 = customer(api, r1, "漏斗甲公司"), customer(api, r2, "漏斗乙公司")

    def opp(token, cust, amount, path):
        o = made(api, token, customer_id=cust, amount=amount,
                 pipeline_id=p["id"], stage_id=s[path[0]])
        for step in path[1:]:
            if step == "won":
                assert act(api, token, o["id"], "win").status_code == 200
            elif step == "lost":
                assert act(api, token, o["id"], "lose",
                           {"reason": "竞品"}).status_code == 200
            else:
                move(api, token, o["id"], stage_id=s[step])
        return o["id"]

    ids = {
        "a": opp(r1, c1, "1000.05", ["线索"]),
        "b": opp(r1, c1, "2500.50", ["线索", "报价"]),
        "c": opp(r1, c1, "333.33", ["线索", "谈判", "报价"]),
        "d": opp(r1, c1, "10000.00", ["报价", "won"]),
        "e": opp(r1, c1, "777.77", ["线索", "报价", "lost"]),
        "f": opp(r2, c2, "1234.56", ["谈判"]),
        "g": opp(r2, c2, "5000.00", ["线索", "谈判", "won"]),
        "h": opp(r2, c2, "99.99", ["线索"]),
    }
    assert api.delete("/v1/opportunities/" + ids["h"], headers=bearer(r2)
                      ).status_code == 204
    return p, ids


def funnel(api, token, query=""):
    r = api.get("/v1/opportunities/funnel?" + query, headers=bearer(token))
    assert r.status_code == 200, r.text
    f = r.json()
    return (f["pipeline"]["name"],
            [(x["name"], x["kind"], x["count"], x["amount"],
              x["weighted_amount"], x["reached"], x["advanced"],
              x["conversion_rate"]) for x in f["stages"]],
            f["totals"])


def totals(count, amount, weighted):
    return {"count": count, "amount": amount, "weighted_amount": weighted}


REP1_FUNNEL = [
    ("线索", "open", 1, "1000.05", "100.01", 5, 4, "0.8000"),
    ("报价", "open", 2, "2833.83", "1133.53", 4, 2, "0.5000"),
    ("谈判", "open", 0, "0.00", "0.00", 2, 1, "0.5000"),
    ("赢单", "won", 1, "10000.00", "10000.00", 1, None, None),
    ("输单", "lost", 1, "777.77", "0.00", None, None, None)]
REP2_FUNNEL = [
    ("线索", "open", 0, "0.00", "0.00", 2, 2, "1.0000"),
    ("报价", "open", 0, "0.00", "0.00", 2, 2, "1.0000"),
    ("谈判", "open", 1, "1234.56", "864.19", 2, 1, "0.5000"),
    ("赢单", "won", 1, "5000.00", "5000.00", 1, None, None),
    ("输单", "lost", 0, "0.00", "0.00", None, None, None)]
TEAM_FUNNEL = [
    ("线索", "open", 1, "1000.05", "100.01", 7, 6, "0.8571"),
    ("报价", "open", 2, "2833.83", "1133.53", 6, 4, "0.6667"),
    ("谈判", "open", 1, "1234.56", "864.19", 4, 2, "0.5000"),
    ("赢单", "won", 2, "15000.00", "15000.00", 2, None, None),
    ("输单", "lost", 1, "777.77", "0.00", None, None, None)]
EMPTY_FUNNEL = [
    ("线索", "open", 0, "0.00", "0.00", 0, 0, None),
    ("报价", "open", 0, "0.00", "0.00", 0, 0, None),
    ("谈判", "open", 0, "0.00", "0.00", 0, 0, None),
    ("赢单", "won", 0, "0.00", "0.00", 0, None, None),
    ("输单", "lost", 0, "0.00", "0.00", None, None, None)]


def test_funnel_of_each_role(api, tokens, funnel_data):
    p, _ = funnel_data
    q = "pipeline_id=" + p["id"]
    assert funnel(api, tokens["rep1"], q) == (
        p["name"], REP1_FUNNEL, totals(3, "3833.88", "1233.54"))
    assert funnel(api, tokens["rep2"], q) == (
        p["name"], REP2_FUNNEL, totals(1, "1234.56", "864.19"))
    team = (p["name"], TEAM_FUNNEL, totals(4, "5068.44", "2097.73"))
    assert funnel(api, tokens["manager"], q) == team
    assert funnel(api, tokens["admin"], q) == team
    assert funnel(api, tokens["ceo"], q) == team
    # Filters narrow what the caller sees, never widen it.
    assert funnel(api, tokens["manager"], q + "&owner_id=" + REP2) == (
        p["name"], REP2_FUNNEL, totals(1, "1234.56", "864.19"))
    assert funnel(api, tokens["rep1"], q + "&owner_id=" + REP2) == (
        p["name"], EMPTY_FUNNEL, totals(0, "0.00", "0.00"))
    assert funnel(api, tokens["marketing"], q)[1] == EMPTY_FUNNEL
    # Stage ids and order come from the pipeline.
    f = api.get("/v1/opportunities/funnel?" + q,
                headers=bearer(tokens["admin"])).json()
    assert [(x["stage_id"], x["position"], x["probability"])
            for x in f["stages"]] == [
        (x["id"], x["position"], x["probability"]) for x in p["stages"]]
    # Without pipeline_id: the default pipeline.
    assert funnel(api, tokens["rep1"])[0] == "标准销售流程"


def test_funnel_created_range(api, stack, tokens, funnel_data):
    p, ids = funnel_data
    stack.sql("UPDATE opportunities SET created_at = '2026-01-15 12:00+08' "
              "WHERE id = %s", (ids["f"],))
    try:
        q = "pipeline_id=%s&created_before=%s" % (
            p["id"], urllib.parse.quote("2026-02-01T00:00:00+08:00"))
        assert funnel(api, tokens["manager"], q) == (p["name"], [
            ("线索", "open", 0, "0.00", "0.00", 1, 1, "1.0000"),
            ("报价", "open", 0, "0.00", "0.00", 1, 1, "1.0000"),
            ("谈判", "open", 1, "1234.56", "864.19", 1, 0, "0.0000"),
            ("赢单", "won", 0, "0.00", "0.00", 0, None, None),
            ("输单", "lost", 0, "0.00", "0.00", None, None, None)],
            totals(1, "1234.56", "864.19"))
        q = "pipeline_id=%s&created_after=%s" % (
            p["id"], urllib.parse.quote("2026-02-01T00:00:00+08:00"))
        assert funnel(api, tokens["manager"], q)[2] == totals(
            3, "3833.88", "1233.54")
        assert funnel(api, tokens["rep2"], q)[1][2][2:4] == (0, "0.00")
    finally:
        stack.sql("UPDATE opportunities SET created_at = now() "
                  "WHERE id = %s", (ids["f"],))


def test_funnel_weights_match_the_records(api, tokens, funnel_data):
    p, ids = funnel_data
    h = bearer(tokens["manager"])
    page = api.get("/v1/opportunities?limit=500&status=open&pipeline_id=" +
                   p["id"], headers=h).json()["data"]
    assert sorted(x["id"] for x in page) == sorted(
        ids[k] for k in "abcf")
    assert sorted(x["weighted_amount"] for x in page) == sorted(
        ["100.01", "1000.20", "133.33", "864.19"])


def test_funnel_totals_round_once(api, tokens):
    """Weighted amounts: each deal and each stage may round its own, but
    the total is the exact sum rounded once. 100.05 at 10% and 33.35 at
    30% are 10.005 each: the stages show 10.01, the total 20.01 (not the
    20.02 the rounded stages add up to)."""
    p = api.post("/v1/pipelines", headers=bearer(tokens["admin"]), json={
        "name": "舍入测试" + uuid.uuid4().hex[:6], "stages": [
            {"name": "初步接触", "probability": 10},
            {"name": "方案报价", "probability": 30},
            {"name": "赢单", "kind": "won"},
            {"name": "输单", "kind": "lost"}]}).json()
    s = {x["name"]: x["id"] for x in p["stages"]}
    c = customer(api, tokens["rep1"])
    deals = [made(api, tokens["rep1"], customer_id=c, amount=amount,
                  pipeline_id=p["id"], stage_id=s[stage])
             for amount, stage in (("100.05", "初步接触"),
                                   ("33.35", "方案报价"))]
    assert [d["weighted_amount"] for d in deals] == ["10.01", "10.01"]
    name, stages, tot = funnel(api, tokens["rep1"], "pipeline_id=" + p["id"])
    assert [x[:5] for x in stages] == [
        ("初步接触", "open", 1, "100.05", "10.01"),
        ("方案报价", "open", 1, "33.35", "10.01"),
        ("赢单", "won", 0, "0.00", "0.00"),
        ("输单", "lost", 0, "0.00", "0.00")]
    assert tot == totals(2, "133.40", "20.01")


def test_funnel_bad_queries(api, tokens):
    h = bearer(tokens["rep1"])
    r = api.get("/v1/opportunities/funnel?pipeline_id=nope&created_after=x"
                "&colour=red", headers=h)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {
        "pipeline_id", "created_after", "colour"}
    r = api.get("/v1/opportunities/funnel?pipeline_id=" + str(uuid.uuid4()),
                headers=h)
    assert r.status_code == 422
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
        ("pipeline_id", "not_found")]
