"""The OpenRPC document (rpc.discover) and the HTML reference (GET /), from the catalog."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from rpc import __version__
from rpc.core.dispatch import Method, Param
from rpc.core.shapes import UUID_PATTERN

OPENRPC_VERSION = "1.2.6"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parents[1] / "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
)

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
    caller = example.get("caller", "")
    summary = f"{caller}, on the demo data set (`lms serve --demo`)." if caller else "A recorded call."
    return [{"name": f"{method.name} example", "summary": summary,
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
        "summary": _summary(client_description(method.description))[:200] or method.name,
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


# --- GET /ws: the methods that exist only on the socket (rpc/http/live.py), in an `x-websocket` extension --

AUTH_ALIASES = ("auth", "authenticate", "auth.authenticate")  # rpc/http/live.py accepts each


def socket_url(rpc_url: str) -> str:
    """The WebSocket URL beside an absolute POST /rpc URL (ws:// for http://, wss:// for https://)."""
    if not rpc_url.startswith(("http://", "https://")):
        return "/ws"
    base = rpc_url[:-len("/rpc")] if rpc_url.endswith("/rpc") else rpc_url.rstrip("/")
    return "ws" + base[len("http"):] + "/ws"


def socket_methods(methods: dict[str, Method]) -> list[dict]:
    """auth, event.subscribe and event.unsubscribe as OpenRPC method objects: the params of event.subscribe
    are event.list's (the same SQL decides what a subscriber hears)."""
    listing = methods.get("event.list")
    event_params = [p for p in (describe(listing)["params"] if listing else []) if p["name"] in ("types", "since")]
    for param in event_params:
        param["required"] = False
    event_schema = (listing.result.get("items") if listing else None) or {"type": "object"}
    token = {"type": "string", "minLength": 1, "maxLength": 4096}
    catalogue = next((m.shared.catalogue for m in methods.values() if m.shared), {})
    return [
        {"name": "auth", "summary": "Authenticate the socket (any time: a fresh token for a long-lived socket).",
         "description": "Also accepted as " + ", ".join(f"`{a}`" for a in AUTH_ALIASES[1:]) + "; as the very first "
                        "message a bare `{\"token\": …}` (or `access_token`) works too. A refused token leaves the "
                        "socket as it was.",
         "params": [{"name": "token", "required": True, "schema": token}],
         "result": {"name": "result", "schema": {"type": "object", "required": ["user_id"], "properties": {
             "user_id": {"type": "string", "format": "uuid"}}}},
         "errors": [error_object(401, "token_invalid", catalogue)],
         "paramStructure": "by-name"},
        {"name": "event.subscribe",
         "summary": "Receive every new event the caller may see, as `event` notifications.",
         "description": "With `since`, the events after that id first (event.list's replay, at most 10,000), "
                        "then live ones: nothing between is lost or repeated. A second subscribe replaces the first.",
         "params": event_params,
         "result": {"name": "result", "schema": {"type": "object", "required": ["subscribed", "types", "since"],
                                                 "properties": {"subscribed": {"const": True},
                                                                "types": {"type": ["array", "null"],
                                                                          "items": {"type": "string"}},
                                                                "since": {"type": ["integer", "null"]}}}},
         "errors": [error_object(401, "not_authenticated", catalogue),
                    error_object(429, "too_many_subscriptions", catalogue)],
         "paramStructure": "by-name"},
        {"name": "event.unsubscribe", "summary": "Stop the event notifications.", "params": [],
         "result": {"name": "result", "schema": {"type": "object", "required": ["subscribed"],
                                                 "properties": {"subscribed": {"const": False}}}},
         "paramStructure": "by-name"},
    ], [
        {"name": "event", "summary": "One event the caller may see (sent by the server, no id).",
         "params": [{"name": "event", "schema": event_schema}]},
        {"name": "event.unsubscribed", "summary": "The server ended the subscription (the session ended, the "
                                                  "token expired, the socket fell behind).",
         "params": [{"name": "reason", "schema": {"type": "string"}}]},
    ]


def socket_section(methods: dict[str, Method], rpc_url: str) -> dict:
    calls, notifications = socket_methods(methods)
    return {
        "url": socket_url(rpc_url),
        "description": "JSON-RPC 2.0 over a WebSocket. Every method of this document is answered there as over "
                       "POST /rpc; these exist only there. Authenticate with `Authorization: Bearer <token>` on the "
                       "upgrade, or Sec-WebSocket-Protocol entries `bearer.<token>` (or `bearer`, `<token>`; offer "
                       "`jsonrpc` too and the server answers with it), or the `auth` method.",
        "methods": calls,
        "notifications": notifications,
    }


def document(methods: dict[str, Method], rpc_url: str) -> dict:
    """The OpenRPC document; rpc_url is absolute (LMS_PUBLIC_URL, else the request's own)."""
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
        "servers": [{"name": "this server", "url": rpc_url}],
        "methods": [discover] + [describe(methods[name]) for name in sorted(methods)],
        "components": components,
        "x-websocket": socket_section(methods, rpc_url),
    }


# --- the readable reference (GET / and docs/reference/api.md): one way to show a schema ----------

COMMON = set(EVERY_CALL) | set(WITH_PARAMS) | {(-32602, "missing_param")}  # errors listed once, not per method


def anchor(name: str) -> str:
    return name.replace(".", "-").replace("_", "-").lower()


def type_text(schema: dict, link=lambda name: name) -> str:
    """A schema as a short type — `uuid`, `string (1–200 chars)`, `integer 1…100`, `course[]`; enum values
    and patterns in backticks; a shared shape through `link(name)`."""
    if "$ref" in schema:
        return link(schema["$ref"].rsplit("/", 1)[-1])
    kind = schema.get("type", "any")
    nullable = isinstance(kind, list) and "null" in kind
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "array":
        text = type_text(schema.get("items", {}), link) + "[]"
    elif kind == "string" and schema.get("format"):
        text = schema["format"]
    elif kind == "string" and schema.get("pattern") == UUID_PATTERN:
        return "uuid" + (" or null" if nullable else "")
    else:
        text = str(kind)
    if "enum" in schema:
        text += " " + " \\| ".join(f"`{v}`" for v in schema["enum"])
    if "minLength" in schema or "maxLength" in schema:
        text += f" ({schema.get('minLength', 0)}–{schema.get('maxLength', '…')} chars)"
    if "minimum" in schema or "maximum" in schema:
        text += f" {schema.get('minimum', '…')}…{schema.get('maximum', '…')}"
    if "pattern" in schema:
        text += f" matching `{schema['pattern']}`"
    return text + (" or null" if nullable else "")


def result_text(schema: dict, link=lambda name: name) -> str:
    if schema.get("type") == "object" and "properties" in schema:
        return "object: " + ", ".join(f"`{k}`" for k in schema["properties"])
    return type_text(schema, link)


def html_text(text: str) -> Markup:
    """type_text/result_text as HTML: escaped, `code` spans, shape links (made by HTML_LINK)."""
    out = str(escape(text.replace("\\|", "|")))
    out = re.sub(r"`([^`]*)`", r"<code>\1</code>", out)
    out = re.sub(r"\x00([A-Za-z0-9_]+)\x01", lambda m: f'<a href="#shape-{anchor(m.group(1))}">{m.group(1)}</a>', out)
    return Markup(out)


def HTML_LINK(name: str) -> str:  # noqa: N802 — a placeholder html_text turns into a link
    return f"\x00{name}\x01"


def render_html(methods: dict[str, Method]) -> str:
    """GET /: the same document rpc.discover serves, readable — start here, search, per-domain methods
    with their param constraints, result shapes (linked), own errors (the common ones once) and examples."""
    template = _env.get_template("reference.html")
    doc = document(methods, "/rpc")
    by_domain: dict[str, list[dict]] = {}
    for entry in doc["methods"]:
        if entry["name"] == "rpc.discover":
            continue
        method = methods[entry["name"]]
        params = [p | {"type_html": html_text(type_text(p["schema"], HTML_LINK))} for p in entry["params"]]
        own = [e for e in entry["errors"] if (e["code"], e["data"]["reason"]) not in COMMON]
        example = None
        if entry.get("examples"):
            ex = entry["examples"][0]
            call = {"jsonrpc": "2.0", "id": 1, "method": entry["name"],
                    "params": {p["name"]: p["value"] for p in ex["params"]}}
            example = {"call": json.dumps(call, indent=2), "result": json.dumps(ex["result"]["value"], indent=2),
                       "summary": ex.get("summary", "")}
        by_domain.setdefault(entry["name"].split(".")[0], []).append(
            entry | {"public": method.public, "params": params, "own_errors": own, "example": example,
                     "result_html": html_text(result_text(entry["result"]["schema"], HTML_LINK))})
    shared = next((m.shared for m in methods.values() if m.shared), None)
    catalogue, seen = [], set()
    for (code, reason), meaning in sorted(shared.catalogue.items()) if shared else []:
        catalogue.append({"code": code, "reason": reason, "meaning": meaning,
                          "id": None if reason in seen else f"error-{anchor(reason)}"})  # links land on the first
        seen.add(reason)
    shapes = []
    for name, schema in sorted(doc.get("components", {}).get("schemas", {}).items()):
        required = set(schema.get("required", []))
        shapes.append({"name": name, "anchor": anchor(name), "fields": [
            {"name": f, "type_html": html_text(type_text(sub, HTML_LINK)), "optional": f not in required}
            for f, sub in schema.get("properties", {}).items()]})
    common = [error_object(code, reason, shared.catalogue if shared else {}) for code, reason in sorted(COMMON)]
    return template.render(domains=by_domain, version=__version__, count=len(methods), catalogue=catalogue,
                           shapes=shapes, common=common, anchor=anchor)
