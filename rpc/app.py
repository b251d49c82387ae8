"""The aiohttp application: POST /rpc (JSON-RPC 2.0), GET / (API reference), /health,
/ready, /metrics. Built by create_app(settings, database_url)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import signal
import time
import uuid
from dataclasses import replace
from typing import Any

import psycopg
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from psycopg_pool import PoolTimeout

from rpc import certificates, errors, openrpc
from rpc.auth import TokenService
from rpc.config import Settings
from rpc.db import CallContext, Database
from rpc.dispatch import Method, load_methods
from rpc.protocol import (
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    RpcError,
    error_response,
    parse_body,
    parse_request,
    request_id,
    result_response,
)

access_log = logging.getLogger("rpc.access")
log = logging.getLogger("rpc.app")

SECRET_HINTS = ("password", "token", "secret", "code")
COST_LINE = re.compile(r"^@cost\s+(\d+)\s*$", re.M)
EXPENSIVE_COST = 10


def method_cost(method: Method) -> int:
    """Units of the per-address budget a call spends: `@cost N` in the function's COMMENT, else 1."""
    found = COST_LINE.search(method.description)
    return int(found.group(1)) if found else 1


def method_takes_secret(method: Method) -> bool:
    """Params named like a password, token or code are bound server-side and never logged."""
    return any(h in p.name.lower() for p in method.params for h in SECRET_HINTS)


def client_address(request: web.Request, proxies: list) -> str | None:
    """The peer's address; behind a trusted proxy, the right-most X-Forwarded-For hop it did not add."""
    peer = request.remote
    try:
        addr = ipaddress.ip_address(peer) if peer else None
    except ValueError:
        return None
    if addr is None or not any(addr in net for net in proxies):
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


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.calls = Counter("lms_rpc_calls", "JSON-RPC calls", ["method"], registry=self.registry)
        self.errors = Counter("lms_rpc_errors", "JSON-RPC calls that ended in an error", ["method", "code"],
                              registry=self.registry)
        self.latency = Histogram("lms_rpc_call_seconds", "Latency of one JSON-RPC call", ["method"],
                                 registry=self.registry,
                                 buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))


class RpcService:
    """Holds the method table, the pool and the token service; runs calls."""

    def __init__(self, settings: Settings, database_url: str):
        self.settings = settings
        self.db = Database(database_url, settings)
        self.tokens = TokenService(settings.jwt_key(), settings.access_token_ttl_seconds)
        self.methods: dict[str, Method] = {}
        self.metrics = Metrics()
        self._last_reload = 0.0
        self._reload_lock = asyncio.Lock()
        self.hashing = asyncio.Semaphore(settings.password_hash_concurrency)
        self.proxies = [ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies]

    async def reload(self) -> int:
        async with self._reload_lock:
            async with self.db.pool.connection() as conn:
                self.methods = await load_methods(conn)
            self._last_reload = time.monotonic()
            log.info("loaded %d methods", len(self.methods))
            return len(self.methods)

    async def find(self, name: str) -> Method:
        method = self.methods.get(name)
        if method is None and time.monotonic() - self._last_reload > 10:
            try:  # a migrate may have added it since start-up; reload at most every 10 s
                await self.reload()
            except (psycopg.Error, PoolTimeout):
                pass
            method = self.methods.get(name)
        if method is None:
            raise RpcError(METHOD_NOT_FOUND, "Method not found", {"reason": "method_not_found", "method": name})
        return method

    async def invoke(self, name: str, params: Any, context: CallContext) -> Any:
        if name == "rpc.discover":
            return openrpc.document(self.methods)
        method = await self.find(name)
        values = method.validate(params)
        names = tuple(values)
        cost = method_cost(method)
        context = replace(context, given=names, cost=cost)
        secret = method_takes_secret(method)
        try:
            if cost >= EXPENSIVE_COST:  # password hashing: bounded CPU, the rest of the API keeps flowing
                async with self.hashing:
                    result = await self.db.call(method.query(names), [values[n] for n in names], context, secret)
            else:
                result = await self.db.call(method.query(names), [values[n] for n in names], context, secret)
        except PoolTimeout:
            raise errors.unavailable() from None
        except psycopg.Error as exc:
            if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)) and exc.sqlstate is None:
                self.db.connection_lost()
            if exc.sqlstate == "42883":  # undefined function: the catalog changed under us
                self._last_reload = 0.0
            raise errors.from_database(exc) from None
        except OSError:
            self.db.connection_lost()
            raise errors.unavailable() from None
        return self.finish(result)

    def finish(self, result: Any) -> Any:
        """Returned errors (effects committed) and access-token signing."""
        if isinstance(result, dict):
            if set(result) == {"error"} and isinstance(result["error"], dict):
                raise errors.from_result(result["error"])
            claims = result.get("access_token_claims")
            if isinstance(claims, dict):
                result = dict(result)
                del result["access_token_claims"]
                token, ttl = self.tokens.sign(claims)
                result = {"access_token": token, "token_type": "bearer", "expires_in": ttl, **result}
        return result


def safe_params(params: Any) -> Any:
    """Params as they may be logged: values of secret-looking names replaced."""
    if isinstance(params, dict):
        return {k: ("***" if any(h in k.lower() for h in SECRET_HINTS) else safe_params(v)) for k, v in params.items()}
    return "…" if isinstance(params, list) else params


SERVICE = web.AppKey("service", RpcService)


async def handle_one(service: RpcService, obj: Any, context: CallContext | None, auth_error: RpcError | None,
                     outcomes: list) -> dict | None:
    req = parse_request(obj)
    if isinstance(req, RpcError):
        outcomes.append(("invalid", req.code))
        return error_response(request_id(obj), req)
    started = time.perf_counter()
    label = req.method if req.method in service.methods or req.method == "rpc.discover" else "unknown"
    try:
        if auth_error is not None:
            raise auth_error
        result = await service.invoke(req.method, req.params, context)
        response = result_response(req.id, result)
        code = 0
    except RpcError as exc:
        response = error_response(req.id, exc)
        code = exc.code
    except Exception as exc:  # noqa: BLE001 — never leak; log with an id
        err = errors.internal(exc)
        response = error_response(req.id, err)
        code = err.code
    elapsed = time.perf_counter() - started
    m = service.metrics
    m.calls.labels(label).inc()
    m.latency.labels(label).observe(elapsed)
    if code:
        m.errors.labels(label, str(code)).inc()
    outcomes.append((req.method, code, round(elapsed * 1000, 2), safe_params(req.params)))
    return None if req.is_notification else response


async def rpc_handler(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE]
    started = time.perf_counter()
    request_id_ = request.headers.get("X-Request-Id") or uuid.uuid4().hex
    outcomes: list = []
    status = 200
    try:
        body = await read_body(request, service.settings.max_body_bytes)
        payload = parse_body(body)
        auth_error = None
        context = None
        try:
            caller = service.tokens.verify(request.headers.get("Authorization"))
            context = CallContext(caller.user_id, client_address(request, service.proxies))
        except RpcError as exc:
            auth_error = exc
        if isinstance(payload, list):
            if not payload:
                raise RpcError(INVALID_REQUEST, "Invalid Request", {"reason": "empty_batch"})
            if len(payload) > service.settings.max_batch_size:
                raise RpcError(INVALID_REQUEST, f"Batch larger than {service.settings.max_batch_size} calls",
                               {"reason": "batch_too_large"})
            answers = await asyncio.gather(*(handle_one(service, o, context, auth_error, outcomes) for o in payload))
            answers = [a for a in answers if a is not None]
        else:
            answer = await handle_one(service, payload, context, auth_error, outcomes)
            answers = [answer] if answer is not None else []
        if not answers:
            response = web.Response(status=204)
        else:
            response = web.json_response(answers if isinstance(payload, list) else answers[0], dumps=_dumps)
            retry = refused_for(answers)
            if retry is not None:  # every call was refused by a rate limit: say so at the HTTP level too
                response.set_status(429)
                response.headers["Retry-After"] = str(retry)
    except RpcError as exc:
        if exc.data and exc.data.get("reason") == "body_too_large":
            status = 413
        response = web.json_response(error_response(None, exc), status=status, dumps=_dumps)
        outcomes.append(("invalid", exc.code))
    response.headers["X-Request-Id"] = request_id_
    access_log.info(json.dumps({
        "request_id": request_id_, "path": "/rpc", "status": response.status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        "calls": [{"method": o[0], "code": o[1], **({"ms": o[2], "params": o[3]} if len(o) > 2 else {})}
                  for o in outcomes],
    }, default=str))
    return response


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=str, separators=(",", ":"), allow_nan=False)


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, however many TCP segments it arrives in; 413 only when it really is larger."""
    too_large = RpcError(INVALID_REQUEST, f"Request body larger than {limit} bytes", {"reason": "body_too_large"})
    if request.content_length is not None and request.content_length > limit:
        raise too_large
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


def refused_for(answers: list[dict]) -> int | None:
    """Retry-After seconds when every answer is a 429, else None."""
    waits = []
    for answer in answers:
        error = answer.get("error") or {}
        if error.get("code") != 429:
            return None
        waits.append(int((error.get("data") or {}).get("retry_after") or 1))
    return max(waits) if waits else None


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    ok = await request.app[SERVICE].db.ready()
    return web.json_response({"status": "ready" if ok else "unavailable"}, status=200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[SERVICE].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def reference(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    return web.Response(text=openrpc.render_html(service.methods), content_type="text/html")


def create_app(settings: Settings, server_url: str) -> web.Application:
    app = web.Application(client_max_size=settings.max_body_bytes)
    service = RpcService(settings, server_url)
    app[SERVICE] = service

    async def lifecycle(app: web.Application):
        await service.db.open()
        try:
            await service.db.pool.wait(timeout=30)
            await service.reload()
        except (PoolTimeout, psycopg.Error):
            log.warning("database not reachable at start-up; methods load when it is")
        loop = asyncio.get_running_loop()
        if hasattr(signal, "SIGHUP"):  # POSIX: SIGHUP reloads the method catalog
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(service.reload()))
        yield
        await service.db.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_post("/rpc", rpc_handler)
    app.router.add_get("/", reference)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/certificates/{number}.pdf", certificates.certificate_pdf)
    return app
