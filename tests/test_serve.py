"""The server as a process (`python -m rpc`): serves an existing database given by
DATABASE_URL, finishes in-flight calls on SIGTERM; and the embedded-cluster tooling explains
what to install when no PostgreSQL server binaries exist."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time

import aiohttp
import pytest

from rpc.db.cluster import ClusterError, find_bindir, free_port
from tests.helpers.fixtures import fixture_sql

SLEEPER = fixture_sql("test_sleep")


class Lines:
    """A process's output lines, read as they come (a thread), so a test can wait on one."""

    def __init__(self, proc: subprocess.Popen):
        self.seen: list[str] = []
        self.reader = threading.Thread(target=lambda: self.seen.extend(proc.stdout), daemon=True)
        self.reader.start()

    def all(self, timeout: float = 30) -> str:
        """Everything the process wrote, once it has exited and its output is read to the end."""
        self.reader.join(timeout)
        return self.text()

    def count(self, text: str) -> int:
        return sum(text in line for line in list(self.seen))

    def text(self) -> str:
        return "".join(self.seen)


@pytest.mark.parametrize("workers", [1, 2])
async def test_sighup_reloads_and_sigterm_finishes_in_flight_calls(db, tmp_path, workers):
    port = free_port()
    env = {**os.environ, "LMS_ENVIRONMENT": "development",
           "DATABASE_URL": db.url, "LMS_PORT": str(port), "LMS_HOME": str(tmp_path),
           "LMS_JWT_SECRET": "x" * 64, "LMS_WORKERS": str(workers)}
    proc = subprocess.Popen([sys.executable, "-m", "rpc"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines = Lines(proc)
    base = f"http://127.0.0.1:{port}"

    def sleeping() -> int:
        return db.execute("select count(*) from pg_stat_activity where query like '%test_sleep%'"
                          " and state = 'active' and pid <> pg_backend_pid()")[0][0]

    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 30
            while True:
                try:
                    async with session.get(base + "/ready") as resp:
                        if resp.status == 200 and lines.count("loaded ") >= workers:  # every worker's catalog
                            break
                except aiohttp.ClientError:
                    pass
                assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
                await asyncio.sleep(0.2)

            # Serving migrates (rebuilding the api schema); a method created afterwards appears on SIGHUP.
            db.execute(SLEEPER)
            proc.send_signal(signal.SIGHUP)
            while lines.count("loaded ") < 2 * workers:  # every worker has reloaded its catalog
                assert time.monotonic() < deadline and proc.poll() is None, "no reload after SIGHUP"
                await asyncio.sleep(0.05)

            async def slow_call():
                body = {"jsonrpc": "2.0", "method": "test.sleep", "params": {"ms": 1500}, "id": 1}
                async with session.post(base + "/rpc", json=body) as resp:
                    return await resp.json()

            tasks = [asyncio.create_task(slow_call()) for _ in range(4)]  # spread over the workers
            while sleeping() < 4:  # every call is in flight, in the database, before the SIGTERM
                assert time.monotonic() < deadline and proc.poll() is None, "the calls did not start"
                await asyncio.sleep(0.02)
            proc.send_signal(signal.SIGTERM)
            for answer in await asyncio.gather(*tasks):
                assert answer.get("result") == {"slept": 1500}, answer
        assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_missing_server_binaries_say_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PG_BINDIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("glob.glob", lambda pattern: [])
    with pytest.raises(ClusterError, match="apt-get install postgresql-15"):
        find_bindir()


async def test_demo_data_loads_twice_and_its_logins_work(db, rpc):
    from rpc.db.demo import DEMO_PASSWORD, LOGINS, seed

    seed(db.url)
    seed(db.url)  # idempotent
    assert db.execute("select count(*) from app.users") == [(len(LOGINS),)]
    session = await rpc.ok("auth.login", {"email": "student1@demo.lms", "password": DEMO_PASSWORD})
    courses = await rpc.ok("course.list", {})
    assert {c["title"] for c in courses} == {"Introduction to SQL", "PostgreSQL internals"}
    enrollment = await rpc.ok("enrollment.enroll", {"course_id": "d0000000-0000-4000-8000-000000000001"},
                              session["access_token"])
    assert enrollment["is_active"] is True


async def test_a_killed_worker_is_reported_and_replaced_and_the_exit_says_so(db, tmp_path):
    """`lms serve --workers 2` exited 0 after a worker was SIGKILLed (max(0, -9) == 0) and never replaced
    it. Now the supervisor reports the death, starts a replacement (the port keeps answering), and the
    exit status after SIGTERM is 1 — and a SIGHUP sent right at start-up kills no worker."""
    port = free_port()
    env = {**os.environ, "LMS_ENVIRONMENT": "development",
           "DATABASE_URL": db.url, "LMS_PORT": str(port), "LMS_HOME": str(tmp_path),
           "LMS_JWT_SECRET": "x" * 64, "LMS_WORKERS": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "rpc"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines = Lines(proc)
    base = f"http://127.0.0.1:{port}"

    def workers() -> set[int]:
        out = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout
        return {int(p) for p in out.split()}

    async def ready(session) -> bool:
        try:
            async with session.get(base + "/ready") as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 60
            while len(workers()) < 2:
                assert time.monotonic() < deadline and proc.poll() is None, "workers did not start"
                await asyncio.sleep(0.05)
            proc.send_signal(signal.SIGHUP)  # before (or while) the workers install their handler
            while not await ready(session):
                assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
                await asyncio.sleep(0.2)
            before = workers()
            assert len(before) == 2, before  # the early SIGHUP killed none
            victim = min(before)
            os.kill(victim, signal.SIGKILL)
            while not (len(workers()) == 2 and victim not in workers()):
                assert time.monotonic() < deadline, "the dead worker was not replaced"
                await asyncio.sleep(0.1)
            # Both processes behind the port answer: ten ready answers in a row (the replacement listens
            # before its pool is up, and answers 503 until it is).
            streak = 0
            while streak < 10:
                assert time.monotonic() < deadline, "the replacement never became ready"
                streak = streak + 1 if await ready(session) else 0
        proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.to_thread(proc.wait, 60)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"no exit 60 s after SIGTERM; workers {workers()}; output:\n{lines.text()}") from None
        out = lines.all()
        assert code == 1, out
        assert f"worker {victim} died (killed by signal 9)" in out and "started in its place" in out, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_production_refuses_development_settings(db, tmp_path):
    """Production (the default) does not start on a random JWT key, the local payment provider or a
    relative LMS_HOME, and says which and how to serve for development instead."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMS_")}
    env.update({"DATABASE_URL": db.url, "LMS_PORT": str(free_port()), "LMS_HOME": "relative-home"})
    out = subprocess.run([sys.executable, "-m", "rpc"], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2, out.stderr
    for needle in ("LMS_JWT_SECRET is unset", "LMS_STRIPE_API_KEY is unset", "LMS_HOME is relative-home",
                   "LMS_ENVIRONMENT=development"):
        assert needle in out.stderr, out.stderr
    assert not (tmp_path / "relative-home").exists()  # refused before anything was written
