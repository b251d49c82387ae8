"""Throughput of POST /webhooks/stripe (issue 16): signed payment_intent.succeeded events, duplicates included.

    python -m bench.webhook_bench [--orders 2000] [--copies 3] [--concurrency 32]

Starts a throw-away cluster and `lms serve` as a separate process (local provider, one worker), makes
`--orders` pending orders with payment intents (SQL, as the seed does), then posts each order's succeeded
event `--copies` times (the copies interleaved, so duplicates arrive while their first copy may still be
applying) from `--concurrency` client connections. Every delivery is SDK-verified, recorded once and applied
(payment, order completed, enrollment, audit). Prints deliveries/s (everything, duplicates included), the
first copies' rate, p50/p99 latency, and checks the result: one payment and one active enrollment per order.
"""

from __future__ import annotations

import argparse
import asyncio
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

from rpc.db.cluster import Cluster, free_port
from rpc.db.migrate import Migrator
from rpc.workers import payments

SECRET = "whsec_bench_" + "0" * 32

SETUP = """
select set_config('role', 'lms_definer', true);
with i as (select internal.create_user('bench-instructor@example.test', 'bench-password-1', 'Bench Instructor',
                                       'instructor') as id)
insert into app.courses (id, instructor_id, title, price_cents, is_published, published_at)
select 'b0000000-0000-4000-8000-000000000001', i.id, 'Bench course', 4900, false, null from i;
insert into app.lessons (course_id, title, content, lesson_order, is_published)
values ('b0000000-0000-4000-8000-000000000001', 'L', 'c', 1, true);
update app.courses set is_published = true, published_at = now() where id = 'b0000000-0000-4000-8000-000000000001';
"""
ORDERS = """
with u as (select internal.create_user('bench-' || g || '@example.test', 'bench-password-1', 'Bench ' || g, 'student')
           as id from generate_series(1, %s) g)
insert into app.orders (user_id, course_id, amount_cents, currency, provider_payment_intent_id, provider_client_secret)
select u.id, 'b0000000-0000-4000-8000-000000000001', 4900, 'USD', 'pi_bench_' || replace(u.id::text, '-', ''), 'x'
from u returning id::text, provider_payment_intent_id
"""


async def deliver_all(url: str, bodies: list[str], concurrency: int) -> tuple[float, list[float], list[int]]:
    queue: asyncio.Queue = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    statuses: list[int] = []

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            headers = {"Stripe-Signature": payments.sign(body, SECRET), "Content-Type": "application/json"}
            t0 = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                statuses.append(resp.status)
            latencies.append(time.perf_counter() - t0)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return elapsed, latencies, statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--copies", type=int, default=3, help="deliveries of each event (1 = no duplicates)")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="lms-webhook-bench-"))
    workdir.chmod(0o755)
    cluster = Cluster(workdir / "pg", durable=False)
    cluster.init()
    cluster.start()
    server = None
    try:
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
            conn.execute("create database bench")
            conn.execute("alter database bench set lms.bcrypt_cost = '4'")
        url = cluster.url("bench")
        migrator = Migrator(url)
        migrator.migrate()
        migrator.close()
        with psycopg.connect(url) as conn:
            for statement in SETUP.strip().split(";\n"):
                conn.execute(statement)
            conn.execute("select set_config('role', 'lms_definer', true)")
            orders = conn.execute(ORDERS, [args.orders]).fetchall()
            conn.commit()
        port = free_port()
        env = {**os.environ, "LMS_ENVIRONMENT": "development",
               "DATABASE_URL": url, "LMS_PORT": str(port), "LMS_JWT_SECRET": "bench-" + "x" * 40,
               "LMS_HOME": str(workdir / "home"), "LMS_STRIPE_WEBHOOK_SECRET": SECRET}
        env.pop("LMS_STRIPE_API_KEY", None)
        server = subprocess.Popen([sys.executable, "-m", "rpc"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/ready"], capture_output=True).returncode:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become ready")
            time.sleep(0.3)
        events = [payments.signed(payments.build_event("succeeded", oid, pi, 4900, "usd"), SECRET)[0]
                  for oid, pi in orders]
        bodies = [body for _ in range(args.copies) for body in events]  # copy k of every event after copy k-1
        elapsed, latencies, statuses = asyncio.run(
            deliver_all(f"http://127.0.0.1:{port}/webhooks/stripe", bodies, args.concurrency))
        latencies.sort()
        with psycopg.connect(url, autocommit=True) as conn:
            payments_n, active, events_n = conn.execute(
                "select (select count(*) from app.payments), (select count(*) from app.enrollments where is_active), "
                "(select count(*) from app.payment_events)").fetchone()
        bad = sum(1 for s in statuses if s != 200)
        print(f"{len(bodies)} deliveries ({args.orders} events × {args.copies} copies), "
              f"{args.concurrency} connections, 1 server process, {os.cpu_count()} cores shared by everything")
        print(f"deliveries/s (duplicates included): {len(bodies) / elapsed:.0f}; "
              f"distinct events applied/s: {args.orders / elapsed:.0f}; "
              f"p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, "
              f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms")
        print(f"non-200 answers: {bad}; payments {payments_n}, active enrollments {active}, events {events_n} "
              f"(expected {args.orders} each)")
        return 0 if bad == 0 and payments_n == active == events_n == args.orders else 1
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
        cluster.stop("immediate")
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
