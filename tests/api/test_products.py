"""The product catalogue: everyone reads it, org-wide roles maintain it."""
import uuid

from conftest import DEMO, bearer
from race_helpers import race


def sku(prefix="SKU"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8].upper())


def make_product(api, tokens, who="admin", **over):
    body = {"sku": sku(), "name": "《糖酒快讯》全年订阅", "unit_price": "360.00",
            "tax_rate": "9", "category": "期刊"}
    body.update(over)
    r = api.post("/v1/products", headers=bearer(tokens[who]), json=body)
    assert r.status_code == 201, r.text
    return r.json()


def make_key(api, tokens, scopes, user="admin"):
    r = api.post("/v1/api-keys", headers=bearer(tokens["admin"]), json={
        "name": "用友 ERP", "scopes": scopes, "user_id": DEMO[user][1]})
    assert r.status_code == 201, r.text
    return {"X-API-Key": r.json()["key"]}


def count(stack, table="products"):
    return stack.sql("SELECT count(*) FROM %s" % table)[0][0]


def test_product_lifecycle(api, tokens):
    h = bearer(tokens["admin"])
    code = sku("MAG")
    r = api.post("/v1/products", headers=h, json={
        "sku": code, "name": "《出版人》杂志年订", "description": "月刊，全年12期",
        "category": "期刊订阅", "unit": "套", "unit_price": "288.5",
        "tax_rate": "9.5", "period": "monthly", "issues_per_period": 1,
        "external_id": "K3-" + code})
    assert r.status_code == 201, r.text
    p = r.json()
    assert r.headers["location"].endswith("/v1/products/" + p["id"])
    assert r.headers["etag"] == '"1"'
    assert (p["sku"], p["name"], p["unit"], p["unit_price"], p["tax_rate"],
            p["currency"], p["period"], p["issues_per_period"],
            p["active"]) == (code, "《出版人》杂志年订", "套", "288.50", "9.50",
                             "CNY", "monthly", 1, True)

    # Everyone in the organisation reads it.
    for who in ("rep1", "service", "marketing"):
        got = api.get("/v1/products/" + p["id"], headers=bearer(tokens[who]))
        assert got.status_code == 200 and got.json() == p

    r = api.patch("/v1/products/" + p["id"], headers={**h, "If-Match": '"1"'},
                  json={"unit_price": "299.00", "period": None,
                        "issues_per_period": None})
    assert r.status_code == 200, r.text
    assert r.json()["unit_price"] == "299.00" and r.json()["period"] is None
    assert r.headers["etag"] == '"2"'
    assert api.patch("/v1/products/" + p["id"],
                     headers={**h, "If-Match": '"1"'},
                     json={"name": "过期"}).status_code == 412

    # Retired, never deleted.
    r = api.patch("/v1/products/" + p["id"], headers=h, json={"active": False})
    assert r.json()["active"] is False
    assert api.delete("/v1/products/" + p["id"], headers=h).status_code == 405
    listed = api.get("/v1/products?active=false&q=" + code.lower(),
                     headers=h).json()["data"]
    assert [x["id"] for x in listed] == [p["id"]]
    assert api.get("/v1/products?active=true&q=" + code, headers=h
                   ).json()["data"] == []


def test_who_maintains_the_catalogue(api, stack, tokens):
    """Admins, executives and integrations write; everyone else gets 403
    and nothing is written."""
    make_product(api, tokens, "ceo")
    p = make_product(api, tokens, "admin")
    before = count(stack)
    for who in ("rep1", "manager", "marketing", "service"):
        h = bearer(tokens[who])
        r = api.post("/v1/products", headers=h, json={
            "sku": sku(), "name": "越权产品", "unit_price": "1"})
        assert r.status_code == 403, who
        assert api.patch("/v1/products/" + p["id"], headers=h,
                         json={"name": "越权"}).status_code == 403
        ghost = api.patch("/v1/products/" + str(uuid.uuid4()), headers=h,
                          json={"name": "越权"})
        assert ghost.status_code == 404
    assert count(stack) == before
    assert api.get("/v1/products/" + p["id"], headers=bearer(tokens["rep1"])
                   ).json()["name"] == p["name"]


def test_product_search_and_filters(api, tokens):
    cat = "测试类目" + uuid.uuid4().hex[:6]
    a = make_product(api, tokens, name="四川白酒礼盒", sku=sku("JIU"), category=cat)
    b = make_product(api, tokens, name="重庆火锅底料", sku=sku("HG"), category=cat)
    h = bearer(tokens["rep2"])
    found = api.get("/v1/products?q=白酒&category=" + cat, headers=h).json()
    assert [x["id"] for x in found["data"]] == [a["id"]]
    found = api.get("/v1/products?q=" + b["sku"][3:].lower(),
                    headers=h).json()["data"]
    assert [x["id"] for x in found] == [b["id"]]
    both = api.get("/v1/products?category=" + cat, headers=h).json()["data"]
    # By name: 四 (U+56DB) sorts before 重 (U+91CD).
    assert [x["id"] for x in both] == [a["id"], b["id"]]


def test_products_page_by_name_without_repeats(api, tokens):
    cat = "分页" + uuid.uuid4().hex[:6]
    names = ["丙纸", "甲纸", "乙纸", "丁纸", "Alpha 纸"]
    made = {make_product(api, tokens, name=n, category=cat)["id"]: n
            for n in names}
    h = bearer(tokens["rep1"])
    seen, cursor = [], None
    while True:
        q = "/v1/products?limit=2&category=" + cat
        if cursor:
            q += "&cursor=" + cursor
        page = api.get(q, headers=h).json()
        assert len(page["data"]) <= 2
        seen += [x["id"] for x in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [made[i] for i in seen] == sorted(names)
    assert api.get("/v1/products?cursor=bm9wZQ", headers=h).status_code == 400


def test_bad_products_refused_and_nothing_written(api, stack, tokens):
    h = bearer(tokens["admin"])
    before = count(stack)
    cases = [
        ({"unit_price": "-1.00"}, {"unit_price": "range"}),
        ({"unit_price": "1.999"}, {"unit_price": "scale"}),
        ({"unit_price": 12.5}, {"unit_price": "type"}),
        ({"tax_rate": "101"}, {"tax_rate": "range"}),
        ({"tax_rate": "13.125"}, {"tax_rate": "scale"}),
        ({"tax_rate": "-1"}, {"tax_rate": "range"}),
        ({"currency": "rmb"}, {"currency": "format"}),
        ({"period": "monthly"}, {"issues_per_period": "required"}),
        ({"issues_per_period": 12}, {"period": "required"}),
        ({"issues_per_period": 0}, {"issues_per_period": "range"}),
        ({"period": "daily"}, {"period": "enum"}),
        ({"colour": "红"}, {"colour": "unknown_field"}),
    ]
    for extra, expect in cases:
        body = {"sku": sku(), "name": "坏产品", "unit_price": "10"}
        body.update(extra)
        r = api.post("/v1/products", headers=h, json=body)
        assert r.status_code == 422, (extra, r.text)
        got = {e["field"]: e["code"] for e in r.json()["errors"]}
        assert got == expect, extra
    r = api.post("/v1/products", headers=h, json={})
    assert {e["field"] for e in r.json()["errors"]} == {
        "sku", "name", "unit_price"}
    assert count(stack) == before
    p = make_product(api, tokens)
    r = api.patch("/v1/products/" + p["id"], headers=h,
                  json={"period": "yearly"})
    assert r.status_code == 422
    assert api.get("/v1/products/" + p["id"], headers=h).json() == p


def test_duplicate_sku_is_a_conflict(api, stack, tokens, org2):
    p = make_product(api, tokens)
    h = bearer(tokens["admin"])
    before = count(stack)
    r = api.post("/v1/products", headers=h, json={
        "sku": p["sku"], "name": "重复", "unit_price": "1"})
    assert r.status_code == 409
    assert "SKU" in r.json()["detail"]
    other = make_product(api, tokens)
    r = api.patch("/v1/products/" + other["id"], headers=h,
                  json={"sku": p["sku"]})
    assert r.status_code == 409
    ext = make_product(api, tokens, external_id="ERP-" + p["sku"])
    r = api.post("/v1/products", headers=h, json={
        "sku": sku(), "name": "重复外部编号", "unit_price": "1",
        "external_id": ext["external_id"]})
    assert r.status_code == 409 and "external_id" in r.json()["detail"]
    assert count(stack) == before + 2
    # Another organisation has its own SKUs.
    r = api.post("/v1/products", headers=bearer(org2["admin"]), json={
        "sku": p["sku"], "name": "二号公司产品", "unit_price": "1"})
    assert r.status_code == 201


def test_products_across_orgs(api, tokens, org2):
    p = make_product(api, tokens)
    ghost = str(uuid.uuid4())
    for token in (org2["admin"], org2["rep"]):
        h = bearer(token)
        for method, body in (("GET", None), ("PATCH", {"name": "跨组织"})):
            real = api.request(method, "/v1/products/" + p["id"], headers=h,
                               json=body)
            fake = api.request(method, "/v1/products/" + ghost, headers=h,
                               json=body)
            assert real.status_code == fake.status_code == 404
            assert real.json()["detail"] == fake.json()["detail"]
        listed = api.get("/v1/products?limit=500&q=" + p["sku"], headers=h)
        assert listed.json()["data"] == []


def test_api_key_scopes(api, stack, tokens):
    p = make_product(api, tokens)
    none = make_key(api, tokens, ["customers:read"], user="admin")
    for method, path, body in (
            ("GET", "/v1/products", None),
            ("GET", "/v1/products/" + p["id"], None),
            ("POST", "/v1/products", {"sku": sku(), "name": "x",
                                      "unit_price": "1"}),
            ("PATCH", "/v1/products/" + p["id"], {"name": "x"})):
        r = api.request(method, path, headers=none, json=body)
        assert r.status_code == 403, (method, path)
        assert "products:" in r.json()["detail"]
    read = make_key(api, tokens, ["products:read"], user="admin")
    assert api.get("/v1/products/" + p["id"], headers=read).status_code == 200
    before = count(stack)
    assert api.post("/v1/products", headers=read, json={
        "sku": sku(), "name": "x", "unit_price": "1"}).status_code == 403
    assert count(stack) == before
    # An integration user's key with write scope maintains the catalogue.
    integ = stack.sql(
        "INSERT INTO users (org_id, email, name, role) SELECT org_id, %s, "
        "'金蝶集成', 'integration' FROM users WHERE id = %s RETURNING id::text",
        ("erp-%s@example.com" % uuid.uuid4().hex[:6], DEMO["admin"][1]))[0][0]
    r = api.post("/v1/api-keys", headers=bearer(tokens["admin"]), json={
        "name": "金蝶", "scopes": ["products:write"], "user_id": integ})
    h = {"X-API-Key": r.json()["key"]}
    r = api.post("/v1/products", headers=h, json={
        "sku": sku("ERP"), "name": "ERP 同步产品", "unit_price": "8.80"})
    assert r.status_code == 201 and r.json()["unit_price"] == "8.80"


def test_stale_if_match_loses_the_race(api, stack, tokens):
    """A PATCH with If-Match waits for a change of the product in progress
    and then answers 412 (the version is checked on the locked row)."""
    p = make_product(api, tokens)
    r, waited = race(
        stack, [("UPDATE products SET unit_price = 400 WHERE id = %s",
                 (p["id"],))],
        lambda: api.patch("/v1/products/" + p["id"],
                          headers={**bearer(tokens["admin"]),
                                   "If-Match": '"%d"' % p["version"]},
                          json={"unit_price": "380.00"}))
    assert waited and r.status_code == 412, r.text
    got = api.get("/v1/products/" + p["id"], headers=bearer(tokens["admin"])
                  ).json()
    assert (got["unit_price"], got["version"]) == ("400.00", p["version"] + 1)
