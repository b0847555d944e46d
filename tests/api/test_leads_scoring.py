"""Lead scoring and grading: rules and thresholds the admin configures,
scores kept by the database as leads, activities and rules change, and
automatic MQL (R20)."""
import uuid

import pytest

from conftest import DEMO, bearer
from leads_helpers import (add_activity, as_user, count, get, lead,
                           reset_lead_config)

ADMIN = DEMO["admin"][1]


@pytest.fixture
def clean(stack, tokens):
    """Each test starts and ends with no rules and default thresholds."""
    reset_lead_config(stack, tokens["admin"])
    yield
    reset_lead_config(stack, tokens["admin"])


def rule(api, tokens, **body):
    r = api.post("/v1/lead-scoring-rules", headers=bearer(tokens["admin"]),
                 json=body)
    assert r.status_code == 201, r.text
    return r.json()


def grading(api, tokens, **body):
    r = api.request("PUT", "/v1/lead-grading",
                    headers=bearer(tokens["admin"]), json=body)
    assert r.status_code == 200, r.text
    return r.json()


def score(api, tokens, x):
    y = get(api, tokens["rep1"], x["id"])
    return y["score"], y["grade"], y["status"]


def test_score_and_grade_move_with_rules_activities_and_thresholds(
        api, stack, tokens, clean):
    tag = uuid.uuid4().hex[:6]
    h = bearer(tokens["rep1"])
    industry = "量子计算" + tag
    rule(api, tokens, kind="field", field="industry", op="eq",
         value=industry, points=20)
    x = lead(api, tokens["rep1"], industry=industry,
             email="li@TFSP%s.example.cn" % tag)
    assert (x["score"], x["grade"]) == (20, "C")
    # A field change moves the score.
    r = api.patch("/v1/leads/" + x["id"], headers=h,
                  json={"industry": "餐饮"})
    assert (r.json()["score"], r.json()["grade"]) == (0, "D")
    api.patch("/v1/leads/" + x["id"], headers=h, json={"industry": industry})
    # A new rule rescored the open lead in the same statement.
    dom = rule(api, tokens, kind="field", field="email_domain", op="contains",
               value="tfsp" + tag, points=35)
    assert score(api, tokens, x) == (55, "B", "new")
    rule(api, tokens, kind="field", field="title", op="present", points=5)
    assert score(api, tokens, x)[0] == 55
    api.patch("/v1/leads/" + x["id"], headers=h, json={"title": "总经理"})
    assert score(api, tokens, x) == (60, "B", "new")
    # Activities: points per linked activity of the rule's type.
    rule(api, tokens, kind="activity", activity_type="visit", points=15)
    visit = add_activity(stack, "rep1", x["id"], "visit")
    assert score(api, tokens, x) == (75, "B", "new")
    add_activity(stack, "rep1", x["id"], "visit")
    add_activity(stack, "rep1", x["id"], "call")
    assert score(api, tokens, x) == (90, "A", "new")
    as_user(stack, "rep1", "UPDATE activities SET deleted_at = now() "
            "WHERE id = %s", (visit,))
    assert score(api, tokens, x) == (75, "B", "new")
    # Thresholds regrade at once.
    assert grading(api, tokens, a=100, b=80, c=70, mql_score=None) == {
        "a": 100, "b": 80, "c": 70, "mql_score": None}
    assert score(api, tokens, x) == (75, "C", "new")
    assert api.get("/v1/lead-grading", headers=h).json()["a"] == 100
    # Changing and removing a rule rescore too.
    r = api.patch("/v1/lead-scoring-rules/" + dom["id"],
                  headers={**bearer(tokens["admin"]), "If-Match": '"1"'},
                  json={"points": -35})
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    assert score(api, tokens, x) == (5, "D", "new")
    assert api.delete("/v1/lead-scoring-rules/" + dom["id"],
                      headers=bearer(tokens["admin"])).status_code == 204
    assert score(api, tokens, x) == (40, "D", "new")
    assert dom["id"] not in {r["id"] for r in api.get(
        "/v1/lead-scoring-rules", headers=h).json()["data"]}


def test_automatic_mql_by_threshold_and_by_crossing(api, stack, tokens, clean):
    tag = uuid.uuid4().hex[:6]
    rule(api, tokens, kind="field", field="source", op="eq",
         value="糖酒会" + tag, points=40)
    rule(api, tokens, kind="activity", activity_type="meeting", points=25)
    hot = lead(api, tokens["rep1"], source="糖酒会" + tag)
    cold = lead(api, tokens["rep1"], source="其他" + tag)
    working = lead(api, tokens["rep1"], source="糖酒会" + tag)
    api.patch("/v1/leads/" + working["id"], headers=bearer(tokens["rep1"]),
              json={"status": "working"})
    disq = lead(api, tokens["rep1"], source="糖酒会" + tag)
    api.post("/v1/leads/%s/disqualify" % disq["id"],
             headers=bearer(tokens["rep1"]), json={"reason": "同行"})
    # Setting the threshold moves the open new/working leads it reaches.
    grading(api, tokens, a=80, b=50, c=20, mql_score=40)
    assert score(api, tokens, hot) == (40, "C", "mql")
    assert score(api, tokens, working) == (40, "C", "mql")
    assert score(api, tokens, cold)[2] == "new"
    assert get(api, tokens["rep1"], disq["id"])["status"] == "disqualified"
    hist = api.get("/v1/leads/%s/history" % hot["id"],
                   headers=bearer(tokens["rep1"])).json()["data"]
    assert [(e["from_status"], e["to_status"], e["changed_by"])
            for e in hist] == [(None, "new", DEMO["rep1"][1]),
                               ("new", "mql", ADMIN)]
    # A score crossing it later (an activity) moves the lead too.
    add_activity(stack, "rep1", cold["id"], "meeting")
    assert score(api, tokens, cold) == (25, "C", "new")
    add_activity(stack, "rep1", cold["id"], "meeting")
    assert score(api, tokens, cold) == (50, "B", "mql")
    # A lead created above it starts new and moves at once.
    born = lead(api, tokens["rep1"], source="糖酒会" + tag)
    assert (born["status"], born["version"]) == ("mql", 2)
    hist = api.get("/v1/leads/%s/history" % born["id"],
                   headers=bearer(tokens["rep1"])).json()["data"]
    assert [(e["from_status"], e["to_status"]) for e in hist] == [
        (None, "new"), ("new", "mql")]
    # Someone who moves it back to working keeps it there.
    r = api.patch("/v1/leads/" + born["id"], headers=bearer(tokens["rep1"]),
                  json={"status": "working"})
    assert r.json()["status"] == "working"
    add_activity(stack, "rep1", born["id"], "meeting")
    assert score(api, tokens, born) == (65, "B", "working")


def test_bad_rules_are_refused_and_write_nothing(api, stack, tokens, clean):
    h = bearer(tokens["admin"])
    before = count(stack, "lead_scoring_rules")
    r = api.post("/v1/lead-scoring-rules", headers=h, json={
        "kind": "field", "field": "colour", "op": "eq", "value": "红",
        "points": 10})
    assert r.status_code == 422
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
        ("field", "enum")]
    r = api.post("/v1/lead-scoring-rules", headers=h, json={
        "kind": "mood", "points": 101, "weight": 3})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {
        "kind", "points", "weight"}
    r = api.post("/v1/lead-scoring-rules", headers=h, json={
        "kind": "field", "field": "industry", "activity_type": "call",
        "points": 10})
    assert r.status_code == 422
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
        ("op", "required"), ("activity_type", "not_allowed")]
    r = api.post("/v1/lead-scoring-rules", headers=h, json={
        "kind": "field", "field": "city", "op": "present", "value": "成都",
        "points": 10})
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
        ("value", "not_allowed")]
    r = api.post("/v1/lead-scoring-rules", headers=h, json={
        "kind": "activity", "field": "city", "points": 10})
    assert r.status_code == 422
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
        ("activity_type", "required"), ("field", "not_allowed")]
    assert count(stack, "lead_scoring_rules") == before
    # A patch must leave the rule consistent.
    ok = rule(api, tokens, kind="field", field="city", op="eq", value="成都",
              points=10)
    r = api.patch("/v1/lead-scoring-rules/" + ok["id"], headers=h,
                  json={"kind": "activity", "activity_type": "call"})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"field", "op",
                                                        "value"}
    assert api.patch("/v1/lead-scoring-rules/" + ok["id"],
                     headers={**h, "If-Match": '"7"'}, json={"points": 1}
                     ).status_code == 412
    assert api.patch("/v1/lead-scoring-rules/" + str(uuid.uuid4()),
                     headers=h, json={"points": 1}).status_code == 404
    assert count(stack, "lead_scoring_rules", "id = %s AND points = 10 AND "
                 "version = 1", (ok["id"],)) == 1


def test_bad_thresholds(api, stack, tokens, clean):
    h = bearer(tokens["admin"])
    r = api.request("PUT", "/v1/lead-grading", headers=h,
                    json={"a": 50, "b": 50, "c": 60, "mql_score": None})
    assert r.status_code == 422
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
        ("b", "order"), ("c", "order")]
    r = api.request("PUT", "/v1/lead-grading", headers=h,
                    json={"a": 80, "b": 50})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"c", "mql_score"}
    assert count(stack, "lead_grading") == 1
    assert api.get("/v1/lead-grading", headers=h).json() == {
        "a": 80, "b": 50, "c": 20, "mql_score": None}


def test_only_admins_configure_and_keys_never(api, stack, tokens):
    body = {"kind": "field", "field": "city", "op": "eq", "value": "成都",
            "points": 10}
    before = count(stack, "lead_scoring_rules")
    for who in ("rep1", "manager", "marketing", "ceo"):
        h = bearer(tokens[who])
        assert api.post("/v1/lead-scoring-rules", headers=h, json=body
                        ).status_code == 403, who
        assert api.request("PUT", "/v1/lead-grading", headers=h, json={
            "a": 3, "b": 2, "c": 1, "mql_score": 1}).status_code == 403
        assert api.delete("/v1/lead-scoring-rules/" + str(uuid.uuid4()),
                          headers=h).status_code == 403
        # Reading them is open to the organisation's people.
        assert api.get("/v1/lead-scoring-rules", headers=h
                       ).status_code == 200
    r = api.post("/v1/api-keys", headers=bearer(tokens["admin"]),
                 json={"name": "线索配置", "scopes": ["leads:write"]})
    key = {"X-API-Key": r.json()["key"]}
    for method, path, b in (("GET", "/v1/lead-scoring-rules", None),
                            ("POST", "/v1/lead-scoring-rules", body),
                            ("GET", "/v1/lead-grading", None)):
        assert api.request(method, path, headers=key, json=b
                           ).status_code == 403
    assert count(stack, "lead_scoring_rules") == before


def test_other_organisation_has_its_own_configuration(api, tokens, org2,
                                                      clean):
    rule(api, tokens, kind="field", field="city", op="eq", value="杭州",
         points=50)
    grading(api, tokens, a=90, b=60, c=30, mql_score=45)
    h = bearer(org2["admin"])
    assert api.get("/v1/lead-scoring-rules", headers=h).json()["data"] == []
    assert api.get("/v1/lead-grading", headers=h).json() == {
        "a": 80, "b": 50, "c": 20, "mql_score": None}
    x = lead(api, org2["rep"], city="杭州")
    assert (x["score"], x["grade"], x["status"]) == (0, "D", "new")
