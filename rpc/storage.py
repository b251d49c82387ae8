"""Where the bytes of uploaded files live: one small interface (Storage), local disk first.

- `LocalStorage`: files under LMS_HOME/files (LMS_FILES_DIR), directory 0700, each object 0600,
  created exclusively under a random name (never the user's filename). Reads and writes go to a
  worker thread chunk by chunk, so the event loop never blocks on the disk and nothing is held
  whole in memory.
- S3-compatible storage is the second implementation the interface is shaped for (not built yet:
  `make_storage` says so when LMS_S3_BUCKET is set).

`sweep` is the Python half of `lms db maintain` for storage: the database lists the objects to
remove (app.storage_pending: bytes of deleted files, uploads that never got their row), this
removes the bytes and then tells the database they are gone.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rpc.config import Settings

CHUNK = 256 * 1024


class Writer:
    """An object being written; `abort` removes what was written."""

    async def write(self, chunk: bytes) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def abort(self) -> None:
        raise NotImplementedError


class Storage:
    """The interface: new random names, streamed writes, ranged reads, idempotent deletes."""

    provider = "none"

    def new_path(self) -> str:
        return secrets.token_hex(20)

    async def create(self, path: str) -> Writer:
        raise NotImplementedError

    def read(self, path: str, start: int, length: int) -> AsyncIterator[bytes]:
        raise NotImplementedError

    async def delete(self, path: str) -> None:
        """Remove the object; an object already gone is fine."""
        raise NotImplementedError

    async def exists(self, path: str) -> bool:
        raise NotImplementedError


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
        if not path or not all(c in "0123456789abcdef" for c in path):  # our own random names only
            raise ValueError("not a storage path")
        return self.root / path

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


def make_storage(settings: Settings) -> Storage:
    """The storage new uploads go to."""
    return LocalStorage(settings.files_dir or settings.home / "files")


def storages(settings: Settings) -> dict[str, Storage]:
    """Every configured storage by provider name (the rows say which holds an object)."""
    local = LocalStorage(settings.files_dir or settings.home / "files")
    return {local.provider: local}


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
        rows = conn.execute("select id, storage_provider, storage_path "
                            "from internal.storage_pending_due(make_interval(secs => %s))",
                            [settings.upload_grace_seconds]).fetchall()
    stores = storages(settings)

    async def remove() -> tuple[list, int]:
        done, kept = [], 0
        for row_id, provider, path in rows:
            store = stores.get(provider)
            if store is None:
                kept += 1  # a storage not configured here: leave it for a server that has it
                continue
            await store.delete(path)
            done.append(row_id)
        return done, kept

    done, kept = _run(remove()) if rows else ([], 0)
    if done:
        with conn.transaction():
            conn.execute("select set_config('role', 'lms_owner', true)")
            conn.execute("select internal.storage_pending_done(%s)", [done])
    return {"objects_removed": len(done), "objects_left_for_another_storage": kept}


__all__ = ["Storage", "Writer", "LocalStorage", "make_storage", "storages", "sweep", "CHUNK"]
