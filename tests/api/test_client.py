"""The TypeScript client generated from the contract (tests/client:
openapi-typescript + openapi-fetch, pinned): it is what openapi-typescript
makes of openapi/openapi.yaml today, tsc --strict compiles it and refuses
calls the contract does not allow, and its end-to-end scenario runs
against the test stack. `sh .dev/test` installs the npm tools first."""
import json
import os
import subprocess

from conftest import DEMO, DEMO_PASSWORD, ROOT

CLIENT = ROOT / "tests" / "client"
BIN = CLIENT / "node_modules" / ".bin"
STRICT = ["--noEmit", "--strict", "--target", "ES2022", "--module",
          "NodeNext", "--moduleResolution", "NodeNext", "--types", "node"]


def run(*args, env=None):
    assert (BIN / "tsc").exists(), (
        "the npm tools are missing: sh .dev/test runs npm ci in tests/client")
    return subprocess.run([str(a) for a in args], cwd=CLIENT, env=env,
                          capture_output=True, text=True, timeout=180)


def test_the_committed_client_is_generated_from_the_spec(tmp_path):
    out = tmp_path / "schema.d.ts"
    r = run(BIN / "openapi-typescript", ROOT / "openapi" / "openapi.yaml",
            "--output", out)
    assert r.returncode == 0, r.stdout + r.stderr
    assert out.read_text() == (CLIENT / "src" / "schema.d.ts").read_text(), (
        "tests/client/src/schema.d.ts is stale: run "
        "`npm --prefix tests/client run generate` and commit it")


def test_strict_types_refuse_what_the_contract_does_not_allow():
    bad = CLIENT / "build" / "typecheck" / "bad.ts"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text(
        'import { crmClient } from "../../src/client.js";\n'
        'const c = crmClient("https://127.0.0.1:1");\n'
        '// A create without its required name.\n'
        'await c.POST("/v1/customers", { body: { city: "成都" } });\n'
        '// An amount as a JSON number, never allowed for money.\n'
        'await c.POST("/v1/opportunities", { body: { name: "x",\n'
        '    customer_id: "x", amount: 1 } });\n')
    r = run(BIN / "tsc", *STRICT, bad)
    assert r.returncode != 0
    assert "bad.ts(4," in r.stdout and "'name' is missing" in r.stdout
    assert ("bad.ts(7," in r.stdout and
            "'number' is not assignable to type 'string'" in r.stdout), r.stdout


def test_the_scenario_runs_against_the_server(stack):
    r = run(BIN / "tsc", "-p", "tsconfig.json")
    assert r.returncode == 0, r.stdout + r.stderr
    env = dict(os.environ, CRM_API=stack.https, NODE_EXTRA_CA_CERTS=stack.ca,
               CRM_EMAIL=DEMO["rep1"][0], CRM_PASSWORD=DEMO_PASSWORD,
               CRM_OTHER_EMAIL=DEMO["rep2"][0],
               CRM_OTHER_PASSWORD=DEMO_PASSWORD)
    r = run("node", CLIENT / "build" / "scenario.js", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    seen = json.loads(r.stdout)
    # What the client saw is what the database holds.
    row = stack.sql("SELECT name, grade, version, owner_id::text, notes "
                    "FROM customers WHERE id = %s", (seen["created"],))[0]
    assert row == (seen["name"], "A", 2, DEMO["rep1"][1],
                   "已确认：年度重点客户。")
    assert seen["name"].startswith("成都锦江文化传媒有限公司-")
    assert (seen["version"], seen["etag"]) == (2, '"1"')
    assert seen["problem"] == "urn:crm:problem:not-found"
    owner = stack.sql("SELECT owner_id::text FROM customers WHERE id = %s",
                      (seen["hidden"],))[0][0]
    assert owner == DEMO["rep2"][1]
