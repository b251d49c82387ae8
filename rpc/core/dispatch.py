"""Methods from the catalog: every function in schema `api` is one JSON-RPC method.

`course.create` ↔ `api.course_create`. A pydantic model per method is built from the
function's signature (names, types, defaults), so bad params are rejected with -32602 naming
the field before the database is touched. Nothing here is written per method.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import psycopg
from psycopg import sql
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    create_model,
)
from pydantic_core import PydanticCustomError

from rpc.core import errorcat
from rpc.core.protocol import INVALID_PARAMS, MAX_DEPTH, RpcError, is_unicode, printable
from rpc.core.shapes import UUID_PATTERN, build_shapes, parse_type, result_type, strip_declarations

# Every value is judged here, before it can reach psycopg or PostgreSQL: a value either is one the
# database stores as given, or the call is -32602 naming the param. Never a client-side encoding error
# (NUL, lone surrogates), an overflow, an unstorable time or an index row too large (bounded lengths).

DEFAULT_MAX_LENGTH = 100_000  # text params without a declared maxLength (the body limit is 1 MiB)
INT_RANGES = {"integer": (-(2**31), 2**31 - 1), "bigint": (-(2**63), 2**63 - 1), "smallint": (-32768, 32767)}
# RFC 3339 date-time (JSON Schema `format: date-time`) with an offset PostgreSQL can store (|offset| ≤ 15:59).
DATE_TIME_PATTERN = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
                     r"([Zz]|[+-](0[0-9]|1[0-5]):[0-5][0-9])$")
_DATE_TIME = re.compile(DATE_TIME_PATTERN)
MAX_OFFSET = dt.timedelta(hours=15, minutes=59)


def _error(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def check_text(value: str) -> str:
    """PostgreSQL text holds neither U+0000 nor lone surrogates (which have no UTF-8 form)."""
    if "\x00" in value:
        raise _error("nul_character", "the NUL character (U+0000) is not allowed")
    if not is_unicode(value):
        raise _error("invalid_unicode", "lone surrogates are not valid Unicode")
    return value


def check_number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _error("number_type", "Input should be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise _error("finite_number", "Input should be a finite number")
    return value


def check_json(value: Any) -> Any:
    """A jsonb value PostgreSQL stores as sent: no NUL or lone surrogates in strings or keys, only finite
    numbers, no deeper than MAX_DEPTH. Iterative, so deep input costs no recursion."""
    stack = [(value, "", 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            try:
                check_text(item)
            except PydanticCustomError as exc:
                raise _error(exc.type, f"{exc.message()} (at {path or 'the top'})") from None
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise _error("finite_number", f"numbers must be finite (at {path or 'the top'})")
        elif isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise _error("too_deep", f"nested deeper than {MAX_DEPTH} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    key_path = f"{path}/{_printable(key)}"
                    stack.append((key, key_path, depth))
                    stack.append((child, key_path, depth + 1))
            else:
                stack.extend((child, f"{path}/{i}", depth + 1) for i, child in enumerate(item))
        elif not (item is None or isinstance(item, (bool, int))):
            raise _error("json_type", "not a JSON value")
    return value


def check_date_time(value: Any) -> Any:
    if not isinstance(value, str):
        raise _error("date_time_type", "Input should be a string: an RFC 3339 date-time with offset")
    if not _DATE_TIME.fullmatch(value):
        raise _error("date_time_format", "Input should be an RFC 3339 date-time with an offset "
                                         "between -15:59 and +15:59, e.g. 2026-01-02T03:04:05+02:00")
    return value


def check_offset(value: dt.datetime) -> dt.datetime:
    offset = value.utcoffset()
    if offset is None or abs(offset) > MAX_OFFSET:
        raise _error("date_time_offset", "the offset must be between -15:59 and +15:59")
    return value


UUID_RE = re.compile(UUID_PATTERN)


def check_uuid(value: str) -> uuid.UUID:
    if not UUID_RE.match(value):
        raise _error("uuid", "must be a UUID (8-4-4-4-12 hexadecimal digits)")
    return uuid.UUID(value)


UUID = Annotated[StrictStr, AfterValidator(check_uuid)]
TIMESTAMPTZ = Annotated[AwareDatetime, BeforeValidator(check_date_time), AfterValidator(check_offset)]
JSONB = Annotated[Any, AfterValidator(check_json)]


def _text(min_length: int | None, max_length: int | None) -> Any:
    return Annotated[StrictStr, Field(min_length=min_length, max_length=max_length or DEFAULT_MAX_LENGTH),
                     AfterValidator(check_text)]


def _range(bounds: dict, low: int | float | None, high: int | float | None) -> tuple:
    """The tighter of the type's range and the declared minimum/maximum."""
    lo, hi = bounds.get("minimum"), bounds.get("maximum")
    lo = low if lo is None else lo if low is None else max(lo, low)
    hi = high if hi is None else hi if high is None else min(hi, high)
    return lo, hi


def _number(lo: int | float | None, hi: int | float | None) -> Any:
    def check_range(value: int | float) -> int | float:
        if lo is not None and value < lo:
            raise _error("greater_than_equal", f"Input should be greater than or equal to {lo}")
        if hi is not None and value > hi:
            raise _error("less_than_equal", f"Input should be less than or equal to {hi}")
        return value

    return Annotated[Any, AfterValidator(check_number), AfterValidator(check_range)]


def python_type(pg_type: str, bounds: dict) -> Any:
    """The pydantic type of a param: its PostgreSQL type narrowed by the declared bounds."""
    items = {"minItems": "min_length", "maxItems": "max_length"}
    if pg_type == "text":
        return _text(bounds.get("minLength"), bounds.get("maxLength"))
    if pg_type in INT_RANGES:
        lo, hi = _range(bounds, *INT_RANGES[pg_type])
        return Annotated[StrictInt, Field(ge=lo, le=hi)]
    if pg_type == "numeric":
        return _number(*_range(bounds, None, None))
    if pg_type == "boolean":
        return StrictBool
    if pg_type == "jsonb":
        return JSONB
    if pg_type == "uuid":
        return UUID
    if pg_type == "timestamp with time zone":
        return TIMESTAMPTZ
    if pg_type in ("text[]", "uuid[]"):
        item = UUID if pg_type == "uuid[]" else _text(bounds.get("itemMinLength"), bounds.get("itemMaxLength"))
        return Annotated[list[item], Field(**{items[k]: v for k, v in bounds.items() if k in items})]
    raise ValueError(f"unsupported parameter type {pg_type}")


def json_schema(pg_type: str, bounds: dict) -> dict:
    """The JSON Schema (draft-07) of a param: exactly what python_type accepts, as far as JSON Schema says."""
    if pg_type == "text":
        return {"type": "string", **_pick(bounds, "minLength"),
                "maxLength": bounds.get("maxLength", DEFAULT_MAX_LENGTH)}
    if pg_type in INT_RANGES:
        lo, hi = _range(bounds, *INT_RANGES[pg_type])
        return {"type": "integer", "minimum": lo, "maximum": hi}
    if pg_type == "numeric":
        return {"type": "number", **_pick(bounds, "minimum", "maximum")}
    if pg_type == "boolean":
        return {"type": "boolean"}
    if pg_type == "jsonb":
        return {}
    if pg_type == "uuid":
        return {"type": "string", "pattern": UUID_PATTERN}
    if pg_type == "timestamp with time zone":
        return {"type": "string", "format": "date-time", "pattern": DATE_TIME_PATTERN}
    if pg_type in ("text[]", "uuid[]"):
        if pg_type == "uuid[]":
            item = {"type": "string", "pattern": UUID_PATTERN}
        else:
            item = {"type": "string", **({"minLength": bounds["itemMinLength"]} if "itemMinLength" in bounds else {}),
                    "maxLength": bounds.get("itemMaxLength", DEFAULT_MAX_LENGTH)}
        return {"type": "array", "items": item, **_pick(bounds, "minItems", "maxItems")}
    raise ValueError(f"unsupported parameter type {pg_type}")


def _pick(bounds: dict, *keys: str) -> dict:
    return {k: bounds[k] for k in keys if k in bounds}


def _printable(name: Any) -> str:
    return printable(str(name))


# PostgreSQL type → JSON Schema of the type alone (the reference page and tests read it)
TYPES: dict[str, dict] = {t: json_schema(t, {}) for t in
                          ("uuid", "text", "integer", "bigint", "smallint", "boolean", "numeric", "jsonb",
                           "text[]", "uuid[]", "timestamp with time zone")}


def method_name(function_name: str) -> str:
    domain, _, verb = function_name.partition("_")
    return f"{domain}.{verb}"


@dataclass
class Param:
    name: str
    pg_type: str
    required: bool
    bounds: dict[str, int | float] = field(default_factory=dict)
    nullable: bool = False

    @property
    def schema(self) -> dict:
        return json_schema(self.pg_type, self.bounds)


@dataclass
class ApiShared:
    """What all methods share: the named result shapes and the error catalogue."""

    shapes: dict[str, dict] = field(default_factory=dict)
    catalogue: dict[tuple[int, str], str] = field(default_factory=dict)
    examples: dict[str, dict] = field(default_factory=dict)


@dataclass
class Method:
    name: str
    function: str
    params: list[Param]
    description: str
    public: bool
    model: type[BaseModel]
    returns: str
    patch: bool = False
    cost: int = 1
    result: dict = field(default_factory=dict)
    """JSON Schema of the result, from `@result` in the COMMENT ({} when undeclared)."""
    result_text: str = ""
    errors: list[tuple[int, str]] = field(default_factory=list)
    """(code, reason) the function and what it calls can give (rpc/core/errorcat.py)."""
    shared: ApiShared | None = None
    takes_secret: bool = False
    """A param is named like a password, token or code (SECRET_HINTS): bound server-side, never logged."""
    shareable: bool = False
    """The function is declared STABLE or IMMUTABLE (it writes nothing, so it takes no row lock to wait on
    and has no commit to flush) and cheap (its declared `cost` is under 1000): concurrent calls of such
    methods may share a pipeline (rpc/db/calls.py CallGroups)."""
    _queries: dict[tuple[str, ...], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._names = frozenset(p.name for p in self.params)
        self._jsonb = frozenset(p.name for p in self.params if p.pg_type == "jsonb")
        self._required = any(p.required for p in self.params)

    def validate(self, params: Any) -> dict:
        """Named params (object; an array is taken positionally) → values for the SQL call: exactly the
        params present in the request (explicit nulls included), so an update can tell omitted from null."""
        if not params and not self._required:  # nothing given, nothing needed: no model to run
            return {}
        if isinstance(params, list):
            if len(params) > len(self.params):
                raise RpcError(INVALID_PARAMS, "Invalid params", {"reason": "too_many_params"})
            params = {p.name: v for p, v in zip(self.params, params, strict=False)}
        for name in params:
            if name not in self._names:  # also names pydantic cannot read (lone surrogates)
                shown = _printable(name)
                data = {"reason": "unknown_param", "field": shown, "detail": "Extra inputs are not permitted"}
                raise RpcError(INVALID_PARAMS, f"Invalid params: {shown}: unknown param", data)
        if self.patch:  # an update: null clears a field, which only nullable ones allow
            for p in self.params:
                if p.name in params and params[p.name] is None and not p.nullable:
                    message = f"Invalid params: {p.name}: may not be null (omit it to keep the current value)"
                    raise RpcError(INVALID_PARAMS, message, {"reason": "null_not_allowed", "field": p.name})
        try:
            model = self.model.model_validate(params)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = [_printable(x) for x in first["loc"]]
            name = loc[0] if loc else None
            reasons = {"missing": "missing_param", "extra_forbidden": "unknown_param"}
            reason = reasons.get(first["type"], "invalid_param")
            data = {"reason": reason, "field": name, "detail": first["msg"]}
            if len(loc) > 1:
                data["path"] = ".".join(loc)
            raise RpcError(INVALID_PARAMS, f"Invalid params: {name}: {first['msg']}", data) from None
        values = {}
        for name in model.model_fields_set:
            value = getattr(model, name)
            if name in self._jsonb and value is not None:
                value = psycopg.types.json.Jsonb(value)
            values[name] = value
        return values

    def text_query(self, names: tuple[str, ...]) -> str:
        """`select api.fn(a => %s, …)::text`: the result as PostgreSQL's JSON text, to pass through."""
        key = ("::text", *names)
        q = self._queries.get(key)
        if q is None:
            q = self._queries[key] = sql.SQL("{}::text").format(self._call(names)).as_string(None)
        return q

    def _call(self, names: tuple[str, ...]) -> sql.Composed:
        args = sql.SQL(", ").join(sql.SQL("{} => {}").format(sql.Identifier(n), sql.Placeholder()) for n in names)
        return sql.SQL("select {}.{}({})").format(sql.Identifier("api"), sql.Identifier(self.function), args)


CATALOG_QUERY = """
select p.proname,
       coalesce(p.proargnames, '{}'::text[]) as argnames,
       coalesce(p.proargmodes::text[], '{}'::text[]) as argmodes,
       array(select format_type(t, null) from unnest(p.proargtypes) with ordinality as a(t, n) order by n) as argtypes,
       p.pronargdefaults,
       format_type(p.prorettype, null) as returns,
       coalesce(obj_description(p.oid, 'pg_proc'), '') as description,
       p.provolatile <> 'v' and p.procost < 1000 as shareable
from pg_proc p
where p.pronamespace = 'api'::regnamespace and p.prokind = 'f'
order by p.proname
"""


# `@param <name> [nullable] keyword=value …` lines in a function's COMMENT declare bounds that can be judged
# without the database (JSON Schema keywords; `itemMinLength`/`itemMaxLength` bound each string of a
# text[]): checked by pydantic (-32602 naming the field) and published in the OpenRPC schema. The database
# still enforces its own constraints. Several lines for one param add up. A line `@patch` marks an update
# method: an explicit null for a param clears it, which only params flagged `nullable` allow (else -32602
# null_not_allowed).
PARAM_LINE = re.compile(r"^@param[ \t]+(\w+)[ \t]+(.+)$", re.M)
BOUNDS = ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "itemMinLength", "itemMaxLength")
FLAGS = ("nullable",)
NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


def param_specs(description: str) -> dict[str, dict[str, Any]]:
    """name → {keyword: value} from the @param lines; flags (nullable) map to True."""
    specs: dict[str, dict[str, Any]] = {}
    for name, spec in PARAM_LINE.findall(description):
        entry = specs.setdefault(name, {})
        for item in spec.split():
            key, eq, value = item.partition("=")
            if not eq and key in FLAGS:
                entry[key] = True
            elif key in BOUNDS and NUMBER.match(value):
                entry[key] = float(value) if "." in value else int(value)
            else:
                raise ValueError(f"bad @param keyword {item!r} for {name}")
    return specs


COST_LINE = re.compile(r"^@cost\s+(\d+)\s*$", re.M)
# Params named like these carry secrets: the method's values are bound server-side and never logged.
SECRET_HINTS = ("password", "token", "secret", "code")


def build_method(row: tuple, shapes: set[str] | frozenset[str] = frozenset()) -> Method | None:
    proname, argnames, argmodes, argtypes, ndefaults, returns, description, shareable = row
    if argmodes and any(m not in ("i",) for m in argmodes):
        return None  # OUT/INOUT/VARIADIC parameters are not part of the convention
    if len(argnames) < len(argtypes) or any(t not in TYPES for t in argtypes):
        return None
    params = []
    fields: dict[str, Any] = {}
    first_default = len(argtypes) - ndefaults
    specs = param_specs(description)
    for i, (name, pg_type) in enumerate(zip(argnames, argtypes, strict=False)):
        required = i < first_default
        spec = specs.get(name, {})
        bounds = {k: v for k, v in spec.items() if k in BOUNDS}
        nullable = bool(spec.get("nullable"))
        params.append(Param(name, pg_type, required, bounds, nullable))
        py_type = python_type(pg_type, bounds)
        if required:
            fields[name] = (py_type | None, ...) if nullable else (py_type, ...)
        else:
            fields[name] = (py_type | None, None)
    model = create_model(f"params_{proname}", __config__=ConfigDict(extra="forbid"), **fields)
    public = bool(re.search(r"(^|\s)@public\b", description))
    patch = bool(re.search(r"(^|\s)@patch\b", description))
    cost = COST_LINE.search(description)
    result_text = result_type(description)
    result = parse_type(result_text, shapes) if result_text else {}
    text = strip_declarations(COST_LINE.sub("", description))
    text = PARAM_LINE.sub("", re.sub(r"(^|(?<=\s))@(public|patch)\b", "", text))
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    takes_secret = any(h in p.name.lower() for p in params for h in SECRET_HINTS)
    return Method(method_name(proname), proname, params, text, public, model, returns, patch,
                  int(cost.group(1)) if cost else 1, result, result_text or "", takes_secret=takes_secret,
                  shareable=bool(shareable))


SHAPES_QUERY = """
select coalesce(obj_description(p.oid, 'pg_proc'), '')
from pg_proc p where p.pronamespace in ('api'::regnamespace, 'internal'::regnamespace)
  and obj_description(p.oid, 'pg_proc') like '%@shape%'
"""
EXAMPLES = Path(__file__).resolve().parents[1] / "openrpc_examples.json"


async def load_methods(conn: psycopg.AsyncConnection) -> dict[str, Method]:
    """Every api function as a Method: params, result schema, errors, shared shapes and catalogue."""
    shared = ApiShared()
    shared.shapes = build_shapes([row[0] for row in await (await conn.execute(SHAPES_QUERY)).fetchall()])
    shared.catalogue = {(code, reason): meaning
                        for code, reason, meaning in await (await conn.execute(errorcat.CATALOGUE_QUERY)).fetchall()}
    if EXAMPLES.exists():
        shared.examples = json.loads(EXAMPLES.read_text())
    bodies = dict(await (await conn.execute(errorcat.BODIES_QUERY)).fetchall())
    triggers: dict[str, set[str]] = {}
    for table, function in await (await conn.execute(errorcat.TRIGGERS_QUERY)).fetchall():
        triggers.setdefault(table, set()).add(function)
    errors = errorcat.method_errors(bodies, triggers)
    cur = await conn.execute(CATALOG_QUERY)
    methods = {}
    for row in await cur.fetchall():
        method = build_method(row, set(shared.shapes))
        if method is not None:
            method.shared = shared
            method.errors = sorted(errors.get(f"api.{method.function}", ()))
            methods[method.name] = method
    return methods
