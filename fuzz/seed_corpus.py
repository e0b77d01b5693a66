#!/usr/bin/env python3
"""Writes the fuzz seed corpora (fuzz/seeds/<target>/) from the conformance
vectors (conformance/*.json) and the examples: every Authorization value,
token, JOSE header, claims text, filter, configuration, JWK Set and
introspection response the vectors hold. `make fuzz-seed` then minimises
them into fuzz/corpus/ with `cargo fuzz cmin`."""

import base64
import hashlib
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "fuzz" / "seeds"
seeds = {}


def add(target, data):
    if isinstance(data, str):
        data = data.encode()
    seeds.setdefault(target, set()).add(data)


def b64(segment):
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def token_parts(token):
    parts = token.split(".")
    if len(parts) == 3:
        for target, seg in (("jose_header", parts[0]), ("claims", parts[1])):
            try:
                add(target, b64(seg))
            except ValueError:
                pass


def walk_config(config):
    add("config", json.dumps(config))
    for issuer in config.get("auth", {}).get("issuers", []):
        if "jwks" in issuer:
            add("jwks", json.dumps(issuer["jwks"]))
    for preset in config.get("presets", {}).values():
        if "tag_query" in preset:
            add("json_query", json.dumps(preset["tag_query"]))
        if "tag_filter" in preset:
            add("expression", preset["tag_filter"])


for path in sorted((ROOT / "conformance").glob("*.json")):
    doc = json.loads(path.read_text())
    if "config" in doc:
        walk_config(doc["config"])
    for case in doc.get("cases", []):
        request = case.get("request", {})
        if isinstance(request, dict) and isinstance(request.get("authorization"), str):
            add("authorize", request["authorization"])
            value = request["authorization"].split(" ", 1)[-1]
            token_parts(value)
        if isinstance(case.get("token"), str):
            add("authorize", case["token"])
            token_parts(case["token"])
        for key, target in (("tags", "tag_list"), ("tag_filter", "expression")):
            if isinstance(case.get(key), str):
                add(target, case[key])
            if isinstance(request, dict) and isinstance(request.get(key), str):
                add(target, request[key])
        if "tag_query" in case:
            add("json_query", json.dumps(case["tag_query"]))
        if "response" in case:
            r = case["response"]
            add("introspection", r if isinstance(r, str) else json.dumps(r))
        if "jwks" in case:
            add("jwks", json.dumps(case["jwks"]))
        if "config" in case and isinstance(case["config"], dict):
            walk_config(case["config"])

for name in ("guard.json", "jwks.json"):
    text = (ROOT / "examples" / name).read_text()
    add("config" if name == "guard.json" else "jwks", text)
# 1MCP's own file shape: servers under mcpServers.
add("config", json.dumps({"mcpServers": {"fs": {"command": "npx", "args": ["-y", "x"],
                                                 "tags": ["files", "Local"]},
                                          "web": {"url": "https://x.example", "disabled": True}}}))
add("introspection", json.dumps({"active": True, "sub": "alice", "scope": "tag:web",
                                  "iss": "https://auth.example.com", "exp": 1767229200,
                                  "aud": "https://mcp.example.com/mcp"}))

for target, items in sorted(seeds.items()):
    folder = OUT / target
    folder.mkdir(parents=True, exist_ok=True)
    for data in items:
        (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)
    print(f"{target}: {len(items)} seeds")
