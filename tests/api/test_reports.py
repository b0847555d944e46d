"""Analytics (R29, R50-R53) on an organisation of its own: RFM and
segments, value change, problem customers, churn, sales performance and
the dashboard, each checked to the cent against figures computed here from
the data set, for a rep, their manager and everyone; and as CSV.

Orders sit on fixed days of 2024-2025 and the reports look back from
2025-06-30, so the figures do not depend on today.
"""
import csv
import datetime
import io
import uuid
from decimal import ROUND_HALF_UP, Decimal

import pytest

from conftest import Client, bearer, own_org

AS_OF = "2025-06-30"
# customer -> (owner, key customer?, [(order date, amount, due date)])
ORDERS = {
    "A": ("rep1", True, [("2025-01-15", "1000.00", None),
                         ("2025-02-20", "250.25", None),
                         ("2025-03-10", "2000.00", None),
                         ("2025-05-20", "1500.50", None),
                         ("2025-06-25", "999.99", None)]),
    "B": ("rep1", False, [("2024-09-01", "800.00", None),
                          ("2024-11-11", "111.11", None),
                          ("2025-01-05", "700.00", None)]),
    "C": ("rep2", False, [("2025-02-01", "300.00", None),
                          ("2025-03-03", "10.00", None),
                          ("2025-04-12", "450.00", None),
                          ("2025-06-01", "5000.00", None)]),
    "D": ("rep2", False, [("2025-06-28", "120.00", "2025-07-28")]),
    "E": ("rep2", False, [("2024-08-01", "30.00", None),
                          ("2024-10-10", "50.00", None)]),
}


@pytest.fixture(scope="module")
def org(stack):
    return own_org(stack, "reports", "报表测试有限公司")


@pytest.fixture(scope="module")
def data(stack, org):
    api = Client(stack.https, stack.ca)
    t = org["tokens"]
    r = api.post("/v1/products", headers=bearer(t["admin"]), json={
        "sku": "RPT-1", "name": "报表测试产品", "unit_price": "1.00",
        "tax_rate": "0"})
    assert r.status_code == 201, r.text
    product = r.json()["id"]
    customers, orders = {}, {}
    for name, (owner, key, rows) in ORDERS.items():
        r = api.post("/v1/customers", headers=bearer(t[owner]), json={
            "name": "报表客户" + name, "is_key_customer": key})
        assert r.status_code == 201, r.text
        customers[name] = r.json()["id"]
        for day, amount, due in rows:
            body = {"customer_id": customers[name], "order_date": day,
                    "lines": [{"product_id": product, "quantity": "1",
                               "unit_price": amount}]}
            if due:
                body["due_date"] = due
            r = api.post("/v1/orders", headers=bearer(t[owner]), json=body)
            assert r.status_code == 201, r.text
            oid = r.json()["id"]
            assert r.json()["grand_total"] == amount
            r = api.post(f"/v1/orders/{oid}/confirm",
                         headers=bearer(t[owner]))
            assert r.status_code == 200, r.text
            orders.setdefault(name, []).append(oid)
    # A cancelled order counts for nothing.
    r = api.post("/v1/orders", headers=bearer(t["rep1"]), json={
        "customer_id": customers["A"], "order_date": "2025-06-29",
        "lines": [{"product_id": product, "quantity": "1",
                   "unit_price": "99999.00"}]})
    api.post(f"/v1/orders/{r.json()['id']}/cancel",
             headers=bearer(t["rep1"]), json={"reason": "客户取消"})
    return {"customers": customers, "orders": orders, "product": product,
            "tokens": t, "users": org["users"]}


def get(api, token, path, **params):
    r = api.get(path, headers=bearer(token), params=params)
    assert r.status_code == 200, r.text
    return r.json()


def ntile(values, buckets=5):
    """PostgreSQL's ntile over distinct sort keys: name -> bucket."""
    names = sorted(values, key=values.get)
    n = len(names)
    out, i = {}, 0
    for b in range(1, buckets + 1):
        size = n // buckets + (1 if b <= n % buckets else 0)
        for name in names[i:i + size]:
            out[name] = b
        i += size
    return out


def rfm(names, as_of=AS_OF, window=365):
    day = datetime.date.fromisoformat(as_of)
    lo = day - datetime.timedelta(days=window)
    base = {}
    for name in names:
        rows = [(datetime.date.fromisoformat(d), Decimal(a))
                for d, a, _ in ORDERS[name][2]]
        rows = [(d, a) for d, a in rows if lo < d <= day]
        if rows:
            base[name] = (max(d for d, _ in rows), len(rows),
                          sum(a for _, a in rows))
    r = ntile({n: v[0] for n, v in base.items()})
    f = ntile({n: v[1] for n, v in base.items()})
    m = ntile({n: v[2] for n, v in base.items()})
    out = {}
    for n, (last, freq, money) in base.items():
        seg = ("champion" if r[n] >= 4 and f[n] >= 4 and m[n] >= 4 else
               "loyal" if r[n] >= 3 and f[n] >= 3 else
               "new" if r[n] >= 4 and f[n] <= 2 else
               "at_risk" if r[n] <= 2 and (f[n] >= 3 or m[n] >= 3) else
               "hibernating" if r[n] <= 2 else "regular")
        out[n] = {"recency_days": (day - last).days, "frequency": freq,
                  "monetary": str(money), "r": r[n], "f": f[n], "m": m[n],
                  "segment": seg,
                  "is_key_customer": ORDERS[n][1] or m[n] == 5}
    return out


def by_name(data, rows):
    names = {v: k for k, v in data["customers"].items()}
    return {names[x["customer_id"]]: x for x in rows}


def test_customer_value_rfm_for_everyone_and_for_a_rep(api, data):
    t = data["tokens"]
    everyone = get(api, t["manager"], "/v1/reports/customer-value",
                   as_of=AS_OF)
    want = rfm("ABCDE")
    got = by_name(data, everyone["data"])
    assert set(got) == set(want) == set("ABCDE")
    for n in want:
        assert {k: got[n][k] for k in want[n]} == want[n], n
        assert got[n]["rfm"] == "%d%d%d" % (want[n]["r"], want[n]["f"],
                                           want[n]["m"])
    # Every segment once, each customer a different one here.
    assert {n: got[n]["segment"] for n in got} == {
        "A": "champion", "B": "at_risk", "C": "loyal", "D": "new",
        "E": "hibernating"}
    assert everyone["segments"] == {s: 1 for s in (
        "at_risk", "champion", "hibernating", "loyal", "new")}
    assert everyone["revenue"] == str(sum(Decimal(want[n]["monetary"])
                                          for n in want))
    # Most valuable first; the cancelled order counts for nothing.
    assert [x["monetary"] for x in everyone["data"]] == sorted(
        [w["monetary"] for w in want.values()], key=Decimal, reverse=True)

    rep = get(api, t["rep1"], "/v1/reports/customer-value", as_of=AS_OF)
    assert set(by_name(data, rep["data"])) == {"A", "B"}
    mine = rfm("AB")
    for n, x in by_name(data, rep["data"]).items():
        assert (x["r"], x["f"], x["m"]) == (mine[n]["r"], mine[n]["f"],
                                            mine[n]["m"])
    short = get(api, t["manager"], "/v1/reports/customer-value",
                as_of=AS_OF, window_days=30, limit=1)
    assert short["customers"] == 3 and len(short["data"]) == 1


def test_value_change_between_quarters(api, data):
    t = data["tokens"]
    r = get(api, t["manager"], "/v1/reports/customer-value-change",
            period="2025-Q2")
    assert (r["compare_start"], r["compare_end"]) == ("2025-01-01",
                                                      "2025-04-01")
    rows = by_name(data, r["data"])
    assert list(rows) == ["C", "D", "A", "B"]

    def q(name, lo, hi):
        return sum((Decimal(a) for d, a, _ in ORDERS[name][2]
                    if lo <= d < hi), Decimal("0.00"))
    for n, x in rows.items():
        now, before = q(n, "2025-04-01", "2025-07-01"), \
            q(n, "2025-01-01", "2025-04-01")
        assert (x["revenue"], x["previous_revenue"], x["change"]) == (
            str(now), str(before), str(now - before)), n
        assert x["direction"] == ("up" if now > before else "down")
        pct = None if before == 0 else str(
            (100 * (now - before) / before).quantize(Decimal("0.01"),
                                                     ROUND_HALF_UP))
        assert x["change_percent"] == pct, n
    assert rows["C"]["change"] == "5140.00" and rows["A"]["change"] == \
        "-749.76"
    explicit = get(api, t["manager"], "/v1/reports/customer-value-change",
                   period="2025-06", compare_to="2025-01", limit=1)
    assert [x["direction"] for x in explicit["data"]] == ["up", "down"]


def test_problem_customers_are_those_with_overdue_payments(api, data):
    t = data["tokens"]
    r = get(api, t["manager"], "/v1/reports/problem-customers")
    assert list(by_name(data, r["data"])) == ["D"]
    d = r["data"][0]
    assert (d["overdue_amount"], d["overdue_since"], d["overdue_orders"],
            d["reasons"]) == ("120.00", "2025-07-28", 1, ["overdue_payment"])
    assert d["days_overdue"] == (datetime.date.fromisoformat(r["as_of"]) -
                                 datetime.date(2025, 7, 28)).days
    assert get(api, t["rep1"], "/v1/reports/problem-customers")["data"] == []
    # Paid in part: still overdue for the rest; paid in full: gone.
    oid = data["orders"]["D"][0]
    h = bearer(t["rep2"])
    assert api.post(f"/v1/orders/{oid}/payments", headers=h,
                    json={"amount": "100.00"}).status_code == 201
    r = get(api, t["manager"], "/v1/reports/problem-customers")
    assert r["overdue_amount"] == "20.00"
    assert api.post(f"/v1/orders/{oid}/payments", headers=h,
                    json={"amount": "20.00"}).status_code == 201
    r = get(api, t["manager"], "/v1/reports/problem-customers")
    assert r["data"] == [] and r["customers"] == 0


def test_churn_and_customers_at_risk(api, data):
    t = data["tokens"]
    r = get(api, t["manager"], "/v1/reports/churn", as_of=AS_OF,
            window_days=180)
    # Before: (2024-07-05, 2025-01-01]: B and E; now: B only.
    assert (r["active_before"], r["retained"], r["churned"],
            r["churn_rate"]) == (2, 1, 1, "0.5000")
    assert list(by_name(data, r["data"])) == ["E"]
    e = r["data"][0]
    assert (e["last_order_date"], e["lifetime_revenue"],
            e["days_since_order"]) == ("2024-10-10", "80.00", 263)
    # An activity within the window takes E off the at-risk list.
    r2 = api.post("/v1/activities", headers=bearer(t["rep2"]), json={
        "type": "call", "subject": "回访老客户",
        "customer_id": data["customers"]["E"],
        "occurred_at": "2025-06-01T10:00:00+08:00"})
    assert r2.status_code == 201, r2.text
    r = get(api, t["manager"], "/v1/reports/churn", as_of=AS_OF,
            window_days=180)
    assert r["data"] == [] and r["at_risk"] == 0 and r["churned"] == 1
    assert get(api, t["rep1"], "/v1/reports/churn", as_of=AS_OF,
               window_days=180)["active_before"] == 1


def test_sales_performance(api, data):
    t, u = data["tokens"], data["users"]
    deals = {}
    for who, name, amount, outcome in (("rep1", "赢单", "1000.00", "win"),
                                       ("rep1", "丢单", "2000.00", "lose"),
                                       ("rep1", "在谈", "500.00", None),
                                       ("rep2", "大单", "3000.00", "win")):
        body = {"name": name, "amount": amount, "customer_id":
                data["customers"]["A" if who == "rep1" else "C"]}
        if outcome:
            body["expected_close_date"] = "2099-01-01"
        # The open deal has no close date yet: the pipeline counts it.
        r = api.post("/v1/opportunities", headers=bearer(t[who]), json=body)
        assert r.status_code == 201, r.text
        oid = r.json()["id"]
        if outcome == "win":
            assert api.post(f"/v1/opportunities/{oid}/win",
                            headers=bearer(t[who]), json={}
                            ).status_code == 200
        elif outcome == "lose":
            assert api.post(f"/v1/opportunities/{oid}/lose",
                            headers=bearer(t[who]),
                            json={"reason": "价格太高"}).status_code == 200
        deals[name] = oid
    r = get(api, t["manager"], "/v1/reports/sales-performance")
    g = {x["key"]: x for x in r["groups"]}
    assert set(g) == {u["rep1"], u["rep2"]}
    assert {k: g[u["rep1"]][k] for k in (
        "created_count", "created_amount", "won_count", "won_amount",
        "lost_count", "lost_amount", "win_rate", "win_rate_by_amount",
        "average_deal_size", "average_cycle_days")} == {
        "created_count": 3, "created_amount": "3500.00", "won_count": 1,
        "won_amount": "1000.00", "lost_count": 1, "lost_amount": "2000.00",
        "win_rate": "0.5000", "win_rate_by_amount": "0.3333",
        "average_deal_size": "1000.00", "average_cycle_days": 0.0}
    assert g[u["rep2"]]["win_rate"] == "1.0000"
    total = r["total"]
    assert (total["created_count"], total["won_amount"], total["win_rate"],
            total["average_deal_size"]) == (4, "4000.00", "0.6667",
                                            "2000.00")
    # Every deal reached the first stage; the two wins went all the way.
    stages = r["stages"]
    assert [s["reached"] for s in stages] == [4, 2, 2, 2, 2]
    assert stages[0]["conversion_rate"] == "0.5000"
    assert stages[-1]["advanced"] is None
    rep = get(api, t["rep2"], "/v1/reports/sales-performance")
    assert [x["key"] for x in rep["groups"]] == [u["rep2"]]
    team = get(api, t["manager"], "/v1/reports/sales-performance",
               group_by="team")
    assert [x["key"] for x in team["groups"]] == [u["manager"]]
    assert team["groups"][0]["won_amount"] == "4000.00"

    # The dashboard of the same organisation.
    d = get(api, t["manager"], "/v1/dashboard", months=24)
    months = {m["month"]: m for m in d["trend"]}
    assert len(d["trend"]) == 24
    june = sum(Decimal(a) for rows in ORDERS.values()
               for day, a, _ in rows[2] if day.startswith("2025-06"))
    assert months["2025-06"]["revenue"] == str(june) == "6119.99"
    assert months["2025-06"]["orders"] == 3
    now = d["as_of"][:7]
    assert months[now]["won_amount"] == "4000.00"
    assert months[now]["won_deals"] == 2
    assert months[now]["new_customers"] == 5
    assert d["pipeline"] == {"open_deals": 1, "amount": "500.00",
                             "weighted_amount": "50.00"}
    assert d["quarter"]["win_rate"] == "0.6667"
    f = get(api, t["manager"], "/v1/forecast")
    assert d["quarter"]["forecast"] == f["total"]


def test_reports_as_csv_and_who_may_read_them(api, data, tokens):
    t = data["tokens"]
    h = {**bearer(t["manager"]), "Accept": "text/csv"}
    for path, params, first in (
            ("/v1/reports/customer-value", {"as_of": AS_OF}, "customer_id"),
            ("/v1/reports/customer-value-change", {"period": "2025-Q2"},
             "customer_id"),
            ("/v1/reports/churn", {"as_of": "2025-12-31", "window_days": 90},
             "customer_id"),
            ("/v1/reports/problem-customers", {}, None),
            ("/v1/reports/sales-performance", {}, "key"),
            ("/v1/dashboard", {}, "month")):
        r = api.get(path, headers=h, params=params)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/csv"), path
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"),
                                           newline="")))
        if first:
            assert rows[0][0] == first, (path, rows[0])
    r = api.get("/v1/reports/customer-value", headers=h,
                params={"as_of": AS_OF})
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"),
                                           newline="")))
    assert len(rows) == 5 and rows[0]["monetary"] == "5760.00"
    # Another organisation's admin sees none of it.
    other = get(api, tokens["admin"], "/v1/reports/customer-value",
                as_of=AS_OF)
    assert not set(data["customers"].values()) & {
        x["customer_id"] for x in other["data"]}
    # A key without reports:read gets nothing.
    k = api.post("/v1/api-keys", headers=bearer(t["admin"]), json={
        "name": "客户同步", "scopes": ["customers:read"]}).json()["key"]
    for path in ("/v1/reports/customer-value", "/v1/dashboard",
                 "/v1/reports/sales-performance"):
        assert api.get(path, headers={"X-API-Key": k}).status_code == 403
    bad = api.get("/v1/reports/churn", headers=bearer(t["manager"]),
                  params={"window_days": "0"})
    assert bad.status_code == 422
    bad = api.get("/v1/reports/customer-value-change",
                  headers=bearer(t["manager"]),
                  params={"compare_to": "last year"})
    assert bad.status_code == 422
    assert "compare_to" in {e["field"] for e in bad.json()["errors"]}


def test_sales_performance_by_month_counts_each_event_in_its_month(
        api, stack, data):
    """A deal created in January and won in February: created in January,
    won in February (not both in February)."""
    t = data["tokens"]
    r = api.post("/v1/opportunities", headers=bearer(t["rep1"]), json={
        "name": "跨月赢单", "amount": "700.00",
        "customer_id": data["customers"]["A"],
        "expected_close_date": "2099-01-01"})
    assert r.status_code == 201, r.text
    oid = r.json()["id"]
    assert api.post(f"/v1/opportunities/{oid}/win", headers=bearer(
        t["rep1"]), json={}).status_code == 200
    stack.sql("UPDATE opportunities SET created_at = '2024-01-15 10:00+08', "
              "closed_at = '2024-02-10 10:00+08' WHERE id = %s", (oid,))
    r = get(api, t["manager"], "/v1/reports/sales-performance",
            period="2024", group_by="month")
    g = {x["key"]: x for x in r["groups"]}
    assert (g["2024-01"]["created_count"], g["2024-01"]["won_count"]) == (1, 0)
    assert (g["2024-02"]["created_count"], g["2024-02"]["won_count"],
            g["2024-02"]["won_amount"]) == (0, 1, "700.00")
    assert (r["total"]["created_count"], r["total"]["won_count"]) == (1, 1)
