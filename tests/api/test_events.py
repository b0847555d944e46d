"""The outbox and the event feed (R61): GET /v1/events.

Every change writes its events in the same transaction, numbered 1, 2, 3,
... per organisation in commit order; the feed replays them in order with
the last id as the cursor; a caller sees the events of the records they
could read when the events happened; another organisation sees none; API
keys need events:read and the module's read scope.

The tests run in an organisation of their own, so ids and counts are
exact.
"""
import concurrent.futures
import uuid
from datetime import datetime

import psycopg
import pytest

from conftest import bearer, own_org


@pytest.fixture(scope="module")
def org(stack):
    return own_org(stack, "events", "成都事件测试有限公司")


def feed(api, token, **params):
    r = api.get("/v1/events", headers=bearer(token), params=params)
    assert r.status_code == 200, r.text
    return r.json()


def everything(api, token, **params):
    """Every event the caller sees, page by page (limit 2)."""
    out, after = [], params.pop("after", 0)
    while True:
        page = feed(api, token, after=after, limit=2, **params)
        out += page["data"]
        assert page["next_cursor"] == (page["data"][-1]["id"]
                                       if page["data"] else after)
        after = page["next_cursor"]
        if not page["has_more"]:
            return out


def last_id(stack, org):
    return stack.sql("SELECT coalesce(max(id), 0) FROM events "
                     "WHERE org_id = %s", (org["id"],))[0][0]


def customer(api, token, **body):
    body.setdefault("name", "事件客户" + uuid.uuid4().hex[:6])
    r = api.post("/v1/customers", headers=bearer(token), json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_changes_write_events_in_commit_order(api, stack, org):
    t = org["tokens"]
    start = last_id(stack, org)
    c1 = customer(api, t["rep1"], name="青羊事件贸易")
    c2 = customer(api, t["rep1"], name="锦江事件商行")
    r = api.patch(f"/v1/customers/{c1['id']}", headers=bearer(t["rep1"]),
                  json={"name": "青羊事件贸易有限公司", "grade": "A"})
    assert r.status_code == 200
    assert api.delete(f"/v1/customers/{c2['id']}",
                      headers=bearer(t["rep1"])).status_code == 204
    assert api.post(f"/v1/customers/{c2['id']}/restore",
                    headers=bearer(t["rep1"])).status_code == 200

    events = everything(api, t["admin"], after=start)
    assert [(e["id"], e["type"], e["record_id"]) for e in events] == [
        (start + 1, "customer.created", c1["id"]),
        (start + 2, "customer.created", c2["id"]),
        (start + 3, "customer.updated", c1["id"]),
        (start + 4, "customer.deleted", c2["id"]),
        (start + 5, "customer.restored", c2["id"])]
    created, updated = events[0], events[2]
    assert created["record_type"] == "customer"
    assert created["organization_id"] == org["id"]
    assert created["owner_id"] == org["users"]["rep1"]
    assert created["actor_id"] == org["users"]["rep1"]
    assert created["previous"] is None
    assert created["data"]["name"] == "青羊事件贸易"
    # The payload is the record's public shape, as its GET shows it.
    now = api.get(f"/v1/customers/{c1['id']}", headers=bearer(t["rep1"]))
    assert updated["data"] == now.json()
    assert updated["previous"] == {"name": "青羊事件贸易", "grade": None}
    assert events[3]["data"]["deleted_at"] is not None
    assert events[4]["data"]["deleted_at"] is None


def test_feed_pages_and_cursor(api, stack, org):
    t = org["tokens"]
    start = last_id(stack, org)
    ids = [customer(api, t["rep2"])["id"] for _ in range(5)]
    page = feed(api, t["admin"], after=start, limit=2)
    assert [e["record_id"] for e in page["data"]] == ids[:2]
    assert page["next_cursor"] == start + 2 and page["has_more"] is True
    page = feed(api, t["admin"], after=page["next_cursor"], limit=2)
    assert [e["record_id"] for e in page["data"]] == ids[2:4]
    page = feed(api, t["admin"], after=page["next_cursor"], limit=2)
    assert [e["record_id"] for e in page["data"]] == ids[4:]
    assert page["has_more"] is False
    # Caught up: nothing, and the cursor stays where it was.
    page = feed(api, t["admin"], after=start + 5)
    assert page == {"data": [], "next_cursor": start + 5, "has_more": False}
    # Ids are gapless: every id up to the last is there once.
    all_ids = [e["id"] for e in everything(api, t["admin"])]
    assert all_ids == list(range(1, last_id(stack, org) + 1))


def test_concurrent_writers_get_distinct_ordered_ids(api, stack, org):
    t = org["tokens"]
    start = last_id(stack, org)

    def one(i):
        return customer(api, t["rep1" if i % 2 else "rep2"])["id"]

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        made = set(ex.map(one, range(24)))
    events = everything(api, t["admin"], after=start)
    assert [e["id"] for e in events] == list(range(start + 1, start + 25))
    assert {e["record_id"] for e in events} == made
    # Commit order: ids follow the order the transactions committed in,
    # so occurred_at (taken under the counter's lock) never goes back.
    times = [datetime.fromisoformat(e["occurred_at"]) for e in events]
    assert times == sorted(times)


def test_types_and_record_filters(api, stack, org):
    t = org["tokens"]
    start = last_id(stack, org)
    c = customer(api, t["rep1"])
    api.patch(f"/v1/customers/{c['id']}", headers=bearer(t["rep1"]),
              json={"city": "成都"})
    other = customer(api, t["rep1"])
    got = feed(api, t["admin"], after=start, types="customer.updated")
    assert [(e["type"], e["record_id"]) for e in got["data"]] == [
        ("customer.updated", c["id"])]
    got = feed(api, t["admin"], after=start, types="customer.*")
    assert len(got["data"]) == 3
    got = feed(api, t["admin"], after=start,
               types="customer.created, lead.converted")
    assert [e["record_id"] for e in got["data"]] == [c["id"], other["id"]]
    got = feed(api, t["admin"], after=start, record_id=c["id"])
    assert [e["type"] for e in got["data"]] == ["customer.created",
                                                 "customer.updated"]
    assert feed(api, t["admin"], after=start, types="*")["data"] == \
        feed(api, t["admin"], after=start)["data"]


@pytest.mark.parametrize("params, field", [
    ({"types": "customer.exploded"}, "types"),
    ({"types": "customer.created,,order.paid"}, "types"),
    ({"types": "nothing.*"}, "types"),
    ({"after": "-1"}, "after"),
    ({"after": "abc"}, "after"),
    ({"limit": "0"}, "limit"),
    ({"limit": "501"}, "limit"),
    ({"record_id": "not-a-uuid"}, "record_id"),
    ({"since": "2026-01-01"}, "since"),
])
def test_bad_feed_queries(api, org, params, field):
    r = api.get("/v1/events", headers=bearer(org["tokens"]["admin"]),
                params=params)
    assert r.status_code in (400, 422), r.text
    assert field in {e["field"] for e in r.json().get("errors", [])}, r.text


def test_a_failed_change_writes_no_event(api, stack, org):
    t = org["tokens"]
    ext = "EXT-" + uuid.uuid4().hex[:8]
    customer(api, t["rep1"], external_id=ext)
    before = last_id(stack, org)
    r = api.post("/v1/customers", headers=bearer(t["rep1"]),
                 json={"name": "重复的外部编号", "external_id": ext})
    assert r.status_code == 409
    assert last_id(stack, org) == before


def test_reps_see_only_their_records_events(api, stack, org):
    t, u = org["tokens"], org["users"]
    start = last_id(stack, org)
    mine = customer(api, t["rep1"])
    theirs = customer(api, t["rep2"])
    rep1 = {e["record_id"] for e in everything(api, t["rep1"], after=start)}
    rep2 = {e["record_id"] for e in everything(api, t["rep2"], after=start)}
    boss = {e["record_id"] for e in everything(api, t["manager"],
                                                after=start)}
    assert rep1 == {mine["id"]} and rep2 == {theirs["id"]}
    assert boss == {mine["id"], theirs["id"]}
    # Not even through the record filter, nor by a page of the whole log.
    assert feed(api, t["rep2"], record_id=mine["id"])["data"] == []
    assert mine["id"] not in {e["record_id"]
                              for e in everything(api, t["rep2"])}
    # A reassigned customer: its later events follow the new owner.
    r = api.patch(f"/v1/customers/{mine['id']}", headers=bearer(t["manager"]),
                  json={"owner_id": u["rep2"]})
    assert r.status_code == 200
    moved = feed(api, t["rep2"], record_id=mine["id"])["data"]
    assert [e["type"] for e in moved] == ["customer.updated"]
    assert moved[0]["owner_id"] == u["rep2"]
    assert moved[0]["previous"]["owner_id"] == u["rep1"]
    assert [e["type"] for e in feed(api, t["rep1"], record_id=mine["id"]
                                    )["data"]] == ["customer.created"]


def test_marketing_sees_every_customer_but_not_deals(api, stack, org):
    t = org["tokens"]
    r = api.post("/v1/users", headers=bearer(t["admin"]), json={
        "email": "marketing@events.example", "name": "市场小李",
        "role": "marketing", "password": "own-org-password-1"})
    assert r.status_code == 201, r.text
    mk = api.post("/v1/auth/login", json={
        "email": "marketing@events.example",
        "password": "own-org-password-1"}).json()["access_token"]
    start = last_id(stack, org)
    c = customer(api, t["rep1"])
    deal = api.post("/v1/opportunities", headers=bearer(t["rep1"]), json={
        "name": "市场看不到的商机", "customer_id": c["id"],
        "amount": "1000.00"})
    assert deal.status_code == 201, deal.text
    seen = [(e["type"], e["record_id"]) for e in everything(api, mk,
                                                             after=start)]
    assert seen == [("customer.created", c["id"])]
    rep1 = [e["type"] for e in everything(api, t["rep1"], after=start)]
    assert rep1 == ["customer.created", "opportunity.created"]


def test_other_organisation_sees_none(api, stack, org, org2):
    customer(api, org["tokens"]["rep1"])
    mine = {e["record_id"] for e in everything(api, org["tokens"]["admin"])}
    theirs = everything(api, org2["admin"])
    assert all(e["organization_id"] == org2["org"] for e in theirs)
    assert not mine & {e["record_id"] for e in theirs}
    # The same ids exist in both organisations; each sees its own.
    assert feed(api, org2["admin"], record_id=next(iter(mine)))["data"] == []


def test_deal_won_order_with_lines_and_payment(api, stack, org):
    t = org["tokens"]
    start = last_id(stack, org)
    c = customer(api, t["rep1"])
    p = api.post("/v1/products", headers=bearer(t["admin"]), json={
        "sku": "EV-" + uuid.uuid4().hex[:6], "name": "事件测试年刊",
        "unit_price": "120.00", "tax_rate": "9"})
    assert p.status_code == 201, p.text
    deal = api.post("/v1/opportunities", headers=bearer(t["rep1"]), json={
        "name": "年度订阅", "customer_id": c["id"], "amount": "240.00"}).json()
    assert api.post(f"/v1/opportunities/{deal['id']}/win",
                    headers=bearer(t["rep1"])).status_code == 200
    o = api.post("/v1/orders", headers=bearer(t["rep1"]), json={
        "customer_id": c["id"],
        "lines": [{"product_id": p.json()["id"], "quantity": "2"}]})
    assert o.status_code == 201, o.text
    o = o.json()
    assert api.post(f"/v1/orders/{o['id']}/confirm",
                    headers=bearer(t["rep1"])).status_code == 200
    r = api.post(f"/v1/orders/{o['id']}/payments", headers=bearer(t["rep1"]),
                 json={"amount": o["grand_total"], "method": "alipay"})
    assert r.status_code == 201, r.text

    events = everything(api, t["admin"], after=start)
    assert [e["type"] for e in events] == [
        "customer.created", "product.created", "opportunity.created",
        "opportunity.stage_changed", "opportunity.won", "order.created",
        "order.confirmed", "order.paid"]
    won = events[4]
    assert won["data"]["status"] == "won"
    assert won["previous"]["status"] == "open"
    # The order's lines are written after its row, in the same
    # transaction: the event, written at commit, has them.
    created = events[5]["data"]
    assert created["grand_total"] == "261.60"
    assert [(x["quantity"], x["total"]) for x in created["lines"]] == [
        ("2.000", "261.60")]
    assert events[7]["data"]["payment_status"] == "paid"
    assert events[1]["owner_id"] is None
    # Products are everyone's to read: a rep sees the product event.
    assert "product.created" in {e["type"] for e in
                                 everything(api, t["rep2"], after=start)}


def key(api, org, scopes):
    r = api.post("/v1/api-keys", headers=bearer(org["tokens"]["admin"]),
                 json={"name": "事件同步 " + ",".join(scopes),
                       "scopes": scopes})
    assert r.status_code == 201, r.text
    return r.json()["key"]


def test_api_keys_need_events_read_and_the_module_scope(api, stack, org):
    t = org["tokens"]
    start = last_id(stack, org)
    c = customer(api, t["rep1"])
    deal = api.post("/v1/opportunities", headers=bearer(t["rep1"]), json={
        "name": "密钥商机", "customer_id": c["id"], "amount": "5.00"})
    assert deal.status_code == 201
    k = key(api, org, ["events:read", "customers:read"])
    got = api.get("/v1/events", headers={"X-API-Key": k},
                  params={"after": start})
    assert got.status_code == 200
    assert [e["type"] for e in got.json()["data"]] == ["customer.created"]
    k = key(api, org, ["events:read", "opportunities:write"])
    got = api.get("/v1/events", headers=bearer(k), params={"after": start})
    assert [e["type"] for e in got.json()["data"]] == ["opportunity.created"]
    for scopes in (["customers:read"], ["orders:write", "reports:read"]):
        r = api.get("/v1/events", headers=bearer(key(api, org, scopes)))
        assert r.status_code == 403
        assert "events:read" in r.json()["detail"]
    assert api.get("/v1/events").status_code == 401


def test_app_role_cannot_write_or_forge_events(stack, org):
    principal = '{"user": "%s", "org": "%s"}' % (org["users"]["admin"],
                                                  org["id"])
    for q in ("INSERT INTO events (org_id, id, type, record_type, "
              "record_id, data) VALUES ('%s', 999999, 'customer.created', "
              "'customer', gen_random_uuid(), '{}')" % org["id"],
              "UPDATE events SET data = '{}'",
              "DELETE FROM events",
              "UPDATE event_counters SET last = 0",
              "SELECT crm_event_emit('%s', 'customer.created', 'customer', "
              "gen_random_uuid(), NULL, '{}', NULL)" % org["id"],
              "SELECT crm_event_reserve('%s', 1000)" % org["id"],
              "SELECT crm_event_queue('%s', 'customer.created', 1, 1)"
              % org["id"]):
        with psycopg.connect(stack.dsn("crm_app")) as conn:
            conn.execute("SELECT crm_bind(%s::jsonb)", (principal,))
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(q)


def test_purged_ids_are_never_reused(api, stack, org):
    """Runs last here: it deletes this organisation's events."""
    t = org["tokens"]
    top = last_id(stack, org)
    stack.sql("UPDATE events SET occurred_at = now() - interval '31 days' "
              "WHERE org_id = %s", (org["id"],))
    with psycopg.connect(stack.dsn("crm_webhookd"), autocommit=True) as c:
        gone = c.execute("SELECT webhookd_purge(30, 100000)").fetchone()[0]
    assert gone >= top
    assert last_id(stack, org) == 0
    assert feed(api, t["admin"])["data"] == []
    c = customer(api, t["rep1"])
    (e,) = feed(api, t["admin"])["data"]
    assert (e["id"], e["record_id"]) == (top + 1, c["id"])
