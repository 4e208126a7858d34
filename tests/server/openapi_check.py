#!/usr/bin/env python3
# Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
"""Checks docs/openapi.yaml against the server's route and error tables.

usage: openapi_check.py SPEC TABLES

SPEC is parsed with a real YAML parser (Debian python3-yaml). TABLES is the
JSON the server test writes from Router::routes() and the library's error
codes:
  {"routes": [{"method", "path", "authenticated", "all_roles"}],
   "errors": [{"code", "status"}]}
Prints one line per problem and exits 1 when there is any.
"""
import json
import sys

import yaml

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
PUBLIC_WITHOUT_QUERY = {"/healthz", "/readyz"}  # take any query string


def resolve(spec, node, problems, where):
    """Follows a local $ref; records a problem when it dangles."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            problems.append(f"{where}: non-local $ref {ref}")
            return None
        target = spec
        for part in ref[2:].split("/"):
            if not isinstance(target, dict) or part not in target:
                problems.append(f"{where}: $ref {ref} does not resolve")
                return None
            target = target[part]
        node = target
        seen += 1
        if seen > 16:
            problems.append(f"{where}: $ref loop at {ref}")
            return None
    return node


def all_refs(node, out):
    if isinstance(node, dict):
        if "$ref" in node and isinstance(node["$ref"], str):
            out.append(node["$ref"])
        for v in node.values():
            all_refs(v, out)
    elif isinstance(node, list):
        for v in node:
            all_refs(v, out)


def empty_values(node, path, out):
    """Mapping entries without a value: in this spec always a mistake, e.g.
    a comma inside a flow mapping ({description: a, b}) makes a key "b"."""
    if isinstance(node, dict):
        for k, v in node.items():
            if v is None:
                out.append(f"{path}/{k}: no value (a comma inside a flow mapping?)")
            else:
                empty_values(v, f"{path}/{k}", out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            empty_values(v, f"{path}[{i}]", out)


def check(spec, tables):
    problems = []
    if not isinstance(spec, dict):
        return ["the spec is not a YAML mapping"]
    empty_values(spec, "", problems)
    if not str(spec.get("openapi", "")).startswith("3.1"):
        problems.append(f"openapi is {spec.get('openapi')!r}, not 3.1.x")

    refs = []
    all_refs(spec, refs)
    for ref in sorted(set(refs)):
        resolve(spec, {"$ref": ref}, problems, "spec")

    # Routes, both ways.
    routes = {(r["method"], r["path"]): r for r in tables["routes"]}
    documented = {}
    for path, item in (spec.get("paths") or {}).items():
        for method, op in (item or {}).items():
            if method in METHODS:
                documented[(method.upper(), path)] = op
    for key in sorted(set(routes) - set(documented)):
        problems.append(f"{key[0]} {key[1]}: routed but not in the spec")
    for key in sorted(set(documented) - set(routes)):
        problems.append(f"{key[0]} {key[1]}: in the spec but not routed")

    # The error code enum is the library's code table.
    codes = {e["code"] for e in tables["errors"]}
    statuses = {e["status"] for e in tables["errors"]}
    error = resolve(spec, {"$ref": "#/components/schemas/Error"}, problems, "Error")
    if error is not None:
        props = error.get("properties") or {}
        if set(props) != {"code", "message", "field"}:
            problems.append(f"Error: properties are {sorted(props)}, not code, message, field")
        for name in ("code", "message", "field"):
            p = props.get(name)
            if not isinstance(p, dict) or p.get("type") != "string":
                problems.append(f"Error.{name}: not a schema of type string: {p!r}")
        enum = set((props.get("code") or {}).get("enum") or [])
        for c in sorted(codes - enum):
            problems.append(f"Error.code: the server's code {c} is not in the enum")
        for c in sorted(enum - codes):
            problems.append(f"Error.code: {c} is in the enum but not a server code")
        if set(error.get("required") or []) != {"code", "message"}:
            problems.append("Error: required must be [code, message]")

    # Every operation lists the errors it can produce.
    global_security = spec.get("security")
    for (method, path), op in sorted(documented.items()):
        if (method, path) not in routes:
            continue
        route = routes[(method, path)]
        where = f"{method} {path}"
        responses = {str(k): v for k, v in (op.get("responses") or {}).items()}
        security = op.get("security", global_security)
        if route["authenticated"] and not security:
            problems.append(f"{where}: needs a key but the spec says no security")
        if not route["authenticated"] and security:
            problems.append(f"{where}: public but the spec requires security")
        required = {"405", "413", "500", "503"}  # any route: wrong method, huge headers, bug, full
        if route["authenticated"]:
            required.add("401")
            if not route["all_roles"]:
                required.add("403")
        if path not in PUBLIC_WITHOUT_QUERY:
            required.add("400")  # unknown query parameters
        if "{" in path:
            required.add("404")
        if "requestBody" in op:
            required.add("415")
        for status in sorted(required - set(responses)):
            problems.append(f"{where}: does not document {status}")
        for status, response in responses.items():
            if not status.isdigit():
                problems.append(f"{where}: response key {status!r} is not a status")
                continue
            n = int(status)
            if n >= 400 and n not in statuses:
                problems.append(f"{where}: {status} is no status the server's code table gives")
            body = resolve(spec, response, problems, f"{where} {status}")
            if body is not None and "description" not in body:
                problems.append(f"{where} {status}: no description")
    return problems


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        try:
            spec = yaml.safe_load(f)
        except yaml.YAMLError as e:
            print(f"the spec is not valid YAML: {e}")
            return 1
    with open(argv[2], encoding="utf-8") as f:
        tables = json.load(f)
    problems = check(spec, tables)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
