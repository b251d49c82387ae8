"""JSON-RPC 2.0 framing: parse requests, build responses. Pure functions, no I/O."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import orjson

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
UNAVAILABLE = -32000

_MISSING = object()

# A body nested deeper than this (arrays/objects inside each other) is refused (-32600 too_deep):
# nothing legitimate needs it, and deep values cost recursion in every layer that walks them.
MAX_DEPTH = 64
# 19 digits in a row may be an integer past 64 bits somewhere in the body: such bodies go to json.
LONG_DIGITS = re.compile(rb"[0-9]{19}")
LONG_DIGITS_TEXT = re.compile(r"[0-9]{19}")


class RpcError(Exception):
    """An error to send to the client: a JSON-RPC code, a message and optional data."""

    def __init__(self, code: int, message: str, data: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err


@dataclass
class Request:
    method: str
    params: Any
    id: Any = _MISSING

    @property
    def is_notification(self) -> bool:
        return self.id is _MISSING


def too_deep() -> RpcError:
    return RpcError(INVALID_REQUEST, f"Invalid Request: nested deeper than {MAX_DEPTH} levels", {"reason": "too_deep"})


def parse_body(body: bytes | str) -> Any:
    """The JSON value of a body, or RpcError: -32700 when unparsable, -32600 too_deep when nested deeper
    than MAX_DEPTH. The literals NaN/Infinity (and numbers like 1e999, which overflow to infinity) are
    parsed, and refused where they are used: as an id (-32600) or in params (-32602 naming the field)."""
    long_digits = LONG_DIGITS if isinstance(body, bytes | bytearray) else LONG_DIGITS_TEXT
    if long_digits.search(body) is None:
        try:
            value = orjson.loads(body)  # the common case, ~10× faster than json
        except orjson.JSONDecodeError:  # NaN, 1e999, lone surrogates, not UTF-8, very deep: json decides
            value = _loads(body)
    else:  # orjson would read an integer past 64 bits as a float: json keeps it exact
        value = _loads(body)
    if depth_exceeds(value, MAX_DEPTH):
        raise too_deep()
    return value


def _loads(body: bytes | str) -> Any:
    try:
        return json.loads(body)
    except RecursionError:  # the C decoder's own limit (about 1000 levels): deeper than we allow anyway
        raise too_deep() from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, an integer of more than 4300 digits, …
        raise RpcError(PARSE_ERROR, "Parse error", {"reason": "invalid_json"}) from None


def depth_exceeds(value: Any, limit: int) -> bool:
    """Is value nested deeper than limit containers? Iterative: no recursion, whatever the input."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def is_unicode(text: str) -> bool:
    """False for a string holding lone surrogates (e.g. from "\\ud800" in JSON): it has no UTF-8 form,
    so it can reach neither PostgreSQL nor a strict JSON reader."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(text: str, limit: int = 100) -> str:
    """A string from the request as it may be echoed in an error: valid Unicode, at most limit characters."""
    if not is_unicode(text):
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= limit else text[:limit] + "…"


def valid_id(rid: Any) -> bool:
    """A JSON-RPC id we can echo as strict JSON: null, an integer, a finite number, a Unicode string."""
    if rid is None or isinstance(rid, int) and not isinstance(rid, bool):
        return True
    if isinstance(rid, float):
        return math.isfinite(rid)
    return isinstance(rid, str) and is_unicode(rid)


def parse_request(obj: Any) -> Request | RpcError:
    """One member of a call: a Request, or the error to answer it with (id null)."""
    if not isinstance(obj, dict):
        return RpcError(INVALID_REQUEST, "Invalid Request", {"reason": "not_an_object"})
    if obj.get("jsonrpc") != "2.0":
        return RpcError(INVALID_REQUEST, "Invalid Request", {"reason": "jsonrpc_must_be_2.0"})
    method = obj.get("method")
    if not isinstance(method, str):
        return RpcError(INVALID_REQUEST, "Invalid Request", {"reason": "method_must_be_a_string"})
    if not is_unicode(method):
        return RpcError(INVALID_REQUEST, "Invalid Request", {"reason": "invalid_method"})
    rid = obj.get("id", _MISSING)
    if rid is not _MISSING and not valid_id(rid):
        return RpcError(INVALID_REQUEST, "Invalid Request", {"reason": "invalid_id"})
    params = obj.get("params", {})
    if not isinstance(params, (dict, list)):
        return RpcError(INVALID_REQUEST, "Invalid Request", {"reason": "params_must_be_object_or_array"})
    extra = set(obj) - {"jsonrpc", "method", "params", "id"}
    if extra:
        members = sorted(printable(m) for m in extra)[:20]
        return RpcError(INVALID_REQUEST, "Invalid Request", {"reason": "unknown_members", "members": members})
    return Request(method=method, params=params, id=rid)


def request_id(obj: Any) -> Any:
    """The id to echo for an invalid request: its id if it has a valid one, else null."""
    if isinstance(obj, dict):
        rid = obj.get("id")
        if valid_id(rid):
            return rid
    return None


def result_response(rid: Any, result: Any) -> dict:
    return {"jsonrpc": "2.0", "result": result, "id": rid}


def error_response(rid: Any, error: RpcError) -> dict:
    return {"jsonrpc": "2.0", "error": error.to_json(), "id": rid}


def dumps(obj: Any) -> str:
    """Strict JSON for a response: ValueError rather than NaN/Infinity, which JSON does not have."""
    return json.dumps(obj, default=str, separators=(",", ":"), allow_nan=False)
