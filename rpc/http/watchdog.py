"""The watchdog: every WATCH_EVERY seconds each server process ends analyst sessions whose
transaction is older than LMS_ANALYST_MAX_TRANSACTION_SECONDS (internal.end_runaway_analyst_sessions),
cancels at the payment provider the intents of canceled orders (rpc/workers/payments.py sweep), and removes
the bytes of deleted files (rpc/http/files.py remove_deleted; file.delete does it at once, this catches
deletions made elsewhere and any that failed).

Analysts may lift their own statement_timeout and idle_in_transaction_session_timeout (ordinary
settings); this is the bound they cannot lift. temp_file_limit (set on each login by `lms analyst
grant`, superuser-only) bounds the disk one of their statements may use.
"""

from __future__ import annotations

import asyncio
import logging

import psycopg
from aiohttp import web

from rpc.core.protocol import RpcError
from rpc.http import files
from rpc.http.service import RpcService
from rpc.workers import payments

log = logging.getLogger("rpc.watchdog")

WATCH_EVERY = 30.0


async def end_runaway_analyst_sessions(service: RpcService) -> int:
    async with service.db.pool.connection(timeout=5.0) as conn:
        ((ended,),) = await service.db.run_as(conn, "select internal.end_runaway_analyst_sessions()")
    if ended:
        log.warning("ended %d analyst session(s) whose transaction was older than analyst_max_transaction_seconds "
                    "(app.settings)", ended)
    return ended


async def _watch(service: RpcService, stores: dict) -> None:
    async def remove_deleted(service: RpcService) -> int:
        return await files.remove_deleted(service, stores)
    tasks = (("analyst watchdog", end_runaway_analyst_sessions), ("payments sweep", payments.sweep),
             ("file removal", remove_deleted))
    while True:
        await asyncio.sleep(WATCH_EVERY)
        for name, task in tasks:
            try:
                await task(service)
            except (psycopg.Error, OSError, TimeoutError, RpcError) as exc:  # the database is away: next round
                log.warning("%s: %s", name, exc)
            except Exception as exc:  # noqa: BLE001 — never let the watchdog die silently
                log.exception("%s failed: %s", name, exc)


def setup(app: web.Application, service: RpcService) -> None:
    async def lifecycle(app: web.Application):
        task = asyncio.get_running_loop().create_task(_watch(service, app[files.STORAGES]))
        yield
        task.cancel()

    app.cleanup_ctx.append(lifecycle)
