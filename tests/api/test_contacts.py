"""Contacts: many per customer, visible and changeable through it."""
import uuid

from conftest import DEMO, bearer

REP2_CUSTOMER = "00000000-0000-4000-8000-000000001003"


def customer(api, token):
    return api.post("/v1/customers", headers=bearer(token),
                    json={"name": "联系人测试" + uuid.uuid4().hex[:6]}).json()


def test_contact_lifecycle(api, tokens):
    h = bearer(tokens["rep1"])
    c = customer(api, tokens["rep1"])
    r = api.post("/v1/customers/%s/contacts" % c["id"], headers=h, json={
        "name": "李明", "title": "采购总监",
        "phones": ["13800138000", "028-86001234"],
        "email": "liming@example.cn", "birthday": "1980-05-20",
        "buying_role": "decision_maker"})
    assert r.status_code == 201, r.text
    ct = r.json()
    assert r.headers["location"].endswith("/v1/contacts/" + ct["id"])
    assert ct["customer_id"] == c["id"] and ct["birthday"] == "1980-05-20"
    api.post("/v1/customers/%s/contacts" % c["id"], headers=h,
             json={"name": "王芳", "buying_role": "influencer"})
    listed = api.get("/v1/customers/%s/contacts" % c["id"], headers=h).json()
    assert [x["name"] for x in listed["data"]] == ["李明", "王芳"]
    found = api.get("/v1/contacts?q=13800138000", headers=h).json()["data"]
    assert ct["id"] in {x["id"] for x in found}
    r = api.patch("/v1/contacts/" + ct["id"],
                  headers={**h, "If-Match": '"1"'}, json={"title": "副总"})
    assert r.status_code == 200 and r.json()["title"] == "副总"
    assert api.patch("/v1/contacts/" + ct["id"],
                     headers={**h, "If-Match": '"1"'},
                     json={"title": "x"}).status_code == 412
    assert api.delete("/v1/contacts/" + ct["id"], headers=h
                      ).status_code == 204
    assert api.get("/v1/contacts/" + ct["id"], headers=h).status_code == 404


def test_contact_bad_input(api, stack, tokens):
    c = customer(api, tokens["rep1"])
    before = stack.sql("SELECT count(*) FROM contacts")[0][0]
    r = api.post("/v1/customers/%s/contacts" % c["id"],
                 headers=bearer(tokens["rep1"]),
                 json={"phones": ["nope"], "email": "x", "birthday":
                       "1990-02-30", "buying_role": "boss", "age": 3})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {
        "name", "phones", "email", "birthday", "buying_role", "age"}
    assert stack.sql("SELECT count(*) FROM contacts")[0][0] == before


def test_contacts_follow_their_customer(api, tokens):
    """Rep 1 cannot reach rep 2's customer's contacts by any route;
    marketing reads them but cannot change them."""
    r2 = bearer(tokens["rep2"])
    ct = api.post("/v1/customers/%s/contacts" % REP2_CUSTOMER, headers=r2,
                  json={"name": "赵六"}).json()
    h = bearer(tokens["rep1"])
    ghost = str(uuid.uuid4())
    for method, path, body in (
            ("GET", "/v1/customers/%s/contacts", None),
            ("POST", "/v1/customers/%s/contacts", {"name": "越权"})):
        real = api.request(method, path % REP2_CUSTOMER, headers=h, json=body)
        fake = api.request(method, path % ghost, headers=h, json=body)
        assert real.status_code == fake.status_code == 404
        assert real.json()["detail"] == fake.json()["detail"]
    for method, body in (("GET", None), ("PATCH", {"name": "x"}),
                         ("DELETE", None)):
        real = api.request(method, "/v1/contacts/" + ct["id"], headers=h,
                           json=body)
        fake = api.request(method, "/v1/contacts/" + ghost, headers=h,
                           json=body)
        assert real.status_code == fake.status_code == 404
    assert ct["id"] not in {x["id"] for x in api.get(
        "/v1/contacts?limit=500", headers=h).json()["data"]}
    m = bearer(tokens["marketing"])
    assert api.get("/v1/contacts/" + ct["id"], headers=m).status_code == 200
    assert api.patch("/v1/contacts/" + ct["id"], headers=m,
                     json={"name": "改"}).status_code == 403
    assert api.post("/v1/customers/%s/contacts" % REP2_CUSTOMER, headers=m,
                    json={"name": "x"}).status_code == 403
    # The manager works on the team's contacts.
    assert api.patch("/v1/contacts/" + ct["id"],
                     headers=bearer(tokens["manager"]),
                     json={"buying_role": "user"}).status_code == 200


def test_contacts_across_orgs(api, tokens, org2):
    assert api.get("/v1/customers/%s/contacts" % REP2_CUSTOMER,
                   headers=bearer(org2["admin"])).status_code == 404
    assert api.get("/v1/contacts?limit=500", headers=bearer(org2["admin"])
                   ).json()["data"] == []
