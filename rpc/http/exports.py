"""`GET /export/courses/{course_id}/gradebook.csv`: a whole course's gradebook, streamed.

For when an instructor really wants everything (gradebook.course pages it). The database decides:
`internal.gradebook_export(course_id)` runs as lms_api for the caller (bearer token, the same
identity as every JSON-RPC call: role, timeouts and `internal.set_caller` in one transaction) and
raises 401/403/404 before its first row. PostgreSQL writes the CSV itself (`COPY … TO STDOUT WITH
(FORMAT csv, HEADER)`; text cells through internal.csv_cell, so no cell runs as a spreadsheet
formula).

A client that reads slowly must not hold a pooled connection (issue 26 §3): the CSV is spooled to a
temporary file (in memory up to SPOOL_IN_MEMORY bytes, then on disk: the server's memory stays flat
however large the course) and the connection goes back to the pool before the first byte is sent.
At most EXPORTS_AT_ONCE exports per process read from the database at a time, one per user, and the
whole file must be taken within EXPORT_SEND_SECONDS, or the connection is closed. A refusal is a
proper JSON error (the files endpoints' shape).

One row per student and quiz or assignment, students by full name (columns: see the SQL function).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import uuid
from dataclasses import dataclass, field

import psycopg
from aiohttp import web
from psycopg import sql
from psycopg_pool import PoolTimeout

from rpc.core import errors
from rpc.core.protocol import RpcError
from rpc.db.calls import RATE_TAKE
from rpc.http.files import caller_context, error_body, rpc_error_response
from rpc.http.service import SERVICE

log = logging.getLogger("rpc.exports")

EXPORT_STATEMENT_TIMEOUT = "300s"  # a whole course, not one call: bounded, but not by the per-call limit
EXPORT_COST = 10  # units of the caller's per-address budget (rpc/db/calls.py), like a heavy method
EXPORTS_AT_ONCE = 2  # per process: exports never take more pooled connections than this
EXPORT_WAIT_SECONDS = 10.0  # for a free export slot, else 503
EXPORT_SEND_SECONDS = 300.0  # the client must have taken the whole file by then
SPOOL_IN_MEMORY = 1 << 20
SEND_CHUNK = 64 * 1024


@dataclass
class Exports:
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(EXPORTS_AT_ONCE))
    users: set = field(default_factory=set)  # users with an export under way (one each)


EXPORTS = web.AppKey("exports", Exports)


async def gradebook_csv(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE]
    try:
        course_id = uuid.UUID(request.match_info["course_id"])
    except ValueError:
        return error_body(404, "not_found", "course not found")
    try:
        context = caller_context(request, service)
    except RpcError as exc:
        return rpc_error_response(exc)
    copy_sql = sql.SQL("copy (select * from internal.gradebook_export({})) to stdout with (format csv, header)").format(
        sql.Literal(str(course_id)))
    exports = request.app[EXPORTS]
    if context.user_id is not None and context.user_id in exports.users:
        return rpc_error_response(RpcError(429, "one export at a time: yours is still under way",
                                           {"reason": "export_in_progress"}))
    exports.users.add(context.user_id)
    try:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
            refusal = await _spool(service, exports, context, copy_sql, spool)
            if refusal is not None:
                return refusal
            spool.seek(0)
            return await _send(request, course_id, spool)
    finally:
        exports.users.discard(context.user_id)


async def _spool(service, exports: Exports, context, copy_sql, spool) -> web.Response | None:
    """COPY the CSV into `spool` (the pooled connection is held only for this) → None, or the
    JSON error to answer with."""
    try:
        async with asyncio.timeout(EXPORT_WAIT_SECONDS):
            await exports.slots.acquire()
    except TimeoutError:
        return rpc_error_response(errors.unavailable())
    try:
        async with service.db.pool.connection() as conn:
            async with conn.transaction():
                await conn.execute(RATE_TAKE, [context.bucket, EXPORT_COST])
            async with conn.transaction():
                await conn.execute(*service.db.preamble(context, statement_timeout=EXPORT_STATEMENT_TIMEOUT))
                async with conn.cursor().copy(copy_sql) as copy:
                    async for chunk in copy:
                        spool.write(chunk)
    except PoolTimeout:
        return rpc_error_response(errors.unavailable())
    except psycopg.Error as exc:
        return rpc_error_response(errors.from_database(exc))
    finally:
        exports.slots.release()
    return None


async def _send(request: web.Request, course_id: uuid.UUID, spool) -> web.StreamResponse:
    response = await start(request, course_id, b"")
    if request.method == "HEAD":  # the headers GET would send, no body (one would desync the connection)
        await response.write_eof()
        return response
    try:
        async with asyncio.timeout(EXPORT_SEND_SECONDS):
            while chunk := spool.read(SEND_CHUNK):
                await response.write(chunk)
    except TimeoutError:
        log.warning("gradebook export: the client took more than %.0f s; closing", EXPORT_SEND_SECONDS)
        if request.transport is not None:
            request.transport.abort()
        return response
    await response.write_eof()
    return response


async def start(request: web.Request, course_id: uuid.UUID, first: bytes) -> web.StreamResponse:
    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="gradebook-{course_id}.csv"',
        "Cache-Control": "no-store"})
    await response.prepare(request)
    await response.write(first)
    return response


def setup(app: web.Application) -> None:
    app[EXPORTS] = Exports()
