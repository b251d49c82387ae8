"""Where the bytes of uploaded files live: one small interface (Storage), two implementations.

- `LocalStorage`: files under LMS_HOME/files (LMS_FILES_DIR), directory 0700, each object 0600,
  created exclusively under a random name (never the user's filename). Reads and writes go to a
  worker thread chunk by chunk, so the event loop never blocks on the disk and nothing is held
  whole in memory.
- `S3Storage`: an S3-compatible bucket (LMS_S3_BUCKET, LMS_S3_ENDPOINT_URL for MinIO/Ceph/…), chosen
  for new uploads when LMS_S3_BUCKET is set; the object key is the same random name. Client library:
  aiobotocore — botocore itself (AWS's request signing, the whole credential chain: AWS_* env,
  ~/.aws profiles, SSO, instance/task roles; retries; the S3 multipart API) running on aiohttp, the
  server's own HTTP stack, so S3 calls are coroutines on the server's event loop (no thread per
  request as with boto3, no second HTTP stack, no extra layer as aioboto3/s3fs add on top of it).
  Uploads are multipart: at most one part (PART_SIZE, 8 MiB; S3's minimum is 5 MiB) is buffered,
  each full part is sent as it fills; a file smaller than one part is one PutObject. A failure aborts
  the multipart upload (and deletes a completed object), so no bytes remain. Downloads stream through
  the server (ranged GetObject), not by redirect to a presigned URL: the response stays identical to
  local storage (RFC 6266 Content-Disposition, ETag = SHA-256, 304, one byte range, nosniff/sandbox
  headers), the database decides on every request including each Range, the bucket never needs to be
  reachable from clients, and no bearer URL can be shared or logged for its lifetime.

Rows record which storage holds their bytes (`storage_provider`: 'local' or 's3'); every configured
storage stays readable, so files uploaded before LMS_S3_BUCKET was set are still served from disk.

`sweep` is the Python half of `lms db maintain` for storage: the database lists the objects to
remove (app.storage_pending: bytes of deleted files, uploads that never got their row), this
removes the bytes and then tells the database they are gone.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rpc.core.config import Settings

CHUNK = 256 * 1024
PART_SIZE = 8 * 1024 * 1024  # S3 multipart: every part but the last >= 5 MiB; at most this much buffered


class Writer(abc.ABC):
    """An object being written; `abort` removes what was written."""

    @abc.abstractmethod
    async def write(self, chunk: bytes) -> None:
        """Append one chunk (the implementation decides how much it buffers: at most one part)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish the object: after this it exists whole."""

    @abc.abstractmethod
    async def abort(self) -> None:
        """Give up: nothing written so far remains."""


class Storage(abc.ABC):
    """The interface: new random names, streamed writes, ranged reads, idempotent deletes."""

    provider = "none"

    def new_path(self) -> str:
        return secrets.token_hex(20)

    @abc.abstractmethod
    async def create(self, path: str) -> Writer:
        """A writer for a new object at `path` (never an existing one)."""

    @abc.abstractmethod
    def read(self, path: str, start: int, length: int) -> AsyncIterator[bytes]:
        """`length` bytes from `start`, in chunks."""

    @abc.abstractmethod
    async def delete(self, path: str) -> None:
        """Remove the object; an object already gone is fine."""

    @abc.abstractmethod
    async def exists(self, path: str) -> bool:
        """Whether an object is stored at `path`."""

    async def close(self) -> None:  # noqa: B027 — optional hook: only S3 holds connections
        """Release connections (the app's cleanup, the end of a sweep)."""


def _check_path(path: str) -> str:
    if not path or not all(c in "0123456789abcdef" for c in path):  # our own random names only
        raise ValueError("not a storage path")
    return path


class _LocalWriter(Writer):
    def __init__(self, storage: LocalStorage, path: str, fd: int):
        self.storage, self.path, self.fd = storage, path, fd

    async def write(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            written = await asyncio.to_thread(os.write, self.fd, view)
            view = view[written:]

    async def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            await asyncio.to_thread(_fsync_close, fd)

    async def abort(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)
        await self.storage.delete(self.path)


def _fsync_close(fd: int) -> None:
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStorage(Storage):
    provider = "local"

    def __init__(self, root: Path):
        self.root = Path(root)

    def _file(self, path: str) -> Path:
        return self.root / _check_path(path)

    async def create(self, path: str) -> Writer:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self._file(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
        return _LocalWriter(self, path, fd)

    async def read(self, path: str, start: int, length: int) -> AsyncIterator[bytes]:
        fd = await asyncio.to_thread(os.open, self._file(path), os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            offset, left = start, length
            while left > 0:
                chunk = await asyncio.to_thread(os.pread, fd, min(CHUNK, left), offset)
                if not chunk:
                    raise OSError(f"object {path} is shorter than recorded")
                offset += len(chunk)
                left -= len(chunk)
                yield chunk
        finally:
            os.close(fd)

    async def delete(self, path: str) -> None:
        try:
            await asyncio.to_thread(os.unlink, self._file(path))
        except FileNotFoundError:
            pass

    async def exists(self, path: str) -> bool:
        return self._file(path).exists()


class _S3Writer(Writer):
    """A multipart upload fed part by part; a file smaller than one part is a single PutObject."""

    def __init__(self, storage: S3Storage, key: str):
        self.storage, self.key = storage, key
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict] = []
        self.finished = False

    async def write(self, chunk: bytes) -> None:
        self.buffer += chunk
        if len(self.buffer) >= PART_SIZE:
            await self._send_part()

    async def _send_part(self) -> None:
        client = await self.storage.client()
        body, self.buffer = bytes(self.buffer), bytearray()
        if self.upload_id is None:
            started = await client.create_multipart_upload(Bucket=self.storage.bucket, Key=self.key)
            self.upload_id = started["UploadId"]
        number = len(self.parts) + 1
        sent = await client.upload_part(Bucket=self.storage.bucket, Key=self.key, UploadId=self.upload_id,
                                        PartNumber=number, Body=body)
        self.parts.append({"PartNumber": number, "ETag": sent["ETag"]})

    async def close(self) -> None:
        client = await self.storage.client()
        if self.upload_id is None:
            body, self.buffer = bytes(self.buffer), bytearray()
            await client.put_object(Bucket=self.storage.bucket, Key=self.key, Body=body)
        else:
            if self.buffer:
                await self._send_part()
            await client.complete_multipart_upload(Bucket=self.storage.bucket, Key=self.key,
                                                   UploadId=self.upload_id, MultipartUpload={"Parts": self.parts})
        self.finished = True

    async def abort(self) -> None:
        self.buffer = bytearray()
        if self.upload_id is not None and not self.finished:
            client = await self.storage.client()
            try:
                await client.abort_multipart_upload(Bucket=self.storage.bucket, Key=self.key, UploadId=self.upload_id)
            except client.exceptions.NoSuchUpload:
                pass
        await self.storage.delete(self.key)  # a completed object (the row could not be written), or nothing


class S3Storage(Storage):
    """An S3-compatible bucket through aiobotocore. The client is made on first use, in the running
    event loop (one per storage object), and released by `close`."""

    provider = "s3"

    def __init__(self, bucket: str, endpoint_url: str | None = None):
        self.bucket, self.endpoint_url = bucket, endpoint_url
        self._client = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._lock: asyncio.Lock | None = None

    async def client(self):
        if self._client is None:
            if self._lock is None:
                self._lock = asyncio.Lock()
            async with self._lock:
                if self._client is None:
                    from aiobotocore.config import AioConfig
                    from aiobotocore.session import get_session

                    config = AioConfig(s3={"addressing_style": "path"} if self.endpoint_url else {},
                                       retries={"max_attempts": 3, "mode": "standard"})
                    stack = contextlib.AsyncExitStack()
                    self._client = await stack.enter_async_context(
                        get_session().create_client("s3", endpoint_url=self.endpoint_url, config=config))
                    self._stack = stack
        return self._client

    async def create(self, path: str) -> Writer:
        return _S3Writer(self, _check_path(path))

    async def read(self, path: str, start: int, length: int) -> AsyncIterator[bytes]:
        if length <= 0:
            return
        client = await self.client()
        got = await client.get_object(Bucket=self.bucket, Key=_check_path(path),
                                      Range=f"bytes={start}-{start + length - 1}")
        sent = 0
        async with got["Body"] as body:
            async for chunk in body.iter_chunks(CHUNK):
                sent += len(chunk)
                yield chunk
        if sent != length:
            raise OSError(f"object {path} is shorter than recorded")

    async def delete(self, path: str) -> None:
        client = await self.client()
        await client.delete_object(Bucket=self.bucket, Key=_check_path(path))  # a missing key is fine in S3

    async def exists(self, path: str) -> bool:
        from botocore.exceptions import ClientError

        client = await self.client()
        try:
            await client.head_object(Bucket=self.bucket, Key=_check_path(path))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()


def storages(settings: Settings) -> dict[str, Storage]:
    """Every configured storage by provider name (the rows say which holds an object): local always
    (files stored before S3 was configured stay readable), S3 when LMS_S3_BUCKET is set."""
    found: dict[str, Storage] = {"local": LocalStorage(settings.files_dir or settings.home / "files")}
    if settings.s3_bucket:
        found["s3"] = S3Storage(settings.s3_bucket, settings.s3_endpoint_url)
    return found


def make_storage(settings: Settings, stores: dict[str, Storage] | None = None) -> Storage:
    """The storage new uploads go to: S3 when LMS_S3_BUCKET is set, else local disk."""
    stores = stores if stores is not None else storages(settings)
    return stores["s3" if settings.s3_bucket else "local"]


def _run(coro):
    """Run a coroutine to its end from synchronous code (in a thread of its own inside a running loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def sweep(conn, settings: Settings) -> dict:
    """`lms db maintain`, storage step: remove the bytes the database lists as due (deleted files,
    uploads older than LMS_UPLOAD_GRACE_SECONDS without their row), then forget them. `conn` is a
    psycopg connection of a role that may become lms_owner. Safe to repeat: a delete of bytes
    already gone succeeds, and rows are forgotten only after their bytes are removed."""
    with conn.transaction():  # the claim commits first: a late finish of a stray upload now fails
        conn.execute("select set_config('role', 'lms_owner', true)")
        rows = conn.execute("select id, storage_provider, storage_path from internal.storage_pending_due()").fetchall()
    stores = storages(settings)

    async def remove() -> tuple[list, int]:
        done, kept = [], 0
        try:
            for row_id, provider, path in rows:
                store = stores.get(provider)
                if store is None:
                    kept += 1  # a storage not configured here: leave it for a server that has it
                    continue
                await store.delete(path)
                done.append(row_id)
        finally:
            for store in stores.values():
                await store.close()
        return done, kept

    done, kept = _run(remove()) if rows else ([], 0)
    if done:
        with conn.transaction():
            conn.execute("select set_config('role', 'lms_owner', true)")
            conn.execute("select internal.storage_pending_done(%s)", [done])
    return {"objects_removed": len(done), "objects_left_for_another_storage": kept}


__all__ = ["Storage", "Writer", "LocalStorage", "S3Storage", "PART_SIZE", "make_storage", "storages", "sweep", "CHUNK"]
