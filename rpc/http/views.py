"""HTTP handlers: POST /rpc (JSON-RPC 2.0, single or batch), GET / (API reference), /health,
/ready, /metrics. The app factory (rpc/http/app.py) routes to them."""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import time
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from rpc.core import errors
from rpc.core.protocol import (
    INVALID_REQUEST,
    Request,
    RpcError,
    error_response,
    parse_body,
    parse_request,
    request_id,
)
from rpc.db.calls import CallContext
from rpc.http.service import SERVICE, RpcService, safe_params

access_log = logging.getLogger("rpc.access")
REFERENCE_COST = 5  # GET /: the HTML reference (cached, still large), charged like rpc.discover


IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def peer_address(request: web.Request, proxies: list) -> tuple[IpAddress | None, bool]:
    """The TCP peer's address, and whether it is one of LMS_TRUSTED_PROXIES."""
    try:
        addr = ipaddress.ip_address(request.remote or "")
    except ValueError:
        return None, False
    return addr, any(addr in net for net in proxies)


def client_address(request: web.Request, proxies: list) -> str | None:
    """The peer's address; behind a trusted proxy, the right-most X-Forwarded-For hop it did not add."""
    addr, trusted = peer_address(request, proxies)
    if addr is None or not trusted:
        return str(addr) if addr else None
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        try:
            hop_addr = ipaddress.ip_address(hop)
        except ValueError:
            return str(addr)  # a forged or garbled hop: the proxy itself is the client we can vouch for
        if not any(hop_addr in net for net in proxies):
            return str(hop_addr)
    return str(addr)


def public_rpc_url(request: web.Request, service: RpcService) -> str:
    """Where this client reaches POST /rpc: LMS_PUBLIC_URL, else the request's scheme and host —
    taken from X-Forwarded-Proto/-Host only when the peer is a trusted proxy."""
    if service.settings.public_url:
        return service.settings.rpc_url()
    scheme, host = request.scheme, request.host
    if peer_address(request, service.proxies)[1]:
        scheme = request.headers.get("X-Forwarded-Proto", scheme).split(",")[0].strip() or scheme
        host = request.headers.get("X-Forwarded-Host", host).split(",")[0].strip() or host
    if scheme not in ("http", "https") or not host or any(c in host for c in "/?#@ \\"):
        return service.settings.rpc_url()
    return f"{scheme}://{host}/rpc"


NAMES_THE_SERVER = ("rpc.discover", "lti.tool_register", "lti.tool_update", "lti.tool_list", "lti.launch",
                    "lti.deep_link", "calendar.feed_url")
"""Methods whose answers name the server's public URL (the OpenRPC servers, the LTI platform's issuer)."""


def names_the_server(payload: Any) -> bool:
    calls = payload if isinstance(payload, list) else [payload]
    return any(isinstance(c, dict) and c.get("method") in NAMES_THE_SERVER for c in calls)


Answer = tuple[str, int | None]
"""One call's response as JSON text, and the seconds to wait when it was refused by a rate limit."""


def answer_error(rid: Any, error: RpcError) -> Answer:
    retry = None
    if error.code == 429:
        retry = int((error.data or {}).get("retry_after") or 1)
    return _dumps(error_response(rid, error)), retry


def answer_result(rid: Any, text: str) -> Answer:
    """The response envelope around a result's JSON text (PostgreSQL's, spliced in as it came)."""
    return f'{{"jsonrpc":"2.0","result":{text},"id":{_dumps(rid)}}}', None


def label_of(service: RpcService, method: str) -> str:
    return method if method in service.methods or method == "rpc.discover" else "unknown"


def settle(service: RpcService, req: Request, outcome: str | RpcError, elapsed: float, outcomes: list) -> Answer | None:
    """Count and note a finished call; its answer (None for a notification)."""
    code = outcome.code if isinstance(outcome, RpcError) else 0
    service.metrics.observe(label_of(service, req.method), elapsed, code)
    outcomes.append((req.method, code, round(elapsed * 1000, 2), safe_params(req.params)))
    if req.is_notification:
        return None
    return answer_error(req.id, outcome) if isinstance(outcome, RpcError) else answer_result(req.id, outcome)


async def handle_one(service: RpcService, obj: Any, context: CallContext | None, auth_error: RpcError | None,
                     outcomes: list) -> Answer | None:
    req = parse_request(obj)
    if isinstance(req, RpcError):
        outcomes.append(("invalid", req.code))
        return answer_error(request_id(obj), req)
    started = time.perf_counter()
    outcome: str | RpcError
    try:
        if auth_error is not None:
            raise auth_error
        outcome = await service.invoke_json(req.method, req.params, context)
    except RpcError as exc:
        outcome = exc
    except Exception as exc:  # noqa: BLE001 — never leak; log with an id
        outcome = errors.internal(exc)
    return settle(service, req, outcome, time.perf_counter() - started, outcomes)


async def handle_batch(service: RpcService, payload: list, context: CallContext | None, auth_error: RpcError | None,
                       outcomes: list) -> list[Answer]:
    """The calls of a batch, run together (service.invoke_many_json: one connection, one round trip for
    the plain ones); each call's time is the batch's."""
    requests = [parse_request(obj) for obj in payload]
    valid = [r for r in requests if isinstance(r, Request)]
    started = time.perf_counter()
    results: list[str | RpcError]
    if auth_error is not None:
        results = [auth_error] * len(valid)
    else:
        try:
            results = await service.invoke_many_json([(r.method, r.params) for r in valid], context)
        except Exception as exc:  # noqa: BLE001 — never leak; log with an id
            results = [errors.internal(exc)] * len(valid)
    elapsed = time.perf_counter() - started
    outcome = iter(results)
    answers: list[Answer | None] = []
    for obj, req in zip(payload, requests, strict=True):
        if isinstance(req, RpcError):
            outcomes.append(("invalid", req.code))
            answers.append(answer_error(request_id(obj), req))
        else:
            answers.append(settle(service, req, next(outcome), elapsed, outcomes))
    return [a for a in answers if a is not None]


async def respond(service: RpcService, payload: Any, context: CallContext | None, auth_error: RpcError | None,
                  outcomes: list) -> tuple[str | None, int | None]:
    """The answer to a parsed JSON-RPC payload (one call or a batch) as JSON text — None when every
    call was a notification — and, when every call was refused by a rate limit, the seconds to wait.
    Transport-neutral: POST /rpc and the WebSocket both answer through it. Raises RpcError for an
    empty or oversized batch."""
    if isinstance(payload, list):
        if not payload:
            raise RpcError(INVALID_REQUEST, "Invalid Request", {"reason": "empty_batch"})
        if len(payload) > service.settings.max_batch_size:
            raise RpcError(INVALID_REQUEST, f"Batch larger than {service.settings.max_batch_size} calls",
                           {"reason": "batch_too_large"})
        answers = await handle_batch(service, payload, context, auth_error, outcomes)
        if not answers:
            return None, None
        return "[" + ",".join(a[0] for a in answers) + "]", refused_for(answers)
    answer = await handle_one(service, payload, context, auth_error, outcomes)
    if answer is None:
        return None, None
    return answer


async def rpc_handler(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE]
    started = time.perf_counter()
    request_id_ = request.headers.get("X-Request-Id") or os.urandom(16).hex()  # as uuid4().hex, cheaper
    outcomes: list = []
    status = 200
    try:
        body = await read_body(request, service.settings.max_body_bytes)
        payload = parse_body(body)
        auth_error = None
        context = None
        try:
            caller = service.tokens.verify(request.headers.get("Authorization"))
            # The public URL is worked out only for the methods that name it, not on every call.
            rpc_url = public_rpc_url(request, service) if names_the_server(payload) else None
            context = CallContext(caller.user_id, client_address(request, service.proxies), rpc_url=rpc_url)
        except RpcError as exc:
            auth_error = exc
        text, retry = await respond(service, payload, context, auth_error, outcomes)
        if text is None:
            response = web.Response(status=204)
        else:
            response = web.Response(text=text, content_type="application/json")
            if retry is not None:  # every call was refused by a rate limit: say so at the HTTP level too
                response.set_status(429)
                response.headers["Retry-After"] = str(retry)
    except RpcError as exc:
        if exc.data and exc.data.get("reason") == "body_too_large":
            status = 413
        response = web.json_response(error_response(None, exc), status=status, dumps=_dumps)
        outcomes.append(("invalid", exc.code))
    response.headers["X-Request-Id"] = request_id_
    if access_log.isEnabledFor(logging.INFO):
        access_log.info(log_line({
            "request_id": request_id_, "path": "/rpc", "status": response.status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "calls": [{"method": o[0], "code": o[1], **({"ms": o[2], "params": o[3]} if len(o) > 2 else {})}
                      for o in outcomes],
        }))
    return response


def log_line(entry: dict) -> str:
    """An access-log entry as one line of JSON: orjson, or json for what orjson refuses (integers past
    64 bits, lone surrogates in the logged params)."""
    try:
        return orjson.dumps(entry, default=str).decode()
    except TypeError:
        return json.dumps(entry, default=str)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=str, separators=(",", ":"), allow_nan=False)


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, however many TCP segments it arrives in; 413 only when it really is larger."""
    too_large = RpcError(INVALID_REQUEST, f"Request body larger than {limit} bytes", {"reason": "body_too_large"})
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    if request.content_length is not None:  # the common case: aiohttp reads exactly that much
        return await request.read()
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)


def refused_for(answers: list[Answer]) -> int | None:
    """Retry-After seconds when every answer is a 429, else None."""
    waits = [retry for _, retry in answers]
    return None if None in waits else max(waits)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    ok = await request.app[SERVICE].db.ready()
    return web.json_response({"status": "ready" if ok else "unavailable"}, status=200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text, for LMS_METRICS_TOKEN or an active admin's access token (401/403 otherwise)."""
    service = request.app[SERVICE]
    authorization = request.headers.get("Authorization", "")
    configured = service.settings.metrics_token
    if not (configured and hmac.compare_digest(authorization.encode(),
                                               b"Bearer " + configured.get_secret_value().encode())):
        try:
            caller = service.tokens.verify(authorization)
            if caller.user_id is None:
                raise RpcError(401, "GET /metrics needs a bearer token", {"reason": "not_authenticated"})
            me = await service.invoke("user.me", {}, CallContext(caller.user_id,
                                                                 client_address(request, service.proxies)))
            if me.get("role") != "admin":
                raise RpcError(403, "GET /metrics is for admins (or LMS_METRICS_TOKEN)", {"reason": "forbidden"})
        except RpcError as exc:
            return web.json_response(error_response(None, exc), status=exc.code if 400 <= exc.code < 600 else 503)
    body = generate_latest(service.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def reference(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    try:
        await service.charge(CallContext(None, client_address(request, service.proxies)), REFERENCE_COST)
    except RpcError as exc:
        return web.json_response(error_response(None, exc), status=exc.code if 400 <= exc.code < 600 else 503)
    return web.Response(text=service.reference_html(), content_type="text/html")
