"""JSON-RPC 2.0 framing: parse requests, build responses. Pure functions, no I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
UNAVAILABLE = -32000

_MISSING = object()


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


def parse_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RpcError(PARSE_ERROR, "Parse error", {"reason": "invalid_json"}) from exc


def parse_request(obj: Any) -> Request | RpcError:
    """One member of a call: a Request, or the error to answer it with (id null)."""
    if not isinstance(obj, dict):
        return RpcError(INVALID_REQUEST, "Invalid Request", {"reason": "not_an_object"})
    if obj.get("jsonrpc") != "2.0":
        return RpcError(INVALID_REQUEST, "Invalid Request", {"reason": "jsonrpc_must_be_2.0"})
    method = obj.get("method")
    if not isinstance(method, str):
        return RpcError(INVALID_REQUEST, "Invalid Request", {"reason": "method_must_be_a_string"})
    rid = obj.get("id", _MISSING)
    if rid is not _MISSING and not (rid is None or isinstance(rid, (str, int, float)) and not isinstance(rid, bool)):
        return RpcError(INVALID_REQUEST, "Invalid Request", {"reason": "invalid_id"})
    params = obj.get("params", {})
    if not isinstance(params, (dict, list)):
        return RpcError(INVALID_REQUEST, "Invalid Request", {"reason": "params_must_be_object_or_array"})
    extra = set(obj) - {"jsonrpc", "method", "params", "id"}
    if extra:
        return RpcError(INVALID_REQUEST, "Invalid Request", {"reason": "unknown_members", "members": sorted(extra)})
    return Request(method=method, params=params, id=rid)


def request_id(obj: Any) -> Any:
    """The id to echo for an invalid request: its id if it has a valid one, else null."""
    if isinstance(obj, dict):
        rid = obj.get("id")
        if rid is None or (isinstance(rid, (str, int, float)) and not isinstance(rid, bool)):
            return rid
    return None


def result_response(rid: Any, result: Any) -> dict:
    return {"jsonrpc": "2.0", "result": result, "id": rid}


def error_response(rid: Any, error: RpcError) -> dict:
    return {"jsonrpc": "2.0", "error": error.to_json(), "id": rid}
