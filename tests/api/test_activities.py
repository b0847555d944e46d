"""Activities, the sales daily log: links checked without revealing other
people's records, the daily log per person and day, and who sees what."""
import uuid
from datetime import datetime, timedelta, timezone

from conftest import DEMO, DEMO_ORG, bearer
from race_helpers import race

REP1 = DEMO["rep1"][1]
REP2 = DEMO["rep2"][1]
MANAGER = DEMO["manager"][1]
SERVICE = DEMO["service"][1]
REP1_CUSTOMER = "00000000-0000-4000-8000-000000001001"
REP2_CUSTOMER = "00000000-0000-4000-8000-000000001003"


def customer(api, token, name="活动测试"):
    r = api.post("/v1/customers", headers=bearer(token),
                 json={"name": name + uuid.uuid4().hex[:6]})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def contact(api, token, customer_id, name="李明"):
    r = api.post("/v1/customers/%s/contacts" % customer_id,
                 headers=bearer(token), json={"name": name})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def opportunity(stack, owner, customer_id, name="春季订货"):
    """An opportunity straight in the database (its API is another
    module's): the default pipeline's first stage."""
    return str(stack.sql(
        "INSERT INTO opportunities (org_id, owner_id, customer_id, name, "
        "pipeline_id, stage_id) SELECT p.org_id, %s, %s, %s, p.id, s.id "
        "FROM pipelines p JOIN pipeline_stages s ON s.pipeline_id = p.id "
        "WHERE p.org_id = %s AND p.is_default AND s.position = 1 "
        "RETURNING id", (owner, customer_id, name, DEMO_ORG))[0][0])


def lead(stack, owner, name="王先生"):
    return str(stack.sql(
        "INSERT INTO leads (org_id, owner_id, name) VALUES (%s, %s, %s) "
        "RETURNING id", (DEMO_ORG, owner, name))[0][0])


def log(api, token, **body):
    body.setdefault("type", "call")
    body.setdefault("subject", "电话沟通")
    r = api.post("/v1/activities", headers=bearer(token), json=body)
    assert r.status_code == 201, r.text
    return r.json()


def count(stack):
    return stack.sql("SELECT count(*) FROM activities")[0][0]


def when(s):
    return datetime.fromisoformat(s)


def problem_shape(r):
    d = r.json()
    return (r.status_code, d["type"], d["title"], d["detail"],
            d.get("errors"))


def test_activity_lifecycle(api, stack, tokens):
    h = bearer(tokens["rep1"])
    c = customer(api, tokens["rep1"])
    r = api.post("/v1/activities", headers=h, json={
        "type": "visit", "subject": "拜访采购部",
        "body": "与李总确认春季订货会的参会名单。", "direction": "outbound",
        "occurred_at": "2026-11-20T10:00:00+08:00", "duration_minutes": 90,
        "outcome": "同意下周提交采购计划", "customer_id": c,
        "next_follow_up_at": "2026-11-27T10:00:00+08:00"})
    assert r.status_code == 201, r.text
    a = r.json()
    assert r.headers["location"].endswith("/v1/activities/" + a["id"])
    assert r.headers["etag"] == '"1"'
    assert (a["type"], a["subject"], a["direction"], a["duration_minutes"],
            a["owner_id"], a["customer_id"], a["contact_id"],
            a["version"]) == ("visit", "拜访采购部", "outbound", 90, REP1, c,
                              None, 1)
    assert when(a["occurred_at"]) == datetime(2026, 11, 20, 2, 0,
                                              tzinfo=timezone.utc)
    assert when(a["next_follow_up_at"]) == datetime(2026, 11, 27, 2, 0,
                                                    tzinfo=timezone.utc)
    got = api.get("/v1/activities/" + a["id"], headers=h)
    assert got.status_code == 200 and got.json() == a
    assert got.headers["etag"] == '"1"'

    r = api.patch("/v1/activities/" + a["id"],
                  headers={**h, "If-Match": '"1"'},
                  json={"outcome": "已报价", "body": None})
    assert r.status_code == 200, r.text
    assert (r.json()["outcome"], r.json()["body"], r.json()["version"]) == \
        ("已报价", None, 2)
    assert r.headers["etag"] == '"2"'
    stale = api.patch("/v1/activities/" + a["id"],
                      headers={**h, "If-Match": '"1"'}, json={"outcome": "x"})
    assert stale.status_code == 412
    assert api.delete("/v1/activities/" + a["id"],
                      headers={**h, "If-Match": '"1"'}).status_code == 412
    # Removing every link is refused like creating without one.
    r = api.patch("/v1/activities/" + a["id"], headers=h,
                  json={"customer_id": None})
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["customer_id"]
    assert api.delete("/v1/activities/" + a["id"], headers=h
                      ).status_code == 204
    assert api.get("/v1/activities/" + a["id"], headers=h).status_code == 404
    assert api.patch("/v1/activities/" + a["id"], headers=h,
                     json={"outcome": "x"}).status_code == 404
    assert stack.sql("SELECT deleted_at IS NOT NULL, outcome FROM activities "
                     "WHERE id = %s", (a["id"],)) == [(True, "已报价")]
    page = api.get("/v1/activities?customer_id=" + c, headers=h).json()
    assert page == {"data": [], "next_cursor": None}


def test_links_fill_the_customer(api, stack, tokens):
    t = tokens["rep1"]
    c = customer(api, t)
    ct = contact(api, t, c)
    op = opportunity(stack, REP1, c)
    ld = lead(stack, REP1)
    a = log(api, t, contact_id=ct)
    assert (a["customer_id"], a["contact_id"]) == (c, ct)
    a = log(api, t, opportunity_id=op)
    assert (a["customer_id"], a["opportunity_id"]) == (c, op)
    a = log(api, t, contact_id=ct, opportunity_id=op, customer_id=c)
    assert (a["customer_id"], a["contact_id"], a["opportunity_id"]) == \
        (c, ct, op)
    a = log(api, t, lead_id=ld, type="email", subject="发送产品目录")
    assert (a["customer_id"], a["lead_id"]) == (None, ld)
    # The customer's history lists them all, newest first.
    listed = api.get("/v1/activities?customer_id=" + c,
                     headers=bearer(t)).json()["data"]
    assert len(listed) == 3


def test_bad_input_is_refused_and_nothing_written(api, stack, tokens):
    t = tokens["rep1"]
    h = bearer(t)
    mine = customer(api, t)
    other = customer(api, t, "另一客户")
    other_contact = contact(api, t, other, "外人")
    other_opp = opportunity(stack, REP1, other)
    rep2_contact = contact(api, tokens["rep2"], REP2_CUSTOMER, "刘芳的联系人")
    rep2_opp = opportunity(stack, REP2, REP2_CUSTOMER)
    rep2_lead = lead(stack, REP2)
    ghost = str(uuid.uuid4())
    before = count(stack)

    def refused(body, fields, status=422):
        r = api.post("/v1/activities", headers=h, json=body)
        assert r.status_code == status, (body, r.text)
        if fields is not None:
            assert [e["field"] for e in r.json()["errors"]] == fields, r.text
        return r

    base = {"type": "call", "subject": "电话"}
    r = refused(base, ["customer_id"])
    assert r.json()["errors"][0]["code"] == "required"
    # Another rep's records answer exactly as ids that name nothing.
    for field, theirs in (("customer_id", REP2_CUSTOMER),
                          ("contact_id", rep2_contact),
                          ("opportunity_id", rep2_opp),
                          ("lead_id", rep2_lead)):
        real = refused({**base, field: theirs}, [field])
        fake = refused({**base, field: ghost}, [field])
        assert problem_shape(real) == problem_shape(fake)
        assert real.json()["errors"][0]["code"] == "not_found"
    r = refused({**base, "customer_id": mine, "contact_id": other_contact},
                ["contact_id"])
    assert r.json()["errors"][0]["code"] == "other_customer"
    refused({**base, "customer_id": mine, "opportunity_id": other_opp},
            ["opportunity_id"])
    refused({**base, "contact_id": other_contact,
             "opportunity_id": opportunity(stack, REP1, mine)},
            ["opportunity_id"])
    for minutes in (-1, 2000):
        r = refused({**base, "customer_id": mine,
                     "duration_minutes": minutes}, ["duration_minutes"])
        assert r.json()["errors"][0]["code"] == "range"
    refused({**base, "customer_id": mine, "type": "fax"}, ["type"])
    for bad in ("2026-12-01 10:00:00", "yesterday", "2026-12-01",
                "2026-12-01T10:00:00", "2026-13-01T10:00:00Z",
                "2026-11-31T10:00:00+08:00", "2026-12-01T25:00:00Z"):
        refused({**base, "customer_id": mine, "occurred_at": bad},
                ["occurred_at"])
    # Every problem listed at once.
    r = refused({"type": "fax", "duration_minutes": 2000, "colour": "red"},
                None)
    assert {e["field"] for e in r.json()["errors"]} == {
        "type", "subject", "duration_minutes", "colour"}
    r = refused({**base, "customer_id": REP2_CUSTOMER, "lead_id": ghost,
                 "owner_id": ghost}, None)
    assert [e["field"] for e in r.json()["errors"]] == [
        "customer_id", "lead_id", "owner_id"]
    # Logging for someone outside one's team is a 403.
    r = refused({**base, "customer_id": mine, "owner_id": REP2}, None, 403)
    assert count(stack) == before


def test_list_filters_search_and_pages(api, tokens):
    t = tokens["rep1"]
    h = bearer(t)
    c = customer(api, t)
    made = []
    for i, (kind, subject) in enumerate((
            ("call", "电话确认订货数量"), ("email", "发送报价单"),
            ("meeting", "产品演示会"), ("visit", "上门拜访李总"),
            ("note", "客户关注物流时效"))):
        made.append(log(api, t, type=kind, subject=subject, customer_id=c,
                        occurred_at="2026-10-0%dT09:00:00+08:00" % (i + 1)))
    newest_first = [a["id"] for a in reversed(made)]
    q = "/v1/activities?customer_id=" + c
    assert [a["id"] for a in api.get(q, headers=h).json()["data"]] == \
        newest_first
    seen, cursor = [], None
    while True:
        page = api.get(q + "&limit=2" + ("&cursor=" + cursor if cursor
                                           else ""), headers=h).json()
        seen += [a["id"] for a in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == newest_first
    assert [a["id"] for a in api.get(q + "&type=visit", headers=h
                                     ).json()["data"]] == [made[3]["id"]]
    assert [a["id"] for a in api.get(
        q + "&occurred_after=2026-10-02T09:00:00%2B08:00"
        "&occurred_before=2026-10-04T09:00:00%2B08:00", headers=h
    ).json()["data"]] == [made[2]["id"], made[1]["id"]]
    # Chinese substrings of the subject and of the body.
    assert [a["id"] for a in api.get(q + "&q=报价", headers=h
                                     ).json()["data"]] == [made[1]["id"]]
    b = log(api, t, customer_id=c, subject="回访",
            body="客户希望增加川渝地区的配送点",
            occurred_at="2026-09-01T09:00:00+08:00")
    assert [a["id"] for a in api.get(q + "&q=配送", headers=h
                                     ).json()["data"]] == [b["id"]]
    assert api.get(q + "&owner_id=" + REP2, headers=h).json()["data"] == []
    bad = api.get("/v1/activities?cursor=bm9wZQ", headers=h)
    assert bad.status_code == 400
    r = api.get("/v1/activities?type=fax&limit=0&occurred_after=x&sort=a",
                headers=h)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {
        "type", "limit", "occurred_after", "sort"}


def test_daily_log(api, tokens, org2):
    t = tokens["rep1"]
    c = customer(api, t)
    # 2025-03-15 in Shanghai runs from 2025-03-14T16:00Z to 03-15T16:00Z.
    day = [log(api, t, customer_id=c, type="call", subject="早间电话",
               occurred_at="2025-03-15T00:30:00+08:00", duration_minutes=15),
           log(api, t, customer_id=c, type="visit", subject="下午拜访",
               occurred_at="2025-03-15T06:00:00Z", duration_minutes=120),
           log(api, t, customer_id=c, type="call", subject="晚间电话",
               occurred_at="2025-03-15T23:50:00+08:00", duration_minutes=30),
           log(api, t, customer_id=c, type="note", subject="整理纪要",
               occurred_at="2025-03-15T12:00:00+08:00")]
    log(api, t, customer_id=c, subject="前一天",
        occurred_at="2025-03-14T23:59:00+08:00", duration_minutes=5)
    log(api, t, customer_id=c, subject="后一天",
        occurred_at="2025-03-16T00:00:00+08:00", duration_minutes=5)
    log(api, tokens["rep2"], customer_id=REP2_CUSTOMER, subject="别人的",
        occurred_at="2025-03-15T10:00:00+08:00", duration_minutes=5)
    h = bearer(t)
    r = api.get("/v1/activities/daily-log?date=2025-03-15", headers=h)
    assert r.status_code == 200, r.text
    d = r.json()
    assert (d["owner_id"], d["date"], d["timezone"]) == (
        REP1, "2025-03-15", "Asia/Shanghai")
    assert when(d["from"]) == datetime(2025, 3, 14, 16, tzinfo=timezone.utc)
    assert when(d["to"]) == datetime(2025, 3, 15, 16, tzinfo=timezone.utc)
    assert d["total"] == {"count": 4, "duration_minutes": 165}
    assert d["by_type"] == {
        "call": {"count": 2, "duration_minutes": 45},
        "email": {"count": 0, "duration_minutes": 0},
        "meeting": {"count": 0, "duration_minutes": 0},
        "visit": {"count": 1, "duration_minutes": 120},
        "note": {"count": 1, "duration_minutes": 0}}
    # Oldest first: 00:30, 12:00, 14:00 (06:00Z), 23:50 Shanghai time.
    assert [a["id"] for a in d["activities"]] == [
        day[0]["id"], day[3]["id"], day[1]["id"], day[2]["id"]]
    # The manager reads the team's logs; an admin anyone's.
    for who in ("manager", "admin"):
        assert api.get("/v1/activities/daily-log?date=2025-03-15&owner_id="
                       + REP1, headers=bearer(tokens[who])).json() == d
    # Outside one's team the log reveals nothing: 404 as for no such user.
    ghost = str(uuid.uuid4())
    for token, victim in ((tokens["rep2"], REP1), (t, REP2),
                          (t, MANAGER), (org2["admin"], REP1)):
        q = "/v1/activities/daily-log?date=2025-03-15&owner_id="
        real = api.get(q + victim, headers=bearer(token))
        fake = api.get(q + ghost, headers=bearer(token))
        assert real.status_code == 404
        assert problem_shape(real) == problem_shape(fake)
    empty = api.get("/v1/activities/daily-log?date=2025-03-13", headers=h)
    assert empty.json()["total"] == {"count": 0, "duration_minutes": 0}
    assert empty.json()["activities"] == []
    # Today by default.
    now = log(api, t, customer_id=c, subject="刚刚的电话")
    today = api.get("/v1/activities/daily-log", headers=h).json()
    shanghai = (datetime.now(timezone.utc) + timedelta(hours=8)).date()
    assert today["date"] == shanghai.isoformat()
    assert now["id"] in {a["id"] for a in today["activities"]}
    r = api.get("/v1/activities/daily-log?date=2025-02-30", headers=h)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["date"]


def test_service_call_shows_in_the_customer_owner_history(api, tokens):
    """Logged by the service user on rep 1's customer: rep 1 (and their
    manager) see it, rep 2 does not; rep 1 may not change it."""
    a = log(api, tokens["service"], customer_id=REP1_CUSTOMER, type="call",
            subject="客户投诉物流延误", direction="inbound")
    assert a["owner_id"] == SERVICE
    for who in ("rep1", "manager"):
        h = bearer(tokens[who])
        assert api.get("/v1/activities/" + a["id"], headers=h).json() == a
        assert a["id"] in {x["id"] for x in api.get(
            "/v1/activities?limit=500&customer_id=" + REP1_CUSTOMER,
            headers=h).json()["data"]}
    h1 = bearer(tokens["rep1"])
    assert api.patch("/v1/activities/" + a["id"], headers=h1,
                     json={"outcome": "改"}).status_code == 403
    assert api.delete("/v1/activities/" + a["id"], headers=h1
                      ).status_code == 403
    h2 = bearer(tokens["rep2"])
    ghost = str(uuid.uuid4())
    real = api.get("/v1/activities/" + a["id"], headers=h2)
    fake = api.get("/v1/activities/" + ghost, headers=h2)
    assert real.status_code == 404
    assert problem_shape(real) == problem_shape(fake)
    assert a["id"] not in {x["id"] for x in api.get(
        "/v1/activities?limit=500", headers=h2).json()["data"]}
    # The service user changes their own.
    assert api.patch("/v1/activities/" + a["id"],
                     headers=bearer(tokens["service"]),
                     json={"outcome": "已安排补发"}).status_code == 200


def test_access_matrix(api, tokens, org2):
    """Rep 2 and another organisation reach rep 1's activity exactly as an
    id that names nothing; the manager works on both reps'."""
    a = log(api, tokens["rep1"], customer_id=REP1_CUSTOMER, subject="一号的")
    b = log(api, tokens["rep2"], customer_id=REP2_CUSTOMER, subject="二号的")
    ghost = str(uuid.uuid4())
    for token in (tokens["rep2"], org2["admin"], org2["rep"]):
        h = bearer(token)
        for method, body in (("GET", None), ("PATCH", {"subject": "越权"}),
                             ("DELETE", None)):
            real = api.request(method, "/v1/activities/" + a["id"],
                               headers=h, json=body)
            fake = api.request(method, "/v1/activities/" + ghost,
                               headers=h, json=body)
            assert real.status_code == 404, (method, real.text)
            assert problem_shape(real) == problem_shape(fake)
        for q in ("", "&owner_id=" + REP1, "&customer_id=" + REP1_CUSTOMER,
                  "&q=" + "一号"):
            page = api.get("/v1/activities?limit=500" + q, headers=h).json()
            assert a["id"] not in {x["id"] for x in page["data"]}
    assert api.get("/v1/activities?limit=500", headers=bearer(org2["admin"])
                   ).json()["data"] == []
    m = bearer(tokens["manager"])
    listed = {x["id"] for x in api.get("/v1/activities?limit=500",
                                       headers=m).json()["data"]}
    assert {a["id"], b["id"]} <= listed
    for x in (a, b):
        r = api.patch("/v1/activities/" + x["id"], headers=m,
                      json={"outcome": "经理已阅"})
        assert r.status_code == 200 and r.json()["outcome"] == "经理已阅"
    # The manager logs for a rep of the team; the activity is the rep's.
    c = log(api, tokens["manager"], customer_id=REP2_CUSTOMER, owner_id=REP2,
            subject="代录拜访")
    assert c["owner_id"] == REP2
    assert api.get("/v1/activities/" + c["id"], headers=bearer(
        tokens["rep2"])).status_code == 200


def test_api_key_scopes(api, tokens):
    def key(scopes):
        r = api.post("/v1/api-keys", headers=bearer(tokens["admin"]),
                     json={"name": "呼叫中心", "scopes": scopes,
                           "user_id": REP1})
        assert r.status_code == 201, r.text
        return {"X-API-Key": r.json()["key"]}

    a = log(api, tokens["rep1"], customer_id=REP1_CUSTOMER)
    none = key(["customers:read"])
    for method, path, body in (
            ("GET", "/v1/activities", None),
            ("POST", "/v1/activities", {"type": "call", "subject": "x",
                                        "customer_id": REP1_CUSTOMER}),
            ("GET", "/v1/activities/daily-log", None),
            ("GET", "/v1/activities/" + a["id"], None),
            ("PATCH", "/v1/activities/" + a["id"], {"subject": "x"}),
            ("DELETE", "/v1/activities/" + a["id"], None)):
        r = api.request(method, path, headers=none, json=body)
        assert r.status_code == 403, (method, path)
    read = key(["activities:read"])
    assert api.get("/v1/activities/" + a["id"], headers=read
                   ).status_code == 200
    assert api.post("/v1/activities", headers=read, json={
        "type": "call", "subject": "x", "customer_id": REP1_CUSTOMER}
    ).status_code == 403
    write = key(["activities:write"])
    r = api.post("/v1/activities", headers=write, json={
        "type": "call", "subject": "呼叫中心来电", "direction": "inbound",
        "customer_id": REP1_CUSTOMER})
    assert r.status_code == 201 and r.json()["owner_id"] == REP1
    assert api.get("/v1/activities/" + a["id"], headers=write
                   ).status_code == 200


def test_a_customer_merge_carries_its_activities(api, tokens):
    """A merge moves the contact and the activity to the survivor, so the
    activity's links stay consistent and it can be edited; changing its
    links is checked again."""
    t = tokens["rep1"]
    h = bearer(t)
    survivor, merged = customer(api, t, "存续"), customer(api, t, "被合并")
    other = customer(api, t, "别家")
    ct = contact(api, t, merged, "赵经理")
    stranger = contact(api, t, other, "钱经理")
    a = log(api, t, customer_id=merged, contact_id=ct)
    r = api.post("/v1/customers/merge", headers=h,
                 json={"survivor_id": survivor, "merged_ids": [merged]})
    assert r.status_code == 200, r.text
    assert api.get("/v1/contacts/" + ct, headers=h).json()["customer_id"] == \
        survivor
    got = api.get("/v1/activities/" + a["id"], headers=h).json()
    assert (got["customer_id"], got["contact_id"]) == (survivor, ct)
    r = api.patch("/v1/activities/" + a["id"], headers=h,
                  json={"outcome": "已合并客户"})
    assert r.status_code == 200, r.text
    r = api.patch("/v1/activities/" + a["id"], headers=h,
                  json={"contact_id": stranger})
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["contact_id"]


def test_stale_if_match_loses_the_race(api, stack, tokens):
    """A PATCH with If-Match waits for a change of the activity in progress
    and then answers 412 (the version is checked on the locked row); the
    other change stands."""
    a = log(api, tokens["rep1"], customer_id=REP1_CUSTOMER, subject="初次拜访")
    r, waited = race(
        stack, [("UPDATE activities SET subject = '初次拜访（补记）' "
                 "WHERE id = %s", (a["id"],))],
        lambda: api.patch("/v1/activities/" + a["id"],
                          headers={**bearer(tokens["rep1"]),
                                   "If-Match": '"1"'},
                          json={"subject": "我的改动"}))
    assert waited and r.status_code == 412, r.text
    got = api.get("/v1/activities/" + a["id"], headers=bearer(tokens["rep1"])
                  ).json()
    assert (got["subject"], got["version"]) == ("初次拜访（补记）", 2)
