"""The OpenRPC document (rpc.discover) and the HTML reference (GET /), from the catalog."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2

from rpc import __version__
from rpc.dispatch import Method, Param

OPENRPC_VERSION = "1.2.6"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
)

ERROR_DATA = {"type": "object", "properties": {"reason": {"type": "string"}}}


def _summary(description: str) -> str:
    return description.strip().splitlines()[0].strip() if description.strip() else ""


# Errors any call can give (besides its own): the token, the budget, the database.
EVERY_CALL = [(401, "token_invalid"), (401, "token_expired"), (401, "account_inactive"), (429, "rate_limited"),
              (-32000, "database_unavailable")]
WITH_PARAMS = [(-32602, "invalid_param"), (-32602, "unknown_param")]


def error_object(code: int, reason: str, catalogue: dict) -> dict:
    return {"code": code, "message": catalogue.get((code, reason), reason), "data": {"reason": reason}}


def method_errors(method: Method) -> list[dict]:
    catalogue = method.shared.catalogue if method.shared else {}
    pairs = list(method.errors) + [e for e in EVERY_CALL if e not in method.errors]
    if method.params:
        pairs += WITH_PARAMS
        if any(p.required for p in method.params):
            pairs.append((-32602, "missing_param"))
    return [error_object(code, reason, catalogue) for code, reason in sorted(set(pairs))]


def method_examples(method: Method) -> list[dict]:
    example = (method.shared.examples if method.shared else {}).get(method.name)
    if not example:
        return []
    order = [p.name for p in method.params]
    params = sorted(example.get("params", {}).items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99)
    return [{"name": f"{method.name} example", "summary": "Recorded from a call in the test suite.",
             "params": [{"name": k, "value": v} for k, v in params],
             "result": {"name": "result", "value": example.get("result")}}]


def param_schema(method: Method, param: Param) -> dict:
    """The param's schema, as strict as the server; in an update (@patch) a nullable param also takes null
    (which clears it)."""
    schema = param.schema
    if method.patch and param.nullable and "type" in schema:
        schema = {**schema, "type": [schema["type"], "null"]}
    return schema


INTERNALS = re.compile(r"\s*SECURITY (?:DEFINER|INVOKER)\b.*?(?=\n\n|$)", re.S)


def client_description(text: str) -> str:
    """The function's comment without the database internals a client has no use for (why a function is
    SECURITY DEFINER: the pgTAP suite requires that note in the comment, for the reader of the SQL)."""
    return INTERNALS.sub("", text).strip()


def describe(method: Method) -> dict:
    notes = ["Public: callable without a token."] if method.public else []
    if method.patch:
        notes.append("Update: an omitted param stays unchanged; an explicit null clears a nullable one.")
    doc = {
        "name": method.name,
        "summary": _summary(method.description)[:200] or method.name,
        "description": "\n\n".join([client_description(method.description), *notes]),
        "params": [
            {"name": p.name, "required": p.required, "schema": param_schema(method, p)}
            for p in method.params
        ],
        "result": {"name": "result", "schema": method.result},
        "errors": method_errors(method),
        "paramStructure": "by-name",
    }
    examples = method_examples(method)
    if examples:
        doc["examples"] = examples
    return doc


def document(methods: dict[str, Method], server_url: str) -> dict:
    """The OpenRPC document; server_url is absolute (LMS_PUBLIC_URL, else the request's own)."""
    discover = {
        "name": "rpc.discover",
        "summary": "This OpenRPC document.",
        "description": "The OpenRPC document of every method, with parameter schemas.",
        "params": [],
        "result": {"name": "openrpc", "schema": {
            "type": "object", "required": ["openrpc", "info", "methods"],
            "properties": {"openrpc": {"type": "string"}, "info": {"type": "object"},
                           "servers": {"type": "array", "items": {"type": "object"}},
                           "methods": {"type": "array", "items": {"type": "object"}},
                           "components": {"type": "object"}}}},
        "errors": [error_object(code, reason, {}) for code, reason in EVERY_CALL],
    }
    shared = next((m.shared for m in methods.values() if m.shared), None)
    components: dict = {}
    if shared is not None:
        components["schemas"] = shared.shapes
        components["errors"] = {f"{code}_{reason}": error_object(code, reason, shared.catalogue)
                                for code, reason in shared.catalogue}
    return {
        "openrpc": OPENRPC_VERSION,
        "info": {
            "title": "LMS JSON-RPC API",
            "version": __version__,
            "description": "Learning-management backend. Errors: JSON-RPC codes plus application codes "
                           "401/403/404/409/422/423/429 with error.data.reason.",
        },
        "servers": [{"name": "this server", "url": server_url}],
        "methods": [discover] + [describe(methods[name]) for name in sorted(methods)],
        "components": components,
    }


def render_html(methods: dict[str, Method]) -> str:
    template = _env.get_template("reference.html")
    by_domain: dict[str, list[dict]] = {}
    labels = {"timestamp with time zone": "timestamptz (ISO 8601)", "jsonb": "any JSON"}
    for name in sorted(methods):
        method = methods[name]
        entry = describe(method) | {"public": method.public, "result_text": method.result_text}
        entry["params"] = [p | {"type_label": labels.get(m.pg_type, m.pg_type)}
                           for p, m in zip(entry["params"], method.params, strict=True)]
        by_domain.setdefault(name.split(".")[0], []).append(entry)
    shared = next((m.shared for m in methods.values() if m.shared), None)
    catalogue = sorted(shared.catalogue.items()) if shared else []
    shapes = sorted(shared.shapes) if shared else []
    return template.render(domains=by_domain, version=__version__, count=len(methods), catalogue=catalogue,
                           shapes=shapes)
