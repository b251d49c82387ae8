"""The OpenRPC document (rpc.discover) and the HTML reference (GET /), from the catalog."""

from __future__ import annotations

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


def _result_schema(method: Method) -> dict:
    if method.returns == "jsonb":
        return {"type": ["object", "array"]}
    return {}


def param_schema(method: Method, param: Param) -> dict:
    """The param's schema, as strict as the server; in an update (@patch) a nullable param also takes null
    (which clears it)."""
    schema = param.schema
    if method.patch and param.nullable and "type" in schema:
        schema = {**schema, "type": [schema["type"], "null"]}
    return schema


def describe(method: Method) -> dict:
    notes = ["Public: callable without a token."] if method.public else []
    if method.patch:
        notes.append("Update: an omitted param stays unchanged; an explicit null clears a nullable one.")
    doc = {
        "name": method.name,
        "summary": _summary(method.description)[:200] or method.name,
        "description": "\n\n".join([method.description, *notes]),
        "params": [
            {"name": p.name, "required": p.required, "schema": param_schema(method, p)}
            for p in method.params
        ],
        "result": {"name": "result", "schema": _result_schema(method)},
        "paramStructure": "by-name",
    }
    return doc


def document(methods: dict[str, Method]) -> dict:
    discover = {
        "name": "rpc.discover",
        "summary": "This OpenRPC document.",
        "description": "The OpenRPC document of every method, with parameter schemas.",
        "params": [],
        "result": {"name": "openrpc", "schema": {"type": "object"}},
    }
    return {
        "openrpc": OPENRPC_VERSION,
        "info": {
            "title": "LMS JSON-RPC API",
            "version": __version__,
            "description": "Learning-management backend. Errors: JSON-RPC codes plus application codes "
                           "401/403/404/409/422/423/429 with error.data.reason.",
        },
        "servers": [{"name": "this server", "url": "/rpc"}],
        "methods": [discover] + [describe(methods[name]) for name in sorted(methods)],
    }


def render_html(methods: dict[str, Method]) -> str:
    template = _env.get_template("reference.html")
    by_domain: dict[str, list[dict]] = {}
    labels = {"timestamp with time zone": "timestamptz (ISO 8601)", "jsonb": "any JSON"}
    for name in sorted(methods):
        method = methods[name]
        entry = describe(method) | {"public": method.public}
        entry["params"] = [p | {"type_label": labels.get(m.pg_type, m.pg_type)}
                           for p, m in zip(entry["params"], method.params, strict=True)]
        by_domain.setdefault(name.split(".")[0], []).append(entry)
    return template.render(domains=by_domain, version=__version__, count=len(methods))
