"""Lead conversion: customer + contact + opportunity in one transaction,
idempotent, and nothing written when anything is wrong (R20)."""
import concurrent.futures
import uuid

from conftest import DEMO, DEMO_ORG, Client, bearer
from leads_helpers import count, get, lead, problem_shape

REP1 = DEMO["rep1"][1]
REP2_CUSTOMER = "00000000-0000-4000-8000-000000001003"   # 北京华夏出版传媒集团


def convert(api, token, lead_id, **body):
    return api.post("/v1/leads/%s/convert" % lead_id, headers=bearer(token),
                    json=body)


def written(stack):
    """How many customers, contacts and opportunities exist."""
    return tuple(count(stack, t) for t in
                 ("customers", "contacts", "opportunities"))


def first_open_stage(stack):
    return stack.sql(
        "SELECT p.id::text, s.id::text, s.name FROM pipelines p "
        "JOIN pipeline_stages s ON s.pipeline_id = p.id WHERE p.org_id = %s "
        "AND p.is_default AND s.kind = 'open' ORDER BY s.position LIMIT 1",
        (DEMO_ORG,))[0]


def test_conversion_creates_customer_contact_and_opportunity(api, stack,
                                                             tokens):
    tag = uuid.uuid4().hex[:6]
    campaign = str(uuid.uuid4())
    x = lead(api, tokens["rep1"], name="王建国", company="成都天府软件园%s" % tag,
             title="采购经理", phone="028-85001234",
             email="wangjg@tfsp.example.cn", source="展会", industry="软件",
             region="西南", province="四川", city="成都", campaign_id=campaign)
    before = written(stack)
    r = convert(api, tokens["rep1"], x["id"], opportunity={
        "name": "天府软件园年度采购", "amount": "128000.5",
        "expected_close_date": "2027-03-31"})
    assert r.status_code == 201, r.text
    doc = r.json()
    y = doc["lead"]
    assert y["status"] == "converted" and y["converted_at"] is not None
    assert (y["customer_id"], y["contact_id"], y["opportunity_id"]) == (
        doc["customer_id"], doc["contact_id"], doc["opportunity_id"])
    assert written(stack) == tuple(n + 1 for n in before)
    c = api.get("/v1/customers/" + doc["customer_id"],
                headers=bearer(tokens["rep1"])).json()
    assert (c["name"], c["kind"], c["owner_id"], c["phone"], c["email"],
            c["industry"], c["region"], c["province"], c["city"],
            c["source"]) == ("成都天府软件园%s" % tag, "company", REP1,
                             "028-85001234", "wangjg@tfsp.example.cn", "软件",
                             "西南", "四川", "成都", "展会")
    ct = api.get("/v1/contacts/" + doc["contact_id"],
                 headers=bearer(tokens["rep1"])).json()
    assert (ct["customer_id"], ct["name"], ct["title"], ct["phones"],
            ct["email"]) == (doc["customer_id"], "王建国", "采购经理",
                             ["028-85001234"], "wangjg@tfsp.example.cn")
    pipe, stage, stage_name = first_open_stage(stack)
    opp = stack.sql(
        "SELECT name, owner_id::text, customer_id::text, contact_id::text, "
        "pipeline_id::text, stage_id::text, status, amount::text, "
        "expected_close_date::text, source, lead_id::text, campaign_id::text "
        "FROM opportunities WHERE id = %s", (doc["opportunity_id"],))[0]
    assert opp == ("天府软件园年度采购", REP1, doc["customer_id"],
                   doc["contact_id"], pipe, stage, "open", "128000.5",
                   "2027-03-31", "展会", x["id"], campaign)
    assert stage_name == "初步接触"
    hist = api.get("/v1/leads/%s/history" % x["id"],
                   headers=bearer(tokens["rep1"])).json()["data"]
    assert [(e["from_status"], e["to_status"]) for e in hist] == [
        (None, "new"), ("new", "converted")]
    # Converting again: the same ids, nothing new written.
    version = get(api, tokens["rep1"], x["id"])["version"]
    again = convert(api, tokens["rep1"], x["id"], opportunity={
        "amount": "1.00"})
    assert again.status_code == 200 and again.json() == doc
    assert written(stack) == tuple(n + 1 for n in before)
    assert get(api, tokens["rep1"], x["id"])["version"] == version


def test_concurrent_conversions_create_once(api, stack, tokens):
    company = "并发转化%s有限公司" % uuid.uuid4().hex[:6]
    x = lead(api, tokens["rep1"], company=company)

    def one(_):
        c = Client(stack.https, stack.ca)
        return convert(c, tokens["rep1"], x["id"])

    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        answers = list(ex.map(one, range(6)))
    assert sorted(r.status_code for r in answers) == [200] * 5 + [201]
    assert len({r.json()["customer_id"] for r in answers}) == 1
    assert len({r.json()["opportunity_id"] for r in answers}) == 1
    assert count(stack, "customers", "name = %s", (company,)) == 1
    assert count(stack, "opportunities", "lead_id = %s", (x["id"],)) == 1


def test_linking_an_existing_customer_and_contact(api, stack, tokens):
    h = bearer(tokens["rep1"])
    c = api.post("/v1/customers", headers=h, json={"name": "老客户" +
                 uuid.uuid4().hex[:6]}).json()
    ct = api.post("/v1/customers/%s/contacts" % c["id"], headers=h,
                  json={"name": "李明"}).json()
    x = lead(api, tokens["rep1"], name="李明")
    before = written(stack)
    r = convert(api, tokens["rep1"], x["id"], customer_id=c["id"],
                contact_id=ct["id"], create_opportunity=False)
    assert r.status_code == 201, r.text
    assert (r.json()["customer_id"], r.json()["contact_id"],
            r.json()["opportunity_id"]) == (c["id"], ct["id"], None)
    assert written(stack) == before
    # A person lead becomes a person customer; a named stage is used.
    _, stage, _ = first_open_stage(stack)
    second = stack.sql("SELECT s.id::text FROM pipeline_stages s JOIN "
                       "pipelines p ON p.id = s.pipeline_id WHERE p.org_id "
                       "= %s AND p.is_default AND s.position = 2",
                       (DEMO_ORG,))[0][0]
    y = lead(api, tokens["rep1"], name="周晓明")
    r = convert(api, tokens["rep1"], y["id"], opportunity={
        "stage_id": second})
    assert r.status_code == 201, r.text
    cust = stack.sql("SELECT kind, name FROM customers WHERE id = %s",
                     (r.json()["customer_id"],))[0]
    assert cust == ("person", "周晓明")
    assert stack.sql("SELECT stage_id::text, amount::text, name FROM "
                     "opportunities WHERE id = %s",
                     (r.json()["opportunity_id"],))[0] == (
        second, "0", "周晓明")


def test_bad_conversions_write_nothing(api, stack, tokens):
    h = bearer(tokens["rep1"])
    x = lead(api, tokens["rep1"], company="不该出现的客户" + uuid.uuid4().hex[:6])
    ghost = str(uuid.uuid4())
    before = written(stack)
    # Rep 2's customer is as unknown to rep 1 as one that does not exist.
    real = convert(api, tokens["rep1"], x["id"], customer_id=REP2_CUSTOMER)
    fake = convert(api, tokens["rep1"], x["id"], customer_id=ghost)
    assert real.status_code == 422
    assert problem_shape(real) == problem_shape(fake)
    assert real.json()["errors"] == fake.json()["errors"] == [{
        "field": "customer_id", "code": "unknown",
        "message": "customer_id names no customer you may change."}]
    # Money with three decimals, in C before any SQL.
    r = convert(api, tokens["rep1"], x["id"], opportunity={
        "amount": "1.234", "expected_close_date": "2027-02-30", "probability":
        5})
    assert r.status_code == 422
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
        ("opportunity.probability", "unknown_field"),
        ("opportunity.amount", "scale"),
        ("opportunity.expected_close_date", "format")]
    assert convert(api, tokens["rep1"], x["id"], opportunity={
        "amount": 1200}).status_code == 422
    # What the database checks, every problem listed.
    other = api.post("/v1/customers", headers=h, json={"name": "别的客户"}
                     ).json()
    ct = api.post("/v1/customers/%s/contacts" % other["id"], headers=h,
                  json={"name": "别人"}).json()
    mine = api.post("/v1/customers", headers=h, json={"name": "我的客户"}).json()
    before = written(stack)
    r = convert(api, tokens["rep1"], x["id"], customer_id=mine["id"],
                contact_id=ct["id"], opportunity={"stage_id": ghost})
    assert r.status_code == 422
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
        ("contact_id", "unknown"), ("opportunity.stage_id", "unknown")]
    r = convert(api, tokens["rep1"], x["id"], contact_id=ct["id"],
                create_opportunity=False, opportunity={"amount": "5"})
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
        ("contact_id", "requires"), ("opportunity", "not_allowed")]
    r = convert(api, tokens["rep1"], x["id"], opportunity={
        "pipeline_id": ghost})
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
        ("opportunity.pipeline_id", "unknown")]
    assert written(stack) == before
    y = get(api, tokens["rep1"], x["id"])
    assert (y["status"], y["customer_id"], y["version"]) == ("new", None, 1)


def test_disqualified_and_converted_leads(api, stack, tokens):
    h = bearer(tokens["rep1"])
    x = lead(api, tokens["rep1"])
    api.post("/v1/leads/%s/disqualify" % x["id"], headers=h,
             json={"reason": "联系不上"})
    before = written(stack)
    r = convert(api, tokens["rep1"], x["id"])
    assert r.status_code == 409
    assert "disqualified" in r.json()["detail"]
    assert written(stack) == before
    # Back to working, it converts; converted is final.
    api.patch("/v1/leads/" + x["id"], headers=h, json={"status": "working"})
    assert convert(api, tokens["rep1"], x["id"],
                   create_opportunity=False).status_code == 201
    for method, path, body in (
            ("PATCH", "", {"status": "working"}),
            ("POST", "/qualify", {"to": "sql"}),
            ("POST", "/disqualify", {"reason": "晚了"}),
            ("POST", "/assign", {})):
        r = api.request(method, "/v1/leads/" + x["id"] + path, headers=h,
                        json=body)
        assert r.status_code == 409, (method, path)
    assert api.patch("/v1/leads/" + x["id"], headers=h,
                     json={"status": "working"}).json()["detail"] == (
        "lead cannot go from converted to working; allowed from converted: "
        "none (final).")
    # Other fields of a converted lead may still be noted.
    assert api.patch("/v1/leads/" + x["id"], headers=h,
                     json={"notes": "已签约"}).status_code == 200


def test_who_converts(api, stack, tokens):
    x = lead(api, tokens["rep1"])
    before = written(stack)
    # Marketing works every lead but owns no rep's customers.
    r = convert(api, tokens["marketing"], x["id"])
    assert r.status_code == 403
    assert written(stack) == before
    # Rep 2 finds nothing; the manager converts it for rep 1.
    real = convert(api, tokens["rep2"], x["id"])
    fake = convert(api, tokens["rep2"], str(uuid.uuid4()))
    assert real.status_code == 404
    assert problem_shape(real) == problem_shape(fake)
    r = convert(api, tokens["manager"], x["id"])
    assert r.status_code == 201
    assert stack.sql("SELECT owner_id::text FROM customers WHERE id = %s",
                     (r.json()["customer_id"],))[0][0] == REP1
