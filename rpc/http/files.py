"""`POST /files` and `GET /files/{file_id}`: the bytes of uploads (API.md "file — uploads").

The database decides, the server carries bytes:

Upload — 1. `internal.file_upload_begin` (as lms_api for the caller, the same call path as every
JSON-RPC method, rpc/db/calls.py) says whether the caller may attach a file to that course/assignment
and how much of their quota is left, and records the random storage path as an upload under way
(committed); 2. the `file` part is streamed to storage in chunks, SHA-256 and size computed on the
way, cut off past LMS_MAX_UPLOAD_BYTES (413) or the quota (422), its type judged from the leading
bytes (415); 3. `internal.file_upload_finish` writes the row in one transaction. On any failure the
bytes are removed and the upload forgotten; a crash leaves an upload row that `lms db maintain`
turns into removed bytes (rpc/workers/storage.py sweep).

Type: the `filetype` library (pure Python, no native libmagic, reads at most the first 8 KiB and
knows the office formats inside ZIP containers); no match + valid UTF-8 without control bytes is
text/plain. The type must be in LMS_UPLOAD_ALLOWED_TYPES and agree with the part's Content-Type.

Download — `internal.file_for_download` reads the row under RLS (404 for anyone it hides), then the
bytes stream from storage: Content-Type, Content-Length, Content-Disposition with the sanitised
original name (RFC 6266: an ASCII fallback and filename*=UTF-8''…), ETag = the SHA-256, one byte
range per request (206; several ranges → the whole file, 200), If-None-Match → 304.

Errors are JSON: {"error": {"code": <http status>, "message": …, "data": {"reason": …}}}.
"""

from __future__ import annotations

import asyncio
import codecs
import hashlib
import json
import logging
import re
import unicodedata
import uuid
from urllib.parse import quote

import filetype
import psycopg
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from psycopg_pool import PoolTimeout

from rpc.core import errors
from rpc.core.protocol import INVALID_PARAMS, UNAVAILABLE, RpcError
from rpc.db.calls import CallContext
from rpc.http.service import SERVICE, RpcService
from rpc.http.views import client_address
from rpc.workers.storage import CHUNK, Storage, make_storage

log = logging.getLogger("rpc.files")

HEAD_BYTES = 8192  # what the type is judged from
STORAGE = web.AppKey("storage", Storage)
BEGIN = "select internal.file_upload_begin(%s, %s, %s, %s)"
FINISH = "select internal.file_upload_finish(%s, %s, %s, %s, %s, %s, %s)"
ABANDON = "select internal.file_upload_abandon(%s)"
LOOKUP = "select internal.file_for_download(%s)"
DELETIONS_DUE = "select internal.storage_deletions_due(%s)"
DELETIONS_DONE = "select internal.storage_deletions_done(%s::uuid[])"
INLINE = ("image/", "video/", "audio/", "application/pdf", "text/plain")
ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "audio/mp3": "audio/mpeg",
           "application/x-pdf": "application/pdf", "application/x-zip-compressed": "application/zip",
           "application/x-zip": "application/zip"}


class HttpError(Exception):
    def __init__(self, status: int, reason: str, message: str):
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


def error_body(status: int, reason: str, message: str, **data) -> web.Response:
    return web.json_response({"error": {"code": status, "message": message, "data": {"reason": reason, **data}}},
                             status=status)


def http_status(exc: RpcError) -> int:
    if exc.code in errors.APPLICATION_CODES or 400 <= exc.code < 600:
        return exc.code
    return {INVALID_PARAMS: 400, UNAVAILABLE: 503}.get(exc.code, 500)


def rpc_error_response(exc: RpcError) -> web.Response:
    data = dict(exc.data or {})
    headers = {"Retry-After": str(data["retry_after"])} if "retry_after" in data else {}
    response = web.json_response({"error": {"code": http_status(exc), "message": exc.message, "data": data}},
                                 status=http_status(exc))
    response.headers.update(headers)
    return response


async def sql(service: RpcService, query: str, values: list, context: CallContext, secret: bool = False):
    """One internal function as lms_api for the caller (rpc/db/calls.py); database errors as RpcError.
    `secret`: a value is a secret (a token), bound server-side so it is never in a statement's text."""
    try:
        return await service.db.call(query, values, context, secret=secret)
    except PoolTimeout:
        raise errors.unavailable() from None
    except psycopg.Error as exc:
        if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)) and exc.sqlstate is None:
            service.db.connection_lost()
        raise errors.from_database(exc) from None


def caller_context(request: web.Request, service: RpcService) -> CallContext:
    caller = service.tokens.verify(request.headers.get("Authorization"))  # RpcError 401 when invalid
    return CallContext(caller.user_id, client_address(request, service.proxies))


def clean_filename(name: str | None) -> str:
    """The name as kept: the last path segment, no control characters, 1..255 characters."""
    name = re.split(r"[/\\]", name or "")[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip().strip(".")
    return name[:255] or "file"


def looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)  # a cut multibyte tail is fine
    except UnicodeDecodeError:
        return False
    return not any(b < 32 and b not in (9, 10, 12, 13) or b == 127 for b in head)


def judge_type(head: bytes, declared: str | None, allowed: list[str]) -> str:
    """The file's MIME type from its leading bytes; HttpError 415 outside the allow-list or when
    the client's Content-Type says otherwise."""
    kind = filetype.guess_mime(head)
    if kind is None and looks_like_text(head):
        kind = "text/plain"
    if kind is None or kind not in allowed:
        raise HttpError(415, "unsupported_type", f"files of type {kind or 'unknown'} are not accepted")
    said = (declared or "").split(";")[0].strip().lower()
    said = ALIASES.get(said, said)
    if said and said != "application/octet-stream" and said != kind \
            and not ((said.startswith("text/") or said == "application/xml") and kind == "text/plain"):
        raise HttpError(415, "type_mismatch", f"the content is {kind}, not {said}")
    return kind


async def upload(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE]
    storage = request.app[STORAGE]
    limit = request.app[LIMITS].get("max_upload_bytes")  # as the database said at the last upload's start
    try:
        context = caller_context(request, service)
        if limit is not None and request.content_length is not None and request.content_length > limit + 64 * 1024:
            raise HttpError(413, "file_too_large", f"files are limited to {limit} bytes")
        try:
            reader = await request.multipart()
        except (AssertionError, ValueError, KeyError):
            raise HttpError(400, "invalid_upload", "send multipart/form-data") from None
        targets = {k: request.query.get(k) for k in ("course_id", "assignment_id")}
        part = None
        while True:
            try:
                part = await reader.next()
            except (ValueError, LookupError, AssertionError, HttpProcessingError) as exc:  # InvalidHeader (a NUL)…
                raise HttpError(400, "invalid_upload", "the multipart body is malformed") from exc
            if part is None:
                raise HttpError(400, "invalid_upload", "no `file` part (course_id/assignment_id go before it)")
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "file":
                break
            if part.name in targets:
                targets[part.name] = (await part.read_chunk(200)).decode("utf-8", "replace").strip() or None
        try:
            course_id, assignment_id = (str(uuid.UUID(v)) if v else None for v in targets.values())
        except ValueError:
            raise HttpError(400, "invalid_upload", "course_id and assignment_id are uuids") from None
        return await _store(request, service, storage, context, part, course_id, assignment_id)
    except HttpError as exc:
        return error_body(exc.status, exc.reason, exc.message)
    except RpcError as exc:
        return rpc_error_response(exc)


async def _store(request, service, storage: Storage, context, part, course_id, assignment_id) -> web.Response:
    settings = service.settings
    path = storage.new_path()
    # The limits are the database's (app.settings), the same for every process: begin returns them.
    begun = await sql(service, BEGIN, [course_id, assignment_id, storage.provider, path], context)
    upload_id, quota_left = begun["upload_id"], int(begun["quota_left"])
    max_bytes, grace = int(begun["max_upload_bytes"]), int(begun["upload_grace_seconds"])
    request.app[LIMITS]["max_upload_bytes"] = max_bytes
    filename = clean_filename(part.filename)
    declared = part.headers.get("Content-Type")
    writer = None
    try:
        writer = await storage.create(path)
        digest, size, head, kind = hashlib.sha256(), 0, b"", None
        # The bytes must arrive within the upload grace: past it upkeep may claim the upload anyway.
        deadline = asyncio.get_running_loop().time() + grace
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    chunk = await part.read_chunk(CHUNK)
            except TimeoutError:
                raise HttpError(408, "upload_too_slow",
                                f"an upload must arrive within {grace} s") from None
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise HttpError(413, "file_too_large", f"files are limited to {max_bytes} bytes")
            if size > quota_left:
                raise RpcError(422, "the file does not fit in your storage quota", {"reason": "quota_exceeded"})
            if kind is None:
                head += chunk[:HEAD_BYTES - len(head)]
                if len(head) >= HEAD_BYTES:
                    kind = judge_type(head, declared, settings.upload_allowed_types)
            digest.update(chunk)
            await writer.write(chunk)
        if kind is None:
            kind = judge_type(head, declared, settings.upload_allowed_types)
        await writer.close()
        row = await sql(service, FINISH, [upload_id, course_id, assignment_id, filename, kind, size,
                                          digest.hexdigest()], context)
    except BaseException:
        await _discard(service, storage, writer, path, upload_id, context)
        raise
    return web.json_response(row, status=201)


async def _discard(service, storage: Storage, writer, path: str, upload_id, context) -> None:
    """A refused or failed upload leaves no bytes and no upload row (upkeep catches what this misses)."""
    try:
        if writer is not None:
            await writer.abort()
        else:
            await storage.delete(path)
        await sql(service, ABANDON, [upload_id], context)
    except Exception:  # noqa: BLE001 — best effort; `lms db maintain` removes the stray later
        log.warning("could not discard upload %s", upload_id, exc_info=True)


def content_disposition(kind: str, filename: str) -> str:
    """RFC 6266: an ASCII fallback in filename= and the real name (UTF-8) in filename*=."""
    disposition = "inline" if kind.startswith(INLINE) else "attachment"
    fallback = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    fallback = re.sub(r'[^A-Za-z0-9 ._()\[\]+-]', "_", fallback).strip() or "file"
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


RANGE = re.compile(r"^bytes=(\d{0,19})-(\d{0,19})$")  # longer numbers: not a range we can serve (ignored)


def byte_range(header: str | None, size: int) -> tuple[int, int] | None | bool:
    """(start, length) for one satisfiable range; None for none (or several: the whole file);
    False when unsatisfiable (416)."""
    if not header:
        return None
    m = RANGE.match(header.strip().replace(" ", ""))
    if not m or (not m.group(1) and not m.group(2)):
        return None
    first, last = m.group(1), m.group(2)
    if not first:  # the last N bytes
        n = int(last)
        if n == 0:
            return False
        start = max(0, size - n)
        return start, size - start
    start = int(first)
    if start >= size:
        return False
    end = min(int(last), size - 1) if last else size - 1
    if end < start:
        return None
    return start, end - start + 1


async def download(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE]
    try:
        try:
            file_id = str(uuid.UUID(request.match_info["file_id"]))
        except ValueError:
            raise HttpError(404, "not_found", "file not found") from None
        context = caller_context(request, service)
        meta = await sql(service, LOOKUP, [file_id], context)
    except HttpError as exc:
        return error_body(exc.status, exc.reason, exc.message)
    except RpcError as exc:
        return rpc_error_response(exc)
    stores = request.app[STORAGES]
    storage = stores.get(meta["storage_provider"])
    if storage is None:
        return error_body(503, "storage_unavailable", "the file's storage is not configured on this server")
    size, kind = int(meta["file_size"]), meta["content_type"]
    etag = f'"{meta["sha256"]}"' if meta.get("sha256") else None
    headers = {"Content-Type": kind + ("; charset=utf-8" if kind == "text/plain" else ""),
               "Content-Disposition": content_disposition(kind, meta["filename"]),
               "Accept-Ranges": "bytes", "Cache-Control": "private, max-age=0",
               "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}
    if etag:
        headers["ETag"] = etag
        if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
            return web.Response(status=304, headers={"ETag": etag})
    wanted = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range.strip() != etag:
        wanted = None  # the client's copy is another version: send the whole file
    span = byte_range(wanted, size)
    if span is False:
        response = rpc_error_response(RpcError(416, "the range is outside the file",
                                               {"reason": "range_not_satisfiable"}))
        response.headers.update({"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"})
        return response
    status, start, length = 200, 0, size
    if span:
        status, (start, length) = 206, span
        headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = length
    await response.prepare(request)
    if request.method != "HEAD":
        async for chunk in storage.read(meta["storage_path"], start, length):
            await response.write(chunk)
    await response.write_eof()
    return response


STORAGES = web.AppKey("storages", dict)
LIMITS = web.AppKey("upload_limits", dict)  # the last max_upload_bytes the database gave: an early 413


async def remove_deleted(service: RpcService, stores: dict[str, Storage], limit: int = 100) -> int:
    """Remove the bytes of deleted files (every storage configured here), then let the database forget
    them, which frees their uploader's quota: right after file.delete, and every 30 s (rpc/http/watchdog.py)
    for deletions made elsewhere. Removing bytes already gone succeeds, so two servers may race."""
    context = CallContext(None, None, cost=0)
    listed = await service.db.call(DELETIONS_DUE, [limit], context)
    done = []
    for item in json.loads(listed) if isinstance(listed, str) else listed:
        store = stores.get(item["storage_provider"])
        if store is not None:  # a storage not configured here: left for a server (or maintain) that has it
            await store.delete(item["storage_path"])
            done.append(item["id"])
    if done:
        await service.db.call(DELETIONS_DONE, [done], context)
    return len(done)


def setup_hooks(service: RpcService, stores: dict[str, Storage]) -> None:
    """file.delete removes the deleted file's bytes right after its transaction committed."""
    async def after_file_delete(service: RpcService, result, context):
        try:
            await remove_deleted(service, stores)
        except Exception as exc:  # noqa: BLE001 — the file is deleted either way; the 30 s round tries again
            log.warning("removing deleted files' bytes: %s", exc)
        return result

    service.hooks["file.delete"] = after_file_delete


def setup(app: web.Application, settings) -> None:
    """The storages of the file endpoints and their after-commit hook (called by the app factory)."""
    from rpc.workers.storage import storages

    stores = storages(settings)
    app[STORAGES] = stores
    app[STORAGE] = make_storage(settings, stores)
    app[LIMITS] = {}
    setup_hooks(app[SERVICE], stores)

    async def close_storages(app: web.Application) -> None:
        for store in stores.values():
            await store.close()

    app.on_cleanup.append(close_storages)


__all__ = ["upload", "download", "setup", "judge_type", "content_disposition", "byte_range", "clean_filename"]
