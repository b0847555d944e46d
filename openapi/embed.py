#!/usr/bin/python3
"""Embed openapi.yaml in the server as compact JSON (a C translation unit).

Usage: embed.py openapi.yaml out.c
The server serves these bytes at GET /v1/openapi.json, so the document the
API publishes is exactly the one in openapi/, checked at build time to be
valid YAML that converts to JSON.
"""
import json
import sys

import yaml


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    data = text.encode("utf-8")
    lines = []
    for i in range(0, len(data), 16):
        chunk = data[i:i + 16]
        lines.append("\t" + ", ".join("0x%02x" % b for b in chunk) + ",")
    with open(dst, "w", encoding="ascii") as f:
        f.write("/* Generated from openapi/openapi.yaml by embed.py. */\n")
        f.write("#include <stddef.h>\n\n")
        f.write("extern const char crm_openapi_json[];\n")
        f.write("extern const size_t crm_openapi_json_len;\n\n")
        f.write("const char crm_openapi_json[] = {\n")
        f.write("\n".join(lines))
        f.write("\n\t0x00\n};\n")
        f.write("const size_t crm_openapi_json_len = %d;\n" % len(data))


if __name__ == "__main__":
    main()
