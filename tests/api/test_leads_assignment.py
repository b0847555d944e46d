"""Lead assignment: rules by position with equality conditions, one owner
or a round-robin rotation (safe under concurrent creates), and
reassignment by hand or by the rules again, audited (R20)."""
import concurrent.futures
import uuid

import pytest

from conftest import DEMO, Client, bearer
from leads_helpers import count, lead, reset_lead_config

ADMIN = DEMO["admin"][1]
MANAGER = DEMO["manager"][1]
REP1 = DEMO["rep1"][1]
REP2 = DEMO["rep2"][1]


@pytest.fixture
def clean(stack, tokens):
    reset_lead_config(stack, tokens["admin"])
    yield
    reset_lead_config(stack, tokens["admin"])


def rule(api, tokens, **body):
    body.setdefault("name", "规则" + uuid.uuid4().hex[:6])
    r = api.post("/v1/assignment-rules", headers=bearer(tokens["admin"]),
                 json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_first_matching_rule_by_position_decides(api, tokens, clean):
    tag = uuid.uuid4().hex[:6]
    src = "展会" + tag
    rule(api, tokens, position=20, source=src, user_id=MANAGER)
    both = rule(api, tokens, position=10, source=src, province="四川",
                user_id=REP2)
    rule(api, tokens, position=5, source=src, active=False, user_id=ADMIN)
    m = bearer(tokens["marketing"])
    # All given conditions must hold; the lowest position wins.
    assert lead(api, tokens["marketing"], source=src, province="四川"
                )["owner_id"] == REP2
    assert lead(api, tokens["marketing"], source=src, province="广东"
                )["owner_id"] == MANAGER
    # No rule matches: the caller owns it.
    assert lead(api, tokens["marketing"], source="其他" + tag
                )["owner_id"] == DEMO["marketing"][1]
    # The rules may give a rep's new lead to someone the rep cannot see:
    # the answer shows it, later reads are 404 as for anyone else's.
    x = lead(api, tokens["rep1"], source=src, province="四川")
    assert x["owner_id"] == REP2
    assert api.get("/v1/leads/" + x["id"], headers=bearer(tokens["rep1"])
                   ).status_code == 404
    # An explicit owner_id skips the rules.
    assert lead(api, tokens["rep1"], source=src, owner_id=REP1
                )["owner_id"] == REP1
    listed = api.get("/v1/assignment-rules", headers=m).json()["data"]
    assert [r["position"] for r in listed] == [5, 10, 20]
    assert listed[1]["id"] == both["id"]


def test_round_robin_takes_turns(api, stack, tokens, clean):
    src = "官网" + uuid.uuid4().hex[:6]
    rr = rule(api, tokens, source=src,
              round_robin_user_ids=[REP1, REP2, MANAGER])
    assert rr["user_id"] is None and rr["next_index"] == 0
    owners = [lead(api, tokens["marketing"], source=src)["owner_id"]
              for _ in range(4)]
    assert owners == [REP1, REP2, MANAGER, REP1]
    got = [r for r in api.get("/v1/assignment-rules", headers=bearer(
        tokens["admin"])).json()["data"] if r["id"] == rr["id"]][0]
    assert got["next_index"] == 1
    # The rotation moving is not a configuration change.
    assert got["version"] == 1
    assert count(stack, "audit_log", "entity = 'assignment_rules' AND "
                 "entity_id = %s", (rr["id"],)) == 1
    # A changed rotation starts from its first user.
    r = api.patch("/v1/assignment-rules/" + rr["id"],
                  headers={**bearer(tokens["admin"]), "If-Match": '"1"'},
                  json={"round_robin_user_ids": [REP2, REP1]})
    assert r.status_code == 200
    assert (r.json()["next_index"], r.json()["version"]) == (0, 2)
    assert lead(api, tokens["marketing"], source=src)["owner_id"] == REP2


def test_round_robin_is_safe_under_concurrent_creates(api, stack, tokens,
                                                       clean):
    src = "并发" + uuid.uuid4().hex[:6]
    rule(api, tokens, source=src, round_robin_user_ids=[REP1, REP2])

    def one(i):
        c = Client(stack.https, stack.ca)
        r = c.post("/v1/leads", headers=bearer(tokens["marketing"]),
                   json={"name": "并发线索%02d" % i, "source": src})
        assert r.status_code == 201, r.text
        return r.json()["owner_id"]

    with concurrent.futures.ThreadPoolExecutor(10) as ex:
        owners = list(ex.map(one, range(20)))
    assert sorted(owners) == sorted([REP1] * 10 + [REP2] * 10)
    assert count(stack, "leads", "source = %s AND owner_id = %s",
                 (src, REP1)) == 10


def test_inactive_users_are_skipped(api, tokens, clean):
    r = api.post("/v1/users", headers=bearer(tokens["admin"]), json={
        "email": "temp-%s@example.com" % uuid.uuid4().hex[:6],
        "name": "临时销售", "role": "sales_rep",
        "password": "temp-password-2026"})
    assert r.status_code == 201, r.text
    temp = r.json()["id"]
    src = "离职" + uuid.uuid4().hex[:6]
    rule(api, tokens, position=1, source=src, user_id=temp)
    rule(api, tokens, position=2, source=src,
         round_robin_user_ids=[temp, REP2])
    assert lead(api, tokens["marketing"], source=src)["owner_id"] == temp
    assert api.delete("/v1/users/" + temp, headers=bearer(tokens["admin"])
                      ).status_code in (200, 204)
    # The single-user rule is skipped, the rotation skips them.
    assert [lead(api, tokens["marketing"], source=src)["owner_id"]
            for _ in range(3)] == [REP2, REP2, REP2]


def test_reassign_by_hand_and_by_the_rules_audited(api, stack, tokens,
                                                   clean):
    src = "重新分配" + uuid.uuid4().hex[:6]
    x = lead(api, tokens["rep1"], source=src)
    assert x["owner_id"] == REP1
    path = "/v1/leads/%s/assign" % x["id"]
    # A rep cannot give it away; an unknown owner is refused.
    r = api.post(path, headers=bearer(tokens["rep1"]), json={
        "owner_id": REP2})
    assert r.status_code == 403
    r = api.post(path, headers=bearer(tokens["manager"]), json={
        "owner_id": str(uuid.uuid4())})
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["owner_id"]
    assert count(stack, "leads", "id = %s AND owner_id = %s AND version = 1",
                 (x["id"], REP1)) == 1
    # The manager reassigns within the team.
    r = api.post(path, headers=bearer(tokens["manager"]),
                 json={"owner_id": REP2})
    assert r.status_code == 200 and r.json()["owner_id"] == REP2
    assert r.headers["etag"] == '"2"'
    rows = stack.sql("SELECT actor_id::text, changes->'owner_id' FROM "
                     "audit_log WHERE entity = 'leads' AND entity_id = %s "
                     "AND action = 'update' ORDER BY id", (x["id"],))
    assert rows == [(MANAGER, {"before": REP1, "after": REP2})]
    # Without owner_id the rules run again; none matching keeps the owner.
    r = api.post(path, headers=bearer(tokens["rep2"]), json={})
    assert r.status_code == 200 and r.json()["owner_id"] == REP2
    rule(api, tokens, source=src, user_id=REP1)
    r = api.post(path, headers=bearer(tokens["rep2"]), json={})
    assert r.status_code == 200 and r.json()["owner_id"] == REP1
    assert api.get("/v1/leads/" + x["id"], headers=bearer(tokens["rep2"])
                   ).status_code == 404
    rows = stack.sql("SELECT actor_id::text, changes->'owner_id' FROM "
                     "audit_log WHERE entity = 'leads' AND entity_id = %s "
                     "AND action = 'update' ORDER BY id", (x["id"],))
    assert rows[-1] == (REP2, {"before": REP2, "after": REP1})


def test_bad_rules_are_refused_and_write_nothing(api, stack, tokens, clean):
    h = bearer(tokens["admin"])
    before = count(stack, "assignment_rules")
    for body, errors in (
            ({"name": "两者都有", "user_id": REP1,
              "round_robin_user_ids": [REP2]},
             [("round_robin_user_ids", "not_allowed")]),
            ({"name": "都没有"}, [("user_id", "required")]),
            ({"name": "无此人", "user_id": str(uuid.uuid4())},
             [("user_id", "unknown")]),
            ({"name": "轮流无此人",
              "round_robin_user_ids": [REP1, str(uuid.uuid4())]},
             [("round_robin_user_ids", "unknown")]),
            ({"name": "重复", "round_robin_user_ids": [REP1, REP1]},
             [("round_robin_user_ids", "duplicate")]),
            ({"name": "", "position": 0, "colour": "红", "user_id": REP1},
             [("colour", "unknown_field"), ("name", "length"),
              ("position", "range")])):
        r = api.post("/v1/assignment-rules", headers=h, json=body)
        assert r.status_code == 422, body
        assert [(e["field"], e["code"]) for e in r.json()["errors"]
                ] == errors, body
    assert count(stack, "assignment_rules") == before
    ok = rule(api, tokens, user_id=REP1)
    r = api.patch("/v1/assignment-rules/" + ok["id"], headers=h,
                  json={"user_id": None})
    assert r.status_code == 422
    assert api.patch("/v1/assignment-rules/" + ok["id"],
                     headers={**h, "If-Match": '"9"'}, json={"active": False}
                     ).status_code == 412
    assert api.patch("/v1/assignment-rules/" + str(uuid.uuid4()), headers=h,
                     json={"active": False}).status_code == 404
    assert api.delete("/v1/assignment-rules/" + str(uuid.uuid4()),
                      headers=h).status_code == 404


def test_only_admins_configure_and_keys_never(api, stack, tokens, org2,
                                              clean):
    body = {"name": "越权规则", "user_id": REP1}
    before = count(stack, "assignment_rules")
    for token in (tokens["rep1"], tokens["manager"], tokens["marketing"]):
        assert api.post("/v1/assignment-rules", headers=bearer(token),
                        json=body).status_code == 403
    r = api.post("/v1/api-keys", headers=bearer(tokens["admin"]),
                 json={"name": "分配集成", "scopes": ["leads:write"]})
    key = {"X-API-Key": r.json()["key"]}
    assert api.get("/v1/assignment-rules", headers=key).status_code == 403
    assert api.post("/v1/assignment-rules", headers=key, json=body
                    ).status_code == 403
    # Org 2's admin cannot route to org 1's people, nor see org 1's rules.
    r = api.post("/v1/assignment-rules", headers=bearer(org2["admin"]),
                 json=body)
    assert r.status_code == 422
    mine = rule(api, tokens, user_id=REP1)
    assert api.get("/v1/assignment-rules", headers=bearer(org2["admin"])
                   ).json()["data"] == []
    assert api.delete("/v1/assignment-rules/" + mine["id"],
                      headers=bearer(org2["admin"])).status_code == 404
    assert count(stack, "assignment_rules") == before + 1
    # Org 2's leads never meet org 1's rules; org 1's do.
    assert lead(api, org2["rep"])["owner_id"] == org2["rep_id"]
    assert lead(api, tokens["rep2"])["owner_id"] == REP1
