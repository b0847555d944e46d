"""Tasks: the status machine, transfers with their history, lists, who sees
what, and the caller's agenda checked item by item."""
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from conftest import DEMO, DEMO_ORG, bearer, login
from race_helpers import race

REP1 = DEMO["rep1"][1]
REP2 = DEMO["rep2"][1]
MANAGER = DEMO["manager"][1]
SERVICE = DEMO["service"][1]
MARKETING = DEMO["marketing"][1]
REP1_CUSTOMER = "00000000-0000-4000-8000-000000001001"
REP2_CUSTOMER = "00000000-0000-4000-8000-000000001003"
PASSWORD = "a-long-passphrase"


def iso(t):
    return t.isoformat()


def when(s):
    return datetime.fromisoformat(s) if s is not None else None


def customer(api, token, name="任务测试"):
    r = api.post("/v1/customers", headers=bearer(token),
                 json={"name": name + uuid.uuid4().hex[:6]})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def contact(api, token, customer_id, name="王芳"):
    r = api.post("/v1/customers/%s/contacts" % customer_id,
                 headers=bearer(token), json={"name": name})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def opportunity(stack, owner, customer_id, name="年度框架协议"):
    """An opportunity straight in the database (its API is another
    module's): the default pipeline's first stage."""
    return str(stack.sql(
        "INSERT INTO opportunities (org_id, owner_id, customer_id, name, "
        "pipeline_id, stage_id) SELECT p.org_id, %s, %s, %s, p.id, s.id "
        "FROM pipelines p JOIN pipeline_stages s ON s.pipeline_id = p.id "
        "WHERE p.org_id = %s AND p.is_default AND s.position = 1 "
        "RETURNING id", (owner, customer_id, name, DEMO_ORG))[0][0])


def lead(stack, owner, name="赵先生"):
    return str(stack.sql(
        "INSERT INTO leads (org_id, owner_id, name) VALUES (%s, %s, %s) "
        "RETURNING id", (DEMO_ORG, owner, name))[0][0])


def task(api, token, **body):
    body.setdefault("title", "跟进报价")
    r = api.post("/v1/tasks", headers=bearer(token), json=body)
    assert r.status_code == 201, r.text
    return r.json()


def patch(api, token, task_id, **body):
    r = api.patch("/v1/tasks/" + task_id, headers=bearer(token), json=body)
    assert r.status_code == 200, r.text
    return r.json()


def ids(items):
    return [x["id"] for x in items]


def problem_shape(r):
    d = r.json()
    return (r.status_code, d["type"], d["title"], d["detail"],
            d.get("errors"))


@contextmanager
def fresh_user(api, tokens, **over):
    """A user of the demo organisation for this test only, with a token;
    deactivated afterwards so no later test meets them."""
    body = {"email": f"t{uuid.uuid4().hex[:10]}@example.com",
            "name": "任务测试员", "role": "sales_rep", "password": PASSWORD}
    body.update(over)
    r = api.post("/v1/users", headers=bearer(tokens["admin"]), json=body)
    assert r.status_code == 201, r.text
    u = r.json()
    try:
        u["token"] = login(api, u["email"], PASSWORD).json()["access_token"]
        yield u
    finally:
        api.delete("/v1/users/" + u["id"], headers=bearer(tokens["admin"]))


def test_task_lifecycle(api, stack, tokens):
    h = bearer(tokens["rep1"])
    c = customer(api, tokens["rep1"])
    r = api.post("/v1/tasks", headers=h, json={
        "title": "给客户发送春季报价单", "description": "按拜访确认的品类报价。",
        "due_at": "2030-01-10T18:00:00+08:00",
        "remind_at": "2030-01-10T09:00:00+08:00", "priority": "high",
        "customer_id": c})
    assert r.status_code == 201, r.text
    t = r.json()
    assert r.headers["location"].endswith("/v1/tasks/" + t["id"])
    assert r.headers["etag"] == '"1"'
    assert (t["assignee_id"], t["created_by"], t["status"], t["priority"],
            t["completed_at"], t["overdue"], t["customer_id"],
            t["version"]) == (REP1, REP1, "open", "high", None, False, c, 1)
    assert when(t["due_at"]) == datetime(2030, 1, 10, 10,
                                         tzinfo=timezone.utc)
    got = api.get("/v1/tasks/" + t["id"], headers=h)
    assert got.status_code == 200 and got.json() == t
    assert got.headers["etag"] == '"1"'
    r = api.patch("/v1/tasks/" + t["id"], headers={**h, "If-Match": '"1"'},
                  json={"title": "发送修订后的报价单", "remind_at": None,
                        "priority": "urgent"})
    assert r.status_code == 200, r.text
    assert (r.json()["title"], r.json()["remind_at"], r.json()["priority"],
            r.json()["version"]) == ("发送修订后的报价单", None, "urgent", 2)
    assert api.patch("/v1/tasks/" + t["id"], headers={**h, "If-Match": '"1"'},
                     json={"title": "x"}).status_code == 412
    assert api.delete("/v1/tasks/" + t["id"], headers={**h, "If-Match": '"1"'}
                      ).status_code == 412
    assert api.delete("/v1/tasks/" + t["id"], headers={**h, "If-Match": '"2"'}
                      ).status_code == 204
    assert api.get("/v1/tasks/" + t["id"], headers=h).status_code == 404
    assert stack.sql("SELECT deleted_at IS NOT NULL, title FROM tasks "
                     "WHERE id = %s", (t["id"],)) == [(True, "发送修订后的报价单")]
    assert api.get("/v1/tasks?customer_id=" + c, headers=h).json() == {
        "data": [], "next_cursor": None}


def test_status_machine(api, stack, tokens):
    tk = tokens["rep1"]
    t = task(api, tk, due_at="2020-01-01T00:00:00Z")
    assert t["overdue"] is True
    h = bearer(tk)

    def refused(status, allowed):
        version = stack.sql("SELECT version FROM tasks WHERE id = %s",
                            (t["id"],))[0][0]
        r = api.patch("/v1/tasks/" + t["id"], headers=h,
                      json={"status": status, "title": "不该改"})
        assert r.status_code == 409, r.text
        assert r.json()["detail"].endswith("allowed from %s: %s." % (
            current["status"], allowed)), r.json()["detail"]
        assert stack.sql("SELECT version, title FROM tasks WHERE id = %s",
                         (t["id"],)) == [(version, "跟进报价")]

    current = patch(api, tk, t["id"], status="in_progress")
    assert current["completed_at"] is None and current["overdue"] is True
    current = patch(api, tk, t["id"], status="done")
    done_at = when(current["completed_at"])
    assert abs(datetime.now(timezone.utc) - done_at) < timedelta(minutes=1)
    assert current["overdue"] is False
    refused("in_progress", "open")
    refused("cancelled", "open")
    # Saying the current status again changes nothing else.
    again = patch(api, tk, t["id"], status="done")
    assert when(again["completed_at"]) == done_at
    current = patch(api, tk, t["id"], status="open")
    assert current["completed_at"] is None
    current = patch(api, tk, t["id"], status="cancelled")
    assert current["completed_at"] is None and current["overdue"] is False
    refused("done", "open")
    refused("in_progress", "open")
    current = patch(api, tk, t["id"], status="open")
    current = patch(api, tk, t["id"], status="done")
    assert current["completed_at"] is not None
    r = api.patch("/v1/tasks/" + t["id"], headers=h, json={"status": "later"})
    assert r.status_code == 422
    # The database keeps completed_at, whatever writes the row.
    assert stack.sql("SELECT count(*) FROM tasks WHERE (status = 'done') <> "
                     "(completed_at IS NOT NULL)") == [(0,)]


def test_bad_input_is_refused_and_nothing_written(api, stack, tokens):
    t = tokens["rep1"]
    h = bearer(t)
    mine = customer(api, t)
    other_contact = contact(api, t, customer(api, t, "别家"))
    rep2_lead = lead(stack, REP2)
    ghost = str(uuid.uuid4())
    before = stack.sql("SELECT count(*) FROM tasks")[0][0]

    def refused(body, fields):
        r = api.post("/v1/tasks", headers=h, json=body)
        assert r.status_code == 422, (body, r.text)
        assert [e["field"] for e in r.json()["errors"]] == fields, r.text
        return r

    base = {"title": "准备合同"}
    for bad in ("2026-12-01 18:00", "明天", "2026-12-01", "18:00:00",
                "2026-12-01T18:00", "2026-02-30T18:00:00+08:00",
                "2026-12-01T18:61:00Z"):
        r = refused({**base, "due_at": bad}, ["due_at"])
        assert r.json()["errors"][0]["code"] == "format"
    refused({**base, "remind_at": "soon"}, ["remind_at"])
    refused({**base, "priority": "asap"}, ["priority"])
    refused({**base, "status": "done"}, ["status"])
    refused({"description": "没有标题"}, ["title"])
    refused({**base, "assignee_id": ghost}, ["assignee_id"])
    with fresh_user(api, tokens) as gone:
        pass
    r = refused({**base, "assignee_id": gone["id"]}, ["assignee_id"])
    assert r.json()["errors"][0]["code"] == "not_found"
    for field, theirs in (("customer_id", REP2_CUSTOMER),
                          ("lead_id", rep2_lead)):
        real = refused({**base, field: theirs}, [field])
        fake = refused({**base, field: ghost}, [field])
        assert problem_shape(real) == problem_shape(fake)
    refused({**base, "customer_id": mine, "contact_id": other_contact},
            ["contact_id"])
    r = refused({**base, "assignee_id": ghost, "customer_id": REP2_CUSTOMER},
                ["assignee_id", "customer_id"])
    assert stack.sql("SELECT count(*) FROM tasks")[0][0] == before
    # A PATCH cannot reassign: that is what a transfer is for.
    x = task(api, t)
    r = api.patch("/v1/tasks/" + x["id"], headers=h,
                  json={"assignee_id": REP2, "due_at": "下周一"})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"assignee_id",
                                                        "due_at"}
    assert api.get("/v1/tasks/" + x["id"], headers=h).json() == x


def test_transfer_with_history_and_audit(api, stack, tokens):
    h1 = bearer(tokens["rep1"])
    t = task(api, tokens["rep1"], title="拜访北京华夏出版",
             due_at="2030-02-01T10:00:00+08:00")
    rid = "transfer-" + uuid.uuid4().hex
    r = api.post("/v1/tasks/%s/transfer" % t["id"],
                 headers={**h1, "X-Request-Id": rid},
                 json={"assignee_id": REP2, "note": "客户在北京，请刘芳就近拜访"})
    assert r.status_code == 200, r.text
    moved = r.json()
    assert (moved["assignee_id"], moved["created_by"], moved["version"]) == \
        (REP2, REP1, 2)
    assert r.headers["etag"] == '"2"'
    hist = api.get("/v1/tasks/%s/transfers" % t["id"], headers=h1).json()
    assert [(x["from_id"], x["to_id"], x["by_id"], x["note"])
            for x in hist["data"]] == [(REP1, REP2, REP1, "客户在北京，请刘芳就近拜访")]
    at = when(hist["data"][0]["at"])
    assert abs(datetime.now(timezone.utc) - at) < timedelta(minutes=1)
    # The audit trigger recorded the reassignment, by whom.
    audit = api.get("/v1/audit?limit=500&entity=tasks&entity_id=" + t["id"],
                    headers=bearer(tokens["admin"])).json()["data"]
    change = [e for e in audit if e["request_id"] == rid]
    assert [(e["action"], e["actor_id"], e["changes"]["assignee_id"])
            for e in change] == [("update", REP1,
                                  {"before": REP1, "after": REP2})]
    # Both the creator and the new assignee see it.
    for who in ("rep1", "rep2", "manager"):
        assert api.get("/v1/tasks/" + t["id"], headers=bearer(tokens[who])
                       ).json()["assignee_id"] == REP2

    # Refused: unknown, inactive, the same assignee; nothing written.
    def refused(assignee, code):
        r = api.post("/v1/tasks/%s/transfer" % t["id"], headers=h1,
                     json={"assignee_id": assignee})
        assert r.status_code == 422, r.text
        assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
            ("assignee_id", code)]

    with fresh_user(api, tokens) as gone:
        pass
    refused(str(uuid.uuid4()), "not_found")
    refused(gone["id"], "not_found")
    refused(REP2, "unchanged")
    r = api.post("/v1/tasks/%s/transfer" % t["id"], headers=h1, json={})
    assert r.status_code == 422
    assert stack.sql("SELECT count(*) FROM task_transfers WHERE task_id = %s",
                     (t["id"],)) == [(1,)]
    assert api.get("/v1/tasks/" + t["id"], headers=h1).json() == moved
    # Done work is not handed on.
    patch(api, tokens["rep2"], t["id"], status="done")
    r = api.post("/v1/tasks/%s/transfer" % t["id"], headers=h1,
                 json={"assignee_id": MANAGER})
    assert r.status_code == 409 and "reopen" in r.json()["detail"]
    assert stack.sql("SELECT count(*) FROM task_transfers WHERE task_id = %s",
                     (t["id"],)) == [(1,)]


def test_transfer_out_of_sight(api, tokens):
    """Rep 2 hands the manager's task on to the service user: the answer
    shows the result, and then rep 2 no longer sees it."""
    t = task(api, tokens["manager"], title="处理客户投诉", assignee_id=REP2)
    h2 = bearer(tokens["rep2"])
    assert api.get("/v1/tasks/" + t["id"], headers=h2).status_code == 200
    r = api.post("/v1/tasks/%s/transfer" % t["id"], headers=h2,
                 json={"assignee_id": SERVICE, "note": "属于售后问题"})
    assert r.status_code == 200, r.text
    assert (r.json()["assignee_id"], r.json()["version"]) == (SERVICE, 2)
    assert api.get("/v1/tasks/" + t["id"], headers=h2).status_code == 404
    assert api.get("/v1/tasks/%s/transfers" % t["id"], headers=h2
                   ).status_code == 404
    for who in ("service", "manager"):
        assert api.get("/v1/tasks/" + t["id"], headers=bearer(tokens[who])
                       ).json() == r.json()
    hist = api.get("/v1/tasks/%s/transfers" % t["id"],
                   headers=bearer(tokens["manager"])).json()["data"]
    assert [(x["from_id"], x["to_id"], x["by_id"]) for x in hist] == [
        (REP2, SERVICE, REP2)]


def transfers(stack, task_id):
    return stack.sql("SELECT count(*) FROM task_transfers WHERE task_id = %s",
                     (task_id,))[0][0]


def test_transfer_racing_a_transfer_out_of_sight(api, stack, tokens):
    """Rep 1 hands on the manager's task while someone else gives it to
    marketing, out of rep 1's sight: rep 1's transfer waits for the other
    one, then answers 404 and writes no history (it used to commit a
    transfer row for a reassignment that never happened)."""
    t = task(api, tokens["manager"], title="回访四川糖酒", assignee_id=REP1)

    def transfer():
        return api.post("/v1/tasks/%s/transfer" % t["id"],
                        headers=bearer(tokens["rep1"]),
                        json={"assignee_id": REP2, "note": "请代为回访"})

    r, waited = race(stack, [("UPDATE tasks SET assignee_id = %s "
                              "WHERE id = %s", (MARKETING, t["id"]))],
                     transfer)
    assert waited
    assert r.status_code == 404, r.text
    assert r.json()["detail"] == "The resource does not exist."
    assert transfers(stack, t["id"]) == 0
    assert api.get("/v1/tasks/" + t["id"], headers=bearer(tokens["manager"])
                   ).json()["assignee_id"] == MARKETING


def reassign_as(stack, short, task_id, to):
    """Call crm_task_reassign straight, as crm_app with `short` bound:
    what the server's role could do with it outside the API."""
    principal = '{"user": "%s", "org": "%s"}' % (DEMO[short][1], DEMO_ORG)
    with psycopg.connect(stack.dsn("crm_app")) as conn:
        conn.execute("SELECT crm_bind(%s::jsonb)", (principal,))
        return conn.execute("SELECT (crm_task_reassign(%s, %s)).assignee_id::text",
                            (task_id, to)).fetchone()[0]


def test_reassign_keeps_the_rules_whoever_calls_it(api, stack, tokens):
    """crm_task_reassign (granted to the server's role) refuses what the
    transfer route refuses and writes the history itself."""
    t = task(api, tokens["rep1"], title="准备年度合同")
    patch(api, tokens["rep1"], t["id"], status="done")
    with pytest.raises(psycopg.Error) as e:
        reassign_as(stack, "rep1", t["id"], REP2)
    assert e.value.sqlstate == "CR409"
    patch(api, tokens["rep1"], t["id"], status="open")
    with fresh_user(api, tokens) as gone:
        pass
    for who, code in ((gone["id"], "CR422"), (REP1, "CR422")):
        with pytest.raises(psycopg.Error) as e:
            reassign_as(stack, "rep1", t["id"], who)
        assert e.value.sqlstate == code
    with pytest.raises(psycopg.Error) as e:
        reassign_as(stack, "rep2", t["id"], REP2)
    assert e.value.sqlstate == "CR404"
    assert transfers(stack, t["id"]) == 0
    assert reassign_as(stack, "rep1", t["id"], REP2) == REP2
    hist = api.get("/v1/tasks/%s/transfers" % t["id"],
                   headers=bearer(tokens["rep1"])).json()["data"]
    assert [(x["from_id"], x["to_id"], x["by_id"]) for x in hist] == [
        (REP1, REP2, REP1)]


def test_collaboration_across_roles(api, tokens):
    """Anyone active may be assigned: the assignee and the creator both
    work on the task, nobody else outside their lines."""
    t = task(api, tokens["rep1"], title="核对客户开票信息", assignee_id=SERVICE,
             customer_id=REP1_CUSTOMER)
    hs = bearer(tokens["service"])
    assert t["id"] in ids(api.get("/v1/tasks?limit=500&assignee_id=" +
                                  SERVICE, headers=hs).json()["data"])
    assert patch(api, tokens["service"], t["id"],
                 status="in_progress")["status"] == "in_progress"
    assert api.get("/v1/tasks/" + t["id"], headers=bearer(tokens["rep1"])
                   ).json()["status"] == "in_progress"
    assert api.get("/v1/tasks/" + t["id"], headers=bearer(tokens["rep2"])
                   ).status_code == 404
    assert api.get("/v1/tasks/" + t["id"], headers=bearer(tokens["marketing"])
                   ).status_code == 404


def test_list_filters_sorts_and_pages(api, stack, tokens):
    tk = tokens["rep1"]
    h = bearer(tk)
    c = customer(api, tk)
    now = datetime.now(timezone.utc)
    a = task(api, tk, title="逾期", due_at=iso(now - timedelta(days=1)),
             priority="urgent", customer_id=c)
    b = task(api, tk, title="明天", due_at=iso(now + timedelta(days=1)),
             customer_id=c)
    cc = task(api, tk, title="三天后", due_at=iso(now + timedelta(days=3)),
              priority="high", customer_id=c)
    d = task(api, tk, title="无期限", customer_id=c)
    e = task(api, tk, title="已完成", due_at=iso(now + timedelta(days=2)),
             customer_id=c)
    patch(api, tk, e["id"], status="done")
    q = "/v1/tasks?customer_id=" + c

    def listed(extra=""):
        r = api.get(q + extra, headers=h)
        assert r.status_code == 200, r.text
        return ids(r.json()["data"])

    expect = {"due_at": [a, b, e, cc, d], "-due_at": [cc, e, b, a, d],
              "-created_at": [e, d, cc, b, a]}
    assert listed() == ids(expect["due_at"])
    for sort, want in expect.items():
        assert listed("&sort=" + sort) == ids(want)
        seen, cursor = [], None
        while True:
            page = api.get(q + "&limit=2&sort=" + sort +
                           ("&cursor=" + cursor if cursor else ""),
                           headers=h).json()
            seen += ids(page["data"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == ids(want), sort
    assert listed("&overdue=true") == [a["id"]]
    assert listed("&overdue=false") == ids([b, e, cc, d])
    assert listed("&status=done") == [e["id"]]
    assert listed("&status=open&priority=high") == [cc["id"]]
    assert listed("&due_before=" + iso(now + timedelta(hours=36)).replace(
        "+", "%2B")) == ids([a, b])
    assert listed("&due_after=" + iso(now).replace("+", "%2B")) == ids(
        [b, e, cc])
    assert listed("&assignee_id=" + REP2) == []
    op = opportunity(stack, REP1, c)
    ld = lead(stack, REP1)
    f = task(api, tk, title="商机跟进", opportunity_id=op)
    g = task(api, tk, title="线索回访", lead_id=ld)
    assert f["customer_id"] == c
    assert ids(api.get("/v1/tasks?opportunity_id=" + op, headers=h
                       ).json()["data"]) == [f["id"]]
    assert ids(api.get("/v1/tasks?lead_id=" + ld, headers=h
                       ).json()["data"]) == [g["id"]]
    # A cursor belongs to its list and sort.
    first = api.get(q + "&limit=1&sort=due_at", headers=h).json()
    r = api.get(q + "&sort=-due_at&cursor=" + first["next_cursor"],
                headers=h)
    assert r.status_code == 400
    acts = api.post("/v1/activities", headers=h, json={
        "type": "note", "subject": "记一笔", "customer_id": c})
    assert acts.status_code == 201
    api.post("/v1/activities", headers=h, json={
        "type": "note", "subject": "再记一笔", "customer_id": c})
    other = api.get("/v1/activities?limit=1&customer_id=" + c,
                    headers=h).json()["next_cursor"]
    assert api.get(q + "&cursor=" + other, headers=h).status_code == 400
    r = api.get("/v1/tasks?sort=title&overdue=maybe&due_after=today",
                headers=h)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {
        "sort", "overdue", "due_after"}


def test_access_matrix(api, tokens, org2):
    t = task(api, tokens["rep1"], title="一号的任务", customer_id=REP1_CUSTOMER)
    u = task(api, tokens["rep2"], title="二号的任务")
    ghost = str(uuid.uuid4())
    routes = (("GET", "/v1/tasks/{}", None),
              ("PATCH", "/v1/tasks/{}", {"title": "越权"}),
              ("DELETE", "/v1/tasks/{}", None),
              ("POST", "/v1/tasks/{}/transfer", {"assignee_id": SERVICE}),
              ("GET", "/v1/tasks/{}/transfers", None))
    for token in (tokens["rep2"], tokens["marketing"], org2["admin"],
                  org2["rep"]):
        h = bearer(token)
        for method, path, body in routes:
            real = api.request(method, path.format(t["id"]), headers=h,
                               json=body)
            fake = api.request(method, path.format(ghost), headers=h,
                               json=body)
            assert real.status_code == 404, (method, path, real.text)
            assert problem_shape(real) == problem_shape(fake)
        for extra in ("", "&assignee_id=" + REP1,
                      "&customer_id=" + REP1_CUSTOMER, "&overdue=false"):
            page = api.get("/v1/tasks?limit=500" + extra, headers=h).json()
            assert t["id"] not in ids(page["data"])
    assert api.get("/v1/tasks?limit=500", headers=bearer(org2["admin"])
                   ).json()["data"] == []
    assert api.get("/v1/tasks/" + t["id"], headers=bearer(tokens["rep1"])
                   ).json() == t
    m = bearer(tokens["manager"])
    assert {t["id"], u["id"]} <= set(ids(api.get(
        "/v1/tasks?limit=500", headers=m).json()["data"]))
    for x in (t, u):
        assert patch(api, tokens["manager"], x["id"],
                     priority="high")["priority"] == "high"
    assert api.get("/v1/tasks/%s/transfers" % t["id"], headers=m
                   ).json() == {"data": []}


def test_api_key_scopes(api, tokens):
    def key(scopes):
        r = api.post("/v1/api-keys", headers=bearer(tokens["admin"]),
                     json={"name": "钉钉集成", "scopes": scopes,
                           "user_id": REP1})
        assert r.status_code == 201, r.text
        return {"X-API-Key": r.json()["key"]}

    t = task(api, tokens["rep1"])
    routes = (("GET", "/v1/tasks", None),
              ("POST", "/v1/tasks", {"title": "x"}),
              ("GET", "/v1/tasks/" + t["id"], None),
              ("PATCH", "/v1/tasks/" + t["id"], {"title": "x"}),
              ("DELETE", "/v1/tasks/" + t["id"], None),
              ("POST", "/v1/tasks/%s/transfer" % t["id"],
               {"assignee_id": REP2}),
              ("GET", "/v1/tasks/%s/transfers" % t["id"], None),
              ("GET", "/v1/me/agenda", None))
    none = key(["activities:write", "customers:read"])
    for method, path, body in routes:
        r = api.request(method, path, headers=none, json=body)
        assert r.status_code == 403, (method, path)
        assert "tasks:" in r.json()["detail"]
    read = key(["tasks:read"])
    for method, path, body in routes:
        r = api.request(method, path, headers=read, json=body)
        want = 200 if method == "GET" else 403
        assert r.status_code == want, (method, path, r.text)
    write = key(["tasks:write"])
    r = api.post("/v1/tasks", headers=write, json={"title": "集成创建的任务"})
    assert r.status_code == 201
    assert (r.json()["created_by"], r.json()["assignee_id"]) == (REP1, REP1)
    assert api.get("/v1/tasks/" + t["id"], headers=bearer(tokens["rep1"])
                   ).json() == t


def test_agenda_contents(api, stack, tokens):
    """A data set with times relative to now, and the agenda item by
    item: which tasks and follow-ups are overdue, upcoming, reminders."""
    with fresh_user(api, tokens) as me:
        tk = me["token"]
        h = bearer(tk)
        now = datetime.now(timezone.utc)

        def at(**delta):
            return iso(now + timedelta(**delta))

        def mk(title, **body):
            return task(api, tk, title=title, **body)

        c1, c2, c3 = (customer(api, tk, n) for n in ("甲", "乙", "丙"))
        late_remind = mk("昨天到期", due_at=at(hours=-26),
                         remind_at=at(hours=-27), priority="urgent",
                         customer_id=c1)
        late = mk("两小时前到期", due_at=at(hours=-2), priority="high")
        progress = mk("进行中逾期", due_at=at(minutes=-30))
        patch(api, tk, progress["id"], status="in_progress")
        received = task(api, tokens["rep1"], title="同事指派的",
                        assignee_id=me["id"], due_at=at(hours=5))
        soon = mk("明天到期", due_at=at(days=1))
        remind_later = mk("后天到期", due_at=at(days=2), remind_at=at(hours=1))
        soon_remind = mk("三天后到期", due_at=at(days=3),
                         remind_at=at(minutes=-10))
        far = mk("十天后到期", due_at=at(days=10))
        undated_remind = mk("只有提醒", remind_at=at(minutes=-5))
        mk("无期限无提醒")
        for status in ("done", "cancelled"):
            x = mk("已结束", due_at=at(hours=-3), remind_at=at(hours=-2))
            patch(api, tk, x["id"], status=status)
        gone = mk("已删除", due_at=at(hours=-1))
        assert api.delete("/v1/tasks/" + gone["id"], headers=h
                          ).status_code == 204
        mk("给同事的", assignee_id=REP1, due_at=at(hours=-1))
        handed = mk("转出的", due_at=at(hours=1))
        assert api.post("/v1/tasks/%s/transfer" % handed["id"], headers=h,
                        json={"assignee_id": REP1}).status_code == 200

        def act(**body):
            body.setdefault("type", "call")
            r = api.post("/v1/activities", headers=h, json=body)
            assert r.status_code == 201, r.text
            return r.json()

        op = opportunity(stack, me["id"], c1)
        f_opp = act(subject="商机回访", opportunity_id=op,
                    occurred_at=at(days=-4), next_follow_up_at=at(hours=-3))
        f_late = act(subject="甲客户回访", customer_id=c1,
                     occurred_at=at(days=-3), next_follow_up_at=at(hours=-24))
        act(subject="乙客户回访", customer_id=c2, occurred_at=at(days=-5),
            next_follow_up_at=at(days=-2))
        act(subject="乙客户已联系", customer_id=c2, occurred_at=at(days=-1))
        f_soon = act(subject="丙客户约见", customer_id=c3,
                     occurred_at=at(hours=-1), next_follow_up_at=at(hours=50))
        f_far = act(subject="乙客户季度回访", customer_id=c2,
                    occurred_at=at(minutes=-30),
                    next_follow_up_at=at(days=20))
        # Another person's follow-up on this user's customer is theirs.
        act_other = api.post("/v1/activities", headers=bearer(
            tokens["service"]), json={"type": "call", "subject": "客服回访",
                                      "customer_id": c3,
                                      "occurred_at": at(days=-10),
                                      "next_follow_up_at": at(hours=-5)})
        assert act_other.status_code == 201

        r = api.get("/v1/me/agenda", headers=h)
        assert r.status_code == 200, r.text
        ag = r.json()
        assert ag["days"] == 7
        assert abs(when(ag["as_of"]) - datetime.now(timezone.utc)) < \
            timedelta(minutes=1)
        assert ids(ag["overdue"]) == ids([late_remind, f_late, f_opp, late,
                                          progress])
        assert ids(ag["upcoming"]) == ids([received, soon, remind_later,
                                           f_soon, soon_remind])
        assert ids(ag["reminders"]) == ids([late_remind, soon_remind,
                                            undated_remind])
        kinds = {x["id"]: x["kind"] for x in ag["overdue"] + ag["upcoming"]}
        assert [kinds[x["id"]] for x in (f_late, f_opp, f_soon)] == [
            "follow_up"] * 3
        first = ag["overdue"][0]
        assert first == {
            "kind": "task", "id": late_remind["id"], "title": "昨天到期",
            "due_at": late_remind["due_at"],
            "remind_at": late_remind["remind_at"], "priority": "urgent",
            "status": "open", "customer_id": c1, "contact_id": None,
            "opportunity_id": None, "lead_id": None}
        fu = ag["overdue"][2]
        assert (fu["kind"], fu["title"], fu["opportunity_id"],
                fu["customer_id"], fu["priority"], fu["status"],
                when(fu["due_at"])) == (
            "follow_up", "商机回访", op, c1, None, None,
            when(f_opp["next_follow_up_at"]))

        wide = api.get("/v1/me/agenda?days=30", headers=h).json()
        assert ids(wide["upcoming"]) == ids([received, soon, remind_later,
                                             f_soon, soon_remind, far,
                                             f_far])
        # The next call on the customer settles its follow-up; the one on
        # the opportunity waits for an activity on the opportunity.
        act(subject="甲客户电话", customer_id=c1)
        assert ids(api.get("/v1/me/agenda", headers=h).json()["overdue"]) \
            == ids([late_remind, f_opp, late, progress])
        act(subject="商机电话", opportunity_id=op)
        assert ids(api.get("/v1/me/agenda", headers=h).json()["overdue"]) \
            == ids([late_remind, late, progress])

        # A key without activities:read gets the tasks only.
        k = api.post("/v1/api-keys", headers=bearer(tokens["admin"]), json={
            "name": "日程同步", "scopes": ["tasks:read"],
            "user_id": me["id"]}).json()
        keyed = api.get("/v1/me/agenda?days=30",
                        headers={"X-API-Key": k["key"]}).json()
        assert ids(keyed["upcoming"]) == ids([received, soon, remind_later,
                                              soon_remind, far])
        for bad in ("0", "91", "week"):
            r = api.get("/v1/me/agenda?days=" + bad, headers=h)
            assert r.status_code == 422
            assert [e["field"] for e in r.json()["errors"]] == ["days"]
        # Other people's agendas are their own.
        assert not set(ids(ag["overdue"])) & set(ids(api.get(
            "/v1/me/agenda", headers=bearer(tokens["rep1"])).json()[
            "overdue"]))


def test_stale_if_match_loses_the_race(api, stack, tokens):
    """A PATCH or DELETE with If-Match waits for a change of the task in
    progress and then answers 412: the version is checked on the locked
    row, not on a read from before the other change committed."""
    t = task(api, tokens["rep1"], title="整理报价单")
    h = {**bearer(tokens["rep1"]), "If-Match": '"1"'}
    bump = [("UPDATE tasks SET title = '整理报价单（经理改）' WHERE id = %s",
             (t["id"],))]
    r, waited = race(stack, bump, lambda: api.patch(
        "/v1/tasks/" + t["id"], headers=h, json={"title": "我的改动"}))
    assert waited and r.status_code == 412, r.text
    h["If-Match"] = '"2"'
    bump[0] = ("UPDATE tasks SET priority = 'high' WHERE id = %s",
               (t["id"],))
    r, waited = race(stack, bump, lambda: api.delete(
        "/v1/tasks/" + t["id"], headers=h))
    assert waited and r.status_code == 412, r.text
    got = api.get("/v1/tasks/" + t["id"], headers=bearer(tokens["rep1"])
                  ).json()
    assert (got["title"], got["priority"], got["version"]) == (
        "整理报价单（经理改）", "high", 3)
