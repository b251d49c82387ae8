"""The RPC service: the method table, the pool, the token service and the metrics; runs one call.

Shared by the HTTP handlers (rpc/http/views.py), the certificate PDF handler and the app factory
(rpc/http/app.py) through the `SERVICE` app key. Imports nothing of the HTTP layer.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from psycopg_pool import PoolTimeout

from rpc.core import errors, openrpc
from rpc.core.auth import TokenService
from rpc.core.config import Settings
from rpc.core.dispatch import SECRET_HINTS, Method, load_methods
from rpc.core.protocol import METHOD_NOT_FOUND, RpcError, dumps
from rpc.db.calls import CallContext, Database
from rpc.workers import payments

log = logging.getLogger("rpc.service")

EXPENSIVE_COST = 10
DISCOVER_COST = 5  # the document is cached, but still ~100 KB to send: more than a plain call


@dataclass(frozen=True)
class PreparedCall:
    """A validated call: its method, SQL (result as text), values and the caller's context."""

    method: Method
    query: str
    values: list
    context: CallContext


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.calls = Counter("lms_rpc_calls", "JSON-RPC calls", ["method"], registry=self.registry)
        self.errors = Counter("lms_rpc_errors", "JSON-RPC calls that ended in an error", ["method", "code"],
                              registry=self.registry)
        self.latency = Histogram("lms_rpc_call_seconds", "Latency of one JSON-RPC call", ["method"],
                                 registry=self.registry,
                                 buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
        self.pipeline_calls = Histogram(
            "lms_db_pipeline_calls", "Calls of read-only methods sent to PostgreSQL together in one pipeline "
            "(rpc/db/calls.py CallGroups): 1 on a quiet server, more while calls wait for a connection",
            registry=self.registry, buckets=(1, 2, 3, 4, 6, 8))
        self._children: dict[str, tuple] = {}  # method → its (calls, latency) series, looked up once

    def observe(self, method: str, seconds: float, code: int) -> None:
        """Count one call of method that took seconds and ended with code (0: a result)."""
        children = self._children.get(method)
        if children is None:
            children = self._children[method] = (self.calls.labels(method), self.latency.labels(method))
        children[0].inc()
        children[1].observe(seconds)
        if code:
            self.errors.labels(method, str(code)).inc()


class RpcService:
    """Holds the method table, the pool and the token service; runs calls."""

    def __init__(self, settings: Settings, database_url: str):
        self.settings = settings
        self.db = Database(database_url, settings)
        self.tokens = TokenService(settings.jwt_key(), settings.access_token_ttl_seconds)
        self.methods: dict[str, Method] = {}
        self.metrics = Metrics()
        self.db.groups.observe = self.metrics.pipeline_calls.observe
        self._last_reload = 0.0
        self._reload_lock = asyncio.Lock()
        self.hashing = asyncio.Semaphore(settings.password_hash_concurrency)
        self.proxies = [ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies]
        self.provider = payments.make_provider(settings)  # order.create / order.refund (payments.HOOKS)
        # Steps run after a method's function committed (method name → async (service, result, context)):
        # the payment provider's (rpc/workers/payments.py), removing a deleted file's bytes (rpc/http/files.py).
        self.hooks: dict[str, Any] = dict(payments.HOOKS)
        self._documents: dict[str, str] = {}  # the OpenRPC document per server URL, the HTML reference

    async def reload(self) -> int:
        async with self._reload_lock:
            async with self.db.pool.connection() as conn:
                self.methods = await load_methods(conn)
                self._documents = {}
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
        """One call; its result as a Python value (the certificate handler's use)."""
        return json.loads(await self.invoke_json(name, params, context))

    async def invoke_json(self, name: str, params: Any, context: CallContext) -> str:
        """One call; its result as JSON text. PostgreSQL's own text of the jsonb result passes through
        undecoded unless it has to be looked at (a returned error, claims to sign, a payment hook)."""
        if name == "rpc.discover":
            await self.charge(context, DISCOVER_COST)
            return self.discover_text(context.rpc_url or self.settings.rpc_url())
        call = await self.prepare(name, params, context)
        try:
            if call.method.cost >= EXPENSIVE_COST:  # password hashing: bounded CPU, the rest keeps flowing
                async with self.hashing:
                    text = await self.db.call(call.query, call.values, call.context, call.method.takes_secret)
            else:
                text = await self.db.call(call.query, call.values, call.context, call.method.takes_secret,
                                          shared=call.method.shareable and not call.method.takes_secret)
            if (hook := self.hooks.get(call.method.name)) is not None:  # e.g. the provider between two SQL calls
                return dumps(self.finish(await hook(self, json.loads(text), call.context)))
        except (PoolTimeout, psycopg.Error, OSError) as exc:
            raise self.failure(exc) from None
        return self.finish_text(text)

    async def invoke_many_json(self, calls: list[tuple[str, Any]], context: CallContext) -> list[str | RpcError]:
        """The calls of a batch, each its own transaction: their JSON texts or RpcErrors, in order. Plain
        calls share one connection and one round trip (rpc/db/calls.py call_batch); rpc.discover, password
        hashing, secret-taking and payment methods go one by one, concurrently, as single calls do."""
        answers: list[str | RpcError | None] = [None] * len(calls)
        piped: list[tuple[int, PreparedCall]] = []
        alone: list[int] = []
        for i, (name, params) in enumerate(calls):
            method = self.methods.get(name)
            if method is None or method.takes_secret or method.cost >= EXPENSIVE_COST or name in self.hooks:
                alone.append(i)
                continue
            try:
                piped.append((i, await self.prepare(name, params, context)))
            except RpcError as exc:
                answers[i] = exc
        if len(piped) == 1:
            alone.append(piped.pop()[0])

        async def one(i: int) -> None:
            try:
                answers[i] = await self.invoke_json(calls[i][0], calls[i][1], context)
            except RpcError as exc:
                answers[i] = exc

        async def pipelined() -> None:
            try:
                texts = await self.db.call_batch([(c.query, c.values, c.context) for _, c in piped])
            except (PoolTimeout, psycopg.Error, OSError) as exc:
                error = self.failure(exc)
                for i, _ in piped:
                    answers[i] = error
                return
            if texts is None:  # the batch's budget did not fit as a whole: each call is judged alone, in
                for i, _ in piped:  # turn (concurrent ones would spend a reservation before it is granted)
                    await one(i)
                return
            for (i, _), text in zip(piped, texts, strict=True):
                try:
                    answers[i] = self.failure(text) if isinstance(text, psycopg.Error) else self.finish_text(text)
                except RpcError as exc:
                    answers[i] = exc

        await asyncio.gather(*(one(i) for i in alone), *([pipelined()] if piped else []))
        return answers  # type: ignore[return-value]

    async def prepare(self, name: str, params: Any, context: CallContext) -> PreparedCall:
        """Find and validate a call (RpcError if it is not one): its SQL, values and context."""
        method = await self.find(name)
        values = method.validate(params)
        names = tuple(values)
        return PreparedCall(method, method.text_query(names), [values[n] for n in names],
                            CallContext(context.user_id, context.client_addr, names, method.cost, context.rpc_url))

    async def charge(self, context: CallContext, units: int) -> None:
        """Spend budget for work the server does itself (rpc/db/calls.py Database.charge) → RpcError 429."""
        try:
            await self.db.charge(context, units)
        except (PoolTimeout, psycopg.Error, OSError) as exc:
            raise self.failure(exc) from None

    def discover_text(self, rpc_url: str) -> str:
        """The OpenRPC document as JSON text, built once per server URL and catalog."""
        text = self._documents.get(rpc_url)
        if text is None:
            if len(self._documents) >= 32:  # a client may name any Host: keep a few (the key "" is the HTML)
                self._documents.clear()
            text = self._documents[rpc_url] = dumps(openrpc.document(self.methods, rpc_url))
        return text

    def reference_html(self) -> str:
        text = self._documents.get("")
        if text is None:
            text = self._documents[""] = openrpc.render_html(self.methods)
        return text

    def failure(self, exc: BaseException) -> RpcError:
        """The RpcError for a call that failed in the database or on the way to it."""
        if isinstance(exc, PoolTimeout):
            return errors.unavailable()
        if isinstance(exc, psycopg.Error):
            if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)) and exc.sqlstate is None:
                self.db.connection_lost()
            if exc.sqlstate == "42883":  # undefined function: the catalog changed under us
                self._last_reload = 0.0
            return errors.from_database(exc)
        if isinstance(exc, OSError):
            self.db.connection_lost()
            return errors.unavailable()
        raise exc

    def finish_text(self, text: str | None) -> str:
        """finish() on PostgreSQL's JSON text, decoding it only when it may need it: a returned error is
        an object whose only key is "error" (jsonb writes `{"error": ` first then), claims are named."""
        if text is None:
            return "null"
        if text.startswith('{"error": ') or '"access_token_claims"' in text:
            return dumps(self.finish(json.loads(text)))
        return text

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
