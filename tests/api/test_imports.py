"""Bulk imports by curl: POST /v1/imports/customers with CSV or NDJSON.

On an organisation of its own (so the demo data's counts stay as other
tests expect): an admin, an executive, a manager and two reps below them.
Every test names its rows with a prefix of its own and counts only those.
"""
import json
import socket
import ssl
import uuid

import psycopg
import pytest

from conftest import DEMO_ORG, Client, bearer, own_org

URL = "/v1/imports/customers"


@pytest.fixture(scope="module")
def org(stack):
    return own_org(stack, "imports", "导入测试有限公司")


def run(api, token, body, ctype="text/csv", query="", headers=None):
    h = dict(headers if headers is not None else bearer(token))
    h["content-type"] = ctype
    if isinstance(body, str):
        body = body.encode()
    return api.post(URL + query, data=body, headers=h, timeout=120)


def customers(stack, org, where="true", params=()):
    return stack.sql("SELECT name, owner_id::text, external_id, grade, tags, "
                     "is_key_customer, notes, version, import_id::text "
                     "FROM customers WHERE org_id = %s AND (" + where +
                     ") ORDER BY name", (org["id"], *params))


def count(stack, table, where="true", params=()):
    return stack.sql("SELECT count(*) FROM " + table + " WHERE " + where,
                     params)[0][0]


def errors(r):
    return [(e["line"], e["field"], e["code"]) for e in r.json()["errors"]]


def test_csv_insert_reads_quotes_line_breaks_and_chinese(api, stack, org):
    u, t = org["users"], org["tokens"]
    body = ("\ufeffname,industry,tags,is_key_customer,notes,external_id,"
            "owner_email\r\n"
            "四川糖酒A有限公司,食品饮料,重点客户; 糖酒会 ,true,,CSVA-1,\r\n"
            "\"成都\"\"天府\"\"传媒, 有限公司\",传媒,,0,\"第一行\r\n"
            "第二行, 带逗号\",CSVA-2,rep2@imports.example\r\n"
            "北京华夏A集团,出版,\"[\"\"出版\"\"]\",,,,\r\n")
    r = run(api, t["manager"], body)
    assert r.status_code == 200, r.text
    rep = r.json()
    assert {k: rep[k] for k in ("read", "inserted", "updated", "failed",
                                "errors_total", "errors", "dry_run")} == {
        "read": 3, "inserted": 3, "updated": 0, "failed": 0,
        "errors_total": 0, "errors": [], "dry_run": False}
    imp = rep["import_id"]
    rows = customers(stack, org, "name LIKE %s OR external_id LIKE %s",
                     ("%A%", "CSVA-%"))
    assert rows == [
        ("北京华夏A集团", u["manager"], None, None, ["出版"], False, None, 1,
         imp),
        ("四川糖酒A有限公司", u["manager"], "CSVA-1", None, ["糖酒会", "重点客户"],
         True, None, 1, imp),
        ('成都"天府"传媒, 有限公司', u["rep2"], "CSVA-2", None, [], False,
         "第一行\r\n第二行, 带逗号", 1, imp),
    ]
    # The stage history starts for each, as for a single create.
    assert count(stack, "customer_stage_history h JOIN customers c ON "
                 "c.id = h.customer_id", "c.import_id = %s AND h.from_stage "
                 "IS NULL AND h.to_stage = 'potential' AND h.changed_by = %s",
                 (imp, u["manager"])) == 3
    # One audit entry for the import, with its counts; none per row.
    audit = stack.sql("SELECT actor_id::text, action, changes FROM audit_log "
                      "WHERE entity = 'imports' AND entity_id = %s", (imp,))
    assert audit == [(u["manager"], "import", {
        "resource": "customers", "mode": "insert", "atomic": False,
        "read": 3, "inserted": 3, "updated": 0, "failed": 0})]
    assert count(stack, "audit_log a JOIN customers c ON c.id = a.entity_id",
                 "c.import_id = %s", (imp,)) == 0
    # The admin sees it in the audit log through the API.
    listed = api.get("/v1/audit?entity=imports&entity_id=" + imp,
                     headers=bearer(t["admin"])).json()["data"]
    assert [e["action"] for e in listed] == ["import"]


def test_ndjson_insert(api, stack, org):
    t = org["tokens"]
    body = ('{"name": "NDJSON甲", "grade": "A", "tags": ["乙", "甲"]}\n'
            '\n'
            '{"name": "NDJSON乙", "grade": null, "external_id": "ND-2",'
            ' "owner_email": "rep1@imports.example"}\r\n'
            '{"name": "NDJSON丙", "colour": "red"}\n'
            '{"name": 3}\n'
            'not json\n')
    r = run(api, t["rep1"], body, "application/x-ndjson")
    assert r.status_code == 200, r.text
    assert r.json()["read"] == 5 and r.json()["inserted"] == 2
    assert r.json()["failed"] == 3
    assert errors(r) == [(4, "colour", "unknown_field"), (5, "name", "type"),
                         (6, "", "format")]
    rows = customers(stack, org, "name LIKE 'NDJSON%%'")
    assert [(x[0], x[1], x[3], x[4]) for x in rows] == [
        ("NDJSON乙", org["users"]["rep1"], None, []),
        ("NDJSON甲", org["users"]["rep1"], "A", ["乙", "甲"])]
    assert run(api, t["rep1"], body, "application/json").status_code == 415
    assert run(api, t["rep1"], body,
               "text/csv; charset=gbk").status_code == 415


def test_upsert_changes_the_columns_given(api, stack, org):
    t, u = org["tokens"], org["users"]
    first = run(api, t["rep1"], "name,grade,tags,external_id\n"
                "更新前,A,旧,UP-1\n")
    assert first.json()["inserted"] == 1
    cid = stack.sql("SELECT id::text FROM customers WHERE org_id = %s AND "
                    "external_id = 'UP-1'", (org["id"],))[0][0]
    r = run(api, t["rep1"], "name,grade,tags,external_id\n"
            "更新后,,新;另,UP-1\n"
            "新客户,B,,UP-2\n"
            "没有编号,C,,\n", query="?mode=upsert")
    assert r.status_code == 200, r.text
    rep = r.json()
    assert (rep["inserted"], rep["updated"], rep["failed"]) == (1, 1, 1)
    assert errors(r) == [(4, "external_id", "required")]
    rows = customers(stack, org, "external_id LIKE 'UP-%%'")
    assert [(x[0], x[2], x[3], x[4], x[7]) for x in rows] == [
        ("新客户", "UP-2", "B", [], 1),
        ("更新后", "UP-1", "A", ["另", "新"], 2)]
    # The update is audited field by field, as any update.
    changes = stack.sql("SELECT changes FROM audit_log WHERE entity = "
                        "'customers' AND entity_id = %s AND action = "
                        "'update'", (cid,))
    assert len(changes) == 1
    assert changes[0][0]["name"] == {"before": "更新前", "after": "更新后"}
    assert changes[0][0]["tags"] == {"before": ["旧"], "after": ["另", "新"]}
    assert "grade" not in changes[0][0]
    audit = stack.sql("SELECT changes FROM audit_log WHERE entity = "
                      "'imports' AND entity_id = %s", (rep["import_id"],))
    assert audit[0][0]["updated"] == 1 and audit[0][0]["mode"] == "upsert"
    # NDJSON null clears a value on upsert.
    r = run(api, t["rep1"], '{"external_id": "UP-1", "grade": null}',
            "application/x-ndjson", "?mode=upsert")
    assert r.json()["updated"] == 1
    assert customers(stack, org, "external_id = 'UP-1'")[0][3] is None
    # Insert mode refuses an external_id that is taken.
    r = run(api, t["rep1"], "name,external_id\n重复,UP-2\n")
    assert errors(r) == [(2, "external_id", "taken")]
    assert u["rep1"] == customers(stack, org, "external_id = 'UP-2'")[0][1]


def test_dry_run_writes_nothing(api, stack, org):
    t = org["tokens"]
    run(api, t["rep1"], "name,external_id\n已有,DRY-1\n")
    tables = ("customers", "audit_log", "imports", "customer_stage_history")
    before = [count(stack, x) for x in tables]
    r = run(api, t["rep1"], "name,grade,external_id\n"
            "改名,B,DRY-1\n新的,A,DRY-2\n坏的,Z,DRY-3\n",
            query="?mode=upsert&dry_run=true")
    assert r.status_code == 200, r.text
    rep = r.json()
    assert (rep["read"], rep["inserted"], rep["updated"], rep["failed"]) == (
        3, 1, 1, 1)
    assert rep["dry_run"] is True and rep["import_id"] is None
    assert errors(r) == [(4, "grade", "enum")]
    assert [count(stack, x) for x in tables] == before
    assert customers(stack, org, "external_id = 'DRY-1'")[0][0] == "已有"


def test_atomic_import_failing_on_its_last_line_leaves_nothing(api, stack, org):
    t = org["tokens"]
    run(api, t["rep2"], "name,external_id\n别人的,ATOM-TAKEN\n")
    good = "".join("原子%03d,ATOM-%03d\n" % (i, i) for i in range(50))
    tables = ("customers", "audit_log", "imports", "customer_stage_history")
    for last, line_error in (
            ("坏,ATOM-X,nobody@imports.example\n",
             (52, "owner_email", "not_found")),
            ("\"坏,ATOM-Y,\n", (52, "", "format")),
            ("坏,ATOM-TAKEN,\n", (52, "external_id", "taken"))):
        before = [count(stack, x) for x in tables]
        r = run(api, t["rep1"], "name,external_id,owner_email\n" +
                good.replace("\n", ",\n") + last, query="?atomic=true")
        assert r.status_code == 422, r.text
        doc = r.json()
        assert doc["type"] == "urn:crm:problem:validation-failed"
        assert (doc["read"], doc["inserted"], doc["updated"], doc["failed"]
                ) == (51, 0, 0, 1)
        assert [(e["line"], e["field"], e["code"]) for e in doc["errors"]] \
            == [line_error]
        assert "nothing was written" in doc["detail"]
        assert [count(stack, x) for x in tables] == before
        assert count(stack, "customers", "external_id LIKE 'ATOM-0%%'") == 0
    # The same file without its bad line is written whole.
    r = run(api, t["rep1"], "name,external_id\n" + good,
            query="?atomic=true")
    assert r.status_code == 200 and r.json()["inserted"] == 50


def test_partial_import_keeps_the_good_lines(api, stack, org):
    t = org["tokens"]
    r = run(api, t["rep1"], "name,grade,external_id\n"
            "好一,A,PART-1\n,A,PART-2\n好二,B,PART-3\n好三,X,PART-4\n")
    assert r.status_code == 200
    assert (r.json()["inserted"], r.json()["failed"]) == (2, 2)
    assert errors(r) == [(3, "name", "required"), (5, "grade", "enum")]
    assert [x[2] for x in customers(stack, org, "external_id LIKE "
                                    "'PART-%%'")] == ["PART-1", "PART-3"]


def test_bad_lines_fail_alone(api, stack, org):
    t = org["tokens"]
    body = ("name,grade,external_id\n"
            "引号\"在中间,A,BAD-1\n"      # a quote inside a bare field
            "\"关闭后\"还有,A,BAD-2\n"    # text after the closing quote
            "只有两列,A\n"                # too few fields
            "太多,A,BAD-4,多余\n").encode() + \
        b"\xff\xfe,A,BAD-5\n" + "好的,A,BAD-6\n".encode()
    r = run(api, t["rep1"], body)
    assert r.status_code == 200, r.text
    assert errors(r) == [(2, "", "format"), (3, "", "format"),
                         (4, "", "columns"), (5, "", "columns"),
                         (6, "", "format")]
    assert (r.json()["read"], r.json()["inserted"]) == (6, 1)
    assert "UTF-8" in r.json()["errors"][4]["message"]
    assert "4 fields; the header has 3" in r.json()["errors"][3]["message"]
    assert count(stack, "customers", "external_id LIKE 'BAD-%%'") == 1
    # A quote left open runs to the end of the file: that line fails.
    r = run(api, t["rep1"], "name,external_id\n开着,BAD-7\n\"没关,BAD-8\n"
            "吞掉,BAD-9\n")
    assert errors(r) == [(3, "", "format")]
    assert r.json()["inserted"] == 1
    assert count(stack, "customers", "external_id IN ('BAD-8', 'BAD-9')") \
        == 0
    # A NUL byte, in CSV and in NDJSON.
    r = run(api, t["rep1"], b"name\n\x00\n")
    assert errors(r) == [(2, "", "format")]
    r = run(api, t["rep1"], b'{"name": "a\x00"}\n', "application/x-ndjson")
    assert errors(r) == [(1, "", "format")]


def test_files_refused_whole(api, stack, org):
    t = org["tokens"]
    before = count(stack, "customers")
    r = run(api, t["rep1"], "name,colour,grade,grade,,custom.nope\nx,y,A,A,,\n")
    assert r.status_code == 400, r.text
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
        ("colour", "unknown_field"), ("grade", "duplicate"), ("", "header"),
        ("custom.nope", "unknown_field")]
    for body in ("", "\ufeff", "\n\n"):
        r = run(api, t["rep1"], body)
        assert r.status_code == 400, (body, r.text)
    r = run(api, t["rep1"], "\"name\n")
    assert r.status_code == 400 and "header" in r.json()["detail"]
    r = run(api, t["rep1"], "name\n甲\n", "text/plain")
    assert r.status_code == 415
    r = api.post(URL, headers=bearer(t["rep1"]), timeout=30)
    assert r.status_code in (400, 411, 415)
    r = run(api, t["rep1"], "name\n甲\n", query="?mode=merge")
    assert r.status_code == 422
    assert count(stack, "customers") == before


def test_repeated_external_ids_fail_after_the_first(api, stack, org):
    t = org["tokens"]
    r = run(api, t["rep1"], "name,grade,external_id\n"
            "第一,A,DUP-1\n第二,Z,DUP-2\n又一,A,DUP-1\n再一,B,DUP-1\n"
            "又二,A,DUP-2\n")
    assert errors(r) == [(3, "grade", "enum"),
                         (4, "external_id", "duplicate"),
                         (5, "external_id", "duplicate"),
                         (6, "external_id", "duplicate")]
    assert r.json()["errors"][1]["message"] == \
        "external_id is already on line 2 of this file."
    assert r.json()["errors"][3]["message"] == \
        "external_id is already on line 3 of this file."
    assert [x[0] for x in customers(stack, org,
                                    "external_id LIKE 'DUP-%%'")] == ["第一"]


def test_owners_the_caller_may_assign(api, stack, org, org2):
    t, u = org["tokens"], org["users"]
    r = api.post("/v1/users", headers=bearer(t["admin"]), json={
        "email": "gone@imports.example", "name": "离职", "role": "sales_rep",
        "password": "gone-password-1"})
    assert r.status_code == 201
    assert api.delete("/v1/users/" + r.json()["id"],
                      headers=bearer(t["admin"])).status_code in (200, 204)
    body = "name,external_id,owner_email\n" + "".join(
        "给{w},OWN-{{who}}-{w},{w}@imports.example\n".format(w=w)
        for w in ("rep1", "rep2", "manager", "admin")) + \
        "给外人,OWN-{who}-x,admin@org2.example\n" \
        "给离职,OWN-{who}-g,gone@imports.example\n"
    forbidden = "forbidden"
    expect = {
        # A rep: only themselves (rep2 is a peer, the others above).
        "rep1": {3: forbidden, 4: forbidden, 5: forbidden},
        # A manager: themselves and the reps below them.
        "manager": {5: forbidden},
        # Org-wide roles: anyone of the organisation.
        "admin": {},
    }
    for who, refused in expect.items():
        r = run(api, t[who], body.format(who=who))
        assert r.status_code == 200, r.text
        want = sorted([(line, "owner_email", code)
                       for line, code in refused.items()] +
                      [(6, "owner_email", "not_found"),
                       (7, "owner_email", "not_found")])
        assert errors(r) == want, who
        assert r.json()["inserted"] == 4 - len(refused)
        for w in ("rep1", "rep2", "manager", "admin"):
            rows = customers(stack, org, "external_id = %s",
                             ("OWN-%s-%s" % (who, w),))
            line = {"rep1": 2, "rep2": 3, "manager": 4, "admin": 5}[w]
            assert [x[1] for x in rows] == ([] if line in refused
                                            else [u[w]]), (who, w)
    msg = [e["message"] for e in run(api, t["rep1"], body.format(
        who="again")).json()["errors"]]
    assert msg[0] == ("Only managers and admins assign records to people "
                      "outside their team.")
    assert msg[-1] == ("owner_email names no active user of this "
                       "organization.")
    # owner_id works as in the single-record route; not both at once.
    r = run(api, t["manager"], "name,owner_id,owner_email\n两个,%s,%s\n"
            "按编号,%s,\n" % (u["rep1"], "rep1@imports.example", u["rep2"]))
    assert errors(r) == [(2, "owner_email", "conflict")]
    assert customers(stack, org, "name = '按编号'")[0][1] == u["rep2"]
    r = run(api, t["rep1"], "name,owner_id\n越权,%s\n" % u["rep2"])
    assert errors(r) == [(2, "owner_id", "forbidden")]


def test_upsert_never_reaches_another_reps_customer(api, stack, org):
    """rep2 names rep1's external_id: the line fails exactly as for an
    external_id of a deleted customer of rep2's own, or one taken in
    insert mode; rep1's customer is untouched; nothing says whose it is."""
    t, u = org["tokens"], org["users"]
    run(api, t["rep1"], "name,grade,external_id\n一号的客户,A,ACL-1\n")
    run(api, t["rep2"], "name,external_id\n二号删掉的,ACL-2\n")
    gone = stack.sql("SELECT id::text FROM customers WHERE org_id = %s AND "
                     "external_id = 'ACL-2'", (org["id"],))[0][0]
    assert api.delete("/v1/customers/" + gone,
                      headers=bearer(t["rep2"])).status_code == 204
    answers = []
    for query, ext in (("?mode=upsert", "ACL-1"), ("?mode=upsert", "ACL-2"),
                       ("", "ACL-1"), ("", "ACL-2")):
        r = run(api, t["rep2"], "name,grade,owner_email,external_id\n"
                "二号改的,D,rep2@imports.example,%s\n" % ext, query=query)
        assert r.status_code == 200, r.text
        rep = r.json()
        answers.append((rep["read"], rep["inserted"], rep["updated"],
                        rep["failed"], rep["errors"]))
    assert answers[0] == answers[1] == answers[2] == answers[3]
    assert answers[0][4] == [{
        "line": 2, "field": "external_id", "code": "taken",
        "message": "external_id is already used by a customer you cannot "
                   "change; nothing was written for this line."}]
    assert customers(stack, org, "external_id = 'ACL-1'") == [
        ("一号的客户", u["rep1"], "ACL-1", "A", [], False, None, 1,
         customers(stack, org, "external_id = 'ACL-1'")[0][8])]
    # The manager above both may change rep1's customer.
    r = run(api, t["manager"], "name,external_id\n经理改的,ACL-1\n",
            query="?mode=upsert")
    assert r.json()["updated"] == 1
    assert customers(stack, org, "external_id = 'ACL-1'")[0][1] == u["rep1"]


def test_other_organisations_are_apart(api, stack, org, org2):
    """external_id is unique per organisation: org2 has its own; an
    upsert of org2 never reaches org1's customer of the same id."""
    run(api, org["tokens"]["rep1"], "name,external_id\n本组织,ORG-1\n")
    r = run(api, org2["admin"], "name,external_id\n别的组织,ORG-1\n",
            query="?mode=upsert")
    assert r.status_code == 200
    assert (r.json()["inserted"], r.json()["updated"]) == (1, 0)
    assert stack.sql("SELECT o.name, c.name FROM customers c JOIN "
                     "organizations o ON o.id = c.org_id WHERE "
                     "c.external_id = 'ORG-1' ORDER BY 1") == [
        ("导入测试有限公司", "本组织"), ("杭州第二测试有限公司", "别的组织")]
    # org2's owner_email cannot name org1's people.
    r = run(api, org2["admin"], "name,owner_email\n越界,rep1@imports.example\n")
    assert errors(r) == [(2, "owner_email", "not_found")]


def test_api_key_scopes(api, stack, org):
    admin = bearer(org["tokens"]["admin"])
    keys = {}
    for name, scopes in (("read", ["customers:read"]),
                         ("leads", ["leads:write"]),
                         ("write", ["customers:write"])):
        r = api.post("/v1/api-keys", headers=admin,
                     json={"name": "导入-" + name, "scopes": scopes})
        assert r.status_code == 201, r.text
        keys[name] = {"X-API-Key": r.json()["key"]}
    before = count(stack, "customers")
    for name in ("read", "leads"):
        r = run(api, None, "name\n钥匙导入\n", headers=keys[name])
        assert r.status_code == 403, r.text
        assert "customers:write" in r.json()["detail"]
    assert count(stack, "customers") == before
    r = run(api, None, "name,external_id\n钥匙导入,KEY-1\n",
            headers=keys["write"])
    assert r.status_code == 200 and r.json()["inserted"] == 1
    row = stack.sql("SELECT c.owner_id::text, i.api_key_id IS NOT NULL "
                    "FROM customers c JOIN imports i ON i.id = c.import_id "
                    "WHERE c.external_id = 'KEY-1' AND c.org_id = %s",
                    (org["id"],))
    assert row == [(org["users"]["admin"], True)]
    assert run(api, None, "name\n无钥匙\n", headers={}).status_code == 401


def test_custom_fields(api, stack, org):
    admin = bearer(org["tokens"]["admin"])
    made = []
    for body in ({"key": "level", "label": "等级", "type": "number"},
                 {"key": "channel", "label": "渠道", "type": "enum",
                  "options": ["线上", "线下"]},
                 {"key": "vip", "label": "VIP", "type": "bool"}):
        r = api.post("/v1/custom-fields", headers=admin, json=body)
        assert r.status_code == 201, r.text
        made.append(r.json()["id"])
    try:
        r = run(api, org["tokens"]["rep1"],
                "name,custom.level,custom.channel,custom.vip,external_id\n"
                "自定义一,3,线上,true,CF-1\n"
                "自定义二,很高,线上,,CF-2\n"
                "自定义三,1.5,电话,maybe,CF-3\n"
                "自定义四,,,,CF-4\n"
                "自定义五,,,0,CF-7\n")  # 1/0 as for every boolean column
        assert r.status_code == 200, r.text
        # (a line's custom errors come in the database's key order)
        assert errors(r) == [(3, "custom.level", "type"),
                             (4, "custom.vip", "type"),
                             (4, "custom.channel", "enum")]
        assert stack.sql("SELECT external_id, custom FROM customers WHERE "
                         "org_id = %s AND external_id LIKE 'CF-%%' ORDER BY 1",
                         (org["id"],)) == [
            ("CF-1", {"level": 3, "channel": "线上", "vip": True}),
            ("CF-4", {}), ("CF-7", {"vip": False})]
        # A required field: lines without it fail, and upserts keep it.
        r = api.post("/v1/custom-fields", headers=admin, json={
            "key": "region_code", "label": "区域", "type": "text",
            "required": True})
        made.append(r.json()["id"])
        r = run(api, org["tokens"]["rep1"],
                "name,custom.region_code,external_id\n"
                "有区域,川,CF-5\n没区域,,CF-6\n")
        assert errors(r) == [(3, "custom.region_code", "required")]
        r = run(api, org["tokens"]["rep1"], "name,custom.level,external_id\n"
                "有区域改,4,CF-5\n", query="?mode=upsert")
        assert r.json()["updated"] == 1, r.text
        assert stack.sql("SELECT custom FROM customers WHERE org_id = %s AND "
                         "external_id = 'CF-5'", (org["id"],)) == [
            ({"region_code": "川", "level": 4},)]
        # A column for an undefined custom field refuses the file.
        r = run(api, org["tokens"]["rep1"], "name,custom.colour\nx,y\n")
        assert r.status_code == 400
    finally:
        for i in made:
            api.delete("/v1/custom-fields/" + i, headers=admin)


def test_a_file_over_the_json_limit_streams_in(api, stack, org):
    lines = ["name,industry,province,city,phone,email,grade,external_id"]
    lines += ["大文件客户%05d,食品饮料,四川,成都,028-%08d,big%d@example.cn,B,"
              "BIG-%05d" % (i, i, i, i) for i in range(30000)]
    body = ("\r\n".join(lines) + "\r\n").encode()
    assert len(body) > 2 * 1024 * 1024
    r = run(api, org["tokens"]["rep2"], body)
    assert r.status_code == 200, r.text
    assert (r.json()["read"], r.json()["inserted"]) == (30000, 30000)
    assert count(stack, "customers", "org_id = %s AND external_id LIKE "
                 "'BIG-%%' AND owner_id = %s",
                 (org["id"], org["users"]["rep2"])) == 30000
    # No connection of an import is left behind.
    assert stack.sql("SELECT count(*) FROM pg_stat_activity WHERE "
                     "application_name = 'crm-bulk'") == [(0,)]


def raw_post(stack, tls, headers, body=b""):
    """Send a request by hand (a Content-Length larger than the body) and
    return the status line and the response's body."""
    port = stack.tls_port if tls else stack.backend_port
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if tls:
        ctx = ssl.create_default_context(cafile=stack.ca)
        s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
    s.sendall(("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" % (
        URL, "".join("%s: %s\r\n" % kv for kv in headers.items()))).encode()
        + body)
    data = b""
    try:
        while b"\r\n\r\n" not in data or len(data) < 200:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    s.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), rest


def test_a_2gb_body_is_refused_at_once(stack, org):
    headers = {"Authorization": "Bearer " + org["tokens"]["rep1"],
               "Content-Type": "text/csv",
               "Content-Length": str(2 * 1024 ** 3)}
    status, body = raw_post(stack, True, headers, b"name\n")
    assert " 413 " in status
    doc = json.loads(body[body.index(b"{"):body.rindex(b"}") + 1])
    assert doc["type"] == "urn:crm:problem:payload-too-large"
    status, _ = raw_post(stack, False, headers, b"name\n")
    assert " 413 " in status
    # Nothing was written to disk for it, and the server is fine.
    assert not any((stack.state / "bodies").iterdir())
    api = Client(stack.https, stack.ca)
    assert api.get("/readyz").status_code == 200


def test_an_import_id_cannot_be_borrowed(stack, org):
    """Rows that name an import skip the per-row audit: the database lets
    only an import open in the same transaction do that, and will not
    commit an import that was not closed (and so audited)."""
    who = '{"user": "%s", "org": "%s"}' % (org["users"]["rep1"], org["id"])
    closed = stack.sql("SELECT id::text FROM imports WHERE org_id = %s "
                       "LIMIT 1", (org["id"],))[0][0]
    for forged in (str(uuid.uuid4()), closed):
        with psycopg.connect(stack.dsn("crm_app")) as conn:
            conn.execute("SELECT crm_bind(%s::jsonb)", (who,))
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("INSERT INTO customers (org_id, owner_id, name, "
                             "import_id) VALUES (%s, %s, '借号', %s)",
                             (org["id"], org["users"]["rep1"], forged))
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation):
        with psycopg.connect(stack.dsn("crm_app")) as conn:
            conn.execute("SELECT crm_bind(%s::jsonb)", (who,))
            (imp,) = conn.execute("SELECT crm_import_open('customers', "
                                  "'insert', false, 'csv')").fetchone()
            conn.execute("INSERT INTO customers (org_id, owner_id, name, "
                         "import_id) VALUES (%s, %s, '未关闭', %s)",
                         (org["id"], org["users"]["rep1"], imp))
    assert count(stack, "customers", "name IN ('借号', '未关闭')") == 0
    # The demo organisation's app role cannot write imports directly.
    with psycopg.connect(stack.dsn("crm_app")) as conn:
        conn.execute("SELECT crm_bind(%s::jsonb)", (
            '{"user": "00000000-0000-4000-8000-000000000101", "org": "%s"}'
            % DEMO_ORG,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO imports (org_id, user_id, resource, "
                         "mode, atomic) VALUES (%s, %s, 'customers', "
                         "'insert', false)",
                         (DEMO_ORG, "00000000-0000-4000-8000-000000000101"))


def imp_to(api, token, resource, body, ctype="text/csv", query=""):
    return api.post("/v1/imports/" + resource + query,
                    data=body.encode() if isinstance(body, str) else body,
                    headers={**bearer(token), "content-type": ctype},
                    timeout=60)


def test_contacts_import(api, stack, org):
    t, u = org["tokens"], org["users"]
    run(api, t["rep1"], "name,external_id\n联系客户一,CT-C1\n联系客户二,CT-C2\n")
    run(api, t["rep2"], "name,external_id\n别人的联系客户,CT-C3\n")
    c2 = stack.sql("SELECT id::text FROM customers WHERE org_id = %s AND "
                   "external_id = 'CT-C2'", (org["id"],))[0][0]
    r = imp_to(api, t["rep1"], "contacts",
               "customer_external_id,customer_id,name,phones,email,"
               "buying_role,birthday\n"
               "CT-C1,,张伟,028-86001234; 13800138000,zw@example.cn,"
               "decision_maker,1980-02-29\n"
               ",%s,李娜,,ln@example.cn,,\n"
               "CT-C3,,王五,,ww@example.cn,,\n"
               ",,无客户,,,,\n"
               "CT-C1,%s,两个,,,,\n"
               "CT-NONE,,找不到,,,,\n"
               "CT-C1,,生日错,,,,1981-02-29\n" % (c2, c2))
    assert r.status_code == 200, r.text
    assert errors(r) == [
        (4, "customer_external_id", "not_found"),
        (5, "customer_id", "required"),
        (6, "customer_external_id", "conflict"),
        (7, "customer_external_id", "not_found"),
        (8, "birthday", "format")]
    assert r.json()["inserted"] == 2
    rows = stack.sql("SELECT c.name, cu.external_id, c.phones, c.email, "
                     "c.buying_role, c.birthday::text, c.import_id::text "
                     "FROM contacts c JOIN customers cu ON cu.id = "
                     "c.customer_id WHERE c.org_id = %s AND cu.external_id "
                     "LIKE 'CT-%%' ORDER BY c.name", (org["id"],))
    imp = r.json()["import_id"]
    assert rows == [
        ("张伟", "CT-C1", ["028-86001234", "13800138000"], "zw@example.cn",
         "decision_maker", "1980-02-29", imp),
        ("李娜", "CT-C2", [], "ln@example.cn", "other", None, imp)]
    assert count(stack, "audit_log a JOIN contacts c ON c.id = a.entity_id",
                 "c.import_id = %s", (imp,)) == 0
    # Upsert by the customer's contact email (any case).
    r = imp_to(api, t["rep1"], "contacts",
               "customer_external_id,name,title,email\n"
               "CT-C1,张伟改,总经理,ZW@example.cn\n"
               "CT-C1,新人,,new@example.cn\n"
               "CT-C1,,,nobody@example.cn\n"
               "CT-C1,没邮箱,,\n"
               "CT-C1,又是张伟,,zw@EXAMPLE.cn\n", query="?mode=upsert")
    assert errors(r) == [(4, "name", "required"), (5, "email", "required"),
                         (6, "email", "duplicate")]
    assert (r.json()["inserted"], r.json()["updated"]) == (1, 1)
    assert stack.sql("SELECT name, title, version FROM contacts WHERE "
                     "org_id = %s AND email = 'ZW@example.cn'",
                     (org["id"],)) == [("张伟改", "总经理", 2)]
    # Two contacts with one email: the upsert cannot choose.
    for name in ("重复甲", "重复乙"):
        assert api.post("/v1/customers/%s/contacts" % c2,
                        headers=bearer(t["rep1"]),
                        json={"name": name, "email": "same@example.cn"}
                        ).status_code == 201
    r = imp_to(api, t["rep1"], "contacts", "customer_id,name,email\n"
               "%s,谁,same@example.cn\n" % c2, query="?mode=upsert")
    assert errors(r) == [(2, "email", "ambiguous")]
    # Someone who may read the customer but not change it.
    r = api.post("/v1/users", headers=bearer(t["admin"]), json={
        "email": "mkt@imports.example", "name": "市场", "role": "marketing",
        "password": "marketing-password-1"})
    assert r.status_code == 201
    mkt = api.post("/v1/auth/login", json={
        "email": "mkt@imports.example", "password": "marketing-password-1"}
    ).json()["access_token"]
    r = imp_to(api, mkt, "contacts", "customer_id,name\n%s,市场加的\n" % c2)
    assert errors(r) == [(2, "customer_id", "forbidden")]
    assert r.json()["errors"][0]["message"] == \
        "You may read this customer but not change it."


def test_leads_import(api, stack, org):
    t, u = org["tokens"], org["users"]
    r = imp_to(api, t["rep1"], "leads",
               "name,company,email,source,external_id,owner_email\n"
               "线索一,山城贸易,l1@example.cn,糖酒会,LD-1,\n"
               "线索二,,,,LD-2,rep2@imports.example\n"
               ",,,,LD-3,\n"
               "线索四,,坏邮箱,,LD-4,\n")
    assert r.status_code == 200, r.text
    assert errors(r) == [(3, "owner_email", "forbidden"),
                         (4, "name", "required"), (5, "email", "format")]
    imp = r.json()["import_id"]
    rows = stack.sql("SELECT name, owner_id::text, status, grade IS NOT "
                     "NULL, import_id::text FROM leads WHERE org_id = %s "
                     "AND external_id LIKE 'LD-%%'", (org["id"],))
    assert rows == [("线索一", u["rep1"], "new", True, imp)]
    assert count(stack, "lead_status_history h JOIN leads l ON l.id = "
                 "h.lead_id", "l.import_id = %s AND h.to_status = 'new' AND "
                 "h.from_status IS NULL", (imp,)) == 1
    # The manager may give leads to the team; upserts by external_id.
    r = imp_to(api, t["manager"], "leads",
               "name,external_id,owner_email\n线索一改,LD-1,\n"
               "线索二,LD-2,rep2@imports.example\n", query="?mode=upsert")
    assert (r.json()["inserted"], r.json()["updated"]) == (1, 1), r.text
    assert stack.sql("SELECT external_id, name, owner_id::text FROM leads "
                     "WHERE org_id = %s AND external_id LIKE 'LD-%%' ORDER "
                     "BY 1", (org["id"],)) == [
        ("LD-1", "线索一改", u["rep1"]), ("LD-2", "线索二", u["rep2"])]
    # rep1 cannot reach rep2's lead through its external_id.
    r = imp_to(api, t["rep1"], "leads", "name,external_id\n抢,LD-2\n",
               query="?mode=upsert")
    assert errors(r) == [(2, "external_id", "taken")]
    assert stack.sql("SELECT name FROM leads WHERE org_id = %s AND "
                     "external_id = 'LD-2'", (org["id"],)) == [("线索二",)]


def test_products_import(api, stack, org):
    t = org["tokens"]
    body = ("sku,name,unit,unit_price,tax_rate,period,issues_per_period,"
            "external_id,active\n"
            "IMP-MAG,《糖酒快讯》全年,套,360.00,9,monthly,1,IMP-P1,\n"
            "IMP-AD,半版广告,,8000,6,,,,false\n"
            "IMP-BAD1,税太高,,1.00,150,,,,\n"
            "IMP-BAD2,缺期数,,1.00,,monthly,,,\n"
            "IMP-BAD3,负价,,-1.00,,,,,\n"
            "IMP-AD,重复,,1.00,,,,,\n")
    r = imp_to(api, t["rep1"], "products", body)
    assert r.status_code == 403, r.text
    assert count(stack, "products", "sku LIKE 'IMP-%%'") == 0
    r = imp_to(api, t["admin"], "products", body)
    assert r.status_code == 200, r.text
    assert errors(r) == [(4, "tax_rate", "range"),
                         (5, "issues_per_period", "required"),
                         (6, "unit_price", "range"), (7, "sku", "duplicate")]
    assert stack.sql("SELECT sku, unit, crm_money_text(unit_price), currency, "
                     "tax_rate::text, period, issues_per_period, active "
                     "FROM products WHERE org_id = %s AND sku LIKE 'IMP-%%' "
                     "ORDER BY sku", (org["id"],)) == [
        ("IMP-AD", "件", "8000.00", "CNY", "6.00", None, None, False),
        ("IMP-MAG", "套", "360.00", "CNY", "9.00", "monthly", 1, True)]
    # Upsert by external_id, else by sku; taken ones fail.
    r = imp_to(api, t["admin"], "products",
               "sku,name,unit_price,external_id\n"
               "IMP-MAG2,改名改号,,IMP-P1\n"
               "IMP-AD,,9000.00,\n"
               "IMP-NEW,新产品,1.00,\n"
               "IMP-MAG2,,,\n"
               "IMP-AD,抢号,,IMP-P9\n", query="?mode=upsert")
    # (line 5's sku is line 2's new one: a repeat, and no product yet)
    assert errors(r) == [(5, "sku", "duplicate"), (5, "name", "required"),
                         (5, "unit_price", "required"),
                         (6, "sku", "duplicate"), (6, "sku", "taken"),
                         (6, "unit_price", "required")], r.text
    assert (r.json()["inserted"], r.json()["updated"]) == (1, 2)
    assert stack.sql("SELECT sku, name, crm_money_text(unit_price) FROM products "
                     "WHERE org_id = %s AND sku LIKE 'IMP-%%' ORDER BY sku",
                     (org["id"],)) == [
        ("IMP-AD", "半版广告", "9000.00"), ("IMP-MAG2", "改名改号", "360.00"),
        ("IMP-NEW", "新产品", "1.00")]
    r = imp_to(api, t["admin"], "products", "sku,name,unit_price\n"
               "IMP-NEW,又一个,2.00\n")
    assert errors(r) == [(2, "sku", "taken")]
    assert r.json()["errors"][0]["message"] == \
        "A product with this SKU already exists."


def test_orders_import(api, stack, org):
    t = org["tokens"]
    for sku, price, tax in (("OP-A", "100.00", "6"), ("OP-B", "110.00", "0")):
        r = api.post("/v1/products", headers=bearer(t["admin"]), json={
            "sku": sku, "name": "订单产品" + sku, "unit_price": price,
            "tax_rate": tax})
        assert r.status_code == 201, r.text
    run(api, t["rep1"], "name,external_id\n订单客户,OC-1\n")
    run(api, t["rep2"], "name,external_id\n二号订单客户,OC-2\n")
    body = ("external_id,customer_external_id,order_date,lines.sku,"
            "lines.quantity,lines.unit_price,lines.discount_percent\n"
            "SO-1,OC-1,2026-11-01,OP-A,2,,\n"
            "SO-1,,,OP-B,1,99.50,10\n"
            "SO-2,OC-1,2026-11-02,OP-A,0,,\n"
            "SO-3,OC-X,,OP-A,1,,\n"
            "SO-4,OC-1,,OP-NOPE,1,,\n"
            "SO-5,OC-1,2026-11-05,OP-A,1,,\n"
            "SO-5,OC-1,2026-11-06,OP-B,1,,\n"
            "SO-6,OC-1,,OP-A,1,,\n"
            "SO-6,OC-1,,OP-B,x,,\n")
    r = imp_to(api, t["rep1"], "orders", body)
    assert r.status_code == 200, r.text
    assert errors(r) == [
        (4, "lines[0].quantity", "range"),
        (5, "customer_external_id", "not_found"),
        (6, "lines[0].sku", "not_found"),
        (8, "order_date", "conflict"),
        # the order's second line, named as POST /v1/orders names it
        (10, "lines[1].quantity", "format")], r.text
    assert (r.json()["read"], r.json()["inserted"], r.json()["failed"]) == (
        9, 1, 5)
    rows = stack.sql("SELECT o.number LIKE 'SO-2026-%%', o.order_date::text, "
                     "crm_money_text(o.subtotal), crm_money_text(o.tax_total), "
                     "crm_money_text(o.grand_total), o.owner_id::text, "
                     "(SELECT count(*) FROM order_lines l WHERE l.order_id = "
                     "o.id) FROM orders o WHERE o.org_id = %s AND "
                     "o.external_id LIKE 'SO-%%'", (org["id"],))
    assert rows == [(True, "2026-11-01", "289.55", "12.00", "301.55",
                     org["users"]["rep1"], 2)]
    audit = stack.sql("SELECT changes->>'inserted' FROM audit_log WHERE "
                      "entity = 'imports' AND entity_id = %s",
                      (r.json()["import_id"],))
    assert audit == [("1",)]
    # NDJSON: one order per line; an external_id once per file.
    r = imp_to(api, t["rep1"], "orders",
               '{"external_id": "SO-N1", "customer_external_id": "OC-1", '
               '"lines": [{"sku": "OP-B", "quantity": "3"}]}\n'
               '{"external_id": "SO-N1", "customer_external_id": "OC-1", '
               '"lines": [{"sku": "OP-A", "quantity": "1"}]}\n',
               "application/x-ndjson")
    assert errors(r) == [(2, "external_id", "duplicate")]
    assert r.json()["inserted"] == 1
    # Upsert: a pending order's lines are replaced, as PATCH does.
    r = imp_to(api, t["rep1"], "orders",
               "external_id,lines.sku,lines.quantity\nSO-1,OP-A,1\n",
               query="?mode=upsert")
    assert (r.json()["inserted"], r.json()["updated"]) == (0, 1), r.text
    assert stack.sql("SELECT crm_money_text(grand_total) FROM orders WHERE "
                     "org_id = %s AND external_id = 'SO-1'",
                     (org["id"],)) == [("106.00",)]
    # rep2 cannot reach rep1's order through its external_id.
    r = imp_to(api, t["rep2"], "orders", "external_id,customer_external_id,"
               "lines.sku,lines.quantity\nSO-1,OC-2,OP-A,1\n",
               query="?mode=upsert")
    assert errors(r) == [(2, "external_id", "taken")]
    assert stack.sql("SELECT crm_money_text(grand_total) FROM orders WHERE "
                     "org_id = %s AND external_id = 'SO-1'",
                     (org["id"],)) == [("106.00",)]
    # Atomic: one bad order and none is written.
    before = count(stack, "orders")
    r = imp_to(api, t["rep1"], "orders",
               "external_id,customer_external_id,lines.sku,lines.quantity\n"
               "SO-A1,OC-1,OP-A,1\nSO-A2,OC-1,OP-NOPE,1\n",
               query="?atomic=true")
    assert r.status_code == 422 and r.json()["failed"] == 1
    assert count(stack, "orders") == before


def test_bulk_jobs_are_bounded_and_a_client_may_leave(api, stack, org):
    """At most two bulk jobs per worker: with two workers, the fifth and
    sixth of six imports at once are told to retry (503, Retry-After).
    A client that leaves mid-import frees its job's slot when it ends."""
    import concurrent.futures
    import time

    t = org["tokens"]
    body = ("name,external_id\n" + "".join(
        "并发客户%05d,\n" % i for i in range(40000))).encode()

    def one(_):
        return api.post(URL + "?dry_run=true", data=body,
                        headers={**bearer(t["rep1"]),
                                 "content-type": "text/csv"}, timeout=120)

    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        answers = list(ex.map(one, range(6)))
    codes = sorted(r.status_code for r in answers)
    assert codes.count(503) >= 2 and set(codes) <= {200, 503}, codes
    busy = next(r for r in answers if r.status_code == 503)
    assert busy.headers["retry-after"] == "1"
    assert all(r.json()["read"] == 40000 for r in answers
               if r.status_code == 200)

    # Leave in the middle: send the file, close the connection.
    for _ in range(4):
        s = socket.create_connection(("127.0.0.1", stack.backend_port))
        s.sendall(("POST %s?dry_run=true HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer %s\r\nContent-Type: text/csv\r\n"
                   "Content-Length: %d\r\n\r\n" % (URL, t["rep1"], len(body))
                   ).encode() + body)
        time.sleep(0.2)
        s.close()
    deadline = time.time() + 90
    while True:
        r = run(api, t["rep1"], "name\n走后还能导入\n", query="?dry_run=true")
        if r.status_code == 200 or time.time() > deadline:
            break
        time.sleep(1)
    assert r.status_code == 200 and r.json()["read"] == 1
    # Every job's connection is gone once it ended.
    while stack.sql("SELECT count(*) FROM pg_stat_activity WHERE "
                    "application_name = 'crm-bulk'")[0][0] > 0:
        assert time.time() < deadline
        time.sleep(0.5)
    # And every slot is free again: the same burst gets as many through
    # (a worker that kept the leavers' slots would refuse them all).
    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        again = [r.status_code for r in ex.map(one, range(6))]
    assert again.count(200) >= min(2, codes.count(200)), (codes, again)


def test_an_import_announces_each_new_record_once(api, stack, org):
    """The customers an import inserts get their customer.created events
    (written set-based by the import, not row by row at commit): one per
    row, consecutive ids, the record as its GET shows it, seen by whoever
    may see the record, and a webhook delivery each. A dry run and an
    atomic import that fails write none; an upsert's updates are
    announced as any update."""
    u, t = org["users"], org["tokens"]
    hook = api.post("/v1/webhooks", headers=bearer(t["admin"]), json={
        "url": "https://93.184.216.34/hooks/import-events",
        "events": ["customer.created"]})
    assert hook.status_code == 201, hook.text
    hook = hook.json()

    def last():
        return stack.sql("SELECT coalesce(max(id), 0) FROM events WHERE "
                         "org_id = %s", (org["id"],))[0][0]

    def events(token, after):
        r = api.get("/v1/events", headers=bearer(token),
                    params={"after": after, "limit": 100})
        assert r.status_code == 200, r.text
        return r.json()["data"]

    body = ("name,external_id,grade\n"
            "事件导入甲公司,EVI-1,A\n事件导入乙公司,EVI-2,B\n"
            "事件导入丙公司,EVI-3,\n")
    start = last()
    for query in ("?dry_run=true", "?atomic=true"):
        bad = body + ("事件导入丁公司,EVI-4,Z\n" if "atomic" in query else "")
        r = run(api, t["rep1"], bad, query=query)
        assert r.status_code in (200, 422), r.text
        assert last() == start, query

    r = run(api, t["rep1"], body)
    assert r.status_code == 200 and r.json()["inserted"] == 3, r.text
    seen = events(t["rep1"], start)
    assert [e["id"] for e in seen] == [start + 1, start + 2, start + 3]
    assert {e["type"] for e in seen} == {"customer.created"}
    assert all(e["actor_id"] == u["rep1"] and e["owner_id"] == u["rep1"]
               and e["previous"] is None for e in seen)
    for e in seen:
        now = api.get(f"/v1/customers/{e['record_id']}",
                      headers=bearer(t["rep1"]))
        assert now.status_code == 200 and e["data"] == now.json()
    assert sorted(e["data"]["external_id"] for e in seen) == [
        "EVI-1", "EVI-2", "EVI-3"]
    # The manager sees them, the other rep does not.
    assert [e["id"] for e in events(t["manager"], start)] == [
        e["id"] for e in seen]
    assert events(t["rep2"], start) == []
    assert stack.sql("SELECT count(*) FROM webhook_deliveries WHERE "
                     "subscription_id = %s AND event_id > %s",
                     (hook["id"], start))[0][0] == 3

    # An upsert that changes two of them: two customer.updated events.
    r = run(api, t["rep1"], "name,external_id,grade\n"
            "事件导入甲公司,EVI-1,C\n事件导入乙公司,EVI-2,C\n"
            "事件导入丙公司,EVI-3,\n", query="?mode=upsert")
    assert r.status_code == 200 and r.json()["updated"] >= 2, r.text
    upd = events(t["rep1"], start + 3)
    assert sorted((e["type"], e["data"]["external_id"]) for e in upd) == [
        ("customer.updated", "EVI-1"), ("customer.updated", "EVI-2")]
    assert all(e["previous"]["grade"] in ("A", "B") for e in upd)
    assert api.delete(f"/v1/webhooks/{hook['id']}",
                      headers=bearer(t["admin"])).status_code == 204


def test_an_import_survives_its_worker_being_stopped_and_continued(
        api, stack, org):
    """SIGSTOP then SIGCONT (an operator, a debugger) while a job thread
    waits on the database: the interrupted poll resumes through
    restart_syscall, which Kore's seccomp filter would answer by killing
    that thread alone, leaving the import hanging in its transaction. The
    import must finish as if nothing happened."""
    import os
    import signal
    import threading
    import time

    t = org["tokens"]
    body = ("name\n" + "".join("停继客户%06d\n" % i for i in range(200000)))
    out = {}
    th = threading.Thread(target=lambda: out.update(
        r=run(api, t["rep1"], body, query="?dry_run=true")))
    th.start()
    deadline = time.time() + 60
    while not stack.sql("SELECT count(*) FROM pg_stat_activity WHERE "
                        "application_name = 'crm-bulk' AND state = 'active' "
                        "AND query LIKE 'SELECT api_import_merge%%'")[0][0]:
        assert time.time() < deadline and th.is_alive(), out
        time.sleep(0.05)
    parent = int((stack.state / "run" / "kore.pid").read_text())
    workers = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = open(f"/proc/{p}/stat").read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            workers.append(int(p))
    assert workers
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    time.sleep(0.3)
    for pid in workers:
        os.kill(pid, signal.SIGCONT)
    th.join(120)
    assert not th.is_alive()
    r = out["r"]
    assert r.status_code == 200, r.text
    assert r.json()["read"] == 200000 and r.json()["failed"] == 0
    assert "died unfinished" not in stack.kore_log.read_text()


@pytest.mark.parametrize("resource,body,kind", [
    ("contacts", "customer_external_id,name,email\n"
     "EVC-1,事件联系人甲,evc1@example.cn\nEVC-1,事件联系人乙,evc2@example.cn\n",
     "contact"),
    ("leads", "name,company,external_id\n事件线索甲,事件公司,EVL-1\n"
     "事件线索乙,,EVL-2\n", "lead"),
    ("products", "sku,name,unit_price,external_id\n"
     "EVP-1,事件产品甲,10.00,EVP-1\nEVP-2,事件产品乙,20.50,EVP-2\n",
     "product")])
def test_other_imports_announce_their_records(api, stack, org, resource,
                                              body, kind):
    """contacts, leads and products imports: one <kind>.created event per
    inserted row, consecutive, each the record as its GET shows it."""
    t = org["tokens"]
    who = "admin" if resource == "products" else "rep1"
    if resource == "contacts" and not stack.sql(
            "SELECT 1 FROM customers WHERE org_id = %s AND external_id = "
            "'EVC-1'", (org["id"],)):
        assert run(api, t["rep1"], "name,external_id\n事件联系客户,EVC-1\n"
                   ).status_code == 200
    start = stack.sql("SELECT coalesce(max(id), 0) FROM events WHERE "
                      "org_id = %s", (org["id"],))[0][0]
    r = imp_to(api, t[who], resource, body)
    assert r.status_code == 200 and r.json()["inserted"] == 2, r.text
    seen = api.get("/v1/events", headers=bearer(t[who]),
                   params={"after": start}).json()["data"]
    assert [(e["id"], e["type"]) for e in seen] == [
        (start + 1, kind + ".created"), (start + 2, kind + ".created")]
    for e in seen:
        path = {"contact": "contacts", "lead": "leads",
                "product": "products"}[kind]
        now = api.get(f"/v1/{path}/{e['record_id']}",
                      headers=bearer(t[who]))
        assert now.status_code == 200 and e["data"] == now.json()


def test_lines_that_make_each_other_parent_fail_alone(api, stack, org):
    """An upsert whose lines close a cycle between them (A's parent B,
    B's parent A) fails those lines with parent_id cycle; the rest of a
    partial import is written, and the tree is left as it was."""
    t = org["tokens"]
    r = run(api, t["rep1"], "name,external_id\n环甲公司,CYC-A\n环乙公司,CYC-B\n"
            "环丙公司,CYC-C\n")
    assert r.status_code == 200 and r.json()["inserted"] == 3, r.text
    ids = dict(stack.sql("SELECT external_id, id::text FROM customers WHERE "
                         "org_id = %s AND external_id LIKE 'CYC-%%'",
                         (org["id"],)))
    r = run(api, t["rep1"], "external_id,parent_id,grade\n"
            "CYC-A,%s,A\nCYC-B,%s,B\nCYC-C,%s,C\n"
            % (ids["CYC-B"], ids["CYC-A"], ids["CYC-A"]),
            query="?mode=upsert")
    assert r.status_code == 200, r.text
    assert errors(r) == [(2, "parent_id", "cycle"), (3, "parent_id", "cycle")]
    assert r.json()["updated"] == 1
    rows = stack.sql("SELECT external_id, parent_id::text, grade FROM "
                     "customers WHERE org_id = %s AND external_id LIKE "
                     "'CYC-%%' ORDER BY 1", (org["id"],))
    assert rows == [("CYC-A", None, None), ("CYC-B", None, None),
                    ("CYC-C", ids["CYC-A"], "C")]
