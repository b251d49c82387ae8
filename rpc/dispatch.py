"""Methods from the catalog: every function in schema `api` is one JSON-RPC method.

`course.create` ↔ `api.course_create`. A pydantic model per method is built from the
function's signature (names, types, defaults), so bad params are rejected with -32602 naming
the field before the database is touched. Nothing here is written per method.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any

import psycopg
from psycopg import sql
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    create_model,
)

from rpc.protocol import INVALID_PARAMS, RpcError

INT4 = Annotated[StrictInt, Field(ge=-(2**31), le=2**31 - 1)]
INT8 = Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]
TEXT = Annotated[StrictStr, Field(max_length=1_000_000)]

# PostgreSQL type → (pydantic type, JSON schema)
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
TYPES: dict[str, tuple[Any, dict]] = {
    "uuid": (uuid.UUID, {"type": "string", "pattern": UUID_PATTERN}),
    "text": (TEXT, {"type": "string"}),
    "integer": (INT4, {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}),
    "bigint": (INT8, {"type": "integer"}),
    "smallint": (Annotated[StrictInt, Field(ge=-32768, le=32767)], {"type": "integer"}),
    "boolean": (StrictBool, {"type": "boolean"}),
    "numeric": (StrictInt | StrictFloat, {"type": "number"}),
    "jsonb": (Any, {}),
    "text[]": (list[TEXT], {"type": "array", "items": {"type": "string"}}),
    "uuid[]": (list[uuid.UUID], {"type": "array", "items": {"type": "string", "pattern": UUID_PATTERN}}),
    "timestamp with time zone": (dt.datetime, {"type": "string", "description": "ISO 8601 date-time with offset"}),
}


def method_name(function_name: str) -> str:
    domain, _, verb = function_name.partition("_")
    return f"{domain}.{verb}"


@dataclass
class Param:
    name: str
    pg_type: str
    required: bool
    bounds: dict[str, int] = field(default_factory=dict)

    @property
    def schema(self) -> dict:
        return {**TYPES[self.pg_type][1], **self.bounds}


@dataclass
class Method:
    name: str
    function: str
    params: list[Param]
    description: str
    public: bool
    model: type[BaseModel]
    returns: str
    _queries: dict[tuple[str, ...], str] = field(default_factory=dict)

    def validate(self, params: Any) -> dict:
        """Named params (object; an array is taken positionally) → values for the SQL call."""
        if isinstance(params, list):
            if len(params) > len(self.params):
                raise RpcError(INVALID_PARAMS, "Invalid params", {"reason": "too_many_params"})
            params = {p.name: v for p, v in zip(self.params, params, strict=False)}
        try:
            model = self.model.model_validate(params)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(x) for x in first["loc"]) or None
            reasons = {"missing": "missing_param", "extra_forbidden": "unknown_param"}
            reason = reasons.get(first["type"], "invalid_param")
            data = {"reason": reason, "field": loc, "detail": first["msg"]}
            raise RpcError(INVALID_PARAMS, f"Invalid params: {loc}: {first['msg']}", data) from None
        values = {}
        for name in model.model_fields_set:
            value = getattr(model, name)
            pg_type = next(p.pg_type for p in self.params if p.name == name)
            if pg_type == "jsonb" and value is not None:
                value = psycopg.types.json.Jsonb(value)
            values[name] = value
        return values

    def query(self, names: tuple[str, ...]) -> str:
        """`select api.fn(a => %s, …)` for the given param names; cached per combination."""
        q = self._queries.get(names)
        if q is None:
            args = sql.SQL(", ").join(
                sql.SQL("{} => {}").format(sql.Identifier(n), sql.Placeholder()) for n in names
            )
            q = sql.SQL("select {}.{}({})").format(sql.Identifier("api"), sql.Identifier(self.function), args)
            q = q.as_string(None)
            self._queries[names] = q
        return q


CATALOG_QUERY = """
select p.proname,
       coalesce(p.proargnames, '{}'::text[]) as argnames,
       coalesce(p.proargmodes::text[], '{}'::text[]) as argmodes,
       array(select format_type(t, null) from unnest(p.proargtypes) with ordinality as a(t, n) order by n) as argtypes,
       p.pronargdefaults,
       format_type(p.prorettype, null) as returns,
       coalesce(obj_description(p.oid, 'pg_proc'), '') as description
from pg_proc p
where p.pronamespace = 'api'::regnamespace and p.prokind = 'f'
order by p.proname
"""


# `@param <name> keyword=value …` lines in a function's COMMENT declare bounds that can be judged
# without the database (JSON Schema keywords): checked by pydantic (-32602 naming the field) and
# published in the OpenRPC schema. The database still enforces its own constraints.
PARAM_LINE = re.compile(r"^@param\s+(\w+)\s+(.+)$", re.M)
BOUNDS = {"minimum": "ge", "maximum": "le", "minLength": "min_length", "maxLength": "max_length",
          "minItems": "min_length", "maxItems": "max_length"}


def param_bounds(description: str) -> dict[str, dict[str, int]]:
    bounds: dict[str, dict[str, int]] = {}
    for name, spec in PARAM_LINE.findall(description):
        for item in spec.split():
            key, _, value = item.partition("=")
            if key not in BOUNDS or not value.lstrip("-").isdigit():
                raise ValueError(f"bad @param bound {item!r} for {name}")
            bounds.setdefault(name, {})[key] = int(value)
    return bounds


def build_method(row: tuple) -> Method | None:
    proname, argnames, argmodes, argtypes, ndefaults, returns, description = row
    if argmodes and any(m not in ("i",) for m in argmodes):
        return None  # OUT/INOUT/VARIADIC parameters are not part of the convention
    if len(argnames) < len(argtypes) or any(t not in TYPES for t in argtypes):
        return None
    params = []
    fields: dict[str, Any] = {}
    first_default = len(argtypes) - ndefaults
    bounds = param_bounds(description)
    for i, (name, pg_type) in enumerate(zip(argnames, argtypes, strict=False)):
        required = i < first_default
        params.append(Param(name, pg_type, required, bounds.get(name, {})))
        py_type = TYPES[pg_type][0]
        if name in bounds:
            py_type = Annotated[py_type, Field(**{BOUNDS[k]: v for k, v in bounds[name].items()})]
        fields[name] = (py_type, ...) if required else (py_type | None, None)
    model = create_model(f"params_{proname}", __config__=ConfigDict(extra="forbid"), **fields)
    public = bool(re.search(r"(^|\s)@public\b", description))
    text = PARAM_LINE.sub("", description.replace("@public", "")).strip()
    return Method(method_name(proname), proname, params, text, public, model, returns)


async def load_methods(conn: psycopg.AsyncConnection) -> dict[str, Method]:
    cur = await conn.execute(CATALOG_QUERY)
    methods = {}
    for row in await cur.fetchall():
        method = build_method(row)
        if method is not None:
            methods[method.name] = method
    return methods
