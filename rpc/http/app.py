"""The aiohttp application: create_app(settings, database_url) wires the service into the app
(its pool opens and closes with it) and routes the endpoints to their handlers."""

from __future__ import annotations

import asyncio
import logging
import signal

import psycopg
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from psycopg_pool import PoolTimeout

from rpc.core import errors
from rpc.core.config import Settings
from rpc.core.protocol import RpcError, error_response
from rpc.http import (
    calendar_feed,
    certificates,
    exports,
    files,
    live,
    lti,
    lti_services,
    qti,
    sso,
    stripe_webhooks,
    views,
    watchdog,
)
from rpc.http.service import SERVICE, RpcService

log = logging.getLogger("rpc.app")


class QuietBadRequests(logging.Filter):
    """aiohttp logs every malformed request (bad chunk size, duplicate Content-Length, a 20 kB header
    line …) at ERROR with a traceback: anyone could fill the logs with bytes that are not HTTP. Those
    become one INFO line each; real errors (5xx) keep their traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and 400 <= (exc.code or 0) < 500:
            first = (exc.message or "").strip().splitlines()
            text = record.getMessage()
            record.msg, record.args = "%s: %s %s", (text, exc.code, first[0] if first else type(exc).__name__)
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None
        return True


HTTP_REASONS = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}


@web.middleware
async def json_errors(request: web.Request, handler):
    """Every error answer is JSON with data.reason, also those aiohttp makes itself (no such path 404,
    wrong method 405, body over client_max_size 413) and a bug's (500 with a log_id, never a trace)."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        reason = HTTP_REASONS.get(exc.status, "http_error")
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        return web.json_response(error_response(None, RpcError(exc.status, exc.reason, {"reason": reason})),
                                 status=exc.status, headers=headers)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception as exc:  # noqa: BLE001 — a bug: logged with an id, answered without details
        return web.json_response(error_response(None, errors.internal(exc)), status=500)


def create_app(settings: Settings, database_url: str) -> web.Application:
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, QuietBadRequests) for f in server_log.filters):
        server_log.addFilter(QuietBadRequests())
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[json_errors])
    service = RpcService(settings, database_url)
    app[SERVICE] = service

    async def lifecycle(app: web.Application):
        loop = asyncio.get_running_loop()
        if hasattr(signal, "SIGHUP"):  # POSIX: SIGHUP reloads the method catalog (from before the first load)
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(service.reload()))
        await service.db.open()
        try:
            try:
                await service.db.pool.wait(timeout=30)
                await service.reload()
            except (PoolTimeout, psycopg.Error):
                log.warning("database not reachable at start-up; methods load when it is")
        except BaseException:
            # Stopped while starting (SIGTERM right after a fork): close the pool here, since the cleanup
            # below never runs. Left open, its workers outlive the cancellation (the pool retries a
            # connection attempt that was cancelled) and the process never exits.
            await service.db.close()
            raise
        yield
        await service.db.close()

    app.cleanup_ctx.append(lifecycle)
    files.setup(app, settings)  # the storages, the after-commit removal of deleted bytes
    live.setup(app, service)  # the event hub behind /ws
    watchdog.setup(app, service)  # every 30 s: runaway analyst sessions, canceled intents, deleted bytes
    exports.setup(app)  # the export slots
    sso.setup(app)  # what this process knows of each OpenID provider (metadata, keys)
    lti.setup(app)  # LTI answers name the platform's URLs
    calendar_feed.setup(app)  # calendar.feed_url answers an absolute URL
    qti.setup(app)  # quiz.import_qti reads the uploaded package between its two SQL calls
    app.router.add_routes(ROUTES)
    return app


# Every endpoint, in one place.
ROUTES = [
    web.post("/rpc", views.rpc_handler),  # JSON-RPC 2.0 (rpc.discover: the OpenRPC document)
    web.get("/", views.reference),  # the API reference (HTML)
    web.get("/health", views.health),
    web.get("/ready", views.ready),
    web.get("/metrics", views.metrics),  # Prometheus; LMS_METRICS_TOKEN or an admin's token
    web.get("/ws", live.ws_handler),  # JSON-RPC over a WebSocket, live events
    web.post("/files", files.upload),
    web.get("/files/{file_id}", files.download),
    web.get("/export/courses/{course_id}/gradebook.csv", exports.gradebook_csv),
    web.get("/export/quizzes/{quiz_id}/qti.zip", qti.export),  # QTI 2.1 (?version=1.2 Canvas, 3.0)
    web.get("/export/banks/{bank_id}/qti.zip", qti.export),
    web.get("/certificates/{number}.pdf", certificates.certificate_pdf),
    web.post("/webhooks/stripe", stripe_webhooks.stripe_webhook),  # the payment provider's events
    web.get("/sso/{provider}/login", sso.login),  # sign-in with an OpenID provider: to the provider
    web.get("/sso/{provider}/callback", sso.callback),  # and back: to the provider's return_url with a code
    web.get("/lti/jwks", lti.jwks),  # the LTI platform's public keys
    web.get("/lti/auth", lti.auth),  # the OIDC authorization endpoint of LTI launches
    web.post("/lti/auth", lti.auth),
    web.get("/calendar/{token}.ics", calendar_feed.feed),  # a learner's calendar feed (the token is the credential)
    *lti_services.routes(),  # what tools send: /lti/token, /lti/courses/{id}/lineitems…|memberships, /lti/deep-link
]
