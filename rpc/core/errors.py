"""The error catalogue: database errors → JSON-RPC errors (code, message, data.reason).

Domain functions raise SQLSTATE `LMnnn` where nnn is the JSON-RPC code of API.md, with the
reason in DETAIL and optionally the offending field in HINT. PostgreSQL's own errors that a
client can cause map to stable codes; everything else is -32603 with a log id only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid

import psycopg

from rpc.core.protocol import INTERNAL_ERROR, INVALID_PARAMS, UNAVAILABLE, RpcError

log = logging.getLogger("rpc.errors")

APPLICATION_CODES = {400, 401, 403, 404, 409, 422, 423, 429, 503}

# SQLSTATE (PostgreSQL's own) → (JSON-RPC code, reason)
STANDARD = {
    "23505": (409, "conflict"),                 # unique_violation
    "23P01": (409, "conflict"),                 # exclusion_violation
    "23514": (422, "constraint_violation"),     # check_violation
    "23502": (422, "missing_value"),            # not_null_violation
    "42501": (403, "forbidden"),                # insufficient_privilege, incl. RLS WITH CHECK
    "22P02": (INVALID_PARAMS, "invalid_value"), # invalid_text_representation
    "22003": (INVALID_PARAMS, "out_of_range"),  # numeric_value_out_of_range
    "22007": (INVALID_PARAMS, "invalid_value"), # invalid_datetime_format
    "22008": (INVALID_PARAMS, "out_of_range"),  # datetime_field_overflow
    "22001": (INVALID_PARAMS, "too_long"),      # string_data_right_truncation
    "22023": (INVALID_PARAMS, "invalid_value"), # invalid_parameter_value
    "40001": (409, "serialization_failure"),
    "40P01": (409, "deadlock_detected"),
    "55P03": (409, "lock_not_available"),
    "54000": (INVALID_PARAMS, "too_long"),      # program_limit_exceeded (e.g. a key too long for an index)
    "22P05": (INVALID_PARAMS, "invalid_value"), # untranslatable_character (e.g. \u0000 in jsonb)
    "22021": (INVALID_PARAMS, "invalid_value"), # character_not_in_repertoire
}

MESSAGES = {
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    422: "Business rule violated",
    423: "Account locked",
    429: "Too many requests",
}

CONNECTION_CLASSES = ("08", "57P01", "57P02", "57P03", "53300")


def from_database(exc: psycopg.Error) -> RpcError:
    state = exc.sqlstate or ""
    diag = exc.diag
    if state.startswith("LM") and state[2:].isdigit() and int(state[2:]) in APPLICATION_CODES:
        code = int(state[2:])
        data: dict = {"reason": diag.message_detail or "error"}
        hint = diag.message_hint or ""
        if code == 429 and hint.isdigit():
            data["retry_after"] = int(hint)
        elif hint.startswith("{"):  # more data for the client, e.g. module_locked's unlocks_at and requires
            with contextlib.suppress(ValueError):
                data = {**json.loads(hint), **data}
        elif hint:
            data["field"] = hint
        return RpcError(code, diag.message_primary or MESSAGES[code], data)
    if isinstance(exc, psycopg.OperationalError) and not state or state.startswith(CONNECTION_CLASSES):
        return unavailable()
    if state == "57014":  # statement_timeout (as lms_api): the server is overloaded or a lock is held elsewhere
        return RpcError(UNAVAILABLE, "The call took too long; retry later", {"reason": "statement_timeout"})
    if not state and isinstance(exc, psycopg.DataError):  # a value psycopg could not send (client side)
        return RpcError(INVALID_PARAMS, "Invalid params: a value cannot be stored", {"reason": "invalid_value"})
    if state == "23503":  # foreign_key_violation: a missing target, or a row still in use
        detail = diag.message_detail or ""
        if "is still referenced" in detail:
            return RpcError(409, "The item is still in use", {"reason": "in_use", "constraint": diag.constraint_name})
        return RpcError(404, "A referenced item does not exist", {"reason": "not_found",
                                                                  "constraint": diag.constraint_name})
    if state in STANDARD:
        code, reason = STANDARD[state]
        data = {"reason": reason}
        if diag.constraint_name:
            data["constraint"] = diag.constraint_name
        if diag.column_name:
            data["field"] = diag.column_name
        if code == INTERNAL_ERROR:
            return internal(exc)
        message = MESSAGES.get(code, "Invalid params")
        if state == "42501" and "row-level security" in (diag.message_primary or ""):
            message = "Not allowed by the row-level security policy"
        return RpcError(code, message, data)
    return internal(exc)


def from_result(error: dict) -> RpcError:
    """An error a function returned (instead of raising) so that its effects commit."""
    code = int(error.get("code", 500))
    if code not in APPLICATION_CODES:
        return internal(RuntimeError(f"bad returned error {error!r}"))
    data: dict = {"reason": str(error.get("reason", "error"))}
    if isinstance(error.get("retry_after"), (int, float)):
        data["retry_after"] = max(1, int(error["retry_after"]))
    return RpcError(code, str(error.get("message") or MESSAGES[code]), data)


def unavailable() -> RpcError:
    return RpcError(UNAVAILABLE, "Service unavailable, retry later", {"reason": "database_unavailable"})


def internal(exc: BaseException) -> RpcError:
    log_id = uuid.uuid4().hex[:12]
    log.error("internal error %s: %r", log_id, exc, exc_info=exc)
    return RpcError(INTERNAL_ERROR, "Internal error", {"reason": "internal_error", "log_id": log_id})


__all__ = ["from_database", "from_result", "unavailable", "internal"]
