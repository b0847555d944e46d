"""Customers: the record, its rules, lists and search, and who sees what."""
import threading
import uuid

import pytest

from conftest import DEMO, bearer

REP1 = DEMO["rep1"][1]
REP2 = DEMO["rep2"][1]
MANAGER = DEMO["manager"][1]
REP2_CUSTOMER = "00000000-0000-4000-8000-000000001003"   # 北京华夏出版传媒集团


def create(api, token, **fields):
    body = {"name": "客户" + uuid.uuid4().hex[:8]}
    body.update(fields)
    return api.post("/v1/customers", headers=bearer(token), json=body)


def test_create_and_get(api, tokens):
    r = create(api, tokens["rep1"], name="成都天府软件园有限公司",
               industry="软件", province="四川", city="成都",
               phone="028-85001234", email="office@tfsp.example.cn",
               website="https://tfsp.example.cn", grade="A",
               tags=["重点客户", "软件"], is_key_customer=True)
    assert r.status_code == 201, r.text
    c = r.json()
    assert r.headers["location"].endswith("/v1/customers/" + c["id"])
    assert r.headers["etag"] == '"1"'
    assert c["owner_id"] == REP1 and c["lifecycle_stage"] == "potential"
    assert c["kind"] == "company" and c["tags"] == sorted(["重点客户", "软件"])
    got = api.get("/v1/customers/" + c["id"], headers=bearer(tokens["rep1"]))
    assert got.status_code == 200 and got.json() == c


def test_bad_input_names_every_field_and_writes_nothing(api, stack, tokens):
    before = stack.sql("SELECT count(*) FROM customers")[0][0]
    r = api.post("/v1/customers", headers=bearer(tokens["rep1"]), json={
        "name": "x" * 201, "kind": "robot", "email": "not-an-email",
        "phone": "call me maybe", "grade": "Z", "tags": ["ok", "ok"],
        "website": "ftp://x", "owner_id": "nope", "colour": "red",
        "is_key_customer": "yes"})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"name", "kind", "email", "phone", "grade", "tags",
                      "website", "owner_id", "colour", "is_key_customer"}
    assert stack.sql("SELECT count(*) FROM customers")[0][0] == before


def test_update_with_if_match_and_lifecycle(api, tokens):
    h = bearer(tokens["rep1"])
    c = create(api, tokens["rep1"]).json()
    r = api.patch("/v1/customers/" + c["id"], headers={**h, "If-Match": '"1"'},
                  json={"lifecycle_stage": "intent", "grade": None})
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    assert r.json()["lifecycle_stage"] == "intent"
    stale = api.patch("/v1/customers/" + c["id"],
                      headers={**h, "If-Match": '"1"'}, json={"name": "x"})
    assert stale.status_code == 412
    api.patch("/v1/customers/" + c["id"], headers=h,
              json={"lifecycle_stage": "won"})
    hist = api.get("/v1/customers/%s/lifecycle" % c["id"], headers=h).json()
    assert [(x["from_stage"], x["to_stage"]) for x in hist["data"]] == [
        (None, "potential"), ("potential", "intent"), ("intent", "won")]
    assert all(x["changed_by"] == REP1 for x in hist["data"])


def test_soft_delete_and_restore(api, tokens):
    h = bearer(tokens["rep1"])
    c = create(api, tokens["rep1"]).json()
    assert api.delete("/v1/customers/" + c["id"], headers=h
                      ).status_code == 204
    assert api.get("/v1/customers/" + c["id"], headers=h).status_code == 404
    listed = api.get("/v1/customers?limit=500", headers=h).json()["data"]
    assert c["id"] not in {x["id"] for x in listed}
    r = api.post("/v1/customers/%s/restore" % c["id"], headers=h)
    assert r.status_code == 200 and r.json()["deleted_at"] is None
    assert api.get("/v1/customers/" + c["id"], headers=h).status_code == 200


def test_external_id_unique_per_org(api, tokens):
    ext = "ERP-" + uuid.uuid4().hex[:8]
    assert create(api, tokens["rep1"], external_id=ext).status_code == 201
    assert create(api, tokens["rep2"], external_id=ext).status_code == 409


def test_parent_tree_refuses_cycles(api, tokens):
    h = bearer(tokens["rep1"])
    head = create(api, tokens["rep1"], name="总公司").json()
    branch = create(api, tokens["rep1"], name="成都分公司",
                    parent_id=head["id"]).json()
    assert branch["parent_id"] == head["id"]
    r = api.patch("/v1/customers/" + head["id"], headers=h,
                  json={"parent_id": branch["id"]})
    assert r.status_code == 422 and "cycle" in r.json()["detail"]
    assert api.patch("/v1/customers/" + head["id"], headers=h,
                     json={"parent_id": head["id"]}).status_code in (422,)
    # A parent the caller cannot see is as good as none.
    assert create(api, tokens["rep1"], parent_id=REP2_CUSTOMER
                  ).status_code == 422


def test_owner_assignment_rules(api, tokens):
    # A rep cannot give a record away; the manager can within the team.
    assert create(api, tokens["rep1"], owner_id=REP2).status_code == 403
    r = create(api, tokens["manager"], owner_id=REP2)
    assert r.status_code == 201 and r.json()["owner_id"] == REP2
    assert create(api, tokens["admin"], owner_id=str(uuid.uuid4())
                  ).status_code == 422


def test_list_pages_without_skip_or_repeat_while_others_write(api, tokens):
    h = bearer(tokens["rep2"])
    for i in range(7):
        create(api, tokens["rep2"], name="翻页%02d" % i)
    stop = threading.Event()

    def writer():
        while not stop.is_set():
            create(api, tokens["rep2"], name="并发写入")

    t = threading.Thread(target=writer)
    before = {x["id"] for x in api.get("/v1/customers?limit=500",
                                        headers=h).json()["data"]}
    t.start()
    try:
        seen, cursor = [], None
        while True:
            q = "/v1/customers?limit=3" + (f"&cursor={cursor}" if cursor
                                           else "")
            page = api.get(q, headers=h).json()
            seen += [x["id"] for x in page["data"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
    finally:
        stop.set()
        t.join()
    assert len(seen) == len(set(seen)), "a record was repeated"
    assert before <= set(seen), "a record was skipped"


def test_sorts_filters_and_counts(api, tokens):
    h = bearer(tokens["manager"])
    names = [x["name"] for x in api.get("/v1/customers?sort=name&limit=500",
                                        headers=h).json()["data"]]
    assert names == sorted(names)
    page = api.get("/v1/customers?grade=A&count=exact&limit=1",
                   headers=h).json()
    everything = api.get("/v1/customers?grade=A&limit=500",
                         headers=h).json()["data"]
    assert page["total"] == len(everything) and page["total_kind"] == "exact"
    assert all(x["grade"] == "A" for x in everything)
    est = api.get("/v1/customers?count=estimated", headers=h).json()
    assert est["total_kind"] == "estimated" and est["total"] >= 0
    assert api.get("/v1/customers?count=none", headers=h).json()["total"] \
        is None
    tagged = api.get("/v1/customers?tag=%E9%87%8D%E7%82%B9%E5%AE%A2%E6%88%B7",
                     headers=h).json()["data"]
    assert all("重点客户" in x["tags"] for x in tagged)


def test_bad_list_queries(api, tokens):
    h = bearer(tokens["rep1"])
    r = api.get("/v1/customers?sort=owner&count=all&limit=0&colour=red",
                headers=h)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {
        "sort", "count", "limit", "colour"}
    assert api.get("/v1/customers?cursor=bm9wZQ", headers=h
                   ).status_code == 400
    # A cursor of one sort is no cursor of another.
    c = api.get("/v1/customers?limit=1", headers=h).json()["next_cursor"]
    assert c and api.get("/v1/customers?sort=name&cursor=" + c,
                         headers=h).status_code == 400


@pytest.mark.parametrize("q,expect", [
    ("糖酒", "四川糖酒有限公司"),
    ("%E7%B3%96%E9%85%92", "四川糖酒有限公司"),
    ("86001234", "四川糖酒有限公司"),
    ("SCTJ.EXAMPLE", "四川糖酒有限公司"),
])
def test_search_finds_chinese_phone_email(api, tokens, q, expect):
    found = api.get("/v1/customers?q=" + q, headers=bearer(tokens["rep1"])
                    ).json()["data"]
    assert expect in [x["name"] for x in found]


def test_search_forgives_typos_in_latin_names(api, tokens):
    create(api, tokens["rep1"], name="Chengdu Jinjiang Hotel")
    found = api.get("/v1/customers?q=chengdu+jinjaing",
                    headers=bearer(tokens["rep1"])).json()["data"]
    assert "Chengdu Jinjiang Hotel" in [x["name"] for x in found]


def problem_shape(r):
    d = r.json()
    return r.status_code, d["type"], d["title"], d["detail"]


def test_bola_matrix_rep_against_rep(api, stack, tokens):
    """Every customer route, rep 1 on rep 2's record, answers exactly as on
    a record that does not exist; lists, search and counts show nothing."""
    h = bearer(tokens["rep1"])
    ghost = str(uuid.uuid4())
    for method, path, body in (
            ("GET", "/v1/customers/{}", None),
            ("PATCH", "/v1/customers/{}", {"name": "越权"}),
            ("DELETE", "/v1/customers/{}", None),
            ("POST", "/v1/customers/{}/restore", None),
            ("GET", "/v1/customers/{}/lifecycle", None)):
        real = api.request(method, path.format(REP2_CUSTOMER), headers=h,
                           json=body)
        fake = api.request(method, path.format(ghost), headers=h, json=body)
        assert real.status_code == 404, (method, path)
        assert problem_shape(real) == problem_shape(fake)
    for q in ("", "?q=%E5%8D%8E%E5%A4%8F", "?owner_id=" + REP2,
              "?count=exact"):
        page = api.get("/v1/customers" + q, headers=h).json()
        assert REP2_CUSTOMER not in {x["id"] for x in page["data"]}
    assert api.get("/v1/customers?owner_id=%s&count=exact" % REP2,
                   headers=h).json()["total"] == 0
    name = stack.sql("SELECT name FROM customers WHERE id = %s",
                     (REP2_CUSTOMER,))[0][0]
    assert name == "北京华夏出版传媒集团"


def test_manager_sees_team_marketing_reads_only(api, tokens):
    assert api.get("/v1/customers/" + REP2_CUSTOMER,
                   headers=bearer(tokens["manager"])).status_code == 200
    h = bearer(tokens["marketing"])
    assert api.get("/v1/customers/" + REP2_CUSTOMER, headers=h
                   ).status_code == 200
    r = api.patch("/v1/customers/" + REP2_CUSTOMER, headers=h,
                  json={"name": "改"})
    assert r.status_code == 403
    assert api.delete("/v1/customers/" + REP2_CUSTOMER, headers=h
                      ).status_code == 403


def test_cross_org_customers_invisible(api, tokens, org2):
    h = bearer(org2["admin"])
    assert api.get("/v1/customers/" + REP2_CUSTOMER, headers=h
                   ).status_code == 404
    assert api.get("/v1/customers?count=exact", headers=h).json()["total"] \
        == 0
    mine = create(api, org2["rep"], name="杭州西湖茶叶").json()
    assert api.get("/v1/customers/" + mine["id"],
                   headers=bearer(tokens["admin"])).status_code == 404


def test_api_key_scopes_on_customers(api, tokens):
    k = api.post("/v1/api-keys", headers=bearer(tokens["admin"]), json={
        "name": "ERP read", "scopes": ["customers:read"],
        "user_id": REP1}).json()
    h = {"X-API-Key": k["key"]}
    page = api.get("/v1/customers?limit=500", headers=h).json()["data"]
    assert page and all(x["owner_id"] == REP1 for x in page)
    assert api.post("/v1/customers", headers=h, json={"name": "x"}
                    ).status_code == 403
