"""Batch writes: POST /v1/{resource}/batch, up to 500 creates, updates and
upserts per call, one result per item in order, all_or_none, and the bulk
headers; every item answers what it would answer alone (issue 7)."""
import json
import uuid

import pytest

from conftest import DEMO, bearer
from leads_helpers import count, reset_lead_config

REP1 = DEMO["rep1"][1]
REP2 = DEMO["rep2"][1]
MARKETING = DEMO["marketing"][1]
REP1_CUSTOMER = "00000000-0000-4000-8000-000000001001"


def tag():
    return uuid.uuid4().hex[:8]


def batch(api, token, resource, items, headers=None, timeout=10, **opts):
    h = bearer(token) if token is not None else {}
    h.update(headers or {})
    return api.post(f"/v1/{resource}/batch", headers=h, timeout=timeout,
                    json={"items": items, **opts})


def ok(r):
    assert r.status_code == 200, r.text
    return r.json()


def shape(problem):
    return (problem["status"], problem["type"], problem["title"],
            problem["detail"])


def customer(api, token, **fields):
    body = {"name": "客户" + tag(), **fields}
    r = api.post("/v1/customers", headers=bearer(token), json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_creates_updates_and_upserts_in_order(api, stack, tokens):
    t = tag()
    own = customer(api, tokens["rep1"])
    before = count(stack, "customers")
    a = ok(batch(api, tokens["rep1"], "customers", [
        {"op": "create", "data": {"name": "成都蓉城文化传播有限公司" + t,
                                  "city": "成都", "tags": ["书展", "期刊"]}},
        {"op": "upsert", "external_id": "ERP-" + t,
         "data": {"name": "重庆山城书业有限公司" + t}},
        {"op": "update", "id": own["id"], "if_match": 1,
         "data": {"grade": "A", "notes": "年度重点"}},
    ]))
    assert (a["all_or_none"], a["rolled_back"]) == (False, False)
    assert (a["succeeded"], a["failed"]) == (3, 0)
    r = a["results"]
    assert [x["index"] for x in r] == [0, 1, 2]
    assert [x["status"] for x in r] == [201, 201, 200]
    assert count(stack, "customers") == before + 2
    # Each body is the record as the single-record route shows it.
    for x in r:
        got = api.get("/v1/customers/" + x["id"], headers=bearer(
            tokens["rep1"]))
        assert got.json() == x["body"]
    assert r[0]["body"]["owner_id"] == REP1
    assert r[0]["body"]["tags"] == ["书展", "期刊"]
    assert r[1]["body"]["external_id"] == "ERP-" + t
    assert (r[2]["body"]["grade"], r[2]["body"]["version"]) == ("A", 2)

    # The same external_id again: now it updates what it created.
    resp = batch(api, tokens["rep1"], "customers", [
        {"op": "upsert", "external_id": "ERP-" + t,
         "data": {"name": "重庆山城书业集团" + t, "grade": "B"}}])
    b = ok(resp)
    x = b["results"][0]
    assert (x["status"], x["id"]) == (200, r[1]["id"])
    assert (x["body"]["name"], x["body"]["version"]) == (
        "重庆山城书业集团" + t, 2)
    assert count(stack, "customers") == before + 2
    # Every write is audited as if made one by one, with the request id:
    # this batch's update, with what it changed.
    (action, rid, changes), = stack.sql(
        "SELECT action, request_id, changes FROM audit_log WHERE "
        "entity_id = %s ORDER BY id DESC LIMIT 1", (x["id"],))
    assert action == "update" and rid == resp.headers["x-request-id"]
    assert "grade" in json.dumps(changes)


def test_items_are_checked_like_single_requests(api, stack, tokens):
    h = bearer(tokens["rep1"])
    bad = {"name": "x" * 201, "kind": "robot", "email": "not-an-email",
           "colour": "red", "is_key_customer": "yes"}
    alone = api.post("/v1/customers", headers=h, json=bad)
    assert alone.status_code == 422
    before = count(stack, "customers")
    a = ok(batch(api, tokens["rep1"], "customers", [
        {"op": "create", "data": bad},
        {"op": "create", "data": {"name": "绵阳科技城书店" + tag()}},
        {"op": "update", "data": {"name": "没有 id"}},
        {"op": "create", "data": {}, "colour": "red"},
        {"op": "upsert", "data": {"name": "缺少 external_id"}},
        {"op": "create", "id": REP1_CUSTOMER, "if_match": 1,
         "data": {"name": "x"}},
    ]))
    assert (a["succeeded"], a["failed"]) == (1, 5)
    r = a["results"]
    assert [x["status"] for x in r] == [422, 201, 422, 422, 422, 422]
    # The same errors as alone, the fields named inside `data`.
    want = sorted(("data." + e["field"], e["code"], e["message"])
                  for e in alone.json()["errors"])
    got = sorted((e["field"], e["code"], e["message"])
                 for e in r[0]["problem"]["errors"])
    assert got == want
    assert r[0]["problem"]["type"] == "urn:crm:problem:validation-failed"
    assert r[0]["id"] is None
    assert [(e["field"], e["code"]) for e in r[2]["problem"]["errors"]] == [
        ("id", "required")]
    assert {(e["field"], e["code"]) for e in r[3]["problem"]["errors"]} == {
        ("colour", "unknown_field"), ("data.name", "required")}
    assert [(e["field"], e["code"]) for e in r[4]["problem"]["errors"]] == [
        ("external_id", "required")]
    assert {(e["field"], e["code"]) for e in r[5]["problem"]["errors"]} == {
        ("id", "not_allowed"), ("if_match", "not_allowed")}
    # Every problem carries the request's id; only the good item wrote.
    rid = r[0]["problem"]["request_id"]
    assert all(x["problem"]["request_id"] == rid for x in r if "problem" in x)
    assert count(stack, "customers") == before + 1


def test_database_rules_answer_per_item(api, stack, tokens):
    h = bearer(tokens["rep1"])
    c = customer(api, tokens["rep1"], external_id="EXT-" + tag())
    other = customer(api, tokens["rep1"])
    ext_alone = api.post("/v1/customers", headers=h, json={
        "name": "重复", "external_id": c["external_id"]})
    assert ext_alone.status_code == 409
    a = ok(batch(api, tokens["rep1"], "customers", [
        {"op": "update", "id": c["id"], "if_match": 7, "data": {"grade": "C"}},
        {"op": "create", "data": {"name": "重复",
                                  "external_id": c["external_id"]}},
        {"op": "update", "id": other["id"], "data": {"owner_id": str(
            uuid.uuid4())}},
        {"op": "update", "id": other["id"], "data": {"grade": "D"}},
    ], headers={"X-Skip-Duplicate-Check": "true"}))
    r = a["results"]
    assert [x["status"] for x in r] == [412, 409, 422, 200]
    assert shape(r[1]["problem"]) == shape(ext_alone.json())
    assert r[0]["id"] == c["id"]
    assert "version 1" in r[0]["problem"]["detail"]
    # The failed items changed nothing; the last one did.
    assert api.get("/v1/customers/" + c["id"], headers=h).json() == c
    assert api.get("/v1/customers/" + other["id"], headers=h
                   ).json()["grade"] == "D"


def test_all_or_none_writes_nothing_when_the_last_item_fails(api, stack,
                                                            tokens):
    t = tag()
    own = customer(api, tokens["rep1"])
    before = count(stack, "customers")
    audit = count(stack, "audit_log")
    a = ok(batch(api, tokens["rep1"], "customers", [
        {"op": "create", "data": {"name": "德阳文教用品公司" + t}},
        {"op": "upsert", "external_id": "AON-" + t,
         "data": {"name": "乐山图书发行站" + t}},
        {"op": "update", "id": own["id"], "data": {"grade": "A"}},
        {"op": "update", "id": str(uuid.uuid4()), "data": {"grade": "B"}},
    ], all_or_none=True))
    assert (a["all_or_none"], a["rolled_back"]) == (True, True)
    assert (a["succeeded"], a["failed"]) == (0, 1)
    r = a["results"]
    assert [x["status"] for x in r] == [424, 424, 424, 404]
    assert r[0]["problem"]["type"] == "urn:crm:problem:failed-dependency"
    assert r[0]["problem"]["detail"] == (
        "Not written: the batch is all or none and item 3 failed.")
    # Rolled-back creates have no id; the update names its record.
    assert (r[0]["id"], r[1]["id"], r[2]["id"]) == (None, None, own["id"])
    assert count(stack, "customers") == before
    assert count(stack, "audit_log") == audit
    assert api.get("/v1/customers/" + own["id"], headers=bearer(
        tokens["rep1"])).json() == own

    # A refused item dooms the batch too, and the others are still tried.
    a = ok(batch(api, tokens["rep1"], "customers", [
        {"op": "create", "data": {"name": ""}},
        {"op": "create", "data": {"name": "遂宁书城" + t}},
        {"op": "update", "id": REP1_CUSTOMER, "if_match": 999,
         "data": {"grade": "B"}},
    ], all_or_none=True))
    assert [x["status"] for x in a["results"]] == [422, 424, 412]
    assert count(stack, "customers") == before

    # When every item succeeds, all of them are written.
    a = ok(batch(api, tokens["rep1"], "customers", [
        {"op": "create", "data": {"name": "自贡灯会文创" + t}},
        {"op": "update", "id": own["id"], "data": {"grade": "A"}},
    ], all_or_none=True))
    assert (a["rolled_back"], a["succeeded"]) == (False, 2)
    assert count(stack, "customers") == before + 1


def test_another_reps_record_answers_like_one_that_does_not_exist(
        api, stack, tokens):
    mine = customer(api, tokens["rep1"], external_id="R1-" + tag())
    a = ok(batch(api, tokens["rep2"], "customers", [
        {"op": "update", "id": mine["id"], "data": {"grade": "D"}},
        {"op": "update", "id": str(uuid.uuid4()), "data": {"grade": "D"}},
    ]))
    seen, unknown = a["results"]
    assert seen["status"] == unknown["status"] == 404
    assert shape(seen["problem"]) == shape(unknown["problem"])
    alone = api.patch("/v1/customers/" + mine["id"], headers=bearer(
        tokens["rep2"]), json={"grade": "D"})
    assert shape(seen["problem"]) == shape(alone.json())
    # An upsert of rep1's external id cannot find it: it tries to create
    # one, which the unique key refuses, exactly as a create would.
    up = ok(batch(api, tokens["rep2"], "customers", [
        {"op": "upsert", "external_id": mine["external_id"],
         "data": {"name": "抢注"}}]))["results"][0]
    alone = api.post("/v1/customers", headers=bearer(tokens["rep2"]), json={
        "name": "抢注", "external_id": mine["external_id"]})
    assert up["status"] == alone.status_code == 409
    assert shape(up["problem"]) == shape(alone.json())
    assert api.get("/v1/customers/" + mine["id"], headers=bearer(
        tokens["rep1"])).json() == mine
    # Their manager changes both reps' records in one batch.
    theirs = customer(api, tokens["rep2"])
    a = ok(batch(api, tokens["manager"], "customers", [
        {"op": "update", "id": mine["id"], "data": {"grade": "B"}},
        {"op": "update", "id": theirs["id"], "data": {"grade": "B"}}]))
    assert [x["status"] for x in a["results"]] == [200, 200]
    # Marketing sees every customer but changes only its own: 403.
    a = ok(batch(api, tokens["marketing"], "customers", [
        {"op": "update", "id": mine["id"], "data": {"grade": "C"}}]))
    assert a["results"][0]["status"] == 403


def test_another_organisation_sees_nothing(api, stack, tokens, org2):
    # All or none, so that org2 stays empty for the other tests.
    a = ok(batch(api, org2["admin"], "customers", [
        {"op": "update", "id": REP1_CUSTOMER, "data": {"name": "别人的"}},
        {"op": "create", "data": {"name": "杭州西湖书社"}}],
        all_or_none=True))
    assert [x["status"] for x in a["results"]] == [404, 424]
    assert count(stack, "customers", "org_id = %s", (org2["org"],)) == 0
    got = api.get("/v1/customers/" + REP1_CUSTOMER, headers=bearer(
        tokens["rep1"])).json()
    assert got["name"] != "别人的"


def test_api_keys_need_the_modules_write_scope(api, tokens):
    admin = bearer(tokens["admin"])
    read = api.post("/v1/api-keys", headers=admin, json={
        "name": "ERP 只读", "scopes": ["customers:read", "leads:write"],
        "user_id": REP1}).json()["key"]
    write = api.post("/v1/api-keys", headers=admin, json={
        "name": "ERP 写", "scopes": ["customers:write"],
        "user_id": REP1}).json()["key"]
    items = [{"op": "create", "data": {"name": "API 客户" + tag()}}]
    r = batch(api, None, "customers", items, headers={"X-API-Key": read})
    assert r.status_code == 403
    r = batch(api, None, "contacts", [{"op": "create",
                                       "customer_id": REP1_CUSTOMER,
                                       "data": {"name": "张三"}}],
              headers={"X-API-Key": write})
    assert r.status_code == 403
    a = ok(batch(api, None, "customers", items, headers={"X-API-Key": write}))
    assert a["results"][0]["body"]["owner_id"] == REP1
    assert batch(api, None, "customers", items).status_code == 401


def test_duplicate_check_and_the_header_that_skips_it(api, tokens):
    c = customer(api, tokens["rep1"])
    t = tag()
    items = [{"op": "update", "id": c["id"], "data": {"grade": "A"}},
             {"op": "update", "id": c["id"], "data": {"grade": "B"}},
             {"op": "upsert", "external_id": "D-" + t, "data": {"name": "甲"}},
             {"op": "upsert", "external_id": "D-" + t, "data": {"name": "乙"}}]
    a = ok(batch(api, tokens["rep1"], "customers", items))
    r = a["results"]
    assert [x["status"] for x in r] == [200, 422, 201, 422]
    assert r[1]["problem"]["errors"] == [{
        "field": "id", "code": "duplicate",
        "message": "Item 0 of this batch already names this record."}]
    assert r[3]["problem"]["errors"][0]["field"] == "external_id"
    # Skipped: applied in order, as one by one.
    items[3]["external_id"] = items[2]["external_id"] = "E-" + t
    a = ok(batch(api, tokens["rep1"], "customers", items,
                 headers={"X-Skip-Duplicate-Check": "true"}))
    r = a["results"]
    assert [x["status"] for x in r] == [200, 200, 201, 200]
    assert (r[1]["body"]["grade"], r[1]["body"]["version"]) == ("B", 4)
    assert r[3]["id"] == r[2]["id"] and r[3]["body"]["name"] == "乙"
    bad = batch(api, tokens["rep1"], "customers", items,
                headers={"X-Skip-Duplicate-Check": "yes"})
    assert bad.status_code == 400
    assert "X-Skip-Duplicate-Check" in bad.json()["detail"]


@pytest.fixture
def clean(stack, tokens):
    reset_lead_config(stack, tokens["admin"])
    yield
    reset_lead_config(stack, tokens["admin"])


def test_leads_and_the_header_that_skips_assignment_rules(api, stack, tokens,
                                                          clean):
    src = "书展" + tag()
    r = api.post("/v1/assignment-rules", headers=bearer(tokens["admin"]),
                 json={"name": "书展线索", "source": src, "user_id": REP2})
    assert r.status_code == 201, r.text
    items = [{"op": "create", "data": {"name": "李明", "source": src,
                                       "company": "武汉长江出版社"}},
             {"op": "create", "data": {"name": "赵丽", "source": src,
                                       "owner_id": MARKETING}}]
    a = ok(batch(api, tokens["marketing"], "leads", items))
    assert [x["body"]["owner_id"] for x in a["results"]] == [REP2, MARKETING]
    a = ok(batch(api, tokens["marketing"], "leads", items,
                 headers={"X-Skip-Assignment-Rules": "true"}))
    assert [x["body"]["owner_id"] for x in a["results"]] == [MARKETING,
                                                             MARKETING]
    # Upserts by external_id, and the lead rules (status machine).
    ext = "FAIR-" + tag()
    a = ok(batch(api, tokens["rep1"], "leads", [
        {"op": "upsert", "external_id": ext, "data": {"name": "周杰"}},
        {"op": "update", "id": a["results"][0]["id"],
         "data": {"status": "working"}}]))
    assert [x["status"] for x in a["results"]] == [201, 404]
    lead = a["results"][0]
    assert lead["body"]["owner_id"] == REP1
    a = ok(batch(api, tokens["rep1"], "leads", [
        {"op": "update", "id": lead["id"], "data": {"status": "converted"}},
        {"op": "update", "id": lead["id"], "data": {"status": "working"}}],
        headers={"X-Skip-Duplicate-Check": "true"}))
    assert [x["status"] for x in a["results"]] == [409, 200]
    assert a["results"][1]["body"]["status"] == "working"


def test_contacts_batch(api, tokens):
    mine = customer(api, tokens["rep1"])
    theirs = customer(api, tokens["rep2"])
    a = ok(batch(api, tokens["rep1"], "contacts", [
        {"op": "create", "customer_id": mine["id"],
         "data": {"name": "王芳", "buying_role": "decision_maker",
                  "phones": ["138 0013 8000"]}},
        {"op": "create", "customer_id": theirs["id"], "data": {"name": "刘强"}},
        {"op": "create", "data": {"name": "没有客户"}},
        {"op": "upsert", "external_id": "C-1", "data": {"name": "不行"}},
    ]))
    r = a["results"]
    assert [x["status"] for x in r] == [201, 404, 422, 422]
    assert r[0]["body"]["customer_id"] == mine["id"]
    assert r[3]["problem"]["errors"][0]["field"] == "op"
    a = ok(batch(api, tokens["rep1"], "contacts", [
        {"op": "update", "id": r[0]["id"], "if_match": 1,
         "data": {"title": "总经理"}}]))
    assert a["results"][0]["body"]["title"] == "总经理"
    got = api.get("/v1/contacts/" + r[0]["id"], headers=bearer(
        tokens["rep1"])).json()
    assert got == a["results"][0]["body"]


def test_opportunities_products_and_activities(api, tokens):
    c = customer(api, tokens["rep1"])
    t = tag()
    a = ok(batch(api, tokens["rep1"], "opportunities", [
        {"op": "create", "data": {"name": "2027 年期刊征订", "amount":
                                  "12800.50", "customer_id": c["id"]}},
        {"op": "create", "data": {"name": "金额是数字", "amount": 100,
                                  "customer_id": c["id"]}},
        {"op": "upsert", "external_id": "O-" + t, "data": {
            "name": "年会广告", "amount": "3000", "customer_id": c["id"]}}]))
    r = a["results"]
    assert [x["status"] for x in r] == [201, 422, 201]
    assert r[0]["body"]["amount"] == "12800.50"
    assert r[1]["problem"]["errors"][0]["field"] == "data.amount"

    item = {"op": "upsert", "external_id": "P-" + t, "data": {
        "sku": "MAG-" + t, "name": "《出版人》2027 年全年订阅",
        "unit_price": "480.00"}}
    # Reps read the catalogue; the org-wide roles maintain it.
    a = ok(batch(api, tokens["rep1"], "products", [item]))
    assert a["results"][0]["status"] == 403
    a = ok(batch(api, tokens["admin"], "products", [item]))
    assert a["results"][0]["status"] == 201
    item["data"]["unit_price"] = "520.00"
    a = ok(batch(api, tokens["admin"], "products", [item]))
    x = a["results"][0]
    assert (x["status"], x["body"]["unit_price"], x["body"]["version"]) == (
        200, "520.00", 2)

    a = ok(batch(api, tokens["rep1"], "activities", [
        {"op": "create", "data": {"type": "call", "subject": "回访续订意向",
                                  "customer_id": c["id"]}},
        {"op": "create", "data": {"type": "visit", "subject": "拜访",
                                  "customer_id": str(uuid.uuid4())}}]))
    r = a["results"]
    assert [x["status"] for x in r] == [201, 422]
    # The database's field errors too are the single route's, in data.
    alone = api.post("/v1/activities", headers=bearer(tokens["rep1"]), json={
        "type": "visit", "subject": "拜访", "customer_id": str(uuid.uuid4())})
    assert alone.status_code == 422
    assert [("data." + e["field"], e["code"], e["message"])
            for e in alone.json()["errors"]] == [
        (e["field"], e["code"], e["message"])
        for e in r[1]["problem"]["errors"]]
    assert shape(alone.json()) == shape(r[1]["problem"])
    a = ok(batch(api, tokens["rep2"], "activities", [
        {"op": "update", "id": r[0]["id"], "data": {"outcome": "x"}}]))
    assert a["results"][0]["status"] == 404


def test_the_envelope_is_checked_and_nothing_written(api, stack, tokens):
    before = count(stack, "customers")
    h = bearer(tokens["rep1"])
    one = {"op": "create", "data": {"name": "信封" + tag()}}
    for body in ({}, {"items": []}, {"items": [one] * 501},
                 {"items": [one, 3]}, {"items": [one], "colour": 1},
                 {"items": [one], "all_or_none": "yes"}):
        r = api.post("/v1/customers/batch", headers=h, json=body)
        assert r.status_code == 422, body
    r = api.post("/v1/customers/batch", data="{", timeout=10, headers={
        **h, "Content-Type": "application/json"})
    assert r.status_code == 400
    assert count(stack, "customers") == before
    # The batch is a POST: GET names no customer "batch" but the method.
    r = api.get("/v1/customers/batch", headers=h)
    assert r.status_code == 405 and "POST" in r.headers["allow"]


def test_five_hundred_items_in_one_call(api, stack, tokens):
    t = tag()
    before = count(stack, "customers")
    items = [{"op": "upsert", "external_id": f"B500-{t}-{i}",
              "data": {"name": f"批量客户{t}-{i}", "city": "成都"}}
             for i in range(500)]
    a = ok(batch(api, tokens["rep1"], "customers", items, timeout=60))
    assert (a["succeeded"], a["failed"]) == (500, 0)
    assert [x["index"] for x in a["results"]] == list(range(500))
    assert count(stack, "customers") == before + 500
    # The same again updates each of them.
    a = ok(batch(api, tokens["rep1"], "customers", items, timeout=60))
    assert {x["status"] for x in a["results"]} == {200}
    assert count(stack, "customers") == before + 500
