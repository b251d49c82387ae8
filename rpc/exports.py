"""`GET /export/courses/{course_id}/gradebook.csv`: a whole course's gradebook, streamed.

For when an instructor really wants everything (gradebook.course pages it). The database decides:
`internal.gradebook_export(course_id)` runs as lms_api for the caller (bearer token, the same
identity as every JSON-RPC call: role, timeouts and `internal.set_caller` in one transaction) and
raises 401/403/404 before its first row. PostgreSQL writes the CSV itself (`COPY … TO STDOUT WITH
(FORMAT csv, HEADER)`), and the server passes each chunk on as it arrives, so its memory stays flat
however large the course. The first row is read before the response starts, so a refusal is still a
proper JSON error (the files endpoints' shape); a failure after that cuts the download short.

One row per student and quiz or assignment, students by full name (columns: see the SQL function).
"""

from __future__ import annotations

import logging
import uuid

import psycopg
from aiohttp import web
from psycopg import sql
from psycopg_pool import PoolTimeout

from rpc import errors
from rpc.db import API_ROLE, SET_CALLER
from rpc.files import caller_context, error_body, rpc_error_response
from rpc.protocol import RpcError
from rpc.service import SERVICE

log = logging.getLogger("rpc.exports")

EXPORT_STATEMENT_TIMEOUT = "300s"  # a whole course, not one call: bounded, but not by the per-call limit
EXPORT_COST = 10  # units of the caller's per-address budget (rpc/db.py), like a heavy method
RATE_TAKE = "select internal.rate_take(%s, %s)"


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
    response: web.StreamResponse | None = None
    header: bytes | None = None
    try:
        async with service.db.pool.connection() as conn:
            async with conn.transaction():
                await conn.execute(RATE_TAKE, [context.bucket, EXPORT_COST])
            async with conn.transaction():
                await conn.execute(SET_CALLER, [API_ROLE, EXPORT_STATEMENT_TIMEOUT, service.db.lock_timeout,
                                                context.user_id, context.client_addr, []])
                async with conn.cursor().copy(copy_sql) as copy:
                    async for chunk in copy:
                        if response is None:
                            # COPY sends the header line before the query's first row: hold it until
                            # that row (or the end) shows the check passed.
                            if header is None:
                                header = bytes(chunk)
                                continue
                            response = await start(request, course_id, header)
                        await response.write(bytes(chunk))
    except PoolTimeout:
        if response is None:
            return rpc_error_response(errors.unavailable())
        raise
    except psycopg.Error as exc:
        if response is None:
            return rpc_error_response(errors.from_database(exc))
        log.warning("gradebook export cut short: %s", exc.sqlstate)
        raise
    if response is None:  # no student: the header line alone
        response = await start(request, course_id, header or b"")
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
    app.router.add_get("/export/courses/{course_id}/gradebook.csv", gradebook_csv)
