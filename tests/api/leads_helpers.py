"""What the lead tests share: making leads, counting rows, activities
written as a user would (through crm_app with the user bound), and
putting the organisation's lead configuration back as it was."""
import uuid

import psycopg

from conftest import DEMO, DEMO_ORG, Client, bearer


def create(api, token, **fields):
    body = {"name": "线索" + uuid.uuid4().hex[:8]}
    body.update(fields)
    return api.post("/v1/leads", headers=bearer(token), json=body)


def lead(api, token, **fields):
    r = create(api, token, **fields)
    assert r.status_code == 201, r.text
    return r.json()


def get(api, token, lead_id):
    r = api.get("/v1/leads/" + lead_id, headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()


def count(stack, table, where="true", params=None):
    return stack.sql(f"SELECT count(*) FROM {table} WHERE {where}",
                     params)[0][0]


def problem_shape(r):
    d = r.json()
    return r.status_code, d["type"], d["title"], d["detail"]


def as_user(stack, short, query, params=None):
    """Run `query` as crm_app with demo user `short` bound (one
    transaction), as the server would; returns the rows."""
    principal = '{"user": "%s", "org": "%s"}' % (DEMO[short][1], DEMO_ORG)
    with psycopg.connect(stack.dsn("crm_app")) as conn:
        conn.execute("SELECT crm_bind(%s::jsonb)", (principal,))
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else None


def add_activity(stack, short, lead_id, kind="call"):
    """Log an activity of `kind` linked to lead `lead_id` as user `short`
    (the activities API is another module's); returns its id."""
    return as_user(stack, short,
                   "INSERT INTO activities (org_id, owner_id, type, subject, "
                   "lead_id) VALUES (%s, %s, %s, %s, %s) RETURNING id::text",
                   (DEMO_ORG, DEMO[short][1], kind, "跟进" + kind,
                    lead_id))[0][0]


def reset_lead_config(stack, admin_token):
    """Remove every scoring and assignment rule and restore the default
    thresholds, through the API (so the open leads are rescored)."""
    api = Client(stack.https, stack.ca)
    h = bearer(admin_token)
    for path in ("/v1/lead-scoring-rules", "/v1/assignment-rules"):
        r = api.get(path, headers=h)
        if r.status_code == 404:
            continue
        for rule in r.json()["data"]:
            assert api.delete(path + "/" + rule["id"], headers=h
                              ).status_code == 204
    r = api.request("PUT", "/v1/lead-grading", headers=h,
                    json={"a": 80, "b": 50, "c": 20, "mql_score": None})
    assert r.status_code == 200, r.text
