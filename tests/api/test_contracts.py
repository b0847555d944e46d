"""Contracts: templates, draft -> approval by the owner's managers ->
signature (which wins the opportunity) -> fulfilment, and their history."""
import datetime
import uuid

from conftest import DEMO, bearer
from race_helpers import race
from test_products import make_key, make_product
from test_quotes import (REP1_CUSTOMER, REP2_CUSTOMER, action, counts,
                         create_quote, foreign_cursors, opportunity,
                         simple_quote)

BODY = ("合同编号：{{contract_number}}\n甲方：{{customer_name}}\n"
        "金额：{{amount}} {{currency}}\n期限：{{start_date}} 至 {{end_date}}\n"
        "乙方代表：{{owner_name}}")


def template(api, tokens, body=BODY, name=None):
    r = api.post("/v1/contract-templates", headers=bearer(tokens["admin"]),
                 json={"name": name or "期刊订阅合同" + uuid.uuid4().hex[:6],
                       "body": body})
    assert r.status_code == 201, r.text
    return r.json()


def contract(api, token, **body):
    body.setdefault("customer_id", REP1_CUSTOMER)
    body.setdefault("title", "2027 年度期刊订阅合同")
    r = api.post("/v1/contracts", headers=bearer(token), json=body)
    assert r.status_code == 201, r.text
    return r.json()


def act(api, token, cid, verb, body=None, **kw):
    return api.post("/v1/contracts/%s/%s" % (cid, verb), headers=bearer(token),
                    json=body, **kw)


def events(api, token, cid):
    r = api.get("/v1/contracts/%s/events" % cid, headers=bearer(token))
    assert r.status_code == 200
    return [(e["from_status"], e["to_status"], e["actor_id"], e["note"])
            for e in r.json()["data"]]


def ccount(stack):
    return stack.sql("SELECT (SELECT count(*) FROM contracts), "
                     "(SELECT count(*) FROM contract_events)")[0]


def test_templates_are_kept_by_admins(api, stack, tokens):
    t = template(api, tokens)
    assert t["body"] == BODY and t["version"] == 1
    h = bearer(tokens["admin"])
    for who in ("rep1", "ceo"):
        r = bearer(tokens[who])
        assert api.get("/v1/contract-templates/" + t["id"], headers=r
                       ).json() == t
        assert t["id"] in {x["id"] for x in api.get(
            "/v1/contract-templates?limit=500", headers=r).json()["data"]}
    before = stack.sql("SELECT count(*) FROM contract_templates")[0][0]
    for who in ("rep1", "manager", "ceo"):
        r = bearer(tokens[who])
        assert api.post("/v1/contract-templates", headers=r, json={
            "name": "越权模板", "body": "x"}).status_code == 403
        assert api.patch("/v1/contract-templates/" + t["id"], headers=r,
                         json={"name": "越权"}).status_code == 403
        assert api.delete("/v1/contract-templates/" + t["id"], headers=r
                          ).status_code == 403
    # Unknown placeholders are refused when the template is saved.
    r = api.post("/v1/contract-templates", headers=h, json={
        "name": "坏模板", "body": "甲方 {{customer_name}}，税号 {{tax_no}}，{{ amount }}"})
    assert r.status_code == 422
    err = r.json()["errors"]
    assert [(e["field"], e["code"]) for e in err] == [("body", "placeholder")]
    assert "{{ amount }}, {{tax_no}}" in err[0]["message"]
    r = api.post("/v1/contract-templates", headers=h, json={
        "name": t["name"], "body": "重名"})
    assert r.status_code == 409
    assert stack.sql("SELECT count(*) FROM contract_templates")[0][0] == before

    r = api.patch("/v1/contract-templates/" + t["id"],
                  headers={**h, "If-Match": '"1"'},
                  json={"body": "客户：{{customer_name}}"})
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    assert api.patch("/v1/contract-templates/" + t["id"], headers=h,
                     json={"body": "{{nope}}"}).status_code == 422
    assert api.delete("/v1/contract-templates/" + t["id"],
                      headers={**h, "If-Match": '"1"'}).status_code == 412
    assert api.delete("/v1/contract-templates/" + t["id"], headers=h
                      ).status_code == 204
    assert api.get("/v1/contract-templates/" + t["id"], headers=h
                   ).status_code == 404
    # A deleted template's name is free again.
    template(api, tokens, name=t["name"])


def test_contract_from_template_renders_terms(api, stack, tokens):
    t = template(api, tokens)
    opp = opportunity(stack)
    c = contract(api, tokens["rep1"], opportunity_id=opp, template_id=t["id"],
                 amount="12800", start_date="2027-01-01",
                 end_date="2027-12-31")
    assert c["number"].startswith("C-") and c["status"] == "draft"
    assert c["terms"] == (
        "合同编号：%s\n甲方：四川糖酒有限公司\n金额：12800.00 CNY\n"
        "期限：2027-01-01 至 2027-12-31\n乙方代表：张伟" % c["number"])
    assert (c["amount"], c["owner_id"], c["opportunity_id"],
            c["template_id"], c["quote_id"]) == (
        "12800.00", DEMO["rep1"][1], opp, t["id"], None)
    # No dates: the placeholders render empty.
    bare = contract(api, tokens["rep1"], template_id=t["id"])
    assert "期限： 至 \n" in bare["terms"] and "金额：0.00 CNY" in bare["terms"]
    # Editing the template later leaves the contracts' terms alone.
    api.patch("/v1/contract-templates/" + t["id"],
              headers=bearer(tokens["admin"]), json={"body": "新条款"})
    assert api.get("/v1/contracts/" + c["id"], headers=bearer(tokens["rep1"])
                   ).json()["terms"] == c["terms"]
    # A value that looks like a placeholder is not filled again.
    odd = template(api, tokens, body="{{customer_name}}|{{amount}}|{{{amount}}}")
    cu = api.post("/v1/customers", headers=bearer(tokens["rep1"]),
                  json={"name": "{{amount}}贸易"}).json()
    c = contract(api, tokens["rep1"], template_id=odd["id"], amount="7",
                 customer_id=cu["id"])
    assert c["terms"] == "{{amount}}贸易|7.00|{7.00}"


def test_approval_signature_and_the_won_opportunity(api, stack, tokens):
    rep1, rep2, mgr = tokens["rep1"], tokens["rep2"], tokens["manager"]
    q = simple_quote(api, stack, tokens)
    action(api, rep1, q["id"], "send")
    cid = action(api, rep1, q["id"], "accept").json()["contract_id"]
    c = api.get("/v1/contracts/" + cid, headers=bearer(rep1)).json()
    assert (c["status"], c["amount"]) == ("draft", "226.00")

    # Sign before approval: 409 naming what a draft may become.
    before = ccount(stack)
    r = act(api, rep1, cid, "sign", {})
    assert r.status_code == 409
    assert r.json()["detail"] == ("contract cannot go from draft to signed; "
                                  "allowed from draft: pending_approval, "
                                  "cancelled.")
    assert ccount(stack) == before
    assert api.get("/v1/contracts/" + cid, headers=bearer(rep1)
                   ).json() == c

    r = api.patch("/v1/contracts/" + cid, headers={**bearer(rep1),
                                                   "If-Match": '"1"'},
                  json={"start_date": "2027-01-01", "end_date": "2027-12-31",
                        "terms": "按季度付款"})
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    r = act(api, rep1, cid, "submit")
    assert r.status_code == 200 and r.json()["status"] == "pending_approval"
    assert r.json()["submitted_at"] is not None
    assert api.patch("/v1/contracts/" + cid, headers=bearer(rep1),
                     json={"amount": "1.00"}).status_code == 409

    # Who may approve: not the owner (403), not rep2 (404, as a random
    # id), not the executive (403); the owner's manager may.
    before = ccount(stack)
    r = act(api, rep1, cid, "approve")
    assert r.status_code == 403 and "own" in r.json()["detail"]
    ghost = str(uuid.uuid4())
    real, fake = act(api, rep2, cid, "approve"), act(api, rep2, ghost, "approve")
    assert real.status_code == fake.status_code == 404
    assert real.json()["detail"] == fake.json()["detail"]
    r = act(api, tokens["ceo"], cid, "approve")
    assert r.status_code == 403
    assert api.get("/v1/contracts/" + cid, headers=bearer(tokens["ceo"])
                   ).status_code == 200
    assert act(api, tokens["ceo"], cid, "reject", {"reason": "x"}
               ).status_code == 403
    assert ccount(stack) == before
    r = act(api, mgr, cid, "approve")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["approved_by"]) == (
        "approved", DEMO["manager"][1])

    opp = q["opportunity_id"]
    assert stack.sql("SELECT status FROM opportunities WHERE id = %s",
                     (opp,)) == [("open",)]
    r = act(api, rep1, cid, "sign", {"signed_at": "2026-11-30T10:00:00+08:00"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "signed"
    assert datetime.datetime.fromisoformat(r.json()["signed_at"]) == \
        datetime.datetime(2026, 11, 30, 2, tzinfo=datetime.timezone.utc)
    # The opportunity is won, in the same transaction, with its history.
    won = stack.sql(
        "SELECT o.status, s.kind, o.closed_at IS NOT NULL FROM opportunities o "
        "JOIN pipeline_stages s ON s.id = o.stage_id WHERE o.id = %s", (opp,))
    assert won == [("won", "won", True)]
    hist = stack.sql(
        "SELECT s.kind, h.changed_by::text FROM opportunity_stage_history h "
        "JOIN pipeline_stages s ON s.id = h.to_stage_id "
        "WHERE h.opportunity_id = %s ORDER BY h.id", (opp,))
    assert hist == [("open", None), ("won", DEMO["rep1"][1])]

    assert act(api, rep1, cid, "fulfil").json()["status"] == "fulfilled"
    r = act(api, rep1, cid, "cancel")
    assert r.status_code == 409
    assert "allowed from fulfilled: none (final)" in r.json()["detail"]
    r1, m = DEMO["rep1"][1], DEMO["manager"][1]
    assert events(api, rep1, cid) == [
        (None, "draft", r1, "Created from quote %s revision 1 on its "
         "acceptance." % q["number"]),
        ("draft", "pending_approval", r1, None),
        ("pending_approval", "approved", m, None),
        ("approved", "signed", r1, None),
        ("signed", "fulfilled", r1, None)]
    audit = stack.sql("SELECT count(*) FROM audit_log WHERE entity = "
                      "'contracts' AND entity_id = %s", (cid,))[0][0]
    assert audit == 6


def test_rejection_edit_and_resubmission(api, stack, tokens):
    rep1 = tokens["rep1"]
    c = contract(api, rep1, amount="5000")
    act(api, rep1, c["id"], "submit")
    before = ccount(stack)
    r = act(api, tokens["manager"], c["id"], "reject", {})
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["reason"]
    assert ccount(stack) == before
    r = act(api, tokens["manager"], c["id"], "reject", {"reason": "金额需复核"})
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["rejection_reason"]) == (
        "rejected", "金额需复核")
    r = api.patch("/v1/contracts/" + c["id"], headers=bearer(rep1),
                  json={"amount": "4800.50"})
    assert r.status_code == 200 and r.json()["amount"] == "4800.50"
    r = act(api, rep1, c["id"], "submit")
    assert r.json()["status"] == "pending_approval"
    assert r.json()["rejection_reason"] is None
    # An admin may approve too.
    assert act(api, tokens["admin"], c["id"], "approve").json()["status"] == \
        "approved"
    assert [(e[0], e[1], e[3]) for e in events(api, rep1, c["id"])] == [
        (None, "draft", None), ("draft", "pending_approval", None),
        ("pending_approval", "rejected", "金额需复核"),
        ("rejected", "pending_approval", None),
        ("pending_approval", "approved", None)]
    # Signing in the future is refused, and nothing changes.
    before = ccount(stack)
    r = act(api, rep1, c["id"], "sign", {"signed_at": "2099-01-01T00:00:00Z"})
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["signed_at"]
    assert ccount(stack) == before
    # Without an opportunity, signing touches none.
    assert act(api, rep1, c["id"], "sign", {}).json()["status"] == "signed"


def test_cancel_is_final(api, stack, tokens):
    c = contract(api, tokens["rep1"])
    r = act(api, tokens["rep1"], c["id"], "cancel")
    assert r.status_code == 200 and r.json()["cancelled_at"] is not None
    r = act(api, tokens["rep1"], c["id"], "submit")
    assert r.status_code == 409
    assert r.json()["detail"].endswith("allowed from cancelled: none (final).")


def test_bad_contracts_refused_and_nothing_written(api, stack, tokens):
    rep1 = tokens["rep1"]
    draft = simple_quote(api, stack, tokens)
    sent = simple_quote(api, stack, tokens)
    action(api, rep1, sent["id"], "send")
    t = template(api, tokens)
    theirs = opportunity(stack, owner="rep2", customer=REP2_CUSTOMER)
    other_customer = opportunity(stack, customer="00000000-0000-4000-8000-"
                                 "000000001002")
    before = ccount(stack)
    ghost = str(uuid.uuid4())

    def refused(body, expect):
        body.setdefault("customer_id", REP1_CUSTOMER)
        body.setdefault("title", "坏合同")
        r = api.post("/v1/contracts", headers=bearer(rep1), json=body)
        assert r.status_code == 422, (body, r.text)
        assert {(e["field"], e["code"]) for e in r.json()["errors"]} == \
            expect, body
        return r.json()

    real = refused({"customer_id": REP2_CUSTOMER},
                   {("customer_id", "unknown")})
    fake = refused({"customer_id": ghost}, {("customer_id", "unknown")})
    assert real == {**fake, "request_id": real["request_id"]}
    real = refused({"opportunity_id": theirs}, {("opportunity_id", "unknown")})
    fake = refused({"opportunity_id": ghost}, {("opportunity_id", "unknown")})
    assert real["errors"] == fake["errors"]
    refused({"opportunity_id": other_customer},
            {("opportunity_id", "mismatch")})
    refused({"quote_id": draft["id"]}, {("quote_id", "status")})
    refused({"quote_id": sent["id"], "amount": "1"}, {("amount", "conflict")})
    refused({"template_id": t["id"], "terms": "手写条款"},
            {("terms", "conflict")})
    refused({"template_id": ghost}, {("template_id", "unknown")})
    refused({"start_date": "2027-02-01", "end_date": "2027-01-31"},
            {("end_date", "range")})
    refused({"amount": "-1", "currency": "rmb"}, {("amount", "range")})
    refused({"currency": "rmb"}, {("currency", "format")})
    refused({"amount": "1.005"}, {("amount", "scale")})
    r = api.post("/v1/contracts", headers=bearer(rep1), json={})
    assert {e["field"] for e in r.json()["errors"]} == {"customer_id", "title"}
    # Marketing sees every customer but writes no contract for rep1's.
    r = api.post("/v1/contracts", headers=bearer(tokens["marketing"]),
                 json={"customer_id": REP1_CUSTOMER, "title": "越权"})
    assert r.status_code == 403
    assert ccount(stack) == before

    # From a sent quote: its total; one contract per quote (accept then
    # finds it instead of writing another).
    c = contract(api, rep1, quote_id=sent["id"])
    assert (c["amount"], c["opportunity_id"], c["quote_id"]) == (
        "226.00", sent["opportunity_id"], sent["id"])
    before = ccount(stack)
    r = api.post("/v1/contracts", headers=bearer(rep1), json={
        "customer_id": REP1_CUSTOMER, "title": "重复", "quote_id": sent["id"]})
    assert r.status_code == 409
    assert ccount(stack) == before
    acc = action(api, rep1, sent["id"], "accept").json()
    assert acc["contract_id"] == c["id"]
    assert ccount(stack) == before


def test_contract_from_a_quote_keeps_its_amount(api, stack, tokens):
    """A contract from a quote has the quote's grand total and currency:
    PATCH refuses an amount or another currency as create does (422), and
    changes nothing; its other fields stay editable."""
    rep1 = tokens["rep1"]
    q = simple_quote(api, stack, tokens)
    action(api, rep1, q["id"], "send")
    c = contract(api, rep1, quote_id=q["id"])
    assert (c["amount"], c["currency"]) == ("226.00", "CNY")
    h = bearer(rep1)
    before = ccount(stack)
    for body, want in (
            ({"amount": "1.00"}, [("amount", "conflict")]),
            ({"amount": "226.00"}, [("amount", "conflict")]),
            ({"currency": "USD"}, [("currency", "conflict")]),
            ({"amount": "9.99", "currency": "USD", "title": "改"},
             [("amount", "conflict"), ("currency", "conflict")])):
        r = api.patch("/v1/contracts/" + c["id"], headers=h, json=body)
        assert r.status_code == 422, (body, r.text)
        assert [(e["field"], e["code"]) for e in r.json()["errors"]] == want
    assert ccount(stack) == before
    assert api.get("/v1/contracts/" + c["id"], headers=h).json() == c
    r = api.patch("/v1/contracts/" + c["id"], headers=h,
                  json={"currency": "CNY", "title": "2027 年度订阅合同（定稿）"})
    assert r.status_code == 200, r.text
    assert (r.json()["amount"], r.json()["currency"], r.json()["title"]) == (
        "226.00", "CNY", "2027 年度订阅合同（定稿）")
    # Without a quote, the amount is the contract's own.
    free = contract(api, rep1, amount="5000")
    r = api.patch("/v1/contracts/" + free["id"], headers=h,
                  json={"amount": "4999.99", "currency": "USD"})
    assert (r.status_code, r.json()["amount"], r.json()["currency"]) == (
        200, "4999.99", "USD")


def test_whoever_submits_does_not_approve(api, stack, tokens):
    """The manager may submit a subordinate's contract, but then someone
    else approves it (an admin, or a manager above); the submitter may
    still reject it, handing it back. A new submission by the owner lets
    the manager approve again."""
    rep1, mgr = tokens["rep1"], tokens["manager"]
    c = contract(api, rep1, amount="8800")
    assert act(api, mgr, c["id"], "submit").status_code == 200
    before = ccount(stack)
    r = act(api, mgr, c["id"], "approve")
    assert r.status_code == 403, r.text
    assert r.json()["detail"] == (
        "You submitted this contract for approval, so someone else approves "
        "it: an admin or a manager above its owner.")
    assert ccount(stack) == before
    assert api.get("/v1/contracts/" + c["id"], headers=bearer(rep1)
                   ).json()["status"] == "pending_approval"
    r = act(api, mgr, c["id"], "reject", {"reason": "我提交错了，退回"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert act(api, rep1, c["id"], "submit").status_code == 200
    r = act(api, mgr, c["id"], "approve")
    assert r.status_code == 200 and r.json()["approved_by"] == \
        DEMO["manager"][1]
    # Submitted by the manager again: the admin approves.
    d = contract(api, rep1, amount="100")
    act(api, mgr, d["id"], "submit")
    assert act(api, mgr, d["id"], "approve").status_code == 403
    r = act(api, tokens["admin"], d["id"], "approve")
    assert r.status_code == 200 and r.json()["approved_by"] == \
        DEMO["admin"][1]
    assert stack.sql("SELECT submitted_by::text FROM contracts WHERE id = %s",
                     (d["id"],)) == [(DEMO["manager"][1],)]


def lose(api, token, opp):
    r = api.post("/v1/opportunities/%s/lose" % opp, headers=bearer(token),
                 json={"reason": "客户选择了竞争对手"})
    assert r.status_code == 200, r.text


def test_no_sale_on_a_lost_opportunity(api, stack, tokens):
    """Accepting a quote or signing a contract whose opportunity is lost
    answers 409 and changes nothing; once the deal is reopened both go
    ahead, and repeating them on the won deal answers the same."""
    rep1 = tokens["rep1"]
    q = simple_quote(api, stack, tokens)
    opp = q["opportunity_id"]
    action(api, rep1, q["id"], "send")
    lose(api, rep1, opp)
    before = counts(stack)
    r = action(api, rep1, q["id"], "accept")
    assert r.status_code == 409, r.text
    assert r.json()["detail"] == ("The quote's opportunity is lost; reopen "
                                  "it first (POST /v1/opportunities/%s/"
                                  "reopen)." % opp)
    assert counts(stack) == before
    assert api.get("/v1/quotes/" + q["id"], headers=bearer(rep1)
                   ).json()["status"] == "sent"
    assert api.post("/v1/opportunities/%s/reopen" % opp, headers=bearer(rep1),
                    json={}).status_code == 200
    cid = action(api, rep1, q["id"], "accept").json()["contract_id"]
    act(api, rep1, cid, "submit")
    assert act(api, tokens["manager"], cid, "approve").status_code == 200
    lose(api, rep1, opp)
    before = ccount(stack)
    r = act(api, rep1, cid, "sign", {})
    assert r.status_code == 409, r.text
    assert r.json()["detail"] == ("The contract's opportunity is lost; "
                                  "reopen it first (POST /v1/opportunities/"
                                  "%s/reopen)." % opp)
    assert ccount(stack) == before
    assert api.get("/v1/contracts/" + cid, headers=bearer(rep1)
                   ).json()["status"] == "approved"
    assert stack.sql("SELECT status FROM opportunities WHERE id = %s",
                     (opp,)) == [("lost",)]
    api.post("/v1/opportunities/%s/reopen" % opp, headers=bearer(rep1),
             json={})
    r = act(api, rep1, cid, "sign", {})
    assert r.status_code == 200 and r.json()["status"] == "signed"
    assert stack.sql("SELECT status FROM opportunities WHERE id = %s",
                     (opp,)) == [("won",)]
    # Replays on the won deal.
    assert act(api, rep1, cid, "sign", {}).json()["status"] == "signed"
    r = action(api, rep1, q["id"], "accept")
    assert r.status_code == 200 and r.json()["contract_id"] == cid


def test_access_matrix(api, stack, tokens, org2):
    mine = contract(api, tokens["rep1"])
    theirs = contract(api, tokens["rep2"], customer_id=REP2_CUSTOMER)
    ghost = str(uuid.uuid4())
    routes = [("GET", "/v1/contracts/%s", None),
              ("PATCH", "/v1/contracts/%s", {"title": "越权"}),
              ("POST", "/v1/contracts/%s/submit", None),
              ("POST", "/v1/contracts/%s/approve", None),
              ("POST", "/v1/contracts/%s/reject", {"reason": "越权"}),
              ("POST", "/v1/contracts/%s/sign", {}),
              ("POST", "/v1/contracts/%s/fulfil", None),
              ("POST", "/v1/contracts/%s/cancel", None),
              ("GET", "/v1/contracts/%s/events", None)]
    before = ccount(stack)
    for token in (tokens["rep2"], org2["admin"], org2["rep"]):
        h = bearer(token)
        for method, path, body in routes:
            real = api.request(method, path % mine["id"], headers=h, json=body)
            fake = api.request(method, path % ghost, headers=h, json=body)
            assert real.status_code == fake.status_code == 404, (method, path)
            assert real.json()["detail"] == fake.json()["detail"]
        for f in ("", "&customer_id=" + REP1_CUSTOMER,
                  "&owner_id=" + DEMO["rep1"][1], "&status=draft"):
            ids = {x["id"] for x in api.get("/v1/contracts?limit=500" + f,
                                            headers=h).json()["data"]}
            assert mine["id"] not in ids
    assert ccount(stack) == before
    assert api.get("/v1/contracts/" + mine["id"],
                   headers=bearer(tokens["rep1"])).json() == mine
    t = template(api, tokens)
    for method, path in (("GET", "/v1/contract-templates/%s"),
                         ("PATCH", "/v1/contract-templates/%s"),
                         ("DELETE", "/v1/contract-templates/%s")):
        h = bearer(org2["admin"])
        body = {"name": "x"} if method == "PATCH" else None
        real = api.request(method, path % t["id"], headers=h, json=body)
        fake = api.request(method, path % ghost, headers=h, json=body)
        assert real.status_code == fake.status_code == 404
    assert t["id"] not in {x["id"] for x in api.get(
        "/v1/contract-templates?limit=500", headers=bearer(org2["admin"])
    ).json()["data"]}

    m = bearer(tokens["manager"])
    listed = {x["id"] for x in api.get("/v1/contracts?limit=500", headers=m
                                       ).json()["data"]}
    assert {mine["id"], theirs["id"]} <= listed
    assert api.get("/v1/contracts/%s/events" % theirs["id"], headers=m
                   ).status_code == 200
    for who in ("marketing", "service"):
        assert api.get("/v1/contracts/" + mine["id"],
                       headers=bearer(tokens[who])).status_code == 404

    none = make_key(api, tokens, ["quotes:write"])
    for method, path, body in routes + [
            ("GET", "/v1/contracts", None),
            ("POST", "/v1/contracts", {"customer_id": REP1_CUSTOMER,
                                       "title": "x"}),
            ("GET", "/v1/contract-templates", None),
            ("GET", "/v1/contract-templates/%s" % t["id"], None)]:
        r = api.request(method, path.replace("%s", mine["id"]), headers=none,
                        json=body)
        assert r.status_code == 403, (method, path)
    read = make_key(api, tokens, ["contracts:read"])
    assert api.get("/v1/contracts/" + mine["id"], headers=read
                   ).status_code == 200
    assert api.post("/v1/contracts/%s/submit" % mine["id"], headers=read
                    ).status_code == 403
    assert ccount(stack) == before


def test_contracts_list_filters(api, stack, tokens):
    opp = opportunity(stack)
    a = contract(api, tokens["rep1"], opportunity_id=opp)
    b = contract(api, tokens["rep1"], opportunity_id=opp)
    act(api, tokens["rep1"], b["id"], "submit")
    h = bearer(tokens["rep1"])
    got = api.get("/v1/contracts?opportunity_id=" + opp, headers=h).json()
    assert [x["id"] for x in got["data"]] == [b["id"], a["id"]]
    got = api.get("/v1/contracts?status=pending_approval&opportunity_id=" +
                  opp, headers=h).json()
    assert [x["id"] for x in got["data"]] == [b["id"]]
    first = api.get("/v1/contracts?limit=1&opportunity_id=" + opp,
                    headers=h).json()
    assert [x["id"] for x in first["data"]] == [b["id"]]
    second = api.get("/v1/contracts?limit=1&opportunity_id=%s&cursor=%s" % (
        opp, first["next_cursor"]), headers=h).json()
    assert [x["id"] for x in second["data"]] == [a["id"]]
    assert second["next_cursor"] is None
    assert int(b["number"][7:]) == int(a["number"][7:]) + 1


def test_template_stale_if_match_loses_the_race(api, stack, tokens):
    """A template PATCH with If-Match waits for a change in progress and
    then answers 412 (the version is checked on the locked row)."""
    t = template(api, tokens)
    r, waited = race(
        stack, [("UPDATE contract_templates SET body = '新条款 {{amount}}' "
                 "WHERE id = %s", (t["id"],))],
        lambda: api.patch("/v1/contract-templates/" + t["id"],
                          headers={**bearer(tokens["admin"]),
                                   "If-Match": '"1"'},
                          json={"body": "我的条款"}))
    assert waited and r.status_code == 412, r.text
    got = api.get("/v1/contract-templates/" + t["id"],
                  headers=bearer(tokens["admin"])).json()
    assert (got["body"], got["version"]) == ("新条款 {{amount}}", 2)


def test_cursor_of_another_list_is_a_400(api, stack, tokens):
    for path in ("/v1/contracts", "/v1/contract-templates"):
        for c in foreign_cursors(stack) + ["bm9wZQ"]:
            r = api.get(path, headers=bearer(tokens["rep1"]),
                        params={"cursor": c})
            assert r.status_code == 400, (path, c, r.text)

