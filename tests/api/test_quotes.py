"""Quotes: catalogue lines priced exactly in SQL, per-org numbers,
revisions, and acceptance writing the contract in the same transaction."""
import concurrent.futures
import datetime
import uuid
from decimal import ROUND_HALF_UP, Decimal

from conftest import DEMO, DEMO_ORG, bearer
from test_products import make_key, make_product

REP1_CUSTOMER = "00000000-0000-4000-8000-000000001001"
REP2_CUSTOMER = "00000000-0000-4000-8000-000000001003"
CENT = Decimal("0.01")


def opportunity(stack, owner="rep1", customer=REP1_CUSTOMER, name="年度期刊订阅",
                currency="CNY", stage=3):
    """An opportunity in the default pipeline (the opportunities API is
    another module's), written as the superuser."""
    oid = str(uuid.uuid4())
    stack.sql(
        "INSERT INTO opportunities (id, org_id, owner_id, customer_id, name, "
        "pipeline_id, stage_id, currency, amount) SELECT %s, p.org_id, %s, %s, "
        "%s, p.id, s.id, %s, 50000 FROM pipelines p JOIN pipeline_stages s ON "
        "s.pipeline_id = p.id WHERE p.org_id = %s AND p.is_default AND "
        "s.position = %s", (oid, DEMO[owner][1], customer, name, currency,
                            DEMO_ORG, stage))
    return oid


def create_quote(api, token, opp, lines, **over):
    body = {"opportunity_id": opp, "lines": lines}
    body.update(over)
    r = api.post("/v1/quotes", headers=bearer(token), json=body)
    assert r.status_code == 201, r.text
    return r.json()


def simple_quote(api, stack, tokens, who="rep1", customer=REP1_CUSTOMER,
                 **over):
    p = make_product(api, tokens, unit_price="100.00", tax_rate="13")
    opp = opportunity(stack, owner=who, customer=customer)
    return create_quote(api, tokens[who], opp,
                        [{"product_id": p["id"], "quantity": "2"}], **over)


def action(api, token, quote_id, verb, body=None, **kw):
    return api.post("/v1/quotes/%s/%s" % (quote_id, verb),
                    headers=bearer(token), json=body, **kw)


def today(stack):
    return stack.sql("SELECT current_date")[0][0]


def counts(stack):
    return stack.sql("SELECT (SELECT count(*) FROM quotes), (SELECT count(*) "
                     "FROM quote_lines), (SELECT count(*) FROM contracts)")[0]


def money(x):
    return Decimal(x).quantize(CENT, rounding=ROUND_HALF_UP)


def expected_line(qty, price, disc, rate):
    """A line computed independently of the database."""
    qty, price, disc, rate = map(Decimal, (qty, price, disc, rate))
    net = money(qty * price * (1 - disc / 100))
    tax = money(net * rate / 100)
    return {"net": net, "tax": tax, "gross": net + tax,
            "discount": money(qty * price) - net}


def test_totals_to_the_cent(api, stack, tokens):
    a = make_product(api, tokens, name="《糖酒快讯》单期", unit="期",
                     unit_price="33.33", tax_rate="13")
    b = make_product(api, tokens, name="展位搭建服务", unit="项",
                     unit_price="19.99", tax_rate="6")
    opp = opportunity(stack)
    lines = [
        {"product_id": a["id"], "quantity": "3", "discount_percent": "7.5"},
        {"product_id": b["id"], "quantity": "2.5", "unit_price": "18.88"},
        {"product_id": a["id"], "quantity": "1.333",
         "discount_percent": "12.34"},
    ]
    q = create_quote(api, tokens["rep1"], opp, lines, notes="含全年配送")
    want = [expected_line("3", "33.33", "7.5", "13"),
            expected_line("2.5", "18.88", "0", "6"),
            expected_line("1.333", "33.33", "12.34", "13")]
    # The case the task names, by hand: 99.99 less 7.5% = 92.49075.
    assert want[0] == {"net": Decimal("92.49"), "tax": Decimal("12.02"),
                       "gross": Decimal("104.51"),
                       "discount": Decimal("7.50")}
    assert len(q["lines"]) == 3
    for got, exp, inp in zip(q["lines"], want, lines):
        for k in ("net", "tax", "gross", "discount"):
            assert got[k] == str(exp[k]), (k, got, exp)
        assert got["product_id"] == inp["product_id"]
    l0, l1, l2 = q["lines"]
    assert (l0["position"], l0["sku"], l0["name"], l0["unit"], l0["quantity"],
            l0["list_price"], l0["unit_price"], l0["discount_percent"],
            l0["tax_rate"]) == (1, a["sku"], "《糖酒快讯》单期", "期", "3.000",
                                "33.33", "33.33", "7.50", "13.00")
    assert (l1["list_price"], l1["unit_price"], l1["quantity"],
            l1["discount_percent"]) == ("19.99", "18.88", "2.500", "0.00")
    assert l2["position"] == 3
    assert q["subtotal"] == str(sum(w["net"] for w in want))
    assert q["tax_total"] == str(sum(w["tax"] for w in want))
    assert q["discount_total"] == str(sum(w["discount"] for w in want))
    assert q["grand_total"] == str(sum(w["gross"] for w in want))
    assert Decimal(q["subtotal"]) + Decimal(q["tax_total"]) == Decimal(
        q["grand_total"])
    assert (q["status"], q["revision"], q["currency"], q["owner_id"],
            q["customer_id"], q["opportunity_id"], q["notes"],
            q["line_count"], q["contract_id"]) == (
        "draft", 1, "CNY", DEMO["rep1"][1], REP1_CUSTOMER, opp, "含全年配送",
        3, None)
    year = today(stack).year
    assert q["number"].startswith("Q-%d-" % year) and len(q["number"]) == 13
    assert q["valid_until"] == str(today(stack) + datetime.timedelta(days=30))
    # The catalogue changing later does not rewrite the quote.
    api.patch("/v1/products/" + a["id"], headers=bearer(tokens["admin"]),
              json={"unit_price": "99.00", "name": "改名"})
    again = api.get("/v1/quotes/" + q["id"], headers=bearer(tokens["rep1"]))
    assert again.json()["lines"] == q["lines"]
    assert again.headers["etag"] == '"1"'


def test_numbers_are_distinct_under_concurrency(api, stack, tokens):
    p = make_product(api, tokens)
    opp = opportunity(stack)
    body = {"opportunity_id": opp,
            "lines": [{"product_id": p["id"], "quantity": "1"}]}

    def one(_):
        return api.post("/v1/quotes", headers=bearer(tokens["rep1"]),
                        json=body)

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        got = list(ex.map(one, range(16)))
    assert [r.status_code for r in got] == [201] * 16
    numbers = sorted(int(r.json()["number"][7:]) for r in got)
    assert numbers == list(range(numbers[0], numbers[0] + 16))


def test_quote_lifecycle_with_revisions(api, stack, tokens):
    t = tokens["rep1"]
    p = make_product(api, tokens, unit_price="1200.00", tax_rate="6")
    other = make_product(api, tokens, unit_price="50.00", tax_rate="0")
    opp = opportunity(stack)
    q = create_quote(api, t, opp, [{"product_id": p["id"], "quantity": "1"}])
    h = bearer(t)
    r = api.patch("/v1/quotes/" + q["id"], headers={**h, "If-Match": '"1"'},
                  json={"notes": "第二稿", "lines": [
                      {"product_id": other["id"], "quantity": "4"},
                      {"product_id": p["id"], "quantity": "1",
                       "discount_percent": "10"}]})
    assert r.status_code == 200, r.text
    q = r.json()
    assert r.headers["etag"] == '"2"' and q["version"] == 2
    assert [(x["position"], x["net"]) for x in q["lines"]] == [
        (1, "200.00"), (2, "1080.00")]
    assert q["grand_total"] == "1344.80" and q["notes"] == "第二稿"
    assert api.patch("/v1/quotes/" + q["id"], headers={**h, "If-Match": '"1"'},
                     json={"notes": "旧版本"}).status_code == 412

    sent = action(api, t, q["id"], "send")
    assert sent.status_code == 200 and sent.json()["status"] == "sent"
    assert sent.json()["sent_at"] is not None

    # Revise: a new draft of the same number, the old one superseded.
    r = action(api, t, q["id"], "revise")
    assert r.status_code == 201, r.text
    rev2 = r.json()
    assert r.headers["location"].endswith("/v1/quotes/" + rev2["id"])
    assert (rev2["number"], rev2["revision"], rev2["status"],
            rev2["previous_id"]) == (q["number"], 2, "draft", q["id"])
    strip = [{k: v for k, v in x.items() if k != "id"} for x in q["lines"]]
    assert [{k: v for k, v in x.items() if k != "id"}
            for x in rev2["lines"]] == strip
    assert rev2["grand_total"] == "1344.80"
    old = api.get("/v1/quotes/" + q["id"], headers=h).json()
    assert old["status"] == "superseded" and old["lines"] == q["lines"]
    r = action(api, t, q["id"], "revise")
    assert r.status_code == 409 and "superseded" in r.json()["detail"]

    # The customer rejects revision 2; revision 3 is accepted.
    action(api, t, rev2["id"], "send")
    r = action(api, t, rev2["id"], "reject", {"reason": "价格偏高"})
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["rejection_reason"]) == (
        "rejected", "价格偏高")
    assert action(api, t, rev2["id"], "accept").status_code == 409
    rev3 = action(api, t, rev2["id"], "revise").json()
    assert rev3["revision"] == 3
    action(api, t, rev3["id"], "send")
    before = counts(stack)
    r = action(api, t, rev3["id"], "accept")
    assert r.status_code == 200, r.text
    acc = r.json()
    assert acc["quote"]["status"] == "accepted"
    assert acc["quote"]["contract_id"] == acc["contract_id"]
    assert counts(stack)[2] == before[2] + 1
    c = api.get("/v1/contracts/" + acc["contract_id"], headers=h).json()
    assert (c["status"], c["amount"], c["currency"], c["customer_id"],
            c["opportunity_id"], c["quote_id"], c["owner_id"]) == (
        "draft", "1344.80", "CNY", REP1_CUSTOMER, opp, rev3["id"],
        DEMO["rep1"][1])
    assert c["title"] == "年度期刊订阅（%s）" % q["number"]
    # A second accept is idempotent: the same contract, nothing new.
    r = action(api, t, rev3["id"], "accept")
    assert r.status_code == 200 and r.json()["contract_id"] == c["id"]
    assert counts(stack) == (before[0], before[1], before[2] + 1)
    # Only the live revisions are listed per status.
    listed = api.get("/v1/quotes?opportunity_id=" + opp, headers=h).json()
    assert [(x["revision"], x["status"]) for x in listed["data"]] == [
        (3, "accepted"), (2, "superseded"), (1, "superseded")]
    assert "lines" not in listed["data"][0]
    page = api.get("/v1/quotes?limit=2&opportunity_id=" + opp, headers=h
                   ).json()
    rest = api.get("/v1/quotes?limit=2&opportunity_id=%s&cursor=%s" % (
        opp, page["next_cursor"]), headers=h).json()
    assert [x["revision"] for x in page["data"] + rest["data"]] == [3, 2, 1]
    assert rest["next_cursor"] is None
    assert api.get("/v1/quotes?cursor=bm9wZQ", headers=h).status_code == 400
    accepted = api.get("/v1/quotes?status=accepted&opportunity_id=" + opp,
                       headers=h).json()["data"]
    assert [x["id"] for x in accepted] == [rev3["id"]]


def test_accept_of_a_draft_names_the_allowed_statuses(api, stack, tokens):
    q = simple_quote(api, stack, tokens)
    before = counts(stack)
    r = action(api, tokens["rep1"], q["id"], "accept")
    assert r.status_code == 409
    assert r.json()["detail"] == ("quote cannot go from draft to accepted; "
                                  "allowed from draft: sent.")
    assert counts(stack) == before
    again = api.get("/v1/quotes/" + q["id"], headers=bearer(tokens["rep1"]))
    assert again.json() == q and again.headers["etag"] == '"1"'
    for verb in ("reject", "revise"):
        r = action(api, tokens["rep1"], q["id"], verb,
                   {} if verb == "reject" else None)
        assert r.status_code == 409 and "allowed from draft: sent" in \
            r.json()["detail"]


def test_editing_a_sent_quote_is_a_conflict(api, stack, tokens):
    q = simple_quote(api, stack, tokens)
    sent = action(api, tokens["rep1"], q["id"], "send").json()
    before = counts(stack)
    r = api.patch("/v1/quotes/" + q["id"], headers=bearer(tokens["rep1"]),
                  json={"notes": "偷偷改价", "lines": [
                      {"product_id": q["lines"][0]["product_id"],
                       "quantity": "1"}]})
    assert r.status_code == 409
    assert "draft" in r.json()["detail"]
    assert counts(stack) == before
    assert api.get("/v1/quotes/" + q["id"], headers=bearer(tokens["rep1"])
                   ).json() == sent
    # Sending again changes nothing.
    again = action(api, tokens["rep1"], q["id"], "send")
    assert again.status_code == 200 and again.json() == sent


def test_expired_quote_cannot_be_accepted(api, stack, tokens):
    t = tokens["rep1"]
    q = simple_quote(api, stack, tokens, valid_until=str(today(stack)))
    action(api, t, q["id"], "send")
    stack.sql("UPDATE quotes SET valid_until = current_date - 1 "
              "WHERE id = %s", (q["id"],))
    got = api.get("/v1/quotes/" + q["id"], headers=bearer(t)).json()
    assert got["status"] == "expired"
    before = counts(stack)
    r = action(api, t, q["id"], "accept")
    assert r.status_code == 409
    assert r.json()["detail"] == ("quote cannot go from expired to accepted; "
                                  "allowed from expired: superseded.")
    assert counts(stack) == before
    expired = api.get("/v1/quotes?status=expired&opportunity_id=" +
                      q["opportunity_id"], headers=bearer(t)).json()["data"]
    assert [x["id"] for x in expired] == [q["id"]]
    assert api.get("/v1/quotes?status=sent&opportunity_id=" +
                   q["opportunity_id"], headers=bearer(t)).json()["data"] == []
    rev = action(api, t, q["id"], "revise").json()
    assert rev["status"] == "draft"
    assert rev["valid_until"] == str(today(stack) + datetime.timedelta(30))


def test_bad_lines_are_refused_naming_the_line(api, stack, tokens):
    t = tokens["rep1"]
    good = make_product(api, tokens)
    retired = make_product(api, tokens)
    api.patch("/v1/products/" + retired["id"],
              headers=bearer(tokens["admin"]), json={"active": False})
    usd = make_product(api, tokens, currency="USD")
    opp = opportunity(stack)
    before = counts(stack)

    def line(**kw):
        x = {"product_id": good["id"], "quantity": "1"}
        x.update(kw)
        return {k: v for k, v in x.items() if v is not None}

    cases = [
        (line(unit_price="-5.00"), "unit_price", "range"),
        (line(unit_price="5.001"), "unit_price", "scale"),
        (line(quantity="-1"), "quantity", "range"),
        (line(quantity="0"), "quantity", "range"),
        (line(quantity="1.2345"), "quantity", "scale"),
        (line(quantity=2), "quantity", "type"),
        (line(quantity=None), "quantity", "required"),
        (line(discount_percent="101"), "discount_percent", "range"),
        (line(discount_percent="-1"), "discount_percent", "range"),
        (line(discount_percent="5.555"), "discount_percent", "scale"),
        (line(product_id=retired["id"]), "product_id", "inactive"),
        (line(product_id=str(uuid.uuid4())), "product_id", "unknown"),
        (line(product_id="not-a-uuid"), "product_id", "format"),
        (line(product_id=usd["id"]), "product_id", "currency"),
        (line(product_id=None), "product_id", "required"),
        (line(colour="红"), "colour", "unknown_field"),
        (line(quantity="1000000000"), "quantity", "range"),
        (line(quantity="999999999", unit_price="9999999999999"), "quantity",
         "range"),
    ]
    for bad, field, code in cases:
        r = api.post("/v1/quotes", headers=bearer(t), json={
            "opportunity_id": opp, "lines": [line(), line(), bad]})
        assert r.status_code == 422, (bad, r.text)
        assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
            ("lines[2].%s" % field, code)], bad
    # Every problem at once, from every line.
    r = api.post("/v1/quotes", headers=bearer(t), json={
        "opportunity_id": opp, "valid_until": "2020-01-01",
        "lines": [line(quantity="-1"), line(discount_percent="101",
                                            product_id=retired["id"])]})
    assert {(e["field"], e["code"]) for e in r.json()["errors"]} == {
        ("valid_until", "range"), ("lines[0].quantity", "range"),
        ("lines[1].product_id", "inactive"),
        ("lines[1].discount_percent", "range")}
    for lines in ([], [1], "x"):
        r = api.post("/v1/quotes", headers=bearer(t), json={
            "opportunity_id": opp, "lines": lines})
        assert r.status_code == 422
        assert [e["field"] for e in r.json()["errors"]] == ["lines"]
    assert counts(stack) == before
    # The same rules on PATCH, and nothing changes.
    q = create_quote(api, t, opp, [line()])
    r = api.patch("/v1/quotes/" + q["id"], headers=bearer(t),
                  json={"lines": [line(), line(quantity="0.0001")]})
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["lines[1].quantity"]
    assert api.get("/v1/quotes/" + q["id"], headers=bearer(t)).json() == q


def test_closed_opportunity_takes_no_quote(api, stack, tokens):
    p = make_product(api, tokens)
    won = opportunity(stack, stage=5)
    before = counts(stack)
    r = api.post("/v1/quotes", headers=bearer(tokens["rep1"]), json={
        "opportunity_id": won, "lines": [{"product_id": p["id"],
                                          "quantity": "1"}]})
    assert r.status_code == 422
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
        ("opportunity_id", "closed")]
    assert counts(stack) == before


def test_quote_on_rep2_opportunity_leaks_nothing(api, stack, tokens):
    p = make_product(api, tokens)
    theirs = opportunity(stack, owner="rep2", customer=REP2_CUSTOMER)
    before = counts(stack)

    def attempt(opp):
        return api.post("/v1/quotes", headers=bearer(tokens["rep1"]), json={
            "opportunity_id": opp,
            "lines": [{"product_id": p["id"], "quantity": "1"}]})

    real, fake = attempt(theirs), attempt(str(uuid.uuid4()))
    assert real.status_code == fake.status_code == 422
    assert real.json()["detail"] == fake.json()["detail"]
    assert real.json()["errors"] == fake.json()["errors"] == [{
        "field": "opportunity_id", "code": "unknown",
        "message": "'opportunity_id' names no opportunity you can see."}]
    assert counts(stack) == before
    # Their manager may quote on it, for its owner.
    q = create_quote(api, tokens["manager"], theirs,
                     [{"product_id": p["id"], "quantity": "1"}])
    assert q["owner_id"] == DEMO["rep2"][1]


def test_access_matrix(api, stack, tokens, org2):
    """rep2 reaching rep1's quote gets exactly what a random id gets, on
    every route; lists do not show it; the manager sees both reps'; org 2
    sees nothing; a key without the scope gets 403."""
    mine = simple_quote(api, stack, tokens, "rep1")
    theirs = simple_quote(api, stack, tokens, "rep2", customer=REP2_CUSTOMER)
    ghost = str(uuid.uuid4())
    routes = [("GET", "/v1/quotes/%s", None),
              ("PATCH", "/v1/quotes/%s", {"notes": "越权"}),
              ("POST", "/v1/quotes/%s/send", None),
              ("POST", "/v1/quotes/%s/revise", None),
              ("POST", "/v1/quotes/%s/reject", {"reason": "越权"}),
              ("POST", "/v1/quotes/%s/accept", None)]
    before = counts(stack)
    for token in (tokens["rep2"], org2["admin"], org2["rep"]):
        h = bearer(token)
        for method, path, body in routes:
            real = api.request(method, path % mine["id"], headers=h, json=body)
            fake = api.request(method, path % ghost, headers=h, json=body)
            assert real.status_code == fake.status_code == 404, (method, path)
            assert real.json()["detail"] == fake.json()["detail"]
            assert real.json()["type"] == fake.json()["type"]
        for f in ("", "?opportunity_id=" + mine["opportunity_id"],
                  "?customer_id=" + REP1_CUSTOMER,
                  "?owner_id=" + DEMO["rep1"][1]):
            ids = {x["id"] for x in api.get("/v1/quotes" + f + (
                "&" if f else "?") + "limit=500", headers=h).json()["data"]}
            assert mine["id"] not in ids
    assert counts(stack) == before
    assert api.get("/v1/quotes/" + mine["id"], headers=bearer(tokens["rep1"])
                   ).json() == mine

    m = bearer(tokens["manager"])
    listed = {x["id"] for x in api.get("/v1/quotes?limit=500", headers=m
                                       ).json()["data"]}
    assert {mine["id"], theirs["id"]} <= listed
    for q in (mine, theirs):
        assert api.get("/v1/quotes/" + q["id"], headers=m).status_code == 200
    r = api.patch("/v1/quotes/" + theirs["id"], headers=m,
                  json={"notes": "经理批注"})
    assert r.status_code == 200 and r.json()["notes"] == "经理批注"
    assert api.get("/v1/quotes/" + mine["id"], headers=bearer(tokens["ceo"])
                   ).status_code == 200
    for who in ("marketing", "service"):
        assert api.get("/v1/quotes/" + mine["id"], headers=bearer(tokens[who])
                       ).status_code == 404

    none = make_key(api, tokens, ["products:write"])
    for method, path, body in routes + [("GET", "/v1/quotes", None),
                                        ("POST", "/v1/quotes", {
                                            "opportunity_id": ghost,
                                            "lines": [{}]})]:
        r = api.request(method, path.replace("%s", mine["id"]), headers=none,
                        json=body)
        assert r.status_code == 403, (method, path)
    read = make_key(api, tokens, ["quotes:read"])
    assert api.get("/v1/quotes/" + mine["id"], headers=read).status_code == 200
    assert api.post("/v1/quotes/%s/send" % mine["id"], headers=read
                    ).status_code == 403
    assert counts(stack) == before


def test_concurrent_accepts_write_one_contract(api, stack, tokens):
    q = simple_quote(api, stack, tokens)
    action(api, tokens["rep1"], q["id"], "send")
    before = counts(stack)

    def one(_):
        return action(api, tokens["rep1"], q["id"], "accept")

    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        got = list(ex.map(one, range(6)))
    assert [r.status_code for r in got] == [200] * 6
    assert len({r.json()["contract_id"] for r in got}) == 1
    assert counts(stack) == (before[0], before[1], before[2] + 1)
    assert stack.sql("SELECT count(*) FROM contracts WHERE quote_id = %s",
                     (q["id"],)) == [(1,)]


def foreign_cursors(stack):
    """Cursors that decode but come from other lists: an id that is not a
    UUID (a task list's sort and id, an audit entry's number)."""
    return [stack.sql("SELECT crm_cursor_encode(now(), %s)", (i,))[0][0]
            for i in ("tasks:due_at " + str(uuid.uuid4()), "12345")]


def test_cursor_of_another_list_is_a_400(api, stack, tokens):
    for c in foreign_cursors(stack) + ["bm9wZQ"]:
        r = api.get("/v1/quotes", headers=bearer(tokens["rep1"]),
                    params={"cursor": c})
        assert r.status_code == 400, (c, r.text)

