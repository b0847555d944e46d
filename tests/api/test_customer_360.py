"""The customer's surroundings: overview, tree, relations, duplicates,
merge; each obeying visibility."""
import uuid

from conftest import DEMO, bearer

REP2_CUSTOMER = "00000000-0000-4000-8000-000000001003"


def create(api, token, **fields):
    body = {"name": "三六零" + uuid.uuid4().hex[:6]}
    body.update(fields)
    r = api.post("/v1/customers", headers=bearer(token), json=body)
    assert r.status_code == 201, r.text
    return r.json()


def contact(api, token, customer_id, name):
    r = api.post("/v1/customers/%s/contacts" % customer_id,
                 headers=bearer(token), json={"name": name})
    assert r.status_code == 201, r.text
    return r.json()


def test_overview_in_one_call(api, tokens):
    t = tokens["rep1"]
    head = create(api, t, name="华西集团")
    c = create(api, t, name="华西集团成都办事处", parent_id=head["id"])
    contact(api, t, c["id"], "钱经理")
    api.patch("/v1/customers/" + c["id"], headers=bearer(t),
              json={"lifecycle_stage": "intent"})
    o = api.get("/v1/customers/%s/overview" % c["id"], headers=bearer(t))
    assert o.status_code == 200
    o = o.json()
    assert o["customer"]["id"] == c["id"]
    assert o["parent"] == {"id": head["id"], "name": "华西集团"}
    assert [x["name"] for x in o["contacts"]] == ["钱经理"]
    assert o["lifecycle"][0]["to_stage"] == "intent"
    for module in ("opportunities", "activities", "orders", "subscriptions",
                   "tickets", "campaigns"):
        assert o[module] == []
    top = api.get("/v1/customers/%s/overview" % head["id"],
                  headers=bearer(t)).json()
    assert [x["id"] for x in top["children"]] == [c["id"]]


def test_graph_tree_and_relations(api, tokens):
    t = tokens["rep1"]
    a = create(api, t, name="甲集团")
    b = create(api, t, name="甲集团华东分公司", parent_id=a["id"])
    c = create(api, t, name="甲集团上海办事处", parent_id=b["id"])
    boss = contact(api, t, a["id"], "甲总")
    mgr = contact(api, t, b["id"], "乙经理")
    r = api.post("/v1/contacts/%s/relations" % mgr["id"], headers=bearer(t),
                 json={"to_contact_id": boss["id"], "kind": "reports_to"})
    assert r.status_code == 201
    rel = r.json()
    g = api.get("/v1/customers/%s/graph" % b["id"], headers=bearer(t)).json()
    assert [x["id"] for x in g["ancestors"]] == [a["id"]]
    assert [(x["id"], x["depth"]) for x in g["descendants"]] == [(c["id"], 1)]
    assert {x["id"] for x in g["contacts"]} == {boss["id"], mgr["id"]}
    assert [x["id"] for x in g["relations"]] == [rel["id"]]
    shallow = api.get("/v1/customers/%s/graph?depth=1" % c["id"],
                      headers=bearer(t)).json()
    assert [x["id"] for x in shallow["ancestors"]] == [b["id"]]
    # reports_to is a tree: the boss cannot report to their report.
    back = api.post("/v1/contacts/%s/relations" % boss["id"],
                    headers=bearer(t),
                    json={"to_contact_id": mgr["id"], "kind": "reports_to"})
    assert back.status_code == 422
    again = api.post("/v1/contacts/%s/relations" % mgr["id"],
                     headers=bearer(t),
                     json={"to_contact_id": boss["id"], "kind": "reports_to"})
    assert again.status_code == 409
    listed = api.get("/v1/contacts/%s/relations" % boss["id"],
                     headers=bearer(t)).json()["data"]
    assert [x["id"] for x in listed] == [rel["id"]]
    assert api.delete("/v1/contacts/%s/relations/%s" % (mgr["id"], rel["id"]),
                      headers=bearer(t)).status_code == 204
    assert api.get("/v1/customers/%s/graph?depth=11" % b["id"],
                   headers=bearer(t)).status_code == 422


def test_graph_hides_what_the_caller_cannot_see(api, tokens):
    # rep2's branch under rep1's head office: rep1 sees only their part.
    head = create(api, tokens["manager"], name="乙集团",
                  owner_id=DEMO["rep1"][1])
    create(api, tokens["manager"], name="乙集团北京分公司",
           owner_id=DEMO["rep2"][1], parent_id=head["id"])
    g = api.get("/v1/customers/%s/graph" % head["id"],
                headers=bearer(tokens["rep1"])).json()
    assert g["descendants"] == []
    full = api.get("/v1/customers/%s/graph" % head["id"],
                   headers=bearer(tokens["manager"])).json()
    assert [x["name"] for x in full["descendants"]] == ["乙集团北京分公司"]


def test_duplicates_scored(api, tokens):
    t = tokens["rep1"]
    a = create(api, t, name="Sichuan Jiuye Trading Co", phone="028-6666 1234",
               email="sales@jiuye.example.cn")
    b = create(api, t, name="Sichuan Jiuye Trading Company",
               phone="02866661234")
    c = create(api, t, name="Other Business", email="SALES@jiuye.example.cn")
    create(api, t, name="Completely Unrelated Ltd")
    d = api.get("/v1/customers/%s/duplicates" % a["id"],
                headers=bearer(t)).json()["data"]
    found = {x["customer"]["id"]: x for x in d}
    assert set(found) >= {b["id"], c["id"]}
    assert set(found[b["id"]]["reasons"]) == {"phone", "name"}
    assert found[c["id"]]["reasons"] == ["email"]
    assert found[b["id"]]["score"] > found[c["id"]]["score"]
    assert d[0]["customer"]["id"] == b["id"]


def test_merge_moves_everything_in_one_transaction(api, stack, tokens):
    t = tokens["rep1"]
    h = bearer(t)
    keep = create(api, t, name="合并保留", tags=["a"])
    dup = create(api, t, name="合并重复", tags=["b"], external_id=
                 "M-" + uuid.uuid4().hex[:6])
    child = create(api, t, name="重复的分公司", parent_id=dup["id"])
    ct = contact(api, t, dup["id"], "被合并联系人")
    r = api.post("/v1/customers/merge", headers=h,
                 json={"survivor_id": keep["id"], "merged_ids": [dup["id"]]})
    assert r.status_code == 200, r.text
    assert r.json()["tags"] == ["a", "b"]
    assert api.get("/v1/customers/" + dup["id"], headers=h).status_code == 404
    assert api.get("/v1/contacts/" + ct["id"], headers=h
                   ).json()["customer_id"] == keep["id"]
    assert api.get("/v1/customers/" + child["id"], headers=h
                   ).json()["parent_id"] == keep["id"]
    assert api.post("/v1/customers/%s/restore" % dup["id"],
                    headers=h).status_code == 409
    entries = api.get("/v1/audit?action=merge&entity_id=" + keep["id"],
                      headers=bearer(tokens["admin"])).json()["data"]
    assert entries and entries[0]["changes"]["merged_ids"] == [dup["id"]]


def test_merge_refuses_what_the_caller_cannot_change(api, stack, tokens):
    t = tokens["rep1"]
    keep = create(api, t, name="不能合并")
    before = stack.sql("SELECT deleted_at FROM customers WHERE id = %s",
                       (REP2_CUSTOMER,))
    r = api.post("/v1/customers/merge", headers=bearer(t),
                 json={"survivor_id": keep["id"],
                       "merged_ids": [REP2_CUSTOMER]})
    ghost = api.post("/v1/customers/merge", headers=bearer(t),
                     json={"survivor_id": keep["id"],
                           "merged_ids": [str(uuid.uuid4())]})
    assert r.status_code == ghost.status_code == 404
    assert r.json()["detail"] == ghost.json()["detail"]
    assert stack.sql("SELECT deleted_at FROM customers WHERE id = %s",
                     (REP2_CUSTOMER,)) == before
    # Marketing sees rep2's customer but may not merge it away.
    m = api.post("/v1/customers/merge", headers=bearer(tokens["marketing"]),
                 json={"survivor_id": keep["id"],
                       "merged_ids": [REP2_CUSTOMER]})
    assert m.status_code == 403
    bad = api.post("/v1/customers/merge", headers=bearer(t),
                   json={"survivor_id": keep["id"],
                         "merged_ids": [keep["id"]]})
    assert bad.status_code == 422


def test_surroundings_of_others_records_are_404(api, tokens, org2):
    ghost = str(uuid.uuid4())
    for token in (tokens["rep1"], org2["admin"]):
        for suffix in ("overview", "graph", "duplicates"):
            real = api.get("/v1/customers/%s/%s" % (REP2_CUSTOMER, suffix),
                           headers=bearer(token))
            fake = api.get("/v1/customers/%s/%s" % (ghost, suffix),
                           headers=bearer(token))
            assert real.status_code == fake.status_code == 404
            assert real.json()["detail"] == fake.json()["detail"]


def test_api_key_without_contacts_scope_sees_no_contacts(api, tokens):
    t = tokens["rep1"]
    c = create(api, t, name="钥匙范围")
    contact(api, t, c["id"], "不给钥匙看")
    k = api.post("/v1/api-keys", headers=bearer(tokens["admin"]), json={
        "name": "customers only", "scopes": ["customers:write"],
        "user_id": DEMO["rep1"][1]}).json()
    h = {"X-API-Key": k["key"]}
    assert api.get("/v1/customers/%s/overview" % c["id"], headers=h
                   ).json()["contacts"] == []
    assert api.get("/v1/customers/%s/graph" % c["id"], headers=h
                   ).json()["contacts"] == []
    other = create(api, t, name="钥匙合并")
    assert api.post("/v1/customers/merge", headers=h, json={
        "survivor_id": c["id"], "merged_ids": [other["id"]]}
        ).status_code == 403


def test_contacts_of_a_deleted_customer_are_gone(api, tokens):
    t = tokens["rep1"]
    c = create(api, t, name="删除后联系人")
    ct = contact(api, t, c["id"], "随客户删除")
    api.delete("/v1/customers/" + c["id"], headers=bearer(t))
    assert api.get("/v1/contacts/" + ct["id"], headers=bearer(t)
                   ).status_code == 404
    api.post("/v1/customers/%s/restore" % c["id"], headers=bearer(t))
    assert api.get("/v1/contacts/" + ct["id"], headers=bearer(t)
                   ).status_code == 200
