"""Upload/download throughput and the server's peak memory for small vs large files (issue 17).

    python -m bench.files_bench [--large-mb 200] [--small-mb 1] [--small-count 20]

Starts a throw-away cluster and `lms serve` as a separate process (local disk storage), signs in a
demo instructor, then: uploads `--small-count` files of `--small-mb` MB and downloads them, reading the
server's peak RSS (VmHWM) afterwards; then one file of `--large-mb` MB, up and down, and the peak RSS
again. The client streams from and to disk, so only the server's memory is measured. Prints MB/s each way
and the peaks: a streamed server's peak must not grow with the file size.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psycopg

from rpc.core.auth import TokenService
from rpc.db.cluster import Cluster, free_port
from rpc.db.migrate import Migrator

SECRET = "bench-" + "x" * 40
SETUP = """
select set_config('role', 'lms_definer', true);
insert into app.courses (id, instructor_id, title)
select 'f0000000-0000-4000-8000-000000000001',
       internal.create_user('bench-files@example.test', 'bench-password-1', 'Bench Instructor', 'instructor'), 'Files';
"""
COURSE = "f0000000-0000-4000-8000-000000000001"


def peak_rss_mb(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def make_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    block = os.urandom(1024 * 1024)
    with path.open("wb") as f:
        head = b"%PDF-1.7\n"
        f.write(head)
        digest.update(head)
        left = size - len(head)
        while left > 0:
            part = block[:left]
            f.write(part)
            digest.update(part)
            left -= len(part)
    return digest.hexdigest()


async def up_and_down(base: str, token: str, path: Path) -> tuple[float, float, str]:
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=3600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        started = time.perf_counter()
        with path.open("rb") as f:
            form = aiohttp.FormData()
            form.add_field("course_id", COURSE)
            form.add_field("file", f, filename=path.name, content_type="application/pdf")
            async with session.post(base + "/files", data=form, headers=headers) as resp:
                body = await resp.json()
                assert resp.status == 201, body
        up = time.perf_counter() - started
        started = time.perf_counter()
        digest = hashlib.sha256()
        async with session.get(f"{base}/files/{body['file_id']}", headers=headers) as resp:
            assert resp.status == 200
            async for chunk in resp.content.iter_chunked(256 * 1024):
                digest.update(chunk)
        down = time.perf_counter() - started
        assert digest.hexdigest() == body["sha256"]
        return up, down, body["sha256"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large-mb", type=int, default=200)
    parser.add_argument("--small-mb", type=int, default=1)
    parser.add_argument("--small-count", type=int, default=20)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="lms-files-bench-"))
    workdir.chmod(0o755)
    cluster = Cluster(workdir / "pg", durable=False)
    cluster.init()
    cluster.start()
    server = None
    try:
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
            conn.execute("create database bench")
        url = cluster.url("bench")
        migrator = Migrator(url, seeds={"max_upload_bytes": (args.large_mb + 1) << 20, "file_quota_bytes": 1 << 40})
        migrator.migrate()  # a fresh database: the seeds become its app.settings
        migrator.close()
        with psycopg.connect(url) as conn:
            for statement in SETUP.strip().split(";\n"):
                conn.execute(statement)
            (uid,) = conn.execute("select instructor_id from app.courses where id = %s", [COURSE]).fetchone()
            conn.commit()
        token, _ = TokenService(SECRET, 3600).sign({"sub": str(uid), "role": "instructor"})
        port = free_port()
        env = {**os.environ, "LMS_ENVIRONMENT": "development",
               "DATABASE_URL": url, "LMS_PORT": str(port), "LMS_JWT_SECRET": SECRET,
               "LMS_HOME": str(workdir / "home")}
        server = subprocess.Popen([sys.executable, "-m", "rpc"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/ready"], capture_output=True).returncode:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become ready")
            time.sleep(0.3)
        base = f"http://127.0.0.1:{port}"
        rss0, _ = peak_rss_mb(server.pid)
        small = workdir / "small.pdf"
        make_file(small, args.small_mb << 20)
        up = down = 0.0
        for _ in range(args.small_count):
            u, d, _ = asyncio.run(up_and_down(base, token, small))
            up, down = up + u, down + d
        mb = args.small_mb * args.small_count
        _, peak_small = peak_rss_mb(server.pid)
        print(f"server RSS at start: {rss0:.0f} MB")
        print(f"{args.small_count} × {args.small_mb} MB: upload {mb / up:.0f} MB/s, download {mb / down:.0f} MB/s; "
              f"server peak RSS {peak_small:.0f} MB")
        large = workdir / "large.pdf"
        make_file(large, args.large_mb << 20)
        u, d, _ = asyncio.run(up_and_down(base, token, large))
        _, peak_large = peak_rss_mb(server.pid)
        print(f"1 × {args.large_mb} MB: upload {args.large_mb / u:.0f} MB/s, download {args.large_mb / d:.0f} MB/s; "
              f"server peak RSS {peak_large:.0f} MB (+{peak_large - peak_small:.0f} MB over the small files)")
        return 0
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
        cluster.stop("immediate")
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
