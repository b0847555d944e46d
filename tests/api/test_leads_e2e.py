"""The whole way of a lead (R20): a web form captures it, a round-robin
rule assigns it, rules and an activity score it, the score makes it an
MQL, a rep qualifies it to SQL and converts it into a customer, a
contact and an opportunity in the default pipeline's first stage."""
import uuid

import pytest

from conftest import DEMO, DEMO_ORG, bearer
from leads_helpers import add_activity, get, reset_lead_config

REP1 = DEMO["rep1"][1]
REP2 = DEMO["rep2"][1]
MARKETING = DEMO["marketing"][1]


@pytest.fixture
def clean(stack, tokens):
    reset_lead_config(stack, tokens["admin"])
    yield
    reset_lead_config(stack, tokens["admin"])


def test_web_form_to_opportunity(api, stack, tokens, clean):
    tag = uuid.uuid4().hex[:6]
    source = "官网-" + tag
    admin = bearer(tokens["admin"])
    # The admin configures scoring, the MQL threshold, a rotation and a form.
    for body in ({"kind": "field", "field": "source", "op": "eq",
                  "value": source, "points": 30},
                 {"kind": "field", "field": "email_domain", "op": "eq",
                  "value": "yunqi%s.example.cn" % tag, "points": 20},
                 {"kind": "activity", "activity_type": "meeting",
                  "points": 25}):
        assert api.post("/v1/lead-scoring-rules", headers=admin,
                        json=body).status_code == 201
    assert api.request("PUT", "/v1/lead-grading", headers=admin, json={
        "a": 80, "b": 50, "c": 20, "mql_score": 70}).status_code == 200
    assert api.post("/v1/assignment-rules", headers=admin, json={
        "name": "官网线索轮流", "source": source,
        "round_robin_user_ids": [REP1, REP2]}).status_code == 201
    form = api.post("/v1/lead-forms", headers=admin, json={
        "name": "官网试用申请", "source": source,
        "default_owner_id": MARKETING}).json()

    # Two visitors fill in the form: the rotation gives one to each rep.
    first = api.post("/v1/forms/%s/leads" % form["form_key"], json={
        "name": "赵敏", "company": "杭州云栖%s科技有限公司" % tag,
        "phone": "13900139000", "email": "zhaomin@YUNQI%s.example.cn" % tag,
        "message": "想了解企业版价格"})
    assert first.status_code == 201, first.text
    second = api.post("/v1/forms/%s/leads" % form["form_key"],
                      json={"name": "钱进"})
    assert second.status_code == 201
    a = get(api, tokens["rep1"], first.json()["id"])
    assert (a["owner_id"], a["source"], a["score"], a["grade"],
            a["status"]) == (REP1, source, 50, "B", "new")
    assert get(api, tokens["rep2"], second.json()["id"])["owner_id"] == REP2
    assert api.get("/v1/leads/" + second.json()["id"],
                   headers=bearer(tokens["rep1"])).status_code == 404

    # Rep 1 meets them: 75 points reach the threshold, the lead is an MQL.
    add_activity(stack, "rep1", a["id"], "meeting")
    a = get(api, tokens["rep1"], a["id"])
    assert (a["score"], a["grade"], a["status"]) == (75, "B", "mql")

    # Rep 1 qualifies it and converts it.
    r = api.post("/v1/leads/%s/qualify" % a["id"],
                 headers=bearer(tokens["rep1"]), json={"to": "sql"})
    assert r.status_code == 200 and r.json()["status"] == "sql"
    r = api.post("/v1/leads/%s/convert" % a["id"],
                 headers=bearer(tokens["rep1"]), json={"opportunity": {
                     "name": "云栖企业版", "amount": "56000.00",
                     "expected_close_date": "2027-01-31"}})
    assert r.status_code == 201, r.text
    done = r.json()
    assert done["lead"]["status"] == "converted"
    hist = api.get("/v1/leads/%s/history" % a["id"],
                   headers=bearer(tokens["rep1"])).json()["data"]
    assert [(e["from_status"], e["to_status"], e["changed_by"])
            for e in hist] == [(None, "new", None), ("new", "mql", REP1),
                               ("mql", "sql", REP1),
                               ("sql", "converted", REP1)]
    opp = stack.sql(
        "SELECT o.owner_id::text, o.customer_id::text, o.contact_id::text, "
        "o.lead_id::text, o.source, o.amount::text, p.is_default, "
        "s.position, s.name, s.kind FROM opportunities o "
        "JOIN pipelines p ON p.id = o.pipeline_id "
        "JOIN pipeline_stages s ON s.id = o.stage_id WHERE o.id = %s",
        (done["opportunity_id"],))
    assert opp == [(REP1, done["customer_id"], done["contact_id"], a["id"],
                    source, "56000.00", True, 1, "初步接触", "open")]
    assert stack.sql("SELECT min(position) FROM pipeline_stages s JOIN "
                     "pipelines p ON p.id = s.pipeline_id WHERE p.org_id = %s "
                     "AND p.is_default AND s.kind = 'open'",
                     (DEMO_ORG,))[0][0] == 1
    customer = api.get("/v1/customers/" + done["customer_id"],
                       headers=bearer(tokens["rep1"])).json()
    assert (customer["name"], customer["owner_id"], customer["source"]) == (
        "杭州云栖%s科技有限公司" % tag, REP1, source)
