"""Pipelines and stages: everyone reads them, admins configure them, and
the stage rules hold (positions, categories, one won and one lost stage,
no deleting a stage that opportunities used)."""
import uuid

from conftest import DEMO, DEMO_ORG, bearer

REP1 = DEMO["rep1"][1]
REP1_CUSTOMER = "00000000-0000-4000-8000-000000001001"   # 四川糖酒有限公司

DEFAULT_STAGES = [("初步接触", 1, 10, "pipeline", "open"),
                  ("需求确认", 2, 25, "pipeline", "open"),
                  ("方案报价", 3, 50, "best_case", "open"),
                  ("商务谈判", 4, 75, "commit", "open"),
                  ("签订合同", 5, 100, "closed", "won"),
                  ("丢单", 6, 0, "omitted", "lost")]


def stage_rows(pipeline):
    return [(s["name"], s["position"], s["probability"],
             s["forecast_category"], s["kind"]) for s in pipeline["stages"]]


def new_pipeline(api, tokens, **fields):
    body = {"name": "流程" + uuid.uuid4().hex[:8], "stages": [
        {"name": "电话邀约", "probability": 10},
        {"name": "寄送样刊", "probability": 40,
         "forecast_category": "best_case"},
        {"name": "订阅成交", "kind": "won"},
        {"name": "放弃订阅", "kind": "lost"}]}
    body.update(fields)
    r = api.post("/v1/pipelines", headers=bearer(tokens["admin"]), json=body)
    assert r.status_code == 201, r.text
    return r.json()


def counts(stack):
    return stack.sql("SELECT (SELECT count(*) FROM pipelines), "
                     "(SELECT count(*) FROM pipeline_stages)")[0]


def test_everyone_reads_the_default_pipeline(api, tokens):
    for who in ("rep1", "marketing", "service", "ceo"):
        r = api.get("/v1/pipelines", headers=bearer(tokens[who]))
        assert r.status_code == 200
        first = r.json()["data"][0]
        assert first["name"] == "标准销售流程" and first["is_default"]
        assert stage_rows(first) == DEFAULT_STAGES
    one = api.get("/v1/pipelines/" + first["id"],
                  headers=bearer(tokens["rep1"]))
    assert one.status_code == 200 and one.json() == first
    assert one.headers["etag"] == '"%d"' % first["version"]


def test_create_pipeline_with_defaults(api, tokens):
    r = api.post("/v1/pipelines", headers=bearer(tokens["admin"]), json={
        "name": "期刊征订流程" + uuid.uuid4().hex[:4], "stages": [
            {"name": "电话邀约", "probability": 10},
            {"name": "确认订阅", "probability": 80,
             "forecast_category": "commit"},
            {"name": "订阅成交", "kind": "won"},
            {"name": "放弃订阅", "kind": "lost"}]})
    assert r.status_code == 201, r.text
    p = r.json()
    assert r.headers["location"].endswith("/v1/pipelines/" + p["id"])
    assert r.headers["etag"] == '"1"'
    assert not p["is_default"] and p["active"]
    assert stage_rows(p) == [("电话邀约", 1, 10, "pipeline", "open"),
                             ("确认订阅", 2, 80, "commit", "open"),
                             ("订阅成交", 3, 100, "closed", "won"),
                             ("放弃订阅", 4, 0, "omitted", "lost")]
    listed = api.get("/v1/pipelines", headers=bearer(tokens["rep2"])).json()
    assert p["id"] in [x["id"] for x in listed["data"]]


def test_bad_pipelines_name_every_field_and_write_nothing(api, stack, tokens):
    h = bearer(tokens["admin"])
    before = counts(stack)
    r = api.post("/v1/pipelines", headers=h, json={"name": "坏流程", "stages": [
        {"name": "甲", "probability": 120, "colour": "red"},
        {"name": "甲", "probability": "40"},
        {"name": "乙", "probability": 30, "forecast_category": "closed"},
        {"name": "赢", "kind": "won", "probability": 90},
        {"name": "输", "kind": "lost", "forecast_category": "commit"},
        {"kind": "maybe", "probability": 5},
        {"name": 7, "probability": 5}]})
    assert r.status_code == 422
    assert {(e["field"], e["code"]) for e in r.json()["errors"]} == {
        ("stages[0].colour", "unknown_field"),
        ("stages[0].probability", "range"),
        ("stages[1].probability", "type"),
        ("stages[1].name", "duplicate"),
        ("stages[2].forecast_category", "rule"),
        ("stages[3].probability", "rule"),
        ("stages[4].forecast_category", "rule"),
        ("stages[5].name", "required"),
        ("stages[5].kind", "enum"),
        ("stages[6].name", "type")}
    # The structure: at least one open, exactly one won and one lost.
    for stages in ([{"name": "赢", "kind": "won"}, {"name": "输", "kind": "lost"}],
                   [{"name": "甲", "probability": 5}, {"name": "输", "kind": "lost"}],
                   [{"name": "甲", "probability": 5}, {"name": "赢", "kind": "won"},
                    {"name": "赢二", "kind": "won"}, {"name": "输", "kind": "lost"}]):
        r = api.post("/v1/pipelines", headers=h,
                     json={"name": "坏流程", "stages": stages})
        assert r.status_code == 422
        assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
            ("stages", "structure")]
    r = api.post("/v1/pipelines", headers=h, json={"name": "", "stages": []})
    assert {e["field"] for e in r.json()["errors"]} == {"name", "stages"}
    assert counts(stack) == before


def test_pipeline_names_are_unique(api, stack, tokens):
    p = new_pipeline(api, tokens)
    before = counts(stack)
    r = api.post("/v1/pipelines", headers=bearer(tokens["admin"]), json={
        "name": p["name"], "stages": [{"name": "甲", "probability": 5},
                                      {"name": "赢", "kind": "won"},
                                      {"name": "输", "kind": "lost"}]})
    assert r.status_code == 409
    other = new_pipeline(api, tokens)
    r = api.patch("/v1/pipelines/" + other["id"],
                  headers=bearer(tokens["admin"]), json={"name": p["name"]})
    assert r.status_code == 409
    assert counts(stack)[0] == before[0] + 1


def test_configuration_is_for_admins_with_a_token(api, stack, tokens):
    p = new_pipeline(api, tokens)
    stage = p["stages"][0]["id"]
    body = {"name": "x", "stages": [{"name": "甲", "probability": 5},
                                    {"name": "赢", "kind": "won"},
                                    {"name": "输", "kind": "lost"}]}
    key = api.post("/v1/api-keys", headers=bearer(tokens["admin"]), json={
        "name": "流程配置", "scopes": ["opportunities:write"],
        "user_id": DEMO["admin"][1]}).json()["key"]
    before = counts(stack)
    for h in (bearer(tokens["manager"]), bearer(tokens["ceo"]),
              {"X-API-Key": key}):
        for method, path, json in (
                ("POST", "/v1/pipelines", body),
                ("PATCH", "/v1/pipelines/" + p["id"], {"name": "改"}),
                ("POST", "/v1/pipelines/%s/stages" % p["id"],
                 {"name": "新", "probability": 5}),
                ("PATCH", "/v1/pipelines/%s/stages/%s" % (p["id"], stage),
                 {"probability": 15}),
                ("DELETE", "/v1/pipelines/%s/stages/%s" % (p["id"], stage),
                 None)):
            r = api.request(method, path, headers=h, json=json)
            assert r.status_code == 403, (method, path, r.text)
    # The key still reads them.
    assert api.get("/v1/pipelines/" + p["id"], headers={"X-API-Key": key}
                   ).status_code == 200
    assert counts(stack) == before
    assert api.get("/v1/pipelines/" + p["id"], headers=bearer(tokens["rep1"])
                   ).json() == p


def test_default_flag_moves_and_never_disappears(api, stack, tokens):
    h = bearer(tokens["admin"])
    old = api.get("/v1/pipelines", headers=h).json()["data"][0]
    assert old["is_default"]
    try:
        p = new_pipeline(api, tokens, is_default=True)
        assert p["is_default"]
        assert not api.get("/v1/pipelines/" + old["id"], headers=h
                           ).json()["is_default"]
        assert api.get("/v1/pipelines", headers=h).json()["data"][0][
            "id"] == p["id"]
        # The default gives the flag up only to another pipeline, and
        # stays active.
        for body in ({"is_default": False}, {"active": False}):
            r = api.patch("/v1/pipelines/" + p["id"], headers=h, json=body)
            assert r.status_code == 409, body
        # An inactive pipeline cannot become the default either.
        other = new_pipeline(api, tokens)
        r = api.patch("/v1/pipelines/" + other["id"], headers=h,
                      json={"active": False})
        assert r.status_code == 200 and not r.json()["active"]
        r = api.patch("/v1/pipelines/" + other["id"], headers=h,
                      json={"is_default": True})
        assert r.status_code == 409 and "inactive pipeline" in \
            r.json()["detail"]
        assert stack.sql("SELECT count(*) FROM pipelines WHERE is_default "
                         "AND org_id = %s", (DEMO_ORG,))[0][0] == 1
    finally:
        r = api.patch("/v1/pipelines/" + old["id"], headers=h,
                      json={"is_default": True})
        assert r.status_code == 200 and r.json()["is_default"]
    assert not api.get("/v1/pipelines/" + p["id"], headers=h
                       ).json()["is_default"]


def test_patch_with_if_match(api, tokens):
    h = bearer(tokens["admin"])
    p = new_pipeline(api, tokens)
    r = api.patch("/v1/pipelines/" + p["id"], headers={**h, "If-Match": '"1"'},
                  json={"name": p["name"] + "改"})
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    assert api.patch("/v1/pipelines/" + p["id"],
                     headers={**h, "If-Match": '"1"'},
                     json={"name": "过期"}).status_code == 412
    assert api.get("/v1/pipelines/" + p["id"], headers=h
                   ).json()["name"] == p["name"] + "改"


def test_stages_added_moved_and_removed_keep_positions(api, stack, tokens):
    h = bearer(tokens["admin"])
    p = new_pipeline(api, tokens)
    base = "/v1/pipelines/%s/stages" % p["id"]
    # By default a new open stage goes after the last open one.
    r = api.post(base, headers=h, json={"name": "确认订阅", "probability": 80,
                                        "forecast_category": "commit"})
    assert r.status_code == 201, r.text
    confirm = r.json()
    assert r.headers["location"].endswith(base + "/" + confirm["id"])
    assert (confirm["position"], confirm["kind"]) == (3, "open")
    r = api.post(base, headers=h, json={"name": "初次拜访", "probability": 5,
                                        "position": 1})
    visit = r.json()
    got = api.get("/v1/pipelines/" + p["id"], headers=h)
    assert got.headers["etag"] == '"3"', "stage changes version the pipeline"
    assert [(s["name"], s["position"]) for s in got.json()["stages"]] == [
        ("初次拜访", 1), ("电话邀约", 2), ("寄送样刊", 3), ("确认订阅", 4),
        ("订阅成交", 5), ("放弃订阅", 6)]
    # Move down and up; the ones in between shift by one.
    r = api.patch("%s/%s" % (base, visit["id"]), headers=h,
                  json={"position": 4, "name": "上门拜访", "probability": 45})
    assert r.status_code == 200
    assert (r.json()["position"], r.json()["name"],
            r.json()["probability"]) == (4, "上门拜访", 45)
    names = lambda: [s["name"] for s in api.get(  # noqa: E731
        "/v1/pipelines/" + p["id"], headers=h).json()["stages"]]
    assert names() == ["电话邀约", "寄送样刊", "确认订阅", "上门拜访",
                       "订阅成交", "放弃订阅"]
    api.patch("%s/%s" % (base, confirm["id"]), headers=h, json={"position": 1})
    assert names() == ["确认订阅", "电话邀约", "寄送样刊", "上门拜访",
                       "订阅成交", "放弃订阅"]
    # Unused: deleted, and the rest close ranks.
    assert api.delete("%s/%s" % (base, visit["id"]), headers=h
                      ).status_code == 204
    stages = api.get("/v1/pipelines/" + p["id"], headers=h).json()["stages"]
    assert [(s["name"], s["position"]) for s in stages] == [
        ("确认订阅", 1), ("电话邀约", 2), ("寄送样刊", 3), ("订阅成交", 4),
        ("放弃订阅", 5)]


def test_stage_rules_are_field_errors(api, stack, tokens):
    h = bearer(tokens["admin"])
    p = new_pipeline(api, tokens)
    base = "/v1/pipelines/%s/stages" % p["id"]
    won = next(s for s in p["stages"] if s["kind"] == "won")
    lost = next(s for s in p["stages"] if s["kind"] == "lost")
    before = counts(stack)
    cases = [
        ("POST", base, {"name": "新", "probability": 150}, [("probability",
                                                            "range")]),
        ("POST", base, {"name": "新"}, [("probability", "required")]),
        ("POST", base, {"name": "新", "probability": 20,
                        "forecast_category": "closed"},
         [("forecast_category", "rule")]),
        ("POST", base, {"name": "又赢", "kind": "won"}, [("kind", "structure")]),
        ("POST", base, {"name": "又输", "kind": "lost"}, [("kind", "structure")]),
        ("POST", base, {"name": "新", "probability": 5, "position": 6},
         [("position", "range")]),
        ("PATCH", "%s/%s" % (base, won["id"]), {"probability": 90},
         [("probability", "rule")]),
        ("PATCH", "%s/%s" % (base, won["id"]),
         {"forecast_category": "commit"}, [("forecast_category", "rule")]),
        ("PATCH", "%s/%s" % (base, lost["id"]),
         {"probability": 10, "forecast_category": "pipeline"},
         [("probability", "rule"), ("forecast_category", "rule")]),
        ("PATCH", "%s/%s" % (base, p["stages"][0]["id"]),
         {"forecast_category": "omitted", "position": 5},
         [("forecast_category", "rule"), ("position", "range")]),
        ("PATCH", "%s/%s" % (base, p["stages"][0]["id"]), {"kind": "won"},
         [("kind", "unknown_field")]),
    ]
    for method, path, body, errors in cases:
        r = api.request(method, path, headers=h, json=body)
        assert r.status_code == 422, (body, r.text)
        assert [(e["field"], e["code"]) for e in r.json()["errors"]] == errors
    # A name in use in the pipeline is a conflict.
    assert api.post(base, headers=h, json={"name": "电话邀约",
                                           "probability": 5}
                    ).status_code == 409
    assert api.patch("%s/%s" % (base, won["id"]), headers=h,
                     json={"name": "放弃订阅"}).status_code == 409
    assert counts(stack) == before
    assert api.get("/v1/pipelines/" + p["id"], headers=h).json() == p


def test_stages_in_use_cannot_be_deleted(api, stack, tokens):
    h = bearer(tokens["admin"])
    p = new_pipeline(api, tokens)
    base = "/v1/pipelines/%s/stages" % p["id"]
    first, second, won, lost = p["stages"]
    third = api.post(base, headers=h, json={"name": "确认订阅",
                                            "probability": 80}).json()
    rep = bearer(tokens["rep1"])
    made = []
    for name in ("征订甲", "征订乙", "征订丙"):
        r = api.post("/v1/opportunities", headers=rep, json={
            "name": name, "customer_id": REP1_CUSTOMER, "amount": "100",
            "pipeline_id": p["id"]})
        assert r.status_code == 201, r.text
        made.append(r.json())
    # Two pass through the second stage: one stays, one moves on; the
    # third is deleted but keeps its history.
    api.patch("/v1/opportunities/" + made[0]["id"], headers=rep,
              json={"stage_id": second["id"]})
    api.patch("/v1/opportunities/" + made[1]["id"], headers=rep,
              json={"stage_id": second["id"]})
    api.patch("/v1/opportunities/" + made[1]["id"], headers=rep,
              json={"stage_id": third["id"]})
    api.delete("/v1/opportunities/" + made[2]["id"], headers=rep)
    before = counts(stack)
    r = api.delete("%s/%s" % (base, first["id"]), headers=h)
    assert r.status_code == 409
    assert r.json()["detail"] == ("The stage cannot be deleted: 3 "
                                  "opportunities use it (now or in their "
                                  "stage history).")
    r = api.delete("%s/%s" % (base, second["id"]), headers=h)
    assert r.status_code == 409 and "2 opportunities use it" in \
        r.json()["detail"]
    r = api.delete("%s/%s" % (base, third["id"]), headers=h)
    assert r.status_code == 409 and "1 opportunity uses it" in \
        r.json()["detail"]
    for s in (won, lost):
        r = api.delete("%s/%s" % (base, s["id"]), headers=h)
        assert r.status_code == 409
        assert "exactly one won and one lost" in r.json()["detail"]
    assert counts(stack) == before
    # The last open stage stays too.
    q = new_pipeline(api, tokens)
    qb = "/v1/pipelines/%s/stages" % q["id"]
    assert api.delete("%s/%s" % (qb, q["stages"][0]["id"]), headers=h
                      ).status_code == 204
    r = api.delete("%s/%s" % (qb, q["stages"][1]["id"]), headers=h)
    assert r.status_code == 409 and "last open stage" in r.json()["detail"]


def test_stage_routes_of_another_pipeline_are_404(api, tokens):
    h = bearer(tokens["admin"])
    p = new_pipeline(api, tokens)
    q = new_pipeline(api, tokens)
    wrong = "/v1/pipelines/%s/stages/%s" % (q["id"], p["stages"][0]["id"])
    ghost = "/v1/pipelines/%s/stages/%s" % (q["id"], uuid.uuid4())
    for method, body in (("PATCH", {"name": "x"}), ("DELETE", None)):
        a = api.request(method, wrong, headers=h, json=body)
        b = api.request(method, ghost, headers=h, json=body)
        assert a.status_code == b.status_code == 404
        assert a.json()["detail"] == b.json()["detail"]
    assert api.post("/v1/pipelines/%s/stages" % uuid.uuid4(), headers=h,
                    json={"name": "x", "probability": 1}).status_code == 404
    assert api.patch("/v1/pipelines/nope/stages/nope", headers=h,
                     json={"name": "x"}).status_code == 404


def test_other_organisations_pipelines_are_invisible(api, tokens, org2):
    p = new_pipeline(api, tokens)
    h = bearer(org2["admin"])
    mine = api.get("/v1/pipelines", headers=h).json()["data"]
    assert [x["name"] for x in mine] == ["标准销售流程"]
    assert p["id"] not in {x["id"] for x in mine}
    ghost = str(uuid.uuid4())
    for method, path, body in (
            ("GET", "/v1/pipelines/{}", None),
            ("PATCH", "/v1/pipelines/{}", {"name": "越权"}),
            ("POST", "/v1/pipelines/{}/stages", {"name": "越权",
                                                  "probability": 1})):
        real = api.request(method, path.format(p["id"]), headers=h,
                           json=body)
        fake = api.request(method, path.format(ghost), headers=h, json=body)
        assert real.status_code == fake.status_code == 404
        assert real.json()["detail"] == fake.json()["detail"]
    s = p["stages"][0]["id"]
    r = api.delete("/v1/pipelines/%s/stages/%s" % (p["id"], s), headers=h)
    assert r.status_code == 404
    assert api.get("/v1/pipelines/" + p["id"], headers=bearer(tokens["admin"])
                   ).json() == p
