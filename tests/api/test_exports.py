"""CSV exports: GET /v1/{customers,contacts,leads,opportunities,orders}/export.

On an organisation of its own: rep1 and rep2 below a manager, each with
records of their own; an export never holds what its caller cannot see.
"""
import csv
import io

import pytest

from conftest import Client, bearer, own_org


@pytest.fixture(scope="module")
def org(stack):
    o = own_org(stack, "exports", "导出测试有限公司")
    api = Client(stack.https, stack.ca)
    t = o["tokens"]

    def imp(token, resource, body):
        r = api.post("/v1/imports/" + resource, data=body.encode(),
                     headers={**bearer(token), "content-type": "text/csv"},
                     timeout=60)
        assert r.status_code == 200 and r.json()["failed"] == 0, r.text

    imp(t["rep1"], "customers", "name,grade,tags,phone,external_id\n"
        "一号甲公司,A,重点;华东,028-1001,EX1-A\n"
        "一号乙公司,B,,028-1002,EX1-B\n"
        "\"=1+2 公式, 公司\",C,,,EX1-C\n")
    imp(t["rep2"], "customers", "name,grade,external_id\n"
        "二号甲公司,A,EX2-A\n")
    imp(t["rep1"], "contacts", "customer_external_id,name,email\n"
        "EX1-A,一号联系人,c1@example.cn\n")
    imp(t["rep2"], "contacts", "customer_external_id,name,email\n"
        "EX2-A,二号联系人,c2@example.cn\n")
    imp(t["rep1"], "leads", "name,external_id\n一号线索,LX1\n")
    imp(t["rep2"], "leads", "name,external_id\n二号线索,LX2\n")
    ids = {}
    for row in api.get("/v1/customers?limit=500",
                       headers=bearer(t["manager"])).json()["data"]:
        ids[row["external_id"]] = row["id"]
    for who, ext, amount in (("rep1", "EX1-A", "1000.50"),
                             ("rep2", "EX2-A", "2000.00")):
        r = api.post("/v1/opportunities", headers=bearer(t[who]), json={
            "name": who + "的商机", "customer_id": ids[ext],
            "amount": amount})
        assert r.status_code == 201, r.text
    r = api.post("/v1/products", headers=bearer(t["admin"]), json={
        "sku": "EXP-1", "name": "导出产品", "unit_price": "10.00",
        "tax_rate": "0"})
    assert r.status_code == 201
    product = r.json()["id"]
    for who, ext in (("rep1", "EX1-A"), ("rep2", "EX2-A")):
        r = api.post("/v1/orders", headers=bearer(t[who]), json={
            "customer_id": ids[ext],
            "lines": [{"product_id": product, "quantity": "3"}]})
        assert r.status_code == 201, r.text
    o["ids"] = ids
    return o


def export(api, token, resource, query="", headers=None):
    r = api.get("/v1/%s/export%s" % (resource, query),
                headers=headers if headers is not None else bearer(token),
                timeout=120)
    return r


def rows(r):
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"].startswith("attachment")
    text = r.content.decode("utf-8")
    assert text.startswith("\ufeff")
    assert text.endswith("\r\n")
    table = list(csv.reader(io.StringIO(text[1:], newline="")))
    assert int(r.headers["x-export-rows"]) == len(table) - 1
    return table[0], [dict(zip(table[0], x)) for x in table[1:]]


def test_customers_export_holds_only_what_the_caller_sees(api, org):
    t = org["tokens"]
    head, data = rows(export(api, t["rep1"], "customers"))
    assert head[:4] == ["id", "kind", "name", "industry"]
    assert "custom" not in head and "owner_id" in head
    assert sorted(x["external_id"] for x in data) == [
        "EX1-A", "EX1-B", "EX1-C"]
    a = next(x for x in data if x["external_id"] == "EX1-A")
    assert a["tags"] == '["华东","重点"]' and a["grade"] == "A"
    assert a["is_key_customer"] == "false" and a["deleted_at"] == ""
    # A cell a spreadsheet would run as a formula is defused.
    c = next(x for x in data if x["external_id"] == "EX1-C")
    assert c["name"] == "'=1+2 公式, 公司"
    # The other rep, and the manager above both.
    _, data = rows(export(api, t["rep2"], "customers"))
    assert [x["external_id"] for x in data] == ["EX2-A"]
    _, data = rows(export(api, t["manager"], "customers"))
    assert len(data) == 4


def test_export_takes_the_lists_filters_and_sort(api, org):
    t = org["tokens"]
    _, data = rows(export(api, t["manager"], "customers", "?grade=A"))
    assert sorted(x["external_id"] for x in data) == ["EX1-A", "EX2-A"]
    _, data = rows(export(api, t["manager"], "customers", "?sort=name"))
    listed = api.get("/v1/customers?sort=name&limit=500",
                     headers=bearer(t["manager"])).json()["data"]
    assert [x["id"] for x in data] == [x["id"] for x in listed]
    _, data = rows(export(api, t["rep1"], "customers", "?q=%E4%B9%99"))
    assert [x["external_id"] for x in data] == ["EX1-B"]
    _, data = rows(export(api, t["rep1"], "customers",
                          "?owner_id=" + org["users"]["rep2"]))
    assert data == []
    r = export(api, t["rep1"], "customers", "?limit=10&cursor=abc")
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"limit", "cursor"}
    r = export(api, t["rep1"], "customers", "?grade=Z")
    assert r.status_code == 422
    # HEAD answers the headers only.
    r = api.request("HEAD", "/v1/customers/export",
                    headers=bearer(t["rep1"]))
    assert r.status_code == 200 and r.content == b""


def test_other_resources_exports(api, org):
    t = org["tokens"]
    for resource, mine, theirs, key in (
            ("contacts", "一号联系人", "二号联系人", "name"),
            ("leads", "一号线索", "二号线索", "name"),
            ("opportunities", "rep1的商机", "rep2的商机", "name")):
        head, data = rows(export(api, t["rep1"], resource))
        assert [x[key] for x in data] == [mine], resource
        assert "id" in head
        _, data = rows(export(api, t["manager"], resource))
        assert sorted(x[key] for x in data) == sorted([mine, theirs])
    head, data = rows(export(api, t["rep1"], "opportunities"))
    assert "stage.name" in head and data[0]["stage.name"] == "初步接触"
    assert data[0]["amount"] == "1000.50"
    head, data = rows(export(api, t["rep1"], "orders"))
    assert len(data) == 1 and data[0]["grand_total"] == "30.00"
    assert data[0]["customer_id"] == org["ids"]["EX1-A"]
    assert '"quantity"' in data[0]["lines"]
    _, data = rows(export(api, t["manager"], "orders",
                          "?customer_id=" + org["ids"]["EX2-A"]))
    assert [x["customer_id"] for x in data] == [org["ids"]["EX2-A"]]


def test_custom_fields_are_columns(api, org):
    admin = bearer(org["tokens"]["admin"])
    r = api.post("/v1/custom-fields", headers=admin, json={
        "key": "tier", "label": "层级", "type": "text"})
    assert r.status_code == 201
    field = r.json()["id"]
    try:
        r = api.post("/v1/imports/customers?mode=upsert", data=(
            "external_id,custom.tier\nEX1-B,金牌\n").encode(),
            headers={**bearer(org["tokens"]["rep1"]),
                     "content-type": "text/csv"})
        assert r.json()["updated"] == 1, r.text
        head, data = rows(export(api, org["tokens"]["rep1"], "customers"))
        assert "custom.tier" in head
        assert {x["external_id"]: x["custom.tier"] for x in data} == {
            "EX1-A": "", "EX1-B": "金牌", "EX1-C": ""}
    finally:
        api.delete("/v1/custom-fields/" + field, headers=admin)


def test_a_large_export_pages_through_everything(api, stack, org):
    t = org["tokens"]
    body = "name,external_id\n" + "".join(
        "大量客户%05d,BULK-%05d\n" % (i, i) for i in range(2500))
    r = api.post("/v1/imports/customers", data=body.encode(),
                 headers={**bearer(t["rep2"]), "content-type": "text/csv"},
                 timeout=120)
    assert r.json()["inserted"] == 2500
    head, data = rows(export(api, t["rep2"], "customers",
                             "?sort=name"))
    bulk = [x["external_id"] for x in data if x["external_id"].startswith(
        "BULK-")]
    assert bulk == ["BULK-%05d" % i for i in range(2500)]
    assert len({x["id"] for x in data}) == len(data) == 2501
    # Nothing is left on disk, and the next requests are served.
    assert not [p for p in (stack.state / "bodies").iterdir()
                if p.name.startswith("export-")]
    backend = Client(stack.http, stack.ca)
    assert [backend.get("/readyz").status_code for _ in range(10)] == \
        [200] * 10


def test_scopes_and_other_organisations(api, org, org2):
    admin = bearer(org["tokens"]["admin"])
    keys = {}
    for name, scopes in (("customers", ["customers:read"]),
                         ("leads", ["leads:read"])):
        r = api.post("/v1/api-keys", headers=admin,
                     json={"name": "导出-" + name, "scopes": scopes})
        keys[name] = {"X-API-Key": r.json()["key"]}
    _, data = rows(export(api, None, "customers",
                          headers=keys["customers"]))
    assert len(data) >= 4
    r = export(api, None, "customers", headers=keys["leads"])
    assert r.status_code == 403
    r = export(api, None, "orders", headers=keys["customers"])
    assert r.status_code == 403
    assert export(api, None, "customers", headers={}).status_code == 401
    # Another organisation's export holds none of this one's rows.
    for resource in ("customers", "contacts", "leads", "opportunities",
                     "orders"):
        _, data = rows(export(api, org2["admin"], resource))
        assert not any(x.get("external_id", "").startswith(("EX", "LX"))
                       for x in data), resource
        assert not any(x.get("customer_id") in org["ids"].values()
                       for x in data), resource
