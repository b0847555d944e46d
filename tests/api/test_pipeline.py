"""The request pipeline: ids, problems, limits, probes, the access log."""
import json
import re
import socket
import time

import requests
import yaml

from conftest import ROOT, log_entries


def test_healthz_over_tls(api):
    r = api.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])
    assert r.headers["content-type"].startswith("application/json")
    assert "max-age" in r.headers["strict-transport-security"]


def test_tls_refuses_unknown_ca(stack):
    try:
        requests.get(stack.https + "/healthz", timeout=5)
    except requests.exceptions.SSLError:
        return
    raise AssertionError("the dev certificate must not verify without its CA")


def test_request_ids_are_unique(api):
    ids = {api.get("/healthz").headers["x-request-id"] for _ in range(20)}
    assert len(ids) == 20


def test_incoming_request_id_kept_when_valid(api, backend):
    for client in (api, backend):
        r = client.get("/healthz", headers={"X-Request-Id": "abc-123.X_y"})
        assert r.headers["x-request-id"] == "abc-123.X_y"
        bad = client.get("/healthz", headers={"X-Request-Id": "a b\"<>"})
        assert re.fullmatch(r"[0-9a-f]{32}", bad.headers["x-request-id"])


def test_unknown_route_is_problem(api):
    r = api.get("/v1/nope")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    doc = r.json()
    assert doc["type"] == "urn:crm:problem:not-found"
    assert doc["title"] == "Not found"
    assert doc["instance"] == "/v1/nope"
    assert doc["request_id"] == r.headers["x-request-id"]


def test_trailing_slash_and_case_are_other_paths(api):
    assert api.get("/healthz/").status_code == 404
    assert api.get("/HEALTHZ").status_code == 404


def test_unicode_path_in_problem(api):
    r = api.get("/v1/客户")
    assert r.status_code == 404
    assert r.json()["instance"] in ("/v1/客户", "/v1/%E5%AE%A2%E6%88%B7")


def test_wrong_method_is_405_with_allow(api, backend):
    for client in (api, backend):
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            r = client.request(method, "/healthz", data=b"{}",
                               headers={"content-type": "application/json"})
            assert r.status_code == 405, method
            assert r.headers["allow"] == "GET, HEAD, OPTIONS"
            assert r.json()["type"] == "urn:crm:problem:method-not-allowed"


def test_options_lists_methods(backend):
    r = backend.request("OPTIONS", "/readyz")
    assert r.status_code == 204
    assert r.headers["allow"] == "GET, HEAD, OPTIONS"


def test_a_literal_path_wins_over_a_placeholder(backend, tokens):
    """/v1/customers/search is not the customer with id 'search'."""
    h = {"Authorization": "Bearer " + tokens["rep1"]}
    r = backend.get("/v1/customers/search", headers=h)
    assert r.status_code == 405
    assert r.headers["allow"] == "POST, OPTIONS"
    r = backend.request("OPTIONS", "/v1/customers/search")
    assert r.headers["allow"] == "POST, OPTIONS"
    r = backend.request("OPTIONS", "/v1/customers/" + "0" * 8 + "-0000-4000"
                        "-8000-" + "0" * 12)
    assert r.headers["allow"] == "GET, HEAD, PATCH, DELETE, OPTIONS"


def test_head_has_headers_only(api):
    r = api.request("HEAD", "/healthz")
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["x-request-id"]


def test_20mb_body_is_413_and_server_stays_healthy(api, backend):
    body = b"{" + b" " * (20 * 1024 * 1024) + b"}"
    for client in (api, backend):
        r = client.post("/v1/customers", data=body,
                        headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert r.json()["type"] == "urn:crm:problem:payload-too-large"
        assert r.json()["request_id"] == r.headers["x-request-id"]
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200


def test_body_just_over_limit_is_413_from_kore(backend):
    body = b"{" + b" " * (1024 * 1024) + b"}"
    r = backend.post("/healthz", data=body,
                     headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_gets_after_a_refused_huge_body_are_served(stack, backend):
    """Kore keeps a pooled request's last content_length (that of the 413
    it answered a 2 GB Content-Length with): the next requests must not
    be judged by it."""
    s = socket.create_connection(("127.0.0.1", stack.backend_port),
                                 timeout=10)
    s.sendall(b"POST /v1/customers HTTP/1.1\r\nHost: x\r\nContent-Type: "
              b"application/json\r\nContent-Length: 2147483648\r\n\r\n{")
    assert b" 413 " in s.recv(4096).split(b"\r\n")[0]
    s.close()
    assert [backend.get("/readyz").status_code for _ in range(20)] == \
        [200] * 20


def test_readyz_reports_schema_version(api, stack):
    r = api.get("/readyz")
    assert r.status_code == 200
    version = stack.sql("SELECT max(version) FROM schema_migrations")[0][0]
    assert r.json() == {"status": "ready", "database": "ok",
                        "schema_version": version}


def test_openapi_served_is_the_spec(api):
    r = api.get("/v1/openapi.json")
    assert r.status_code == 200
    spec = yaml.safe_load((ROOT / "openapi" / "openapi.yaml").read_text())
    assert r.json() == spec


def test_access_log_one_json_line_per_request(api, stack):
    rid = "log-test-" + str(time.time_ns())
    api.get("/v1/nope", headers={"X-Request-Id": rid})
    entries = []
    for _ in range(50):
        entries = log_entries(stack, rid)
        if entries:
            break
        time.sleep(0.05)
    assert len(entries) == 1
    e = entries[0]
    assert e["status"] == 404 and e["method"] == "GET"
    assert e["path"] == "/v1/nope" and e["msg"] == "request"
    assert e["remote"] == "127.0.0.1"
    assert isinstance(e["duration_ms"], (int, float))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["ts"])


def test_access_log_has_no_query_strings(api, stack):
    rid = "qs-test-" + str(time.time_ns())
    api.get("/healthz?token=secret-value", headers={"X-Request-Id": rid})
    time.sleep(0.2)
    for line in stack.log_lines():
        assert "secret-value" not in line


def test_every_log_line_is_json_or_kore(stack, api):
    api.get("/healthz")
    for line in stack.log_lines():
        if line.startswith("{"):
            json.loads(line)


def test_an_empty_body_is_an_empty_object(api, tokens):
    """Actions without arguments need no body; a create without one lists
    its required fields (422), not a parse error; an empty body sent as
    text/plain is still just empty."""
    from conftest import bearer
    h = bearer(tokens["rep1"])
    r = api.post("/v1/customers", headers=h)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"name"}
    opp = api.post("/v1/opportunities", headers=h, json={
        "name": "空请求体测试", "amount": "10.00",
        "customer_id": "00000000-0000-4000-8000-000000001001"})
    assert opp.status_code == 201, opp.text
    r = api.post("/v1/opportunities/%s/win" % opp.json()["id"], headers={
        **h, "content-type": "text/plain"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "won"
    # A body that is not empty must still be JSON.
    r = api.post("/v1/opportunities/%s/reopen" % opp.json()["id"],
                 headers={**h, "content-type": "text/plain"}, data="{}")
    assert r.status_code == 415
