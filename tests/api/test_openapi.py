"""The contract: the route table and the spec list the same operations."""
import re

from conftest import ROOT, SPEC

ROUTE_ROW = re.compile(
    r'\{\s*(GET|POST|PUT|PATCH|DELETE),\s*"([^"]+)",\s*"([^"]+)"', re.S)


def route_table():
    text = (ROOT / "api" / "routes.c").read_text()
    return {(m.lower(), path, op) for m, path, op in ROUTE_ROW.findall(text)}


def spec_operations():
    ops = set()
    for path, item in SPEC["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                ops.add((method, path, op["operationId"]))
    return ops


def test_route_table_is_parsed():
    assert len(route_table()) >= 3


def test_every_route_is_in_the_spec():
    assert route_table() - spec_operations() == set()


def test_every_spec_operation_is_routed():
    assert spec_operations() - route_table() == set()


def test_every_operation_documents_problems():
    for path, item in SPEC["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                assert "default" in op["responses"], (method, path)
