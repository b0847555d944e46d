"""Orders (R27): lines copied from the catalogue, totals computed exactly by
the database, payments against the balance, the status machine, and who
sees and changes what."""
import concurrent.futures
import datetime
import re
import uuid
from decimal import ROUND_HALF_UP, Decimal

import psycopg

from conftest import DEMO, DEMO_ORG, bearer

REP1 = DEMO["rep1"][1]
REP2 = DEMO["rep2"][1]
MANAGER = DEMO["manager"][1]
C_REP1 = "00000000-0000-4000-8000-000000001001"    # 四川糖酒, rep 1's
C_REP1_B = "00000000-0000-4000-8000-000000001002"  # 重庆山城, rep 1's
C_REP2 = "00000000-0000-4000-8000-000000001003"    # 北京华夏, rep 2's
MONTHLY = "00000000-0000-4000-8000-000000015001"   # 《中国出版》月刊 38.00
AD = "00000000-0000-4000-8000-000000015004"        # 整版广告 12000.00, 6%
RETIRED = "00000000-0000-4000-8000-000000015005"   # 已停售
CENT = Decimal("0.01")
TABLES = ("orders", "order_lines", "order_payments", "subscriptions")


def product(stack, price, tax_rate, active=True, period=None, issues=None,
            currency="CNY"):
    """A catalogue product made for one test; returns its id."""
    pid = str(uuid.uuid4())
    stack.sql("INSERT INTO products (id, org_id, sku, name, unit, unit_price, "
              "currency, tax_rate, period, issues_per_period, active) "
              "VALUES (%s, %s, %s, %s, '件', %s, %s, %s, %s, %s, %s)",
              (pid, DEMO_ORG, "T-" + pid[:8], "测试商品" + pid[:4], price,
               currency, tax_rate, period, issues, active))
    return pid


def place(api, token, customer=C_REP1, lines=None, **extra):
    body = {"customer_id": customer,
            "lines": lines if lines is not None else [
                {"product_id": AD, "quantity": "1"}]}
    body.update(extra)
    return api.post("/v1/orders", headers=bearer(token), json=body)


def order(api, token, **kw):
    r = place(api, token, **kw)
    assert r.status_code == 201, r.text
    return r.json()


def counts(stack):
    return {t: stack.sql("SELECT count(*) FROM " + t)[0][0] for t in TABLES}


def line_amounts(quantity, price, discount, tax_rate):
    """What the database must compute, by Python's decimal module."""
    net = (Decimal(quantity) * Decimal(price) *
           (1 - Decimal(discount) / 100)).quantize(CENT, ROUND_HALF_UP)
    tax = (net * Decimal(tax_rate) / 100).quantize(CENT, ROUND_HALF_UP)
    return net, tax


def fields(r):
    return {e["field"]: e["code"] for e in r.json()["errors"]}


def test_order_lifecycle(api, stack, tokens):
    h = bearer(tokens["rep1"])
    r = place(api, tokens["rep1"], due_date="2099-01-31",
              external_id="ERP-" + uuid.uuid4().hex[:8], notes="年度广告",
              lines=[{"product_id": AD, "quantity": "2",
                      "discount_percent": "12.5"},
                     {"product_id": AD, "quantity": "0.333",
                      "unit_price": "999.99"}])
    assert r.status_code == 201, r.text
    o = r.json()
    assert r.headers["location"].endswith("/v1/orders/" + o["id"])
    assert r.headers["etag"] == '"1"'
    assert re.fullmatch(r"SO-\d{4}-\d{6}", o["number"])
    assert o["status"] == "pending" and o["owner_id"] == REP1
    assert o["currency"] == "CNY" and o["payment_status"] == "unpaid"
    # 2 x 12000.00 x 0.875 = 21000.00, tax 6% = 1260.00;
    # 0.333 x 999.99 = 332.99667 -> 333.00, tax 19.98.
    first, second = o["lines"]
    assert (first["sku"], first["name"], first["unit"]) == (
        "GG-NY-QB", "期刊内页整版广告", "版")
    assert (first["quantity"], first["unit_price"], first["discount_percent"],
            first["tax_rate"], first["net"], first["tax"], first["total"]) == (
        "2.000", "12000.00", "12.50", "6.00", "21000.00", "1260.00",
        "22260.00")
    assert (second["unit_price"], second["net"], second["tax"]) == (
        "999.99", "333.00", "19.98")
    assert (o["subtotal"], o["tax_total"], o["grand_total"], o["balance"]) == (
        "21333.00", "1279.98", "22612.98", "22612.98")
    got = api.get("/v1/orders/" + o["id"], headers=h)
    assert got.status_code == 200 and got.json() == o
    assert got.headers["etag"] == '"1"'

    p = api.post("/v1/orders/%s/payments" % o["id"], headers=h,
                 json={"amount": "10000", "method": "bank_transfer",
                       "reference": "回单 0042",
                       "paid_at": "2026-11-30T10:00:00+08:00"})
    assert p.status_code == 201, p.text
    assert p.json()["amount"] == "10000.00"
    assert p.json()["recorded_by"] == REP1
    o = api.get("/v1/orders/" + o["id"], headers=h).json()
    assert (o["amount_paid"], o["balance"], o["payment_status"]) == (
        "10000.00", "12612.98", "partial")
    assert api.post("/v1/orders/%s/payments" % o["id"], headers=h,
                    json={"amount": "12612.98"}).status_code == 201
    paid = api.get("/v1/orders/%s/payments" % o["id"], headers=h).json()
    assert [x["amount"] for x in paid["data"]] == ["10000.00", "12612.98"]
    o = api.get("/v1/orders/" + o["id"], headers=h).json()
    assert (o["balance"], o["payment_status"]) == ("0.00", "paid")

    r = api.post("/v1/orders/%s/confirm" % o["id"], headers=h)
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    assert r.json()["confirmed_at"] is not None
    r = api.post("/v1/orders/%s/fulfil" % o["id"], headers=h)
    assert r.status_code == 200 and r.json()["status"] == "fulfilled"
    r = api.post("/v1/orders/%s/cancel" % o["id"], headers=h,
                 json={"reason": "太晚了"})
    assert r.status_code == 409
    assert r.json()["detail"] == ("order cannot go from fulfilled to "
                                  "cancelled; allowed from fulfilled: none "
                                  "(final).")
    audit = stack.sql("SELECT action FROM audit_log WHERE entity = 'orders' "
                      "AND entity_id = %s ORDER BY id", (o["id"],))
    assert [a for (a,) in audit][:1] == ["insert"] and len(audit) >= 4


def test_totals_match_pythons_decimal(api, stack, tokens):
    cases = [("0.01", "13.00", "3", "0"), ("19.99", "13.00", "7.5", "33.33"),
             ("1234.57", "9.00", "0.125", "0"), ("0.05", "6.00", "0.1", "50"),
             ("88.88", "0", "1", "100"), ("3.33", "13.00", "3.333", "1.5"),
             ("9999999.99", "13.00", "12.345", "0.01"),
             ("0.15", "9.00", "0.5", "10")]
    lines, expect = [], []
    for price, rate, qty, disc in cases:
        lines.append({"product_id": product(stack, price, rate),
                      "quantity": qty, "discount_percent": disc})
        expect.append(line_amounts(qty, price, disc, rate))
    o = order(api, tokens["rep1"], lines=lines)
    for got, (net, tax) in zip(o["lines"], expect):
        assert (Decimal(got["net"]), Decimal(got["tax"])) == (net, tax)
        assert got["total"] == str(net + tax)
    subtotal = sum(n for n, _ in expect)
    taxes = sum(t for _, t in expect)
    assert o["subtotal"] == str(subtotal)
    assert o["tax_total"] == str(taxes)
    assert o["grand_total"] == str(subtotal + taxes)
    stored = stack.sql("SELECT grand_total FROM orders WHERE id = %s",
                       (o["id"],))[0][0]
    assert stored == subtotal + taxes


def test_bad_lines_refused_with_nothing_written(api, stack, tokens):
    before = counts(stack)
    cases = [
        ([{"product_id": AD, "quantity": "1", "unit_price": "-1"}],
         {"lines[0].unit_price": "range"}),
        ([{"product_id": AD, "quantity": "1", "unit_price": "1.234"}],
         {"lines[0].unit_price": "scale"}),
        ([{"product_id": AD, "quantity": "1.2345"}],
         {"lines[0].quantity": "scale"}),
        ([{"product_id": AD, "quantity": "-2"}],
         {"lines[0].quantity": "range"}),
        ([{"product_id": AD, "quantity": "0"}],
         {"lines[0].quantity": "range"}),
        ([{"product_id": AD, "quantity": 2}], {"lines[0].quantity": "type"}),
        ([{"product_id": AD, "quantity": "1", "discount_percent": "100.01"}],
         {"lines[0].discount_percent": "range"}),
        ([{"product_id": RETIRED, "quantity": "1"}],
         {"lines[0].product_id": "inactive"}),
        ([{"product_id": str(uuid.uuid4()), "quantity": "1"}],
         {"lines[0].product_id": "not_found"}),
        # Every problem of every line at once, named by its place.
        ([{"product_id": AD, "quantity": "1"},
          {"product_id": AD, "quantity": "1", "unit_price": "12.345",
           "colour": "红"},
          {"quantity": "1"}],
         {"lines[1].unit_price": "scale", "lines[1].colour": "unknown_field",
          "lines[2].product_id": "required"}),
        ([{"product_id": MONTHLY, "quantity": "2"}],
         {"subscription": "required"}),
        ([{"product_id": MONTHLY, "quantity": "2.5"}],
         {"lines[0].quantity": "format", "subscription": "required"}),
    ]
    for lines, want in cases:
        r = place(api, tokens["rep1"], lines=lines)
        assert r.status_code == 422, (lines, r.text)
        assert fields(r) == want, lines
    r = place(api, tokens["rep1"], lines=[])
    assert r.status_code == 422 and fields(r) == {"lines": "type"}
    r = place(api, tokens["rep1"], currency="RMB1",
              lines=[{"product_id": AD, "quantity": "1"}])
    assert r.status_code == 422 and fields(r) == {"currency": "length"}
    r = place(api, tokens["rep1"], currency="usd")
    assert r.status_code == 422 and fields(r) == {
        "currency": "format", "lines[0].product_id": "currency"}
    # A product priced in CNY goes on a USD order only at a given price.
    r = place(api, tokens["rep1"], currency="USD")
    assert r.status_code == 422
    assert fields(r) == {"lines[0].product_id": "currency"}
    r = place(api, tokens["rep1"], order_date="2026-12-01",
              due_date="2026-11-30")
    assert r.status_code == 422 and fields(r) == {"due_date": "range"}
    assert counts(stack) == before
    usd = order(api, tokens["rep1"], currency="USD", lines=[
        {"product_id": AD, "quantity": "1", "unit_price": "1500.00"}])
    assert (usd["currency"], usd["grand_total"]) == ("USD", "1590.00")


def test_one_currency_and_decimal_check(api, stack, tokens):
    """Orders, contracts and products refuse a bad currency with the same
    error, and orders and quotes a bad quantity (one check each)."""
    def error(r, field):
        assert r.status_code == 422, r.text
        return [e for e in r.json()["errors"] if e["field"] == field]

    before = counts(stack)
    want = [{"field": "currency", "code": "format",
             "message": "'currency' must be an ISO 4217 code such as CNY."}]
    assert error(place(api, tokens["rep1"], currency="usd"), "currency") == \
        want
    assert error(api.post("/v1/contracts", headers=bearer(tokens["rep1"]),
                          json={"customer_id": C_REP1, "title": "币种",
                                "currency": "usd"}), "currency") == want
    assert error(api.post("/v1/products", headers=bearer(tokens["admin"]),
                          json={"sku": "CUR-" + uuid.uuid4().hex[:6],
                                "name": "币种测试", "unit_price": "1.00",
                                "currency": "usd"}), "currency") == want
    opp = stack.sql(
        "INSERT INTO opportunities (org_id, owner_id, customer_id, name, "
        "pipeline_id, stage_id) SELECT p.org_id, %s, %s, '小数测试', p.id, "
        "s.id FROM pipelines p JOIN pipeline_stages s ON s.pipeline_id = "
        "p.id WHERE p.org_id = %s AND p.is_default AND s.position = 1 "
        "RETURNING id::text", (REP1, C_REP1, DEMO_ORG))[0][0]
    for qty in ("1.2345", "-1", "1e3", "1234567890"):
        line = [{"product_id": AD, "quantity": qty}]
        o = error(place(api, tokens["rep1"], lines=line),
                  "lines[0].quantity")
        q = error(api.post("/v1/quotes", headers=bearer(tokens["rep1"]),
                           json={"opportunity_id": opp, "lines": line}),
                  "lines[0].quantity")
        assert o == q and len(o) == 1, (qty, o, q)
    assert counts(stack) == before


def test_order_on_someone_elses_customer_does_not_leak(api, stack, tokens):
    before = counts(stack)
    real = place(api, tokens["rep1"], customer=C_REP2)
    ghost = place(api, tokens["rep1"], customer=str(uuid.uuid4()))
    assert real.status_code == ghost.status_code == 422
    assert real.json()["errors"] == ghost.json()["errors"] == [
        {"field": "customer_id", "code": "not_found",
         "message": "customer_id names no customer you can see."}]
    assert real.json()["detail"] == ghost.json()["detail"]
    assert counts(stack) == before


def new_contract(api, token, customer):
    r = api.post("/v1/contracts", headers=bearer(token),
                 json={"customer_id": customer, "title": "期刊订阅合同"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_contract_must_be_the_customers_and_visible(api, stack, tokens):
    """contract_id names a contract of the order's customer that the caller
    can see; rep 2's contract answers exactly as one that does not exist,
    on create and on PATCH, and nothing is written."""
    theirs = new_contract(api, tokens["rep2"], C_REP2)
    other_customer = new_contract(api, tokens["rep1"], C_REP1_B)
    mine = new_contract(api, tokens["rep1"], C_REP1)
    o = order(api, tokens["rep1"])
    before = counts(stack)
    want = [{"field": "contract_id", "code": "not_found",
             "message": "contract_id names no contract of this customer "
                        "that you can see."}]
    answers = []
    for cid in (theirs, str(uuid.uuid4()), other_customer):
        r = place(api, tokens["rep1"], contract_id=cid)
        assert r.status_code == 422, r.text
        assert r.json()["errors"] == want
        answers.append(problem(r))
        r = api.patch("/v1/orders/" + o["id"],
                      headers=bearer(tokens["rep1"]), json={"contract_id": cid})
        assert r.status_code == 422, r.text
        assert r.json()["errors"] == want
        answers.append(problem(r))
    assert len(set(answers)) == 1
    assert counts(stack) == before
    assert api.get("/v1/orders/" + o["id"], headers=bearer(tokens["rep1"])
                   ).json()["contract_id"] is None
    assert order(api, tokens["rep1"], contract_id=mine)["contract_id"] == mine
    r = api.patch("/v1/orders/" + o["id"], headers=bearer(tokens["rep1"]),
                  json={"contract_id": mine})
    assert r.status_code == 200 and r.json()["contract_id"] == mine


def test_duplicate_external_id(api, stack, tokens):
    ext = "K3-" + uuid.uuid4().hex[:8]
    order(api, tokens["rep1"], external_id=ext)
    before = counts(stack)
    r = place(api, tokens["rep1"], external_id=ext, customer=C_REP1_B)
    assert r.status_code == 409
    assert r.json()["detail"] == ("An order with this external_id already "
                                  "exists.")
    assert counts(stack) == before
    other = order(api, tokens["rep1"])
    r = api.patch("/v1/orders/" + other["id"],
                  headers=bearer(tokens["rep1"]), json={"external_id": ext})
    assert r.status_code == 409


def test_illegal_transitions_name_the_allowed(api, tokens):
    h = bearer(tokens["rep1"])
    o = order(api, tokens["rep1"])
    r = api.post("/v1/orders/%s/fulfil" % o["id"], headers=h)
    assert r.status_code == 409
    assert r.json()["detail"] == ("order cannot go from pending to fulfilled; "
                                  "allowed from pending: confirmed, "
                                  "cancelled.")
    assert api.post("/v1/orders/%s/confirm" % o["id"], headers=h
                    ).status_code == 200
    r = api.post("/v1/orders/%s/confirm" % o["id"], headers=h)
    assert r.status_code == 409
    assert r.json()["detail"] == ("The order is already confirmed; allowed "
                                  "from confirmed: fulfilled, cancelled.")
    r = api.post("/v1/orders/%s/cancel" % o["id"], headers=h, json={})
    assert r.status_code == 422 and fields(r) == {"reason": "required"}
    r = api.post("/v1/orders/%s/cancel" % o["id"], headers=h,
                 json={"reason": "客户撤单"})
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["cancel_reason"]) == (
        "cancelled", "客户撤单")
    for action in ("confirm", "fulfil"):
        r = api.post("/v1/orders/%s/%s" % (o["id"], action), headers=h)
        assert r.status_code == 409
        assert r.json()["detail"].endswith(
            "allowed from cancelled: none (final).")
    r = api.post("/v1/orders/%s/payments" % o["id"], headers=h,
                 json={"amount": "1.00"})
    assert r.status_code == 409
    assert api.get("/v1/orders/" + o["id"], headers=h
                   ).json()["status"] == "cancelled"


def test_payments_refused(api, stack, tokens):
    h = bearer(tokens["rep1"])
    o = order(api, tokens["rep1"], lines=[
        {"product_id": AD, "quantity": "1", "unit_price": "100.00"}])
    assert o["grand_total"] == "106.00"
    assert api.post("/v1/orders/%s/payments" % o["id"], headers=h,
                    json={"amount": "6.00"}).status_code == 201
    before = stack.sql("SELECT count(*) FROM order_payments")[0][0]
    for amount, code in (("0", "range"), ("0.00", "range"), ("-1", "range"),
                         ("1.234", "scale"), (5, "type")):
        r = api.post("/v1/orders/%s/payments" % o["id"], headers=h,
                     json={"amount": amount})
        assert r.status_code == 422, amount
        assert fields(r) == {"amount": code}, amount
    r = api.post("/v1/orders/%s/payments" % o["id"], headers=h,
                 json={"amount": "100.01"})
    assert r.status_code == 409
    assert r.json()["detail"] == ("The payment of 100.01 exceeds the balance "
                                  "of 100.00.")
    r = api.post("/v1/orders/%s/payments" % o["id"], headers=h,
                 json={"amount": "1", "method": "bitcoin"})
    assert r.status_code == 422 and fields(r) == {"method": "enum"}
    assert stack.sql("SELECT count(*) FROM order_payments")[0][0] == before
    got = api.get("/v1/orders/" + o["id"], headers=h).json()
    assert (got["amount_paid"], got["balance"]) == ("6.00", "100.00")


def test_concurrent_payments_never_exceed_the_total(api, stack, tokens):
    h = bearer(tokens["rep1"])
    o = order(api, tokens["rep1"], lines=[
        {"product_id": AD, "quantity": "1", "unit_price": "100.00"}])

    def pay(_):
        return api.post("/v1/orders/%s/payments" % o["id"], headers=h,
                        json={"amount": "30.00"}).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = sorted(pool.map(pay, range(8)))
    # 106.00 holds three payments of 30.00, never a fourth.
    assert codes == [201] * 3 + [409] * 5
    got = api.get("/v1/orders/" + o["id"], headers=h).json()
    assert (got["amount_paid"], got["balance"]) == ("90.00", "16.00")


def test_numbers_are_unique_and_gapless_under_concurrency(api, tokens):
    def one(_):
        r = place(api, tokens["manager"], customer=C_REP1_B)
        assert r.status_code == 201, r.text
        return r.json()["number"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        numbers = list(pool.map(one, range(16)))
    seq = sorted(int(n.rsplit("-", 1)[1]) for n in numbers)
    assert seq == list(range(seq[0], seq[0] + 16))
    assert len({n.rsplit("-", 1)[0] for n in numbers}) == 1


def test_one_number_allocator(api, stack, tokens):
    """Orders are numbered by crm_next_number over document_numbers, like
    quotes and contracts, per year of the order date; the old allocator
    and its table are gone."""
    o = order(api, tokens["rep1"], order_date="2024-03-08")
    prefix, seq = o["number"].rsplit("-", 1)
    assert prefix == "SO-2024" and len(seq) == 6
    assert stack.sql("SELECT last FROM document_numbers WHERE org_id = %s "
                     "AND kind = 'order' AND year = 2024",
                     (DEMO_ORG,)) == [(int(seq),)]
    nxt = order(api, tokens["rep1"], order_date="2024-12-31")
    assert nxt["number"] == "SO-2024-%06d" % (int(seq) + 1)
    assert stack.sql("SELECT to_regclass('order_numbers'), "
                     "to_regprocedure('crm_order_number(date)')") == [
        (None, None)]


def test_security_definer_functions_are_not_public(stack):
    """A SECURITY DEFINER function runs as the schema owner, past row-level
    security: unless it is a trigger, PUBLIC may not execute it (each one
    is granted to the roles that need it)."""
    assert stack.sql(
        "SELECT p.oid::regprocedure::text FROM pg_proc p "
        "WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef "
        "AND p.prorettype <> 'trigger'::regtype AND (p.proacl IS NULL OR "
        "EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0 "
        "AND a.privilege_type = 'EXECUTE')) ORDER BY 1") == []


def deletable(stack, short, order_id):
    """How many lines and subscriptions of the order `short` could delete
    with SQL of their own, as crm_app (rolled back)."""
    principal = '{"user": "%s", "org": "%s"}' % (DEMO[short][1], DEMO_ORG)
    with psycopg.connect(stack.dsn("crm_app")) as conn:
        conn.execute("SELECT crm_bind(%s::jsonb)", (principal,))
        lines = conn.execute("DELETE FROM order_lines WHERE order_id = %s",
                             (order_id,)).rowcount
        subs = conn.execute("DELETE FROM subscriptions WHERE order_id = %s",
                            (order_id,)).rowcount
        conn.rollback()
    return lines, subs


def test_only_pending_orders_lose_lines(api, stack, tokens):
    """The delete policies let lines and subscriptions go only with a
    pending order (api_orders_update replaces them); a confirmed or
    fulfilled order keeps them, even against the owner's own SQL."""
    o = order(api, tokens["rep1"], lines=[
        {"product_id": MONTHLY, "quantity": "2"},
        {"product_id": AD, "quantity": "1"}],
        subscription={"start_date": "2027-01-01", "periods": 6})
    assert deletable(stack, "rep1", o["id"]) == (2, 1)
    h = bearer(tokens["rep1"])
    for step in ("confirm", "fulfil"):
        assert api.post("/v1/orders/%s/%s" % (o["id"], step), headers=h
                        ).status_code == 200
        assert deletable(stack, "rep1", o["id"]) == (0, 0)
        assert deletable(stack, "manager", o["id"]) == (0, 0)
    assert len(api.get("/v1/orders/" + o["id"], headers=h).json()["lines"]
               ) == 2


def test_patch_pending_lines_only(api, stack, tokens):
    h = bearer(tokens["rep1"])
    o = order(api, tokens["rep1"])
    r = api.patch("/v1/orders/" + o["id"], headers={**h, "If-Match": '"1"'},
                  json={"lines": [{"product_id": AD, "quantity": "3",
                                   "unit_price": "10.00"},
                                  {"product_id": AD, "quantity": "1",
                                   "discount_percent": "100"}],
                        "notes": "改为三版"})
    assert r.status_code == 200, r.text
    p = r.json()
    assert r.headers["etag"] == '"2"'
    assert [x["net"] for x in p["lines"]] == ["30.00", "0.00"]
    assert (p["subtotal"], p["tax_total"], p["grand_total"]) == (
        "30.00", "1.80", "31.80")
    assert p["notes"] == "改为三版" and p["number"] == o["number"]
    assert stack.sql("SELECT count(*) FROM order_lines WHERE order_id = %s",
                     (o["id"],))[0][0] == 2
    assert api.patch("/v1/orders/" + o["id"],
                     headers={**h, "If-Match": '"1"'},
                     json={"notes": "x"}).status_code == 412
    r = api.patch("/v1/orders/" + o["id"], headers=h,
                  json={"lines": [{"product_id": AD, "quantity": "x"}]})
    assert r.status_code == 422 and fields(r) == {"lines[0].quantity":
                                                  "format"}
    assert api.post("/v1/orders/%s/confirm" % o["id"], headers=h
                    ).status_code == 200
    before = counts(stack)
    for body in ({"lines": [{"product_id": AD, "quantity": "1"}]},
                 {"currency": "USD"}):
        r = api.patch("/v1/orders/" + o["id"], headers=h, json=body)
        assert r.status_code == 409
        assert r.json()["detail"] == (
            "The order is confirmed: its lines, currency and subscription "
            "change only while it is pending.")
    assert counts(stack) == before
    r = api.patch("/v1/orders/" + o["id"], headers=h,
                  json={"due_date": "2099-12-31", "notes": None})
    assert r.status_code == 200
    assert (r.json()["due_date"], r.json()["notes"]) == ("2099-12-31", None)
    assert r.json()["grand_total"] == "31.80"


def test_overdue_and_filters(api, tokens):
    h = bearer(tokens["rep1"])
    late = order(api, tokens["rep1"], customer=C_REP1_B,
                 order_date="2026-01-05", due_date="2026-02-05")
    fresh = order(api, tokens["rep1"], customer=C_REP1_B,
                  order_date="2026-03-01", due_date="2099-01-01")
    assert late["overdue"] is True and fresh["overdue"] is False

    def ids(qs):
        r = api.get("/v1/orders?limit=500&" + qs, headers=h)
        assert r.status_code == 200, r.text
        return {x["id"] for x in r.json()["data"]}

    assert late["id"] in ids("overdue=true")
    assert fresh["id"] not in ids("overdue=true")
    assert fresh["id"] in ids("overdue=false")
    assert {late["id"], fresh["id"]} <= ids("customer_id=" + C_REP1_B)
    assert late["id"] not in ids("customer_id=" + C_REP1)
    between = ids("ordered_after=2026-01-05&ordered_before=2026-03-01")
    assert late["id"] in between and fresh["id"] not in between
    assert late["id"] in ids("payment_status=unpaid&status=pending")
    assert late["id"] not in ids("payment_status=paid")
    assert late["id"] in ids("owner_id=" + REP1)
    assert late["id"] not in ids("owner_id=" + REP2)
    api.post("/v1/orders/%s/payments" % late["id"], headers=h,
             json={"amount": late["grand_total"]})
    assert late["id"] not in ids("overdue=true")
    assert late["id"] in ids("payment_status=paid")
    r = api.get("/v1/orders?status=done&overdue=maybe&colour=red", headers=h)
    assert r.status_code == 422
    assert set(fields(r)) == {"status", "overdue", "colour"}
    assert api.get("/v1/orders?cursor=bm90LWEtY3Vyc29y", headers=h
                   ).status_code == 400


def test_list_pages_with_cursor(api, tokens):
    h = bearer(tokens["rep2"])
    made = [order(api, tokens["rep2"], customer=C_REP2)["id"]
            for _ in range(5)]
    seen, cursor = [], None
    while True:
        qs = "limit=2" + ("&cursor=" + cursor if cursor else "")
        page = api.get("/v1/orders?" + qs, headers=h).json()
        seen += [x["id"] for x in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert seen[:5] == made[::-1]


def test_owner_rules(api, tokens):
    # The manager's order on rep 1's customer is rep 1's.
    o = order(api, tokens["manager"], customer=C_REP1)
    assert o["owner_id"] == REP1
    mine = order(api, tokens["manager"], customer=C_REP1, owner_id=MANAGER)
    assert mine["owner_id"] == MANAGER
    r = place(api, tokens["rep1"], owner_id=REP2)
    assert r.status_code == 403
    r = place(api, tokens["rep1"], owner_id=str(uuid.uuid4()))
    assert r.status_code == 422 and fields(r) == {"owner_id": "not_found"}
    # Handing an order to the manager moves it out of rep 1's reach.
    r = api.patch("/v1/orders/" + o["id"], headers=bearer(tokens["manager"]),
                  json={"owner_id": MANAGER})
    assert r.status_code == 200 and r.json()["owner_id"] == MANAGER
    assert api.get("/v1/orders/" + o["id"], headers=bearer(tokens["rep1"])
                   ).status_code == 404


def problem(r):
    d = r.json()
    return r.status_code, d["type"], d["title"], d["detail"]


ORDER_ROUTES = (
    ("GET", "/v1/orders/%s", None),
    ("PATCH", "/v1/orders/%s", {"notes": "越权"}),
    ("POST", "/v1/orders/%s/confirm", None),
    ("POST", "/v1/orders/%s/fulfil", None),
    ("POST", "/v1/orders/%s/cancel", {"reason": "越权"}),
    ("GET", "/v1/orders/%s/payments", None),
    ("POST", "/v1/orders/%s/payments", {"amount": "1.00"}),
)


def test_access_matrix(api, stack, tokens, org2):
    """rep 2 and org 2 reaching rep 1's order answer exactly as for an order
    that does not exist; the manager works on it; service reads it and
    changes nothing."""
    o = order(api, tokens["rep1"])
    ghost = str(uuid.uuid4())
    before = counts(stack)
    for token in (tokens["rep2"], org2["admin"], org2["rep"]):
        h = bearer(token)
        for method, path, body in ORDER_ROUTES:
            real = api.request(method, path % o["id"], headers=h, json=body)
            fake = api.request(method, path % ghost, headers=h, json=body)
            assert real.status_code == 404, (method, path)
            assert problem(real) == problem(fake), (method, path)
        listed = api.get("/v1/orders?limit=500", headers=h).json()["data"]
        assert o["id"] not in {x["id"] for x in listed}
        assert api.get("/v1/orders?customer_id=" + C_REP1, headers=h
                       ).json()["data"] == []
    assert counts(stack) == before
    assert api.get("/v1/orders?limit=500", headers=bearer(org2["admin"])
                   ).json()["data"] == []

    s = bearer(tokens["service"])
    assert api.get("/v1/orders/" + o["id"], headers=s).json() == \
        api.get("/v1/orders/" + o["id"], headers=bearer(tokens["rep1"])).json()
    assert o["id"] in {x["id"] for x in api.get(
        "/v1/orders?limit=500", headers=s).json()["data"]}
    assert api.get("/v1/orders/%s/payments" % o["id"], headers=s
                   ).status_code == 200
    for method, path, body in ORDER_ROUTES:
        if method != "GET":
            r = api.request(method, path % o["id"], headers=s, json=body)
            assert r.status_code == 403, (method, path)
    assert place(api, tokens["service"]).status_code == 403
    assert counts(stack) == before

    m = bearer(tokens["manager"])
    assert o["id"] in {x["id"] for x in api.get(
        "/v1/orders?limit=500", headers=m).json()["data"]}
    r2 = order(api, tokens["rep2"], customer=C_REP2)
    assert api.get("/v1/orders/" + r2["id"], headers=m).status_code == 200
    assert api.post("/v1/orders/%s/confirm" % o["id"], headers=m
                    ).status_code == 200
    assert api.get("/v1/orders/" + o["id"], headers=bearer(tokens["ceo"])
                   ).json()["status"] == "confirmed"


def make_key(api, tokens, scopes):
    r = api.post("/v1/api-keys", headers=bearer(tokens["admin"]),
                 json={"name": "用友 ERP 对接", "scopes": scopes})
    assert r.status_code == 201, r.text
    return {"X-API-Key": r.json()["key"]}


def test_api_key_scopes(api, stack, tokens):
    o = order(api, tokens["rep1"])
    ghost = str(uuid.uuid4())
    none = make_key(api, tokens, ["customers:read"])
    before = counts(stack)
    routes = [(m, p % target, b) for m, p, b in ORDER_ROUTES
              for target in (o["id"], ghost)]
    routes += [("GET", "/v1/orders", None),
               ("POST", "/v1/orders", {"customer_id": C_REP1, "lines": [
                   {"product_id": AD, "quantity": "1"}]})]
    for method, path, body in routes:
        r = api.request(method, path, headers=none, json=body)
        assert r.status_code == 403, (method, path)
        assert "orders:" in r.json()["detail"]
    read = make_key(api, tokens, ["orders:read"])
    assert api.get("/v1/orders/" + o["id"], headers=read).status_code == 200
    assert api.post("/v1/orders/%s/confirm" % o["id"], headers=read
                    ).status_code == 403
    assert counts(stack) == before
    # Finance posts payments and places orders with a write key.
    write = make_key(api, tokens, ["orders:write"])
    r = api.post("/v1/orders", headers=write, json={
        "customer_id": C_REP1, "external_id": "U8-" + uuid.uuid4().hex[:6],
        "lines": [{"product_id": AD, "quantity": "1"}]})
    assert r.status_code == 201 and r.json()["owner_id"] == REP1
    assert api.post("/v1/orders/%s/payments" % o["id"], headers=write,
                    json={"amount": "100.00"}).status_code == 201


def shanghai_today():
    return (datetime.datetime.now(datetime.timezone.utc) +
            datetime.timedelta(hours=8)).date()


def test_dates_default_to_today(api, stack, tokens):
    """Today is the organisation's (China's) day, whatever the server's
    clock zone: the database's sessions run in Asia/Shanghai."""
    before = shanghai_today()
    o = order(api, tokens["rep1"])
    today = shanghai_today()
    assert o["order_date"] in (before.isoformat(), today.isoformat())
    assert o["number"].startswith("SO-%s-" % o["order_date"][:4])
    for user in ("crm_app", "crm_owner"):
        assert stack.sql("SELECT current_setting('TimeZone'), "
                         "current_date = crm_today()", user=user) == [
            ("Asia/Shanghai", True)]
    dated = order(api, tokens["rep1"], order_date="2025-06-30")
    assert dated["number"].startswith("SO-2025-")
    assert dated["order_date"] == "2025-06-30"


def test_a_new_currency_needs_new_lines(api, stack, tokens):
    """A pending order's lines are priced in its currency: PATCH with only
    another currency would relabel 12000.00 CNY as 12000.00 USD; it is a
    422 and nothing changes. With lines priced in the new currency it
    goes through."""
    h = bearer(tokens["rep1"])
    o = order(api, tokens["rep1"])
    before = stack.sql("SELECT currency, subtotal, version FROM orders "
                       "WHERE id = %s", (o["id"],))
    r = api.patch(f"/v1/orders/{o['id']}", headers=h,
                  json={"currency": "USD"})
    assert r.status_code == 422, r.text
    assert fields(r) == {"currency": "lines_required"}
    assert stack.sql("SELECT currency, subtotal, version FROM orders "
                     "WHERE id = %s", (o["id"],)) == before
    usd = product(stack, "100.00", 0, currency="USD")
    r = api.patch(f"/v1/orders/{o['id']}", headers=h, json={
        "currency": "USD", "lines": [{"product_id": usd, "quantity": "2"}]})
    assert r.status_code == 200, r.text
    assert (r.json()["currency"], r.json()["subtotal"]) == ("USD", "200.00")
    # The same currency again, without lines, is no change of currency.
    r = api.patch(f"/v1/orders/{o['id']}", headers=h,
                  json={"currency": "USD", "notes": "同币种"})
    assert r.status_code == 200, r.text
