"""Faults (issue 21, section 3), each on a cluster of the test's own so that stopping or crashing
PostgreSQL hurts no other test:

- PostgreSQL stopped (fast, immediate) under a write load through the real server over HTTP: calls
  fail with -32000 only, never hang, the server stays up and serves again within 5 s of the restart,
  and every call acknowledged as successful is in the database afterwards;
- a server process killed (SIGKILL) mid-load: no half-written state (the invariants, checked in SQL);
- the pool exhausted by slow calls: the others wait up to the pool's bound and then get -32000; no
  deadlock; the server recovers;
- an old month of attempts archived as the README says (this one needs no cluster of its own).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import psycopg
import pytest

from rpc.auth import TokenService
from rpc.cluster import free_port
from rpc.service import SERVICE
from tests.conftest import make_settings, start_server
from tests.faultkit import CALL_TIMEOUT, Load, make_world, missing_writes, own_cluster, violations

pytestmark = pytest.mark.asyncio


def report(line: str) -> None:
    """A figure for bench/README.md (`pytest -s` shows it)."""
    print(line)


async def first_success(base: str, session: aiohttp.ClientSession, token: str, limit: float) -> float:
    """Seconds until a call succeeds (user.me, polled every 50 ms), at most `limit`; every answer bounded."""
    started = time.monotonic()
    body = {"jsonrpc": "2.0", "id": 1, "method": "user.me", "params": {}}
    while True:
        async with session.post(base + "/rpc", json=body, timeout=CALL_TIMEOUT,
                                headers={"Authorization": f"Bearer {token}"}) as resp:
            answer = await resp.json()
        elapsed = time.monotonic() - started
        if "result" in answer:
            return elapsed
        assert answer["error"]["code"] == -32000, answer
        assert elapsed < limit, f"no successful call within {limit} s of the restart"
        await asyncio.sleep(0.05)


async def stop_load(load: Load, tasks: list) -> None:
    """Stop the writers (also when the test failed half-way), so none outlives its session."""
    load.stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# ---------------------------------------------------------------------------------------- PostgreSQL stopped
@pytest.mark.parametrize("mode, outage", [("fast", 8.0), ("immediate", 3.0)])
async def test_postgres_stopped_under_write_load(mode, outage):
    """The outage of the fast case is long enough (8 s) that a pool backing off exponentially between
    reconnection attempts (1, 2, 4, 8 s …) would still be waiting when PostgreSQL is back."""
    with own_cluster() as cluster:
        world = make_world(cluster.url(), students=8, free_courses=40)
        settings = make_settings(pool_min_size=2, pool_max_size=4)
        app, runner, base = await start_server(cluster.url("lms", "lms_authenticator"), settings)
        tokens = {s: app[SERVICE].tokens.sign({"sub": s, "role": "student"})[0] for s in world.students}
        tasks: list = []
        load = None
        try:
            async with aiohttp.ClientSession() as session:
                load = Load(base, session, world, tokens)
                tasks = await load.run()
                await asyncio.sleep(1.5)
                fault_at = time.monotonic()
                await asyncio.to_thread(cluster.stop, mode)
                stopped_at = time.monotonic()
                await asyncio.sleep(outage)
                async with session.get(base + "/health", timeout=CALL_TIMEOUT) as resp:
                    assert resp.status == 200, "the server stays up while the database is down"
                during = dict(load.codes)
                await asyncio.to_thread(cluster.start)
                recovery = await first_success(base, session, tokens[world.students[0]], 5.0)
                await asyncio.sleep(1.0)
                load.stop.set()
                await asyncio.wait_for(asyncio.gather(*tasks), 15)
                # Every pooled connection works again.
                results = await asyncio.gather(*(load.rpc("user.me", {}, tokens[s]) for s in world.students * 3))
                assert all(r is not None for r, _ in results), results
        finally:
            if load is not None:
                await stop_load(load, tasks)
            await runner.cleanup()
        assert not load.bad, load.bad[:10]
        assert during.get(-32000, 0) > 0, "the load ran into the outage"
        before, total = load.acked(before=fault_at), load.acked()
        missing = missing_writes(cluster.url(), total)
        acked_before = {k: len(v) for k, v in before.items()}
        acked_total = {k: len(v) for k, v in total.items()}
        report(f"faults: pg_ctl stop -m {mode} ({stopped_at - fault_at:.2f} s to stop, down {outage:.0f} s): "
               f"{load.calls} calls, {load.codes.get(-32000, 0)} × -32000, no other error, no hang; "
               f"served again {recovery:.2f} s after pg_ctl start returned; acknowledged before the fault "
               f"{sum(acked_before.values())} {acked_before}, in all {sum(acked_total.values())}; "
               f"missing afterwards: {sum(missing.values())}")
        assert recovery < 5.0
        assert sum(acked_before.values()) > 50, acked_before
        assert missing == {k: 0 for k in missing}, missing
        # The check itself finds a write that is not there (one made-up key of each kind).
        fake = str(uuid.uuid4())
        made_up = {"enroll": {(fake, fake)}, "complete": {(fake, fake)}, "start": {(fake,)}, "submit": {(fake,)},
                   "paid": {(fake,)}}
        assert missing_writes(cluster.url(), made_up) == {k: 1 for k in made_up}
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            assert not any(violations(conn).values()), violations(conn)


# ---------------------------------------------------------------------------------------- a server process killed
def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


async def wait_ready(session: aiohttp.ClientSession, base: str, proc: subprocess.Popen, workers: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            async with session.get(base + "/ready", timeout=CALL_TIMEOUT) as resp:
                if resp.status == 200 and len(children(proc.pid)) == workers:
                    return
        except aiohttp.ClientError:
            pass
        assert time.monotonic() < deadline and proc.poll() is None, "the server did not start"
        await asyncio.sleep(0.2)


async def test_server_process_killed_mid_load_leaves_no_half_written_state(tmp_path):
    """`lms serve --workers 2` under a write load that also buys courses (order.create + the provider's
    signed event); one worker is SIGKILLed mid-load. The other keeps serving; afterwards every invariant
    holds (the checker itself is shown to catch a broken row of each kind it is given)."""
    secret = "whsec_faults_" + "0" * 32
    jwt_secret = "faults-jwt-" + "k" * 53
    with own_cluster() as cluster:
        world = make_world(cluster.url(), students=8, free_courses=30, paid_courses=6)
        port = free_port()
        env = {**os.environ, "DATABASE_URL": cluster.url(), "LMS_PORT": str(port), "LMS_HOME": str(tmp_path),
               "LMS_JWT_SECRET": jwt_secret, "LMS_STRIPE_WEBHOOK_SECRET": secret, "LMS_WORKERS": "2",
               "LMS_POOL_MIN_SIZE": "2", "LMS_POOL_MAX_SIZE": "4"}
        log = (tmp_path / "server.log").open("w")
        proc = subprocess.Popen([sys.executable, "-m", "rpc"], env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        tokens_service = TokenService(jwt_secret, 900)
        tokens = {s: tokens_service.sign({"sub": s, "role": "student"})[0] for s in world.students}
        tasks: list = []
        load = None
        try:
            async with aiohttp.ClientSession() as session:
                await wait_ready(session, base, proc, 2)
                load = Load(base, session, world, tokens, webhook_secret=secret)
                load.allow_transport_errors = True  # calls in flight on the killed process lose their connection
                tasks = await load.run()
                await asyncio.sleep(2.0)
                victim = children(proc.pid)[0]
                killed_at = time.monotonic()
                os.kill(victim, signal.SIGKILL)
                await asyncio.sleep(1.5)
                load.stop.set()
                await asyncio.wait_for(asyncio.gather(*tasks), 15)
                survivors = children(proc.pid)
        finally:
            if load is not None:
                await stop_load(load, tasks)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.wait, 30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
        assert victim not in survivors and survivors, (victim, survivors)
        assert not load.bad, load.bad[:10]
        after = len([a for a in load.acks if a[0] > killed_at + 0.2])
        assert after > 0, "the surviving process kept serving"
        acked = load.acked()
        assert acked["paid"] and acked["submit"] and acked["complete"], {k: len(v) for k, v in acked.items()}
        missing = missing_writes(cluster.url(), acked)
        assert missing == {k: 0 for k in missing}, missing
        with psycopg.connect(cluster.url()) as conn:
            found = violations(conn)
            counts = conn.execute("select (select count(*) from app.quiz_attempts), (select count(*) from"
                                  " app.lesson_progress), (select count(*) from app.orders where status = 'completed'),"
                                  " (select count(*) from app.certificates)").fetchone()
            # Break one row of each kind (in a transaction rolled back): the checker sees each.
            conn.execute("update app.quiz_attempt_counters set attempts_used = attempts_used + 1"
                         " where ctid = (select min(ctid) from app.quiz_attempt_counters)")
            conn.execute("update app.enrollments set progress_percentage = 1"
                         " where id = (select id from app.enrollments where completed_at is null limit 1)")
            conn.execute("update app.payments set status = 'amount_mismatch'"
                         " where id = (select id from app.payments limit 1)")
            broken = violations(conn)
            conn.rollback()
        report(f"faults: one of 2 server processes SIGKILLed mid-load: {load.calls} calls, {len(load.transport)} cut "
               f"by the kill, {after} writes acknowledged by the survivor after it; attempts {counts[0]}, lesson "
               f"completions {counts[1]}, completed orders {counts[2]}, certificates {counts[3]}; invariants "
               f"broken: {sum(found.values())} of {len(found)} checks")
        assert not any(found.values()), found
        assert broken["attempt counter differs from the attempts"] == 1, broken
        assert broken["order completed without a payment"] == 1, broken
        assert broken["progress differs from lesson_progress"] == 1, broken
