"""The forecast (R28): every group and category to the cent, against sums
computed here from the data set; quotas and attainment; who sees what;
snapshots, the trend, the forecast as of a day, and slippage.

The data set lives in an organisation of its own (a manager, two reps
below them, an executive and an admin), in the quarter after this one, so
the figures are exact whatever else the suite creates.
"""
import datetime
import uuid
from decimal import ROUND_HALF_UP, Decimal

import pytest

from conftest import DEMO_ORG, Client, bearer, own_org

CENT = Decimal("0.01")


def next_quarter():
    """The quarter after today's in China: (label, [first day of each
    month], first day after it)."""
    today = (datetime.datetime.now(datetime.timezone.utc) +
             datetime.timedelta(hours=8)).date()
    q = (today.month - 1) // 3 + 1
    year, q = (today.year + 1, 1) if q == 4 else (today.year, q + 1)
    months = [datetime.date(year, 3 * q - 2 + i, 1) for i in range(3)]
    end = datetime.date(year + 1, 1, 1) if q == 4 else \
        datetime.date(year, 3 * q + 1, 1)
    return f"{year}-Q{q}", months, end


PERIOD, MONTHS, END = next_quarter()
M = [m.isoformat()[:8] for m in MONTHS]       # "2027-01-" ...
AFTER = END.isoformat()[:8]                    # the month after the quarter
BEFORE = (MONTHS[0] - datetime.timedelta(days=1)).isoformat()  # its eve

# (owner, stage position, amount, expected close, closed at, region)
DEALS = [
    ("rep1", 1, "10000.01", M[0] + "15", None, "西南"),
    ("rep1", 3, "33333.33", M[1] + "28", None, "西南"),
    ("rep1", 4, "1234.56", M[2] + "20", None, "西南"),
    ("rep1", 5, "5000.50", M[1] + "02", M[1] + "10 10:00+08", "西南"),
    ("rep1", 2, "777.77", AFTER + "01", None, "西南"),   # next quarter
    ("rep2", 2, "999.99", M[0] + "01", None, "华北"),
    ("rep2", 6, "700.00", M[2] + "01", M[2] + "01 09:00+08", "华北"),
    ("rep2", 4, "0.05", M[2] + "15", None, "华北"),
    # Won 00:30 on the quarter's first day in China: the eve in UTC, yet
    # it counts in this quarter.
    ("rep2", 5, "2500.00", BEFORE, M[0] + "01 00:30+08", None),
    ("manager", 3, "88888.88", M[0] + "28", None, "华东"),
    ("manager", 5, "100.00", M[2] + "20", M[2] + "20 23:30+08", "华东"),
    # Outside the manager's team: only the executive sees it.
    ("ceo", 4, "4321.00", M[1] + "05", None, "华东"),
]


def stages(stack, org):
    rows = stack.sql(
        "SELECT s.position, s.id::text, s.probability, s.forecast_category,"
        " s.kind, s.name FROM pipeline_stages s JOIN pipelines p ON"
        " p.id = s.pipeline_id WHERE p.org_id = %s AND p.is_default",
        (org,))
    return {r[0]: {"id": r[1], "probability": r[2], "category": r[3],
                   "kind": r[4], "name": r[5]} for r in rows}


@pytest.fixture(scope="module")
def org(stack):
    """An organisation of its own: admin, executive, manager, two reps."""
    return own_org(stack, "forecast", "预测测试有限公司")


@pytest.fixture(scope="module")
def dataset(stack, org):
    """Customers per region through the API, opportunities and quotas."""
    api = Client(stack.https, stack.ca)
    tokens, users = org["tokens"], org["users"]
    st = stages(stack, org["id"])
    customers = {}
    for who, region in {(d[0], d[5]) for d in DEALS}:
        body = {"name": "预测客户" + uuid.uuid4().hex[:6]}
        if region:
            body["region"] = region
        r = api.post("/v1/customers", headers=bearer(tokens[who]), json=body)
        assert r.status_code == 201, r.text
        customers[(who, region)] = r.json()["id"]
    deals = []
    for who, pos, amount, close, closed_at, region in DEALS:
        oid = str(uuid.uuid4())
        stack.sql(
            "INSERT INTO opportunities (id, org_id, owner_id, customer_id,"
            " name, pipeline_id, stage_id, amount, expected_close_date)"
            " SELECT %s, %s, %s, %s, %s, pipeline_id, id, %s, %s"
            " FROM pipeline_stages WHERE id = %s",
            (oid, org["id"], users[who], customers[(who, region)],
             "预测商机" + oid[:6], amount, close, st[pos]["id"]))
        if closed_at:
            stack.sql("UPDATE opportunities SET closed_at = %s WHERE id = %s",
                      (closed_at, oid))
        deals.append({"id": oid, "owner": users[who], "stage": st[pos],
                      "amount": Decimal(amount), "close": close,
                      "closed_at": closed_at, "region": region})
    h = bearer(tokens["manager"])
    quotas = []
    for body in ({"user_id": users["rep1"], "period": PERIOD,
                  "amount": "100000"},
                 {"user_id": users["rep2"], "period": M[0][:7],
                  "amount": "1000.00"},
                 {"user_id": users["rep2"], "period": M[1][:7],
                  "amount": "2000.00"},
                 {"user_id": users["rep2"], "period": M[2][:7],
                  "amount": "3000.00"}):
        r = api.post("/v1/quotas", headers=h, json=body)
        assert r.status_code == 201, r.text
        quotas.append(r.json())
    r = api.post("/v1/quotas", headers=bearer(tokens["admin"]),
                 json={"user_id": users["manager"], "kind": "team",
                       "period": PERIOD, "amount": "200000.00"})
    assert r.status_code == 201, r.text
    quotas.append(r.json())
    return {"stages": st, "deals": deals, "customers": customers,
            "quotas": quotas, "users": users, "tokens": tokens}


def in_q(deal):
    """Where a deal counts in PERIOD: 'open', 'won', 'lost' or None."""
    lo, hi = MONTHS[0].isoformat(), END.isoformat()
    kind = deal["stage"]["kind"]
    if kind == "open":
        return "open" if lo <= deal["close"] < hi else None
    day = deal["closed_at"][:10]  # China time, as written above
    return kind if lo <= day < hi else None


def money(d):
    return str(d.quantize(CENT, ROUND_HALF_UP))


def expected(deals, quota=None):
    """The figures of a group, computed independently."""
    total = lambda ds: sum((d["amount"] for d in ds), Decimal(0))
    open_ = [d for d in deals if in_q(d) == "open"]
    won = [d for d in deals if in_q(d) == "won"]
    lost = [d for d in deals if in_q(d) == "lost"]
    weighted = sum((d["amount"] * d["stage"]["probability"] / 100
                    for d in open_), Decimal(0))
    cat = lambda c: money(total(d for d in open_
                                if d["stage"]["category"] == c))
    out = {"count": len(open_), "amount": money(total(open_)),
           "weighted_amount": money(weighted),
           "by_category": {"pipeline": cat("pipeline"),
                           "best_case": cat("best_case"),
                           "commit": cat("commit"),
                           "closed": money(total(won)),
                           "omitted": money(total(lost))},
           "closed_won": money(total(won)), "won_count": len(won),
           "quota": None if quota is None else money(Decimal(quota)),
           "attainment": None}
    if quota is not None and Decimal(quota) > 0:
        out["attainment"] = str((total(won) / Decimal(quota)).quantize(
            Decimal("0.0001"), ROUND_HALF_UP))
    return out


def figures(group):
    return {k: v for k, v in group.items() if k not in ("key", "label")}


def forecast(api, token, **params):
    params.setdefault("period", PERIOD)
    r = api.get("/v1/forecast", headers=bearer(token), params=params)
    assert r.status_code == 200, r.text
    return r.json()


def of(dataset, *owners):
    ids = {dataset["users"][o] for o in owners}
    return [d for d in dataset["deals"] if d["owner"] in ids]


TEAM = ("rep1", "rep2", "manager")


def test_rep_sees_only_their_own_forecast(api, dataset):
    u, t = dataset["users"], dataset["tokens"]
    f = forecast(api, t["rep1"])
    assert f["period"] == PERIOD and f["period_end"] == END.isoformat()
    assert f["period_start"] == MONTHS[0].isoformat()
    assert [g["key"] for g in f["groups"]] == [u["rep1"]]
    assert f["groups"][0]["label"] == "吴一"
    assert figures(f["groups"][0]) == expected(of(dataset, "rep1"), "100000")
    assert figures(f["total"]) == expected(of(dataset, "rep1"), "100000")
    # The sums, spelt out once, so a slip in expected() cannot hide one:
    # 10000.01 x 10% + 33333.33 x 50% + 1234.56 x 75% = 18592.586.
    assert f["total"]["amount"] == "44567.90"
    assert f["total"]["weighted_amount"] == "18592.59"
    assert f["total"]["closed_won"] == "5000.50"
    assert f["total"]["attainment"] == "0.0500"


def test_manager_sees_a_row_per_member_and_the_team_total(api, dataset):
    u, t = dataset["users"], dataset["tokens"]
    f = forecast(api, t["manager"])
    by_key = {g["key"]: g for g in f["groups"]}
    assert set(by_key) == {u["rep1"], u["rep2"], u["manager"]}
    assert figures(by_key[u["rep1"]]) == expected(of(dataset, "rep1"),
                                                  "100000")
    assert figures(by_key[u["rep2"]]) == expected(of(dataset, "rep2"), "6000")
    assert figures(by_key[u["manager"]]) == expected(of(dataset, "manager"))
    assert figures(f["total"]) == expected(of(dataset, *TEAM), "106000")
    # 999.99 x 25% + 0.05 x 75% = 249.9975 + 0.0375: summed exactly,
    # rounded once.
    assert by_key[u["rep2"]]["weighted_amount"] == "250.04"
    # The deal won 00:30 China time on the first day counts in the period.
    assert by_key[u["rep2"]]["closed_won"] == "2500.00"


def test_rep_manager_and_executive_get_different_correct_totals(api,
                                                                dataset):
    t = dataset["tokens"]
    totals = {who: forecast(api, t[who])["total"] for who in
              ("rep1", "rep2", "manager", "ceo", "admin")}
    assert figures(totals["rep2"]) == expected(of(dataset, "rep2"), "6000")
    assert figures(totals["manager"]) == expected(of(dataset, *TEAM),
                                                  "106000")
    everyone = expected(dataset["deals"], "106000")
    assert figures(totals["ceo"]) == figures(totals["admin"]) == everyone
    assert len({totals[w]["amount"] for w in ("rep1", "manager", "ceo")}) == 3


def test_group_by_team_stage_month_region(api, dataset):
    u, t, st = dataset["users"], dataset["tokens"], dataset["stages"]
    team = of(dataset, *TEAM)
    f = forecast(api, t["manager"], group_by="team")
    assert [g["key"] for g in f["groups"]] == [u["manager"]]
    assert figures(f["groups"][0]) == expected(team, "200000.00")
    assert f["groups"][0]["label"] == "周经理"
    # The executive sees two teams: the manager's and their own.
    ceo = forecast(api, t["ceo"], group_by="team")
    assert {g["key"] for g in ceo["groups"]} == {u["manager"], u["ceo"]}

    position = {st[p]["id"]: p for p in st}
    f = forecast(api, t["manager"], group_by="stage")
    used = sorted({d["stage"]["id"] for d in team if in_q(d)},
                  key=position.get)
    assert [g["key"] for g in f["groups"]] == used
    for g in f["groups"]:
        assert g["label"] == st[position[g["key"]]]["name"]
        assert figures(g) == expected(
            [d for d in team if d["stage"]["id"] == g["key"]])

    def month_of(d):
        return (d["close"] if d["stage"]["kind"] == "open"
                else d["closed_at"])[:7]
    f = forecast(api, t["manager"], group_by="month")
    assert [g["key"] for g in f["groups"]] == [m[:7] for m in M]
    for g in f["groups"]:
        assert figures(g) == expected(
            [d for d in team if month_of(d) == g["key"]])

    region = forecast(api, t["manager"], group_by="region")
    assert [g["key"] for g in region["groups"]] == ["华东", "华北", "西南",
                                                    None]
    for g in region["groups"]:
        assert figures(g) == expected(
            [d for d in team if d["region"] == g["key"]])
    assert region["groups"][-1]["label"] == "未填写"
    assert figures(region["total"]) == figures(f["total"])


def test_a_customer_moving_region_moves_its_deals(api, dataset):
    t = dataset["tokens"]
    cid = dataset["customers"][("manager", "华东")]
    h = bearer(t["manager"])

    def regions():
        f = forecast(api, t["manager"], group_by="region")
        return {g["key"]: g["amount"] for g in f["groups"]}
    before = regions()
    assert api.patch("/v1/customers/" + cid, headers=h,
                     json={"region": "华南"}).status_code == 200
    try:
        after = regions()
        assert "华东" not in after
        assert after["华南"] == before["华东"]
        assert {k: v for k, v in after.items() if k != "华南"} == \
            {k: v for k, v in before.items() if k != "华东"}
    finally:
        api.patch("/v1/customers/" + cid, headers=h, json={"region": "华东"})
    assert regions() == before


def test_rollup_equals_a_rebuild_from_the_opportunities(stack, dataset):
    q = ("SELECT owner_id::text, month::text, stage_id::text, region, n, "
         "amount FROM forecast_rollup WHERE n <> 0 ORDER BY 1, 2, 3, 4")
    before = stack.sql(q)
    for (org,) in stack.sql("SELECT id FROM organizations"):
        stack.sql("SELECT crm_forecast_rebuild(%s)", (org,), user="crm_owner")
    assert stack.sql(q) == before
    assert len(before) > 0


def test_bad_parameters(api, dataset):
    h = bearer(dataset["tokens"]["rep1"])
    for params, field in (({"period": "2031-Q5"}, "period"),
                          ({"period": "Q2-2031"}, "period"),
                          ({"period": "2031-13"}, "period"),
                          ({"group_by": "colour"}, "group_by"),
                          ({"as_of": "2031-02-30"}, "as_of"),
                          ({"as_of": "2999-01-01"}, "as_of"),
                          ({"sort": "x"}, "sort")):
        r = api.get("/v1/forecast", headers=h, params=params)
        assert r.status_code == 422, (params, r.text)
        assert field in {e["field"] for e in r.json()["errors"]}


def test_default_period_is_the_current_quarter(api, stack, dataset):
    today = stack.sql("SELECT crm_quarter(crm_today())")[0][0]
    f = api.get("/v1/forecast", headers=bearer(dataset["tokens"]["rep1"]))
    assert f.status_code == 200 and f.json()["period"] == today


def test_quota_rules(api, stack, dataset):
    u, t = dataset["users"], dataset["tokens"]
    before = stack.sql("SELECT count(*) FROM quotas")[0][0]
    later = AFTER[:7]
    body = {"user_id": u["rep1"], "period": later, "amount": "1.00"}
    # A rep sets no quota, a manager not their own, nobody an overlap.
    assert api.post("/v1/quotas", headers=bearer(t["rep1"]),
                    json=body).status_code == 403
    assert api.post("/v1/quotas", headers=bearer(t["manager"]), json={
        **body, "user_id": u["manager"]}).status_code == 403
    r = api.post("/v1/quotas", headers=bearer(t["manager"]), json={
        **body, "period": M[1][:7]})
    assert r.status_code == 409 and M[1][:7] in r.json()["detail"]
    for bad, field in (({"amount": "1.234"}, "amount"),
                       ({"amount": "-1"}, "amount"),
                       ({"amount": 5}, "amount"),
                       ({"period": "2031-Q9"}, "period"),
                       ({"user_id": str(uuid.uuid4())}, "user_id"),
                       ({"kind": "team"}, "kind")):
        r = api.post("/v1/quotas", headers=bearer(t["admin"]),
                     json={**body, **bad})
        assert r.status_code == 422, (bad, r.text)
        assert field in {e["field"] for e in r.json()["errors"]}
    assert stack.sql("SELECT count(*) FROM quotas")[0][0] == before


def test_quota_attainment_and_visibility(api, dataset):
    t = dataset["tokens"]
    q1 = dataset["quotas"][0]
    assert q1["amount"] == "100000.00" and q1["closed_won"] == "5000.50"
    assert q1["attainment"] == "0.0500"
    team = dataset["quotas"][-1]
    assert team["kind"] == "team"
    # The team's wins in the quarter (the manager's and both reps').
    won = sum((d["amount"] for d in of(dataset, *TEAM) if in_q(d) == "won"),
              Decimal(0))
    assert team["closed_won"] == money(won) == "7600.50"
    assert team["attainment"] == "0.0380"
    h1 = bearer(t["rep1"])
    r = api.get("/v1/quotas/" + q1["id"], headers=h1)
    assert r.status_code == 200 and r.headers["etag"] == '"1"'
    ghost = api.get("/v1/quotas/" + str(uuid.uuid4()), headers=h1)
    hidden = api.get("/v1/quotas/" + dataset["quotas"][1]["id"], headers=h1)
    assert hidden.status_code == ghost.status_code == 404
    assert hidden.json()["detail"] == ghost.json()["detail"]
    listed = api.get("/v1/quotas", headers=h1,
                     params={"period": PERIOD}).json()["data"]
    assert {q["id"] for q in listed} == {q1["id"]}
    mgr = api.get("/v1/quotas", headers=bearer(t["manager"]),
                  params={"period": PERIOD, "kind": "user"}).json()["data"]
    assert {q["id"] for q in mgr} == {q["id"] for q in dataset["quotas"][:4]}


def test_quota_update_and_delete(api, stack, dataset):
    u, t = dataset["users"], dataset["tokens"]
    h = bearer(t["manager"])
    q = api.post("/v1/quotas", headers=h, json={
        "user_id": u["rep2"], "period": str(END.year + 1),
        "amount": "10.00"}).json()
    assert api.patch("/v1/quotas/" + q["id"], headers=bearer(t["rep2"]),
                     json={"amount": "99.00"}).status_code == 403
    stale = api.patch("/v1/quotas/" + q["id"],
                      headers={**h, "If-Match": '"7"'},
                      json={"amount": "11.00"})
    assert stale.status_code == 412
    r = api.patch("/v1/quotas/" + q["id"], headers={**h, "If-Match": '"1"'},
                  json={"amount": "12.5"})
    assert r.status_code == 200 and r.json()["amount"] == "12.50"
    assert r.headers["etag"] == '"2"'
    assert api.delete("/v1/quotas/" + q["id"],
                      headers=bearer(t["rep2"])).status_code == 403
    assert api.delete("/v1/quotas/" + q["id"], headers=h).status_code == 204
    assert api.get("/v1/quotas/" + q["id"], headers=h).status_code == 404
    audit = stack.sql("SELECT action FROM audit_log WHERE entity = 'quotas'"
                      " AND entity_id = %s ORDER BY id", (q["id"],))
    assert [a[0] for a in audit] == ["insert", "update", "delete"]


def test_snapshot_trend_and_as_of(api, stack, dataset):
    t = dataset["tokens"]
    admin = bearer(t["admin"])
    assert api.post("/v1/forecast/snapshots",
                    headers=bearer(t["manager"])).status_code == 403
    first = api.post("/v1/forecast/snapshots", headers=admin)
    assert first.status_code == 200 and first.json()["rows"] > 0
    today = first.json()["snapshot_date"]
    before = forecast(api, t["manager"])

    # The deal changes after the snapshot: live moves, as_of does not.
    d = dataset["deals"][0]
    stack.sql("UPDATE opportunities SET amount = amount + 100 WHERE id = %s",
              (d["id"],))
    try:
        live = forecast(api, t["manager"])
        then = forecast(api, t["manager"], as_of=today)
        assert then["as_of"] == today
        assert figures(then["total"]) == figures(before["total"])
        assert Decimal(live["total"]["amount"]) == \
            Decimal(before["total"]["amount"]) + 100
        # As of a day without a snapshot, nothing was known.
        empty = forecast(api, t["manager"], as_of="2020-01-01")
        assert empty["total"]["amount"] == "0.00"
        assert empty["total"]["count"] == 0

        def trend(who):
            r = api.get("/v1/forecast/trend", headers=bearer(t[who]),
                        params={"period": PERIOD})
            assert r.status_code == 200, r.text
            return r.json()["points"]
        points = trend("manager")
        assert [p["date"] for p in points] == [today]
        assert points[0]["amount"] == before["total"]["amount"]

        # Again the same day: still one point, now with today's figures.
        again = api.post("/v1/forecast/snapshots", headers=admin)
        assert again.status_code == 200
        assert again.json()["snapshot_date"] == today
        points = trend("manager")
        assert [p["date"] for p in points] == [today]
        assert points[0]["amount"] == live["total"]["amount"]
        # A rep's trend sums only their own rows.
        assert trend("rep2")[0]["amount"] == \
            expected(of(dataset, "rep2"))["amount"]
    finally:
        stack.sql("UPDATE opportunities SET amount = amount - 100"
                  " WHERE id = %s", (d["id"],))


def test_snapshot_by_scheduler_key_and_scopes(api, dataset):
    admin = bearer(dataset["tokens"]["admin"])

    def key(scopes):
        r = api.post("/v1/api-keys", headers=admin,
                     json={"name": "调度器", "scopes": scopes})
        assert r.status_code == 201, r.text
        return {"X-API-Key": r.json()["key"]}
    sched = key(["reports:write"])
    assert api.post("/v1/forecast/snapshots", headers=sched
                    ).status_code == 200
    assert api.get("/v1/forecast", headers=sched,
                   params={"period": PERIOD}).status_code == 200
    nope = key(["customers:read"])
    for method, path in (("GET", "/v1/forecast"),
                         ("GET", "/v1/forecast/trend"),
                         ("GET", "/v1/forecast/slippage"),
                         ("GET", "/v1/quotas"),
                         ("POST", "/v1/forecast/snapshots")):
        r = api.request(method, path, headers=nope)
        assert r.status_code == 403, (method, path)
    # Quotas are set by people, never by a key.
    r = api.post("/v1/quotas", headers=sched, json={
        "user_id": dataset["users"]["rep1"], "period": "2030",
        "amount": "1.00"})
    assert r.status_code == 403


def test_slippage(api, stack, dataset):
    t = dataset["tokens"]
    d = [x for x in dataset["deals"] if x["amount"] == Decimal("1234.56")][0]
    moved = AFTER + "15"
    stack.sql("UPDATE opportunities SET expected_close_date = %s"
              " WHERE id = %s", (moved, d["id"]))
    try:
        s = api.get("/v1/forecast/slippage", headers=bearer(t["rep1"]),
                    params={"period": PERIOD}).json()
        assert [x["opportunity_id"] for x in s["data"]] == [d["id"]]
        x = s["data"][0]
        assert (x["from_date"], x["to_date"], x["direction"],
                x["amount"]) == (d["close"], moved, "later", "1234.56")
        assert s["amount"] == "1234.56" and s["count"] == 1
        # Only moves on or after `since` count.
        later = api.get("/v1/forecast/slippage", headers=bearer(t["rep1"]),
                        params={"period": PERIOD, "since": AFTER + "01"})
        assert later.json()["data"] == []
        assert api.get("/v1/forecast/slippage", headers=bearer(t["rep2"]),
                       params={"period": PERIOD}).json()["data"] == []
        # The forecast no longer counts it in the quarter.
        f = forecast(api, t["rep1"])
        assert f["total"]["count"] == \
            expected(of(dataset, "rep1"))["count"] - 1
    finally:
        stack.sql("UPDATE opportunities SET expected_close_date = %s"
                  " WHERE id = %s", (d["close"], d["id"]))
    # Moved back in: no longer slipped.
    s = api.get("/v1/forecast/slippage", headers=bearer(t["rep1"]),
                params={"period": PERIOD}).json()
    assert s["data"] == [] and s["amount"] == "0.00"


def test_other_organisations_see_nothing(api, stack, tokens, dataset):
    """The demo organisation's admin sees exactly the demo organisation's
    deals: none of this organisation's people, and its own sums."""
    f = forecast(api, tokens["admin"])
    ours = set(dataset["users"].values())
    assert not ours & {g["key"] for g in f["groups"]}
    (amount,) = stack.sql(
        "SELECT coalesce(sum(amount), 0) FROM opportunities o"
        " WHERE o.org_id = %s AND o.status = 'open' AND o.deleted_at IS NULL"
        " AND o.expected_close_date >= %s AND o.expected_close_date < %s",
        (DEMO_ORG, MONTHS[0], END))[0]
    assert f["total"]["amount"] == money(Decimal(amount))
    ghost = api.get("/v1/quotas/" + dataset["quotas"][0]["id"],
                    headers=bearer(tokens["admin"]))
    assert ghost.status_code == 404


def test_reports_as_csv(api, dataset):
    import csv
    import io
    t = dataset["tokens"]
    h = {**bearer(t["manager"]), "Accept": "text/csv"}
    r = api.get("/v1/forecast", headers=h, params={"period": PERIOD})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["vary"].lower() == "accept"
    assert 'filename="forecast.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"),
                                           newline="")))
    js = forecast(api, t["manager"])
    # One line per group, then the total; nested categories as columns.
    assert [x["key"] for x in rows] == [g["key"] for g in js["groups"]] + [""]
    assert rows[-1]["label"] == "合计"
    assert rows[-1]["weighted_amount"] == js["total"]["weighted_amount"]
    assert rows[-1]["by_category.commit"] == \
        js["total"]["by_category"]["commit"]
    assert {x["label"] for x in rows} >= {"吴一", "郑二", "周经理"}
    # JSON stays the default, and wins a tie.
    for accept in ("*/*", "application/json", "application/json, text/csv"):
        r = api.get("/v1/forecast", headers={**bearer(t["manager"]),
                    "Accept": accept}, params={"period": PERIOD})
        assert r.headers["content-type"].startswith("application/json")
    r = api.get("/v1/quotas", headers=h, params={"period": PERIOD})
    lines = r.content.decode("utf-8-sig").split("\r\n")
    assert lines[0].startswith("id,user_id,kind,period")
    # The four personal quotas and the manager's team quota.
    assert len([x for x in lines[1:] if x]) == 5
    # Errors stay problem documents whatever Accept says.
    r = api.get("/v1/forecast", headers=h, params={"period": "nope"})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")


def test_funnel_as_csv(api, dataset):
    import csv
    import io
    h = {**bearer(dataset["tokens"]["manager"]), "Accept": "text/csv"}
    r = api.get("/v1/opportunities/funnel", headers=h)
    assert r.status_code == 200
    assert 'filename="funnel.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"),
                                           newline="")))
    st = dataset["stages"]
    assert [x["stage_id"] for x in rows] == [st[p]["id"] for p in sorted(st)]
    js = api.get("/v1/opportunities/funnel", headers=bearer(
        dataset["tokens"]["manager"])).json()
    assert [x["amount"] for x in rows] == [s["amount"] for s in js["stages"]]


def test_a_deal_changed_while_its_customer_moves_region(api, stack, org):
    """A deal's change racing its customer's change of region: whichever
    commits first, the rollup ends as a rebuild would make it (the deal
    in the new region, nothing left in the old one)."""
    from race_helpers import race

    t = org["tokens"]
    h = bearer(t["rep1"])
    c = api.post("/v1/customers", headers=h, json={
        "name": "换区客户" + uuid.uuid4().hex[:6], "region": "换区测试甲"})
    assert c.status_code == 201, c.text
    o = api.post("/v1/opportunities", headers=h, json={
        "name": "换区商机", "amount": "1234.00", "customer_id": c.json()["id"],
        "expected_close_date": M[1] + "15"})
    assert o.status_code == 201, o.text
    r, waited = race(stack, [("UPDATE customers SET region = '换区测试乙' WHERE "
                              "id = %s", (c.json()["id"],))],
                     lambda: api.patch("/v1/opportunities/" + o.json()["id"],
                                       headers=h, json={"amount": "2000.00"}))
    assert r.status_code == 200, r.text
    assert waited
    q = ("SELECT owner_id::text, month::text, stage_id::text, region, n, "
         "amount FROM forecast_rollup WHERE org_id = %s AND n <> 0 "
         "ORDER BY 1, 2, 3, 4")
    live = stack.sql(q, (org["id"],))
    stack.sql("SELECT crm_forecast_rebuild(%s)", (org["id"],),
              user="crm_owner")
    assert stack.sql(q, (org["id"],)) == live
    assert not stack.sql("SELECT 1 FROM forecast_rollup WHERE org_id = %s "
                         "AND region = '换区测试甲' AND n <> 0", (org["id"],))
