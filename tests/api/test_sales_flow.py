"""The whole sale, end to end through the API (issue 5's "done when"):
a web-form lead, assigned by a round-robin rule, scored by rules and a
meeting, an MQL by the threshold, qualified to SQL and converted; its
opportunity moved through the stages; a quote from the catalogue, sent
and accepted into a contract; the contract submitted, approved by the
manager (not by its owner, not by another rep) and signed, which wins the
opportunity; an order against the contract, confirmed and fulfilled; and
the customer's 360° view, the funnel and the forecast showing all of it,
to the cent. In an organisation of its own, so its rules bother no one.
"""
from decimal import Decimal

import pytest

from conftest import bearer, own_org

SOURCE = "官网"


@pytest.fixture(scope="module")
def org(stack):
    return own_org(stack, "flow", "全流程测试有限公司")


def ok(r, status=200):
    assert r.status_code == status, r.text
    return r.json()


def test_from_web_form_to_fulfilled_order(api, org):
    t, u = org["tokens"], org["users"]
    admin, rep1, rep2, mgr = (bearer(t[k]) for k in
                              ("admin", "rep1", "rep2", "manager"))

    # The admin configures scoring, the MQL threshold, a rotation, a form.
    ok(api.post("/v1/lead-scoring-rules", headers=admin, json={
        "kind": "field", "field": "source", "op": "eq", "value": SOURCE,
        "points": 30}), 201)
    ok(api.post("/v1/lead-scoring-rules", headers=admin, json={
        "kind": "activity", "activity_type": "meeting", "points": 40}), 201)
    ok(api.request("PUT", "/v1/lead-grading", headers=admin, json={
        "a": 80, "b": 50, "c": 20, "mql_score": 60}))
    ok(api.post("/v1/assignment-rules", headers=admin, json={
        "name": "官网线索轮流", "source": SOURCE,
        "round_robin_user_ids": [u["rep1"], u["rep2"]]}), 201)
    form = ok(api.post("/v1/lead-forms", headers=admin, json={
        "name": "官网咨询", "source": SOURCE,
        "default_owner_id": u["manager"]}), 201)

    # A visitor fills in the public form: no credentials at all.
    sub = ok(api.post("/v1/forms/%s/leads" % form["form_key"], json={
        "name": "林晓", "company": "苏州姑苏精密仪器有限公司",
        "title": "采购经理", "phone": "0512-65001234",
        "email": "linxiao@gusu.example.cn", "message": "需要报价"}), 201)
    assert set(sub) == {"id", "status"}
    lead = ok(api.get("/v1/leads/" + sub["id"], headers=mgr))
    assert (lead["owner_id"], lead["source"], lead["score"],
            lead["status"]) == (u["rep1"], SOURCE, 30, "new")
    assert api.get("/v1/leads/" + sub["id"],
                   headers=rep2).status_code == 404

    # Rep 1 meets the buyer: 30 + 40 = 70 crosses 60, the lead is an MQL.
    meeting = ok(api.post("/v1/activities", headers=rep1, json={
        "type": "meeting", "subject": "上门拜访，了解需求",
        "lead_id": lead["id"], "duration_minutes": 90}), 201)
    lead = ok(api.get("/v1/leads/" + lead["id"], headers=rep1))
    assert (lead["score"], lead["grade"], lead["status"]) == (70, "B", "mql")

    # Qualified and converted; converting again changes nothing.
    ok(api.post("/v1/leads/%s/qualify" % lead["id"], headers=rep1,
                json={"to": "sql"}))
    conv = ok(api.post("/v1/leads/%s/convert" % lead["id"], headers=rep1,
                       json={"opportunity": {
                           "name": "姑苏精密 检测设备", "amount": "120000.00",
                           "expected_close_date": "2027-03-31"}}), 201)
    again = ok(api.post("/v1/leads/%s/convert" % lead["id"], headers=rep1,
                        json={}))
    assert {k: again[k] for k in ("customer_id", "contact_id",
                                  "opportunity_id")} == \
        {k: conv[k] for k in ("customer_id", "contact_id", "opportunity_id")}
    cust, opp_id = conv["customer_id"], conv["opportunity_id"]
    # The meeting logged on the lead joined what it became.
    m = ok(api.get("/v1/activities/" + meeting["id"], headers=rep1))
    assert (m["customer_id"], m["contact_id"], m["opportunity_id"]) == (
        cust, conv["contact_id"], opp_id)

    # The opportunity goes through the open stages of the default pipeline.
    pipes = ok(api.get("/v1/pipelines", headers=rep1))["data"]
    stages = [p for p in pipes if p["is_default"]][0]["stages"]
    open_ = [s for s in stages if s["kind"] == "open"]
    opp = ok(api.get("/v1/opportunities/" + opp_id, headers=rep1))
    assert opp["stage_id"] == open_[0]["id"] and opp["amount"] == "120000.00"
    for s in open_[1:]:
        opp = ok(api.patch("/v1/opportunities/" + opp_id, headers=rep1,
                           json={"stage_id": s["id"]}))
    assert opp["stage_id"] == open_[-1]["id"]

    # A quote from the catalogue: 3 x 40000.00, 13% VAT, exact.
    product = ok(api.post("/v1/products", headers=admin, json={
        "sku": "GS-100", "name": "精密检测仪 GS-100", "unit": "台",
        "unit_price": "40000.00", "tax_rate": "13.00"}), 201)
    quote = ok(api.post("/v1/quotes", headers=rep1, json={
        "opportunity_id": opp_id, "valid_until": "2099-12-31",
        "lines": [{"product_id": product["id"], "quantity": "3"}]}), 201)
    assert (quote["subtotal"], quote["tax_total"], quote["grand_total"]) == (
        "120000.00", "15600.00", "135600.00")
    ok(api.post("/v1/quotes/%s/send" % quote["id"], headers=rep1))
    accepted = ok(api.post("/v1/quotes/%s/accept" % quote["id"],
                           headers=rep1))
    contract_id = accepted["contract_id"]
    contract = ok(api.get("/v1/contracts/" + contract_id, headers=rep1))
    assert (contract["status"], contract["amount"], contract["quote_id"],
            contract["opportunity_id"]) == ("draft", "135600.00",
                                            quote["id"], opp_id)

    # Approval: the owner may not, another rep cannot even see it, the
    # manager may; signing wins the opportunity.
    ok(api.post("/v1/contracts/%s/submit" % contract_id, headers=rep1))
    assert api.post("/v1/contracts/%s/approve" % contract_id,
                    headers=rep1).status_code == 403
    assert api.post("/v1/contracts/%s/approve" % contract_id,
                    headers=rep2).status_code == 404
    r = api.post("/v1/contracts/%s/sign" % contract_id, headers=rep1)
    assert r.status_code == 409 and "approved" in r.json()["detail"]
    ok(api.post("/v1/contracts/%s/approve" % contract_id, headers=mgr))
    signed = ok(api.post("/v1/contracts/%s/sign" % contract_id, headers=rep1))
    assert signed["status"] == "signed"
    opp = ok(api.get("/v1/opportunities/" + opp_id, headers=rep1))
    won = [s for s in stages if s["kind"] == "won"][0]
    assert (opp["status"], opp["stage_id"]) == ("won", won["id"])
    history = ok(api.get("/v1/opportunities/%s/history" % opp_id,
                         headers=rep1))["data"]
    assert [h["to_stage_id"] for h in history] == \
        [s["id"] for s in open_] + [won["id"]]

    # The order against the contract: confirmed, fulfilled.
    order = ok(api.post("/v1/orders", headers=rep1, json={
        "customer_id": cust, "contract_id": contract_id,
        "opportunity_id": opp_id,
        "lines": [{"product_id": product["id"], "quantity": "3"}]}), 201)
    assert order["grand_total"] == "135600.00"
    ok(api.post("/v1/orders/%s/confirm" % order["id"], headers=rep1))
    ok(api.post("/v1/orders/%s/fulfil" % order["id"], headers=rep1))
    done = ok(api.post("/v1/contracts/%s/fulfil" % contract_id, headers=rep1))
    assert done["status"] == "fulfilled"
    events = ok(api.get("/v1/contracts/%s/events" % contract_id,
                        headers=rep1))["data"]
    assert [e["to_status"] for e in events] == [
        "draft", "pending_approval", "approved", "signed", "fulfilled"]

    # The customer's 360° view has the whole story.
    view = ok(api.get("/v1/customers/%s/overview" % cust, headers=rep1))
    assert view["customer"]["name"] == "苏州姑苏精密仪器有限公司"
    assert [c["id"] for c in view["contacts"]] == [conv["contact_id"]]
    assert [o["id"] for o in view["opportunities"]] == [opp_id]
    assert [a["id"] for a in view["activities"]] == [meeting["id"]]
    assert [q["id"] for q in view["quotes"]] == [quote["id"]]
    assert [c["id"] for c in view["contracts"]] == [contract_id]
    assert [o["id"] for o in view["orders"]] == [order["id"]]
    assert view["summary"] == {
        "open_opportunities": 0, "open_pipeline": "0.00",
        "won_amount": "120000.00", "revenue_12m": "135600.00",
        "balance_due": "135600.00",
        "last_activity_at": view["activities"][0]["occurred_at"]}
    assert api.get("/v1/customers/%s/overview" % cust,
                   headers=rep2).status_code == 404

    # The funnel and the forecast count the win.
    funnel = ok(api.get("/v1/opportunities/funnel", headers=mgr))
    row = [s for s in funnel["stages"] if s["stage_id"] == won["id"]][0]
    assert (row["count"], row["amount"]) == (1, "120000.00")
    forecast = ok(api.get("/v1/forecast", headers=mgr))
    assert Decimal(forecast["total"]["closed_won"]) == Decimal("120000.00")

    # Nothing of it reaches the other rep.
    for path in ("/v1/leads/" + lead["id"], "/v1/opportunities/" + opp_id,
                 "/v1/quotes/" + quote["id"], "/v1/contracts/" + contract_id,
                 "/v1/orders/" + order["id"], "/v1/customers/" + cust,
                 "/v1/activities/" + meeting["id"]):
        assert api.get(path, headers=rep2).status_code == 404, path
    assert api.get("/v1/forecast", headers=rep2).json()["total"][
        "closed_won"] == "0.00"
