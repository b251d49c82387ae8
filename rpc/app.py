"""The aiohttp application: create_app(settings, database_url) wires the service into the app
(its pool opens and closes with it) and routes the endpoints to their handlers."""

from __future__ import annotations

import asyncio
import logging
import signal

import psycopg
from aiohttp import web
from psycopg_pool import PoolTimeout

from rpc import certificates, exports, files, live, views, watchdog, webhooks
from rpc.config import Settings
from rpc.service import SERVICE, RpcService

log = logging.getLogger("rpc.app")


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
    app.router.add_post("/rpc", views.rpc_handler)
    app.router.add_get("/", views.reference)
    app.router.add_get("/health", views.health)
    app.router.add_get("/ready", views.ready)
    app.router.add_get("/metrics", views.metrics)
    app.router.add_get("/certificates/{number}.pdf", certificates.certificate_pdf)
    app.router.add_post("/webhooks/stripe", webhooks.stripe_webhook)
    files.setup(app, settings)  # POST /files, GET /files/{file_id}
    live.setup(app, service)  # GET /ws: JSON-RPC over a WebSocket, live events
    watchdog.setup(app, service)  # every 30 s: runaway analyst sessions, canceled intents, deleted bytes
    exports.setup(app)  # GET /export/courses/{course_id}/gradebook.csv
    return app
