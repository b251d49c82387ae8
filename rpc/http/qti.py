"""QTI packages (issue 33 §3): the server step of `quiz.import_qti`, and
`GET /export/quizzes/{quiz_id}/qti.zip` / `GET /export/banks/{bank_id}/qti.zip`.

Import: api.quiz_import_qti decides (the course's instructor or an admin, a file that is that course's
material) and says where the bytes are; this hook reads them from storage (bounded by the upload
limit), maps the package in a worker thread (rpc/workers/qti.py: defused XML, bounded archives), and
hands the mapped questions to internal.quiz_import_qti_finish as the same caller, which writes them
through quiz.add_question's validation in one transaction.

Export: internal.qti_export (401/403/404 like the JSON-RPC methods) gives the questions with their
keys; the package is QTI 2.1 unless `?version=1.2` (Canvas) or `?version=3.0` asks otherwise.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace

from aiohttp import web

from rpc.core.protocol import RpcError
from rpc.http.files import STORAGES, caller_context, error_body, rpc_error_response, sql
from rpc.http.service import SERVICE, RpcService
from rpc.workers import qti
from rpc.workers.storage import Storage

FINISH = "select internal.quiz_import_qti_finish(%s, %s, %s, %s, %s::jsonb, %s::jsonb, %s::jsonb)"
EXPORT = "select internal.qti_export(%s, %s)"
READING_AT_ONCE = asyncio.Semaphore(2)  # packages mapped at a time per process (CPU-bound, in threads)


async def file_bytes(store: Storage, path: str, size: int) -> bytes:
    chunks, total = [], 0
    async for chunk in store.read(path, 0, size):
        total += len(chunk)
        if total > size:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def setup_hooks(service: RpcService, stores: dict[str, Storage]) -> None:
    async def import_package(service: RpcService, found, context):
        if not isinstance(found, dict) or "storage_path" not in found:
            return found  # an error the function returned
        store = stores.get(found["storage_provider"])
        if store is None:
            raise RpcError(503, "the file's storage is not configured on this server", {"reason": "unavailable"})
        async with READING_AT_ONCE:
            data = await file_bytes(store, found["storage_path"], int(found["file_size"]))
            try:
                package = await asyncio.to_thread(qti.read_package, data)
            except qti.PackageError as exc:
                raise RpcError(422, exc.message, {"reason": exc.reason, "field": "file_id"}) from None
        title = found.get("title") or package.title or found["filename"].rsplit(".", 1)[0][:200] or "Imported quiz"
        result = await service.db.call(
            FINISH, [found["course_id"], found["target"], title, package.description, json.dumps(package.items),
                     json.dumps(package.unsupported), json.dumps(package.warnings)],
            replace(context, cost=0, given=()), True)
        return json.loads(result) if isinstance(result, str) else result

    service.hooks["quiz.import_qti"] = import_package


async def export(request: web.Request) -> web.Response:
    kind = "bank" if "bank_id" in request.match_info else "quiz"
    try:
        item_id = uuid.UUID(request.match_info[f"{kind}_id"])
    except ValueError:
        return error_body(404, "not_found", f"{kind} not found")
    version = request.query.get("version", "2.1")
    if version not in qti.VERSIONS:
        return error_body(400, "invalid_params", f"version: one of {', '.join(qti.VERSIONS)}", field="version")
    service = request.app[SERVICE]
    try:
        found = await sql(service, EXPORT, [kind, str(item_id)], caller_context(request, service))
    except RpcError as exc:
        return rpc_error_response(exc)
    if isinstance(found, str):
        found = json.loads(found)
    body = await asyncio.to_thread(qti.write_package, found, version)
    name = f"{kind}-{item_id}-qti{version.replace('.', '')}.zip"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store",
               "X-QTI-Version": version}
    if found.get("pools"):
        headers["X-Questions-Not-Exported"] = f"{found['pools']} pool(s): export their banks"
    return web.Response(body=body, content_type="application/zip", headers=headers)


def setup(app: web.Application) -> None:
    setup_hooks(app[SERVICE], app[STORAGES])


__all__ = ["export", "setup"]
