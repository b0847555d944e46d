"""Filter-tree search, saved segments and custom fields."""
import uuid

from conftest import DEMO, bearer

REP2_CUSTOMER = "00000000-0000-4000-8000-000000001003"


def search(api, token, body):
    return api.post("/v1/customers/search", headers=bearer(token), json=body)


def test_filter_tree(api, tokens):
    r = search(api, tokens["manager"], {"filter": {"and": [
        {"field": "grade", "op": "in", "value": ["A", "B"]},
        {"or": [{"field": "province", "op": "eq", "value": "四川"},
                {"field": "name", "op": "contains", "value": "华夏"}]}]},
        "count": "exact", "sort": "name"})
    assert r.status_code == 200
    names = [x["name"] for x in r.json()["data"]]
    assert "四川糖酒有限公司" in names and "北京华夏出版传媒集团" in names
    assert all(x["grade"] in ("A", "B") for x in r.json()["data"])
    assert r.json()["total"] == len(names)
    neg = search(api, tokens["manager"], {"filter": {"not": {
        "field": "grade", "op": "eq", "value": "A"}}}).json()["data"]
    assert all(x["grade"] != "A" for x in neg)
    rng = search(api, tokens["manager"], {"filter": {
        "field": "created_at", "op": "range",
        "value": {"gte": "2000-01-01T00:00:00Z"}}}).json()["data"]
    assert rng


def test_filter_tree_errors_are_all_listed(api, stack, tokens):
    r = search(api, tokens["rep1"], {"filter": {"and": [
        {"field": "colour", "op": "eq", "value": "red"},
        {"field": "created_at", "op": "range", "value": {"gte": "soon"}},
        {"field": "grade", "op": "like", "value": "A"},
        {"field": "owner_id", "op": "eq", "value": "nobody"}]}})
    assert r.status_code == 422
    paths = {e["field"] for e in r.json()["errors"]}
    assert paths == {"filter.and[0].field", "filter.and[1].value",
                     "filter.and[2].op", "filter.and[3].value"}
    deep = {"field": "grade", "op": "eq", "value": "A"}
    for _ in range(6):
        deep = {"not": deep}
    assert search(api, tokens["rep1"], {"filter": deep}).status_code == 422
    # Values never become SQL.
    evil = search(api, tokens["rep1"], {"filter": {
        "field": "name", "op": "eq", "value": "x'); DROP TABLE customers;--"}})
    assert evil.status_code == 200 and evil.json()["data"] == []
    assert stack.sql("SELECT to_regclass('customers')")[0][0] == "customers"


def test_search_obeys_visibility(api, tokens):
    found = search(api, tokens["rep1"], {"filter": {
        "field": "name", "op": "contains", "value": "华夏"},
        "count": "exact"}).json()
    assert found["data"] == [] and found["total"] == 0


def test_segments(api, tokens):
    name = "四川A类" + uuid.uuid4().hex[:4]
    r = api.post("/v1/segments", headers=bearer(tokens["marketing"]), json={
        "name": name, "filter": {"and": [
            {"field": "province", "op": "eq", "value": "四川"},
            {"field": "grade", "op": "eq", "value": "A"}]}})
    assert r.status_code == 201, r.text
    seg = r.json()
    assert r.headers["location"].endswith("/v1/segments/" + seg["id"])
    listed = api.get("/v1/segments", headers=bearer(tokens["rep1"])).json()
    assert seg["id"] in {x["id"] for x in listed["data"]}
    # Members: the segment's customers among those the caller can see.
    mk = api.get("/v1/segments/%s/members?count=exact" % seg["id"],
                 headers=bearer(tokens["marketing"])).json()
    assert "四川糖酒有限公司" in [x["name"] for x in mk["data"]]
    rep2 = api.get("/v1/segments/%s/members?count=exact" % seg["id"],
                   headers=bearer(tokens["rep2"])).json()
    assert "四川糖酒有限公司" not in [x["name"] for x in rep2["data"]]
    # Only its owner or an admin deletes it.
    assert api.delete("/v1/segments/" + seg["id"],
                      headers=bearer(tokens["rep1"])).status_code == 403
    assert api.post("/v1/segments", headers=bearer(tokens["marketing"]),
                    json={"name": name, "filter": {"field": "grade",
                          "op": "eq", "value": "B"}}).status_code == 409
    assert api.post("/v1/segments", headers=bearer(tokens["marketing"]),
                    json={"name": "坏", "filter": {"field": "nope", "op":
                          "eq", "value": 1}}).status_code == 422
    assert api.delete("/v1/segments/" + seg["id"],
                      headers=bearer(tokens["marketing"])).status_code == 204
    assert api.get("/v1/segments/" + seg["id"],
                   headers=bearer(tokens["marketing"])).status_code == 404


def test_segments_across_orgs(api, tokens, org2):
    seg = api.post("/v1/segments", headers=bearer(tokens["admin"]), json={
        "name": "跨组织" + uuid.uuid4().hex[:4],
        "filter": {"field": "grade", "op": "eq", "value": "A"}}).json()
    for suffix in ("", "/members"):
        assert api.get("/v1/segments/%s%s" % (seg["id"], suffix),
                       headers=bearer(org2["admin"])).status_code == 404


def test_custom_fields(api, stack, tokens):
    admin = bearer(tokens["admin"])
    key = "budget_" + uuid.uuid4().hex[:6]
    lvl = "level_" + uuid.uuid4().hex[:6]
    r = api.post("/v1/custom-fields", headers=admin, json={
        "key": key, "label": "年度预算", "type": "number"})
    assert r.status_code == 201, r.text
    api.post("/v1/custom-fields", headers=admin, json={
        "key": lvl, "label": "客户级别", "type": "enum",
        "options": ["金", "银"]})
    assert api.post("/v1/custom-fields", headers=admin, json={
        "key": key, "label": "x", "type": "text"}).status_code == 409
    assert api.post("/v1/custom-fields", headers=bearer(tokens["rep1"]),
                    json={"key": "x_y", "label": "x", "type": "text"}
                    ).status_code == 403
    assert api.post("/v1/custom-fields", headers=admin, json={
        "key": "BadKey", "label": "x", "type": "enum"}).status_code == 422

    rep = bearer(tokens["rep1"])
    c = api.post("/v1/customers", headers=rep, json={
        "name": "自定义字段客户", "custom": {key: 500000, lvl: "金"}})
    assert c.status_code == 201, c.text
    c = c.json()
    assert c["custom"] == {key: 500000, lvl: "金"}
    before = stack.sql("SELECT count(*) FROM customers")[0][0]
    bad = api.post("/v1/customers", headers=rep, json={
        "name": "坏", "custom": {key: "lots", lvl: "铜", "nope": 1}})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {
        "custom." + key, "custom." + lvl, "custom.nope"}
    assert stack.sql("SELECT count(*) FROM customers")[0][0] == before
    # Merge patch: null removes one value, the others stay.
    p = api.patch("/v1/customers/" + c["id"], headers=rep,
                  json={"custom": {lvl: None}}).json()
    assert p["custom"] == {key: 500000}
    # Filterable.
    found = search(api, tokens["rep1"], {"filter": {
        "field": "custom." + key, "op": "range",
        "value": {"gte": 100000}}}).json()["data"]
    assert c["id"] in {x["id"] for x in found}
    listed = api.get("/v1/custom-fields", headers=rep).json()["data"]
    assert key in {x["key"] for x in listed}
    fid = [x["id"] for x in listed if x["key"] == key][0]
    assert api.delete("/v1/custom-fields/" + fid, headers=admin
                      ).status_code == 204
    # A deleted field's value stays and does not block other edits.
    p = api.patch("/v1/customers/" + c["id"], headers=rep,
                  json={"custom": {lvl: "银"}})
    assert p.status_code == 200 and p.json()["custom"] == {key: 500000,
                                                            lvl: "银"}
