"""Periodical subscriptions and their deliveries (R27; 002: 期刊征订,
发刊管理): started by an order's lines, renewed once with a new order,
issues delivered within the period, and the renewal campaign list."""
import datetime
import uuid

from conftest import DEMO, bearer
from race_helpers import race
from test_orders import (AD, C_REP1, C_REP1_B, C_REP2, MONTHLY, counts,
                         fields, make_key, order, place, problem, product)

REP1 = DEMO["rep1"][1]
WEEKLY = "00000000-0000-4000-8000-000000015002"    # 《商业周刊》 15.50
YEARLY = "00000000-0000-4000-8000-000000015003"    # 《行业年鉴》 2 issues
DELIVERY_TABLES = ("deliveries",)


def today(stack):
    return stack.sql("SELECT current_date")[0][0]


def contact(api, token, customer, name="王编辑"):
    r = api.post("/v1/customers/%s/contacts" % customer, headers=bearer(token),
                 json={"name": name, "phones": ["13912345678"]})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def subscribe(api, token, start, periods, product_id=MONTHLY, copies="2",
              customer=C_REP1, **terms):
    """An order of one subscription line; returns (order, subscription)."""
    o = order(api, token, customer=customer, lines=[
        {"product_id": product_id, "quantity": copies}],
        subscription={"start_date": str(start), "periods": periods, **terms})
    sid = o["lines"][0]["subscription_id"]
    s = api.get("/v1/subscriptions/" + sid, headers=bearer(token))
    assert s.status_code == 200, s.text
    return o, s.json()


def deliveries(stack):
    return stack.sql("SELECT count(*) FROM deliveries")[0][0]


def test_order_lines_start_subscriptions(api, stack, tokens):
    h = bearer(tokens["rep1"])
    ct = contact(api, tokens["rep1"], C_REP1)
    before = counts(stack)
    o = order(api, tokens["rep1"], lines=[
        {"product_id": MONTHLY, "quantity": "5"},
        {"product_id": WEEKLY, "quantity": "2", "discount_percent": "10"},
        {"product_id": YEARLY, "quantity": "1"},
        {"product_id": AD, "quantity": "1"}],
        subscription={"start_date": "2027-01-01", "periods": 12,
                      "contact_id": ct, "auto_renew": True,
                      "delivery_address": "成都市锦江区红星路二段 1 号"})
    after = counts(stack)
    assert after["subscriptions"] == before["subscriptions"] + 3
    assert after["order_lines"] == before["order_lines"] + 4
    # 5 x 38.00 = 190.00 (+17.10); 2 x 15.50 x 0.9 = 27.90 (+2.51);
    # 680.00 (+61.20); 12000.00 (+720.00).
    assert [x["net"] for x in o["lines"]] == [
        "190.00", "27.90", "680.00", "12000.00"]
    assert o["grand_total"] == "13698.71"
    assert o["lines"][3]["subscription_id"] is None
    subs = {}
    for line in o["lines"][:3]:
        r = api.get("/v1/subscriptions/" + line["subscription_id"], headers=h)
        assert r.status_code == 200 and r.headers["etag"] == '"1"'
        subs[line["product_id"]] = r.json()
    m, w, y = subs[MONTHLY], subs[WEEKLY], subs[YEARLY]
    assert (m["start_date"], m["end_date"], m["quantity"],
            m["issues_expected"]) == ("2027-01-01", "2027-12-31", 5, 12)
    assert (w["end_date"], w["quantity"], w["issues_expected"]) == (
        "2027-03-25", 2, 12)
    assert (y["end_date"], y["issues_expected"]) == ("2038-12-31", 24)
    for s in (m, w, y):
        assert (s["customer_id"], s["order_id"], s["owner_id"]) == (
            C_REP1, o["id"], REP1)
        assert (s["contact_id"], s["auto_renew"], s["status"]) == (
            ct, True, "active")
        assert s["delivery_address"] == "成都市锦江区红星路二段 1 号"
        assert (s["issues_delivered"], s["renewed_from_id"],
                s["renewed_by_id"]) == (0, None, None)
    listed = api.get("/v1/subscriptions?limit=500&product_id=" + YEARLY,
                     headers=h).json()["data"]
    assert y["id"] in {x["id"] for x in listed}
    assert m["id"] not in {x["id"] for x in listed}


def test_bad_terms_write_nothing(api, stack, tokens):
    other = contact(api, tokens["rep1"], C_REP1_B, "别家联系人")
    before = counts(stack)
    line = [{"product_id": MONTHLY, "quantity": "1"}]
    for terms, want in (
            ({"start_date": "2027-02-30", "periods": 12},
             {"subscription.start_date": "format"}),
            ({"start_date": "2027-01-01", "periods": 0},
             {"subscription.periods": "range"}),
            ({"start_date": "2027-01-01", "periods": 1.5},
             {"subscription.periods": "range"}),
            ({"periods": 3}, {"subscription.start_date": "required"}),
            ({"start_date": "2027-01-01", "periods": 3, "contact_id": other},
             {"subscription.contact_id": "not_found"}),
            ({"start_date": "2027-01-01", "periods": 3, "copies": 2},
             {"subscription.copies": "unknown_field"})):
        r = place(api, tokens["rep1"], lines=line, subscription=terms)
        assert r.status_code == 422, terms
        assert fields(r) == want, terms
    r = place(api, tokens["rep1"], subscription={"start_date": "2027-01-01",
                                                 "periods": 3})
    assert r.status_code == 422 and fields(r) == {"subscription": "unused"}
    assert counts(stack) == before


def test_deliveries(api, stack, tokens):
    h = bearer(tokens["rep1"])
    _, s = subscribe(api, tokens["rep1"], "2027-01-01", 12, copies="3")
    url = "/v1/subscriptions/%s/deliveries" % s["id"]
    r = api.post(url, headers=h, json={"issue": "2027年第1期",
                                       "issue_date": "2027-01-05",
                                       "status": "delivered"})
    assert r.status_code == 201, r.text
    d1 = r.json()
    assert r.headers["location"].endswith(url + "/" + d1["id"])
    assert (d1["quantity"], d1["status"]) == (3, "delivered")
    assert d1["delivered_at"] is not None
    d2 = api.post(url, headers=h, json={
        "issue": "2027年第2期", "issue_date": "2027-02-05", "quantity": 1,
        "tracking_no": "SF100200300"}).json()
    assert (d2["status"], d2["quantity"], d2["shipped_at"]) == (
        "planned", 1, None)
    got = api.get("/v1/subscriptions/" + s["id"], headers=h).json()
    assert (got["issues_delivered"], got["issues_expected"]) == (1, 12)

    before = deliveries(stack)
    r = api.post(url, headers=h, json={"issue": "2027年第1期",
                                       "issue_date": "2027-01-20"})
    assert r.status_code == 409
    assert r.json()["detail"] == ("Issue 2027年第1期 is already recorded for "
                                  "this subscription.")
    for day in ("2026-12-31", "2028-01-01"):
        r = api.post(url, headers=h, json={"issue": "第X期",
                                           "issue_date": day})
        assert r.status_code == 422
        assert r.json()["errors"] == [{
            "field": "issue_date", "code": "range",
            "message": "issue_date must be within the subscription, "
                       "2027-01-01 to 2027-12-31."}]
    r = api.post(url, headers=h, json={"issue": "", "issue_date": "2027-13-01",
                                       "status": "lost"})
    assert r.status_code == 422
    assert fields(r) == {"issue": "length", "issue_date": "format",
                         "status": "enum"}
    assert deliveries(stack) == before

    durl = url + "/" + d2["id"]
    r = api.patch(durl, headers=h, json={"status": "shipped"})
    assert r.status_code == 200 and r.json()["shipped_at"] is not None
    r = api.patch(durl, headers=h, json={"status": "planned"})
    assert r.status_code == 409
    assert r.json()["detail"] == ("delivery cannot go from shipped to "
                                  "planned; allowed from shipped: delivered, "
                                  "returned.")
    r = api.patch(durl, headers=h, json={"status": "delivered"})
    assert r.status_code == 200 and r.json()["status"] == "delivered"
    listed = api.get(url, headers=h).json()["data"]
    assert [(x["issue"], x["status"]) for x in listed] == [
        ("2027年第1期", "delivered"), ("2027年第2期", "delivered")]
    assert api.get("/v1/subscriptions/" + s["id"], headers=h
                   ).json()["issues_delivered"] == 2
    # Another subscription may record the same issue.
    _, other = subscribe(api, tokens["rep1"], "2027-01-01", 12)
    assert api.post("/v1/subscriptions/%s/deliveries" % other["id"],
                    headers=h, json={"issue": "2027年第1期",
                                     "issue_date": "2027-01-05"}
                    ).status_code == 201
    assert api.patch(url + "/" + str(uuid.uuid4()), headers=h,
                     json={"status": "shipped"}).status_code == 404
    # A delivery is reached only through its own subscription.
    assert api.patch("/v1/subscriptions/%s/deliveries/%s" % (
        other["id"], d1["id"]), headers=h, json={"status": "returned"}
    ).status_code == 404


def test_cancelled_subscription_takes_nothing(api, stack, tokens):
    h = bearer(tokens["rep1"])
    _, s = subscribe(api, tokens["rep1"], "2027-01-01", 6)
    url = "/v1/subscriptions/%s/deliveries" % s["id"]
    d = api.post(url, headers=h, json={"issue": "2027年第1期",
                                       "issue_date": "2027-01-05"}).json()
    r = api.post("/v1/subscriptions/%s/cancel" % s["id"], headers=h)
    assert r.status_code == 200
    assert (r.json()["status"], r.headers["etag"]) == ("cancelled", '"2"')
    before = (deliveries(stack), counts(stack))
    r = api.post(url, headers=h, json={"issue": "2027年第2期",
                                       "issue_date": "2027-02-05"})
    assert r.status_code == 409
    assert api.patch(url + "/" + d["id"], headers=h,
                     json={"status": "shipped"}).status_code == 409
    assert api.post("/v1/subscriptions/%s/cancel" % s["id"], headers=h
                    ).status_code == 409
    r = api.post("/v1/subscriptions/%s/renew" % s["id"], headers=h,
                 json={"periods": 6})
    assert r.status_code == 409
    assert api.patch("/v1/subscriptions/" + s["id"], headers=h,
                     json={"quantity": 9}).status_code == 409
    assert (deliveries(stack), counts(stack)) == before


def test_cancelling_the_order_cancels_its_subscriptions(api, tokens):
    h = bearer(tokens["rep1"])
    o, s = subscribe(api, tokens["rep1"], "2027-01-01", 12)
    assert api.post("/v1/orders/%s/cancel" % o["id"], headers=h,
                    json={"reason": "改订电子版"}).status_code == 200
    got = api.get("/v1/subscriptions/" + s["id"], headers=h).json()
    assert got["status"] == "cancelled" and got["cancelled_at"] is not None


def test_renew_once(api, stack, tokens):
    h = bearer(tokens["rep1"])
    o, s = subscribe(api, tokens["rep1"], "2027-01-01", 12, copies="4",
                     delivery_address="重庆市渝中区解放碑 8 号")
    before = counts(stack)
    r = api.post("/v1/subscriptions/%s/renew" % s["id"], headers=h,
                 json={"periods": 6})
    assert r.status_code == 201, r.text
    n = r.json()
    assert r.headers["location"].endswith("/v1/subscriptions/" + n["id"])
    assert (n["start_date"], n["end_date"], n["periods"], n["quantity"]) == (
        "2028-01-01", "2028-06-30", 6, 4)
    assert (n["renewed_from_id"], n["issues_expected"], n["status"]) == (
        s["id"], 6, "active")
    assert n["delivery_address"] == "重庆市渝中区解放碑 8 号"
    after = counts(stack)
    assert after["subscriptions"] == before["subscriptions"] + 1
    assert after["orders"] == before["orders"] + 1
    new_order = api.get("/v1/orders/" + n["order_id"], headers=h).json()
    assert new_order["id"] != o["id"] and new_order["status"] == "pending"
    assert new_order["owner_id"] == REP1 and new_order["customer_id"] == C_REP1
    # 4 x 38.00 = 152.00, VAT 9% = 13.68.
    assert [(x["product_id"], x["quantity"], x["net"], x["tax"])
            for x in new_order["lines"]] == [
        (MONTHLY, "4.000", "152.00", "13.68")]
    assert new_order["grand_total"] == "165.68"
    assert new_order["lines"][0]["subscription_id"] == n["id"]
    assert o["number"] in new_order["notes"]
    old = api.get("/v1/subscriptions/" + s["id"], headers=h).json()
    assert old["renewed_by_id"] == n["id"]

    r = api.post("/v1/subscriptions/%s/renew" % s["id"], headers=h,
                 json={"periods": 6})
    assert r.status_code == 409
    assert r.json()["detail"] == "The subscription was renewed already."
    assert counts(stack) == after
    r = api.post("/v1/subscriptions/%s/renew" % s["id"], headers=h,
                 json={"periods": 0})
    assert r.status_code == 422 and fields(r) == {"periods": "range"}
    # The renewal renews in its turn.
    assert api.post("/v1/subscriptions/%s/renew" % n["id"], headers=h,
                    json={"periods": 12}).json()["start_date"] == "2028-07-01"


def test_renewal_refused_when_product_retired(api, stack, tokens):
    pid = product(stack, "20.00", "9.00", period="quarterly", issues=1)
    _, s = subscribe(api, tokens["rep1"], "2027-01-01", 4, product_id=pid)
    assert (s["end_date"], s["issues_expected"]) == ("2027-12-31", 4)
    stack.sql("UPDATE products SET active = false WHERE id = %s", (pid,))
    before = counts(stack)
    r = api.post("/v1/subscriptions/%s/renew" % s["id"],
                 headers=bearer(tokens["rep1"]), json={"periods": 4})
    assert r.status_code == 409 and "no longer sold" in r.json()["detail"]
    assert counts(stack) == before


def test_renewal_campaign_list(api, stack, tokens):
    h = bearer(tokens["rep1"])
    day = today(stack)
    ct = contact(api, tokens["rep1"], C_REP1, "赵订阅")
    # Monthly, one period from 10 days ago: ends in about 20 days.
    _, soon = subscribe(api, tokens["rep1"], day - datetime.timedelta(days=10),
                        1, contact_id=ct)
    _, later = subscribe(api, tokens["rep1"],
                         day - datetime.timedelta(days=10), 2)
    _, gone = subscribe(api, tokens["rep1"],
                        day - datetime.timedelta(days=10), 1)
    api.post("/v1/subscriptions/%s/cancel" % gone["id"], headers=h)
    ends = datetime.date.fromisoformat(soon["end_date"])
    assert 17 <= (ends - day).days <= 21

    def listed(qs=""):
        r = api.get("/v1/subscriptions/renewals?limit=500" + qs, headers=h)
        assert r.status_code == 200, r.text
        return r.json()["data"]

    rows = listed()
    ids = [x["subscription"]["id"] for x in rows]
    assert soon["id"] in ids and later["id"] not in ids
    assert gone["id"] not in ids
    mine = rows[ids.index(soon["id"])]
    assert mine["days_left"] == (ends - day).days
    assert mine["customer"] == {"id": C_REP1, "name": "四川糖酒有限公司",
                                "phone": "028-86001234"}
    assert mine["contact"] == {"id": ct, "name": "赵订阅",
                               "phones": ["13912345678"]}
    wide = [x["subscription"]["id"] for x in listed("&within_days=90")]
    assert wide.index(soon["id"]) < wide.index(later["id"])
    ordered = [x["subscription"]["end_date"] for x in listed(
        "&within_days=90")]
    assert ordered == sorted(ordered)
    assert soon["id"] not in [x["subscription"]["id"] for x in listed(
        "&within_days=5")]
    # Pages: two at a time, nothing skipped or repeated.
    seen, cursor = [], None
    while True:
        r = api.get("/v1/subscriptions/renewals?within_days=90&limit=2" +
                    ("&cursor=" + cursor if cursor else ""), headers=h).json()
        seen += [x["subscription"]["id"] for x in r["data"]]
        cursor = r["next_cursor"]
        if cursor is None:
            break
    assert seen == wide
    # Renewed: off the list.
    api.post("/v1/subscriptions/%s/renew" % soon["id"], headers=h,
             json={"periods": 12})
    assert soon["id"] not in [x["subscription"]["id"] for x in listed()]
    assert api.get("/v1/subscriptions/renewals?within_days=0", headers=h
                   ).status_code == 422
    # Another rep's campaign list holds none of rep 1's.
    assert later["id"] not in [x["subscription"]["id"] for x in api.get(
        "/v1/subscriptions/renewals?within_days=90",
        headers=bearer(tokens["rep2"])).json()["data"]]


def test_expired_is_computed(api, stack, tokens):
    h = bearer(tokens["rep1"])
    _, s = subscribe(api, tokens["rep1"], "2025-01-01", 1,
                     customer=C_REP1_B)
    assert (s["end_date"], s["status"]) == ("2025-01-31", "expired")
    assert stack.sql("SELECT status FROM subscriptions WHERE id = %s",
                     (s["id"],)) == [("active",)]

    def ids(qs):
        r = api.get("/v1/subscriptions?limit=500&" + qs, headers=h)
        assert r.status_code == 200, r.text
        return {x["id"] for x in r.json()["data"]}

    assert s["id"] in ids("status=expired")
    assert s["id"] not in ids("status=active")
    assert s["id"] in ids("ends_before=2025-02-01&customer_id=" + C_REP1_B)
    assert s["id"] not in ids("ends_before=2025-01-31")
    assert s["id"] not in ids("customer_id=" + C_REP1)
    r = api.post("/v1/subscriptions/%s/cancel" % s["id"], headers=h)
    assert r.status_code == 409
    assert r.json()["detail"] == ("subscription cannot go from expired to "
                                  "cancelled; allowed from expired: none "
                                  "(final).")
    # A late record of an issue inside the period is still taken.
    assert api.post("/v1/subscriptions/%s/deliveries" % s["id"], headers=h,
                    json={"issue": "2025年第1期", "issue_date": "2025-01-10",
                          "status": "delivered"}).status_code == 201
    assert api.get("/v1/subscriptions?status=old", headers=h
                   ).status_code == 422


def test_patch_subscription(api, tokens):
    h = bearer(tokens["rep1"])
    _, s = subscribe(api, tokens["rep1"], "2027-01-01", 12)
    ct = contact(api, tokens["rep1"], C_REP1, "钱收件")
    r = api.patch("/v1/subscriptions/" + s["id"],
                  headers={**h, "If-Match": '"1"'},
                  json={"quantity": 8, "auto_renew": True, "contact_id": ct,
                        "delivery_address": "成都市高新区天府大道 99 号"})
    assert r.status_code == 200, r.text
    p = r.json()
    assert (p["quantity"], p["auto_renew"], p["contact_id"], p["version"]) == (
        8, True, ct, 2)
    assert r.headers["etag"] == '"2"'
    assert api.patch("/v1/subscriptions/" + s["id"],
                     headers={**h, "If-Match": '"1"'},
                     json={"quantity": 9}).status_code == 412
    other = contact(api, tokens["rep1"], C_REP1_B, "外人")
    r = api.patch("/v1/subscriptions/" + s["id"], headers=h,
                  json={"contact_id": other})
    assert r.status_code == 422 and fields(r) == {"contact_id": "not_found"}
    r = api.patch("/v1/subscriptions/" + s["id"], headers=h,
                  json={"quantity": 0, "start_date": "2027-02-01"})
    assert r.status_code == 422
    assert fields(r) == {"quantity": "range", "start_date": "unknown_field"}
    r = api.patch("/v1/subscriptions/" + s["id"], headers=h,
                  json={"contact_id": None, "delivery_address": None})
    assert r.status_code == 200
    assert (r.json()["contact_id"], r.json()["delivery_address"]) == (
        None, None)


def test_pending_order_replaces_its_subscriptions(api, stack, tokens):
    h = bearer(tokens["rep1"])
    o, s = subscribe(api, tokens["rep1"], "2027-01-01", 12, copies="2")
    r = api.patch("/v1/orders/" + o["id"], headers=h, json={"lines": [
        {"product_id": MONTHLY, "quantity": "6"}]})
    assert r.status_code == 200, r.text
    new_sid = r.json()["lines"][0]["subscription_id"]
    assert new_sid != s["id"]
    assert api.get("/v1/subscriptions/" + s["id"], headers=h
                   ).status_code == 404
    n = api.get("/v1/subscriptions/" + new_sid, headers=h).json()
    assert (n["quantity"], n["start_date"], n["end_date"]) == (
        6, "2027-01-01", "2027-12-31")
    r = api.patch("/v1/orders/" + o["id"], headers=h, json={
        "subscription": {"start_date": "2027-04-01", "periods": 3}})
    assert r.status_code == 200
    n = api.get("/v1/subscriptions/" + r.json()["lines"][0]["subscription_id"],
                headers=h).json()
    assert (n["quantity"], n["end_date"], n["issues_expected"]) == (
        6, "2027-06-30", 3)
    api.post("/v1/subscriptions/%s/deliveries" % n["id"], headers=h,
             json={"issue": "2027年第4期", "issue_date": "2027-04-05"})
    before = counts(stack)
    r = api.patch("/v1/orders/" + o["id"], headers=h, json={"lines": [
        {"product_id": MONTHLY, "quantity": "1"}]})
    assert r.status_code == 409
    assert counts(stack) == before


SUB_ROUTES = (
    ("GET", "/v1/subscriptions/{s}", None),
    ("PATCH", "/v1/subscriptions/{s}", {"quantity": 99}),
    ("POST", "/v1/subscriptions/{s}/cancel", None),
    ("POST", "/v1/subscriptions/{s}/renew", {"periods": 1}),
    ("GET", "/v1/subscriptions/{s}/deliveries", None),
    ("POST", "/v1/subscriptions/{s}/deliveries",
     {"issue": "越权期", "issue_date": "2027-03-01"}),
    ("PATCH", "/v1/subscriptions/{s}/deliveries/{d}", {"status": "shipped"}),
)


def test_access_matrix(api, stack, tokens, org2):
    """rep 2 and org 2 on rep 1's subscription answer exactly as for one
    that does not exist; the manager works on it; service reads it and
    changes nothing; an API key without the orders scope gets 403."""
    h1 = bearer(tokens["rep1"])
    _, s = subscribe(api, tokens["rep1"], "2027-01-01", 12)
    d = api.post("/v1/subscriptions/%s/deliveries" % s["id"], headers=h1,
                 json={"issue": "2027年第1期",
                       "issue_date": "2027-01-05"}).json()
    real_ids = {"s": s["id"], "d": d["id"]}
    ghost_ids = {"s": str(uuid.uuid4()), "d": str(uuid.uuid4())}
    before = (counts(stack), deliveries(stack))
    for token in (tokens["rep2"], org2["admin"], org2["rep"]):
        h = bearer(token)
        for method, path, body in SUB_ROUTES:
            real = api.request(method, path.format(**real_ids), headers=h,
                               json=body)
            fake = api.request(method, path.format(**ghost_ids), headers=h,
                               json=body)
            assert real.status_code == 404, (method, path)
            assert problem(real) == problem(fake), (method, path)
        for url in ("/v1/subscriptions?limit=500",
                    "/v1/subscriptions/renewals?within_days=366&limit=500"):
            page = api.get(url, headers=h).json()["data"]
            got = {x.get("id") or x["subscription"]["id"] for x in page}
            assert s["id"] not in got
    assert api.get("/v1/subscriptions?limit=500",
                   headers=bearer(org2["admin"])).json()["data"] == []

    sv = bearer(tokens["service"])
    assert api.get("/v1/subscriptions/" + s["id"], headers=sv
                   ).status_code == 200
    assert api.get("/v1/subscriptions/%s/deliveries" % s["id"], headers=sv
                   ).json()["data"][0]["id"] == d["id"]
    assert s["id"] in {x["id"] for x in api.get(
        "/v1/subscriptions?limit=500", headers=sv).json()["data"]}
    for method, path, body in SUB_ROUTES:
        if method != "GET":
            r = api.request(method, path.format(**real_ids), headers=sv,
                            json=body)
            assert r.status_code == 403, (method, path)
    assert (counts(stack), deliveries(stack)) == before

    none = make_key(api, tokens, ["customers:write"])
    for method, path, body in SUB_ROUTES + (
            ("GET", "/v1/subscriptions", None),
            ("GET", "/v1/subscriptions/renewals", None)):
        r = api.request(method, path.format(**real_ids), headers=none,
                        json=body)
        assert r.status_code == 403, (method, path)
    assert (counts(stack), deliveries(stack)) == before

    m = bearer(tokens["manager"])
    r = api.patch("/v1/subscriptions/%s/deliveries/%s" % (s["id"], d["id"]),
                  headers=m, json={"status": "delivered"})
    assert r.status_code == 200
    _, s2 = subscribe(api, tokens["rep2"], "2027-01-01", 12, customer=C_REP2)
    assert api.get("/v1/subscriptions/" + s2["id"], headers=m
                   ).status_code == 200
    assert api.get("/v1/subscriptions/" + s2["id"], headers=h1
                   ).status_code == 404


def test_delivery_status_rule_sees_the_last_change(api, stack, tokens):
    """A status change of a delivery that waits for another one in
    progress (which holds the subscription) is judged against the status
    that one left: planned -> shipped is fine, but the delivery is
    delivered by then, and delivered -> shipped is refused (409)."""
    h = bearer(tokens["rep1"])
    _, s = subscribe(api, tokens["rep1"], "2027-01-01", 12)
    url = "/v1/subscriptions/%s/deliveries" % s["id"]
    d = api.post(url, headers=h, json={"issue": "2027年第3期",
                                       "issue_date": "2027-03-05"}).json()
    assert d["status"] == "planned"
    r, waited = race(stack, [
        ("SELECT 1 FROM subscriptions WHERE id = %s FOR UPDATE", (s["id"],)),
        ("UPDATE deliveries SET status = 'delivered', shipped_at = now(), "
         "delivered_at = now() WHERE id = %s", (d["id"],))],
        lambda: api.patch(url + "/" + d["id"], headers=h,
                          json={"status": "shipped"}))
    assert waited and r.status_code == 409, r.text
    assert "returned" in r.json()["detail"]
    got = api.get(url, headers=h).json()["data"]
    assert [(x["id"], x["status"]) for x in got] == [(d["id"], "delivered")]
