"""The RPC service: the method table, the pool, the token service and the metrics; runs one call.

Shared by the HTTP handlers (rpc/views.py), the certificate PDF handler and the app factory
(rpc/app.py) through the `SERVICE` app key. Imports nothing of the HTTP layer.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from dataclasses import replace
from typing import Any

import psycopg
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from psycopg_pool import PoolTimeout

from rpc import errors, openrpc, payments
from rpc.auth import TokenService
from rpc.config import Settings
from rpc.db import CallContext, Database
from rpc.dispatch import SECRET_HINTS, Method, load_methods
from rpc.protocol import METHOD_NOT_FOUND, RpcError

log = logging.getLogger("rpc.service")

EXPENSIVE_COST = 10


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
        self.provider = payments.make_provider(settings)  # order.create / order.refund (payments.HOOKS)

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
            return openrpc.document(self.methods, context.server_url or self.settings.rpc_url())
        method = await self.find(name)
        values = method.validate(params)
        names = tuple(values)
        cost = method.cost
        context = replace(context, given=names, cost=cost)
        secret = method.takes_secret
        try:
            if cost >= EXPENSIVE_COST:  # password hashing: bounded CPU, the rest of the API keeps flowing
                async with self.hashing:
                    result = await self.db.call(method.query(names), [values[n] for n in names], context, secret)
            else:
                result = await self.db.call(method.query(names), [values[n] for n in names], context, secret)
            if (hook := payments.HOOKS.get(method.name)) is not None:  # the provider between two SQL calls
                result = await hook(self, result, context)
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
