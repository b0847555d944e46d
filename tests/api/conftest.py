"""Fixtures of the black-box API tests.

One session starts the real stack in the background with `.dev/stack start`
(a private PostgreSQL cluster, migrations, demo data, nginx with TLS, and
the Kore server built with AddressSanitizer and UBSan) on free ports under
a temporary state directory, and stops it after the last test. Tests speak
HTTPS to nginx or HTTP straight to Kore, and may look into the database.

Every response a test receives through `api` is checked against
openapi/openapi.yaml: its status must be documented for the operation and
its body must match the documented schema.
"""
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import tempfile

import psycopg
import pytest
import requests
import yaml
from jsonschema import Draft202012Validator, RefResolver

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEST_JWT_SECRET = "test-secret-" + os.urandom(16).hex()
DEMO_PASSWORD = "demo-password-2026"
DEMO_ORG = "00000000-0000-4000-8000-000000000001"
DEMO = {
    "admin": ("admin@example.com", "00000000-0000-4000-8000-000000000101"),
    "ceo": ("ceo@example.com", "00000000-0000-4000-8000-000000000102"),
    "manager": ("manager@example.com", "00000000-0000-4000-8000-000000000103"),
    "rep1": ("rep1@example.com", "00000000-0000-4000-8000-000000000104"),
    "rep2": ("rep2@example.com", "00000000-0000-4000-8000-000000000105"),
    "marketing": ("marketing@example.com",
                  "00000000-0000-4000-8000-000000000106"),
    "service": ("service@example.com", "00000000-0000-4000-8000-000000000107"),
}
SPEC = yaml.safe_load((ROOT / "openapi" / "openapi.yaml").read_text())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """The running stack: where it listens and how to reach its parts."""

    def __init__(self):
        self.state = pathlib.Path(tempfile.mkdtemp(prefix="crm-test-")) / "state"
        self.pg_port = free_port()
        self.backend_port = free_port()
        self.tls_port = free_port()
        self.env = dict(
            os.environ,
            CRM_STATE=str(self.state),
            CRM_PG_PORT=str(self.pg_port),
            CRM_BACKEND_PORT=str(self.backend_port),
            CRM_LISTEN=f"127.0.0.1:{self.tls_port}",
            CRM_BUILD=os.environ.get("CRM_BUILD", "debug"),
            CRM_DEMO="1",
            CRM_PG_FSYNC="off",
            CRM_JWT_SECRET=TEST_JWT_SECRET,
            # Far above what the suite sends: only test_rate_limits.py,
            # on a server of its own, runs into a limit.
            CRM_RATE_LIMIT_USER="1000000",
            CRM_RATE_LIMIT_KEY="1000000",
            # The webhook worker: retries after 1 s then 3 s, short
            # timeouts, and the test CA trusted (receivers with TLS).
            CRM_WEBHOOK_BACKOFF="1,3",
            CRM_WEBHOOK_MAX_ATTEMPTS="4",
            CRM_WEBHOOK_TIMEOUT_MS="2000",
            CRM_WEBHOOK_CA_FILE=str(self.state / "tls" / "ca.crt"),
        )
        self.https = f"https://127.0.0.1:{self.tls_port}"
        self.http = f"http://127.0.0.1:{self.backend_port}"
        self.ca = str(self.state / "tls" / "ca.crt")
        self.kore_log = self.state / "log" / "kore.log"
        self.webhookd_log = self.state / "log" / "webhookd.log"

    def run(self, *args, check=True, **kw):
        return subprocess.run([str(ROOT / ".dev" / "stack"), *args],
                              env=self.env, check=check, **kw)

    def start(self):
        self.run("start")

    def stop(self):
        self.run("stop", check=False)

    def dsn(self, user="postgres", dbname="crm"):
        return (f"host=127.0.0.1 port={self.pg_port} dbname={dbname} "
                f"user={user}")

    def sql(self, query, params=None, user="postgres"):
        with psycopg.connect(self.dsn(user), autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else None

    def log_lines(self):
        return self.kore_log.read_text(errors="replace").splitlines()


@pytest.fixture(scope="session")
def stack():
    s = Stack()
    try:
        s.start()
        yield s
    finally:
        s.stop()
        shutil.rmtree(s.state.parent, ignore_errors=True)


# --- the OpenAPI contract, checked on every response ---------------------

def _template_regex(template):
    return re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", template) + "$")


# The most literal template first, as the router matches them:
# /v1/customers/export before /v1/customers/{id}.
_PATHS = sorted(((_template_regex(t), t) for t in SPEC["paths"]),
                key=lambda p: p[1].count("{"))
_RESOLVER = RefResolver.from_schema(SPEC)


def _deref(node):
    while isinstance(node, dict) and "$ref" in node:
        node = _RESOLVER.resolve(node["$ref"])[1]
    return node


def spec_response(method, path, status):
    """The response object the spec documents, or None for an unknown path."""
    for rx, template in _PATHS:
        if rx.match(path):
            op = SPEC["paths"][template].get(method.lower())
            if op is None:
                return template, None
            responses = op["responses"]
            resp = responses.get(str(status)) or responses.get("default")
            return template, _deref(resp)
    return None, None


def check_contract(resp):
    """Assert `resp` matches the spec; unknown paths must be problems."""
    req = resp.request
    path = requests.utils.urlparse(req.url).path
    method = "GET" if req.method == "HEAD" else req.method
    ctype = resp.headers.get("content-type", "").split(";")[0].strip()
    assert resp.headers.get("x-request-id"), "every response has X-Request-Id"
    template, documented = spec_response(method, path, resp.status_code)
    if template is None or documented is None or resp.status_code >= 400:
        # Unknown paths and methods, and every error, are problems.
        if resp.status_code >= 400 and req.method != "HEAD":
            assert ctype == "application/problem+json", resp.text
            doc = resp.json()
            schema = SPEC["components"]["schemas"]["Problem"]
            Draft202012Validator(schema, resolver=_RESOLVER).validate(doc)
            assert doc["status"] == resp.status_code
            assert doc["request_id"] == resp.headers["x-request-id"]
        if template is None or documented is None:
            return
    assert documented is not None, f"{method} {path} {resp.status_code} undocumented"
    content = documented.get("content")
    if req.method == "HEAD" or resp.status_code == 204:
        return
    assert content, f"{method} {template} {resp.status_code} documents no body"
    assert ctype in content, f"{ctype} not documented for {method} {template}"
    schema = content[ctype].get("schema")
    if ctype == "text/csv":
        # A report as CSV: UTF-8 with a byte order mark, CRLF lines.
        assert resp.content.startswith(b"\xef\xbb\xbf"), resp.content[:20]
        assert resp.headers["content-disposition"].startswith("attachment")
        resp.content.decode("utf-8")
    elif schema is not None:
        Draft202012Validator(schema, resolver=_RESOLVER).validate(resp.json())


class Client:
    """requests with the dev CA, and the contract checked on every answer."""

    def __init__(self, base, ca):
        self.base = base
        self.ca = ca
        self.session = requests.Session()

    def request(self, method, path, **kw):
        kw.setdefault("timeout", 10)
        # Per request: REQUESTS_CA_BUNDLE would override Session.verify.
        kw.setdefault("verify", self.ca)
        resp = self.session.request(method, self.base + path, **kw)
        check_contract(resp)
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)


@pytest.fixture
def api(stack):
    """A client of the public HTTPS endpoint (nginx in front of Kore)."""
    return Client(stack.https, stack.ca)


@pytest.fixture
def backend(stack):
    """A client of Kore itself, bypassing nginx."""
    return Client(stack.http, stack.ca)


def log_entries(stack, request_id):
    """The access-log entries (parsed) that carry `request_id`."""
    out = []
    for line in stack.log_lines():
        if line.startswith("{") and request_id in line:
            out.append(json.loads(line))
    return out


def bearer(token):
    return {"Authorization": "Bearer " + token}


def login(client, email, password=DEMO_PASSWORD, **kw):
    return client.post("/v1/auth/login",
                       json={"email": email, "password": password}, **kw)


@pytest.fixture(scope="session")
def tokens(stack):
    """An access token for every demo user, by short name."""
    client = Client(stack.https, stack.ca)
    out = {}
    for short, (email, _) in DEMO.items():
        r = login(client, email)
        assert r.status_code == 200, r.text
        out[short] = r.json()["access_token"]
    return out


def crm_admin(stack, *args, password="org2-password-1"):
    """Run the command-line admin tool against the test cluster."""
    env = dict(stack.env, CRM_ADMIN_PASSWORD=password,
               CRM_ADMIN_DATABASE_URL=stack.dsn("crm_owner"),
               ASAN_OPTIONS="detect_leaks=1")
    tool = ROOT / "build" / stack.env["CRM_BUILD"] / "crm-admin"
    return subprocess.run([str(tool), *args], env=env, capture_output=True,
                          text=True, timeout=30)


@pytest.fixture(scope="session")
def org2(stack):
    """A second organisation: its admin and one rep, with tokens."""
    r = crm_admin(stack, "create-org", "--name", "杭州第二测试有限公司",
                  "--admin-email", "admin@org2.example",
                  "--admin-name", "二号管理员")
    assert r.returncode == 0, r.stderr
    ids = json.loads(r.stdout)
    client = Client(stack.https, stack.ca)
    admin = login(client, "admin@org2.example", "org2-password-1").json()
    rep = client.post("/v1/users", headers=bearer(admin["access_token"]),
                      json={"email": "rep@org2.example", "name": "钱七",
                            "role": "sales_rep",
                            "password": "org2-rep-password"})
    assert rep.status_code == 201, rep.text
    rep_token = login(client, "rep@org2.example",
                      "org2-rep-password").json()["access_token"]
    return {"org": ids["organization_id"], "admin_id": ids["admin_id"],
            "admin": admin["access_token"], "rep_id": rep.json()["id"],
            "rep": rep_token}


def own_org(stack, slug, name):
    """A fresh organisation for tests whose sums must not see anyone
    else's rows: an admin, an executive, a sales manager with two reps
    below them; their ids and access tokens by short name. Emails end in
    @<slug>.example; every password is ORG_PASSWORD."""
    r = crm_admin(stack, "create-org", "--name", name,
                  "--admin-email", f"admin@{slug}.example",
                  "--admin-name", name[:2] + "管理员", password=ORG_PASSWORD)
    assert r.returncode == 0, r.stderr
    ids = json.loads(r.stdout)
    client = Client(stack.https, stack.ca)
    tokens = {"admin": login(client, f"admin@{slug}.example",
                             ORG_PASSWORD).json()["access_token"]}
    users = {"admin": ids["admin_id"]}
    for short, person, role, boss in (
            ("ceo", "孙总", "executive", None),
            ("manager", "周经理", "sales_manager", None),
            ("rep1", "吴一", "sales_rep", "manager"),
            ("rep2", "郑二", "sales_rep", "manager")):
        body = {"email": f"{short}@{slug}.example", "name": person,
                "role": role, "password": ORG_PASSWORD}
        if boss:
            body["manager_id"] = users[boss]
        r = client.post("/v1/users", headers=bearer(tokens["admin"]),
                        json=body)
        assert r.status_code == 201, r.text
        users[short] = r.json()["id"]
        tokens[short] = login(client, body["email"],
                              ORG_PASSWORD).json()["access_token"]
    return {"id": ids["organization_id"], "users": users, "tokens": tokens}


ORG_PASSWORD = "own-org-password-1"
