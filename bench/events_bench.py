"""Events (issue 20): webhook delivery throughput and WebSocket fan-out latency.

    python -m bench.events_bench [--events 2000] [--webhooks 4] [--sockets 1000] [--rounds 20]

Starts a throw-away cluster. Delivery: `--webhooks` subscriptions to a local receiver (a threaded
HTTP server in this process, answering 200), `--events` user.created events made by SQL, then
`lms events deliver` as 1 and as 2 concurrent worker processes (fresh deliveries each time);
prints deliveries/s and checks every subscription received every event once, in id order, each
signature verified with the standardwebhooks library.

Fan-out: `lms serve` as a separate process (one worker); `--sockets` WebSocket clients subscribe
to user.created, then `--rounds` events are committed one at a time; for each, the time from the
commit returning to the LAST socket receiving it. Two cases: every socket the same admin (one
identity: one re-read per event), and every socket a different admin (`--sockets` identities:
the re-read under each identity is one SQL call per batch). The clients run in this process on
the same cores as the server and PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import aiohttp
import psycopg
from standardwebhooks.webhooks import Webhook

from rpc.core.auth import TokenService
from rpc.db.cluster import Cluster, free_port
from rpc.db.migrate import Migrator

JWT_SECRET = "bench-" + "x" * 40
LMS = [sys.executable, "-c", "from rpc.cli.main import main; raise SystemExit(main())"]  # the `lms` command


class Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[str, dict, bytes]] = []
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    receiver.received.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def make_users(conn, n: int, role: str, prefix: str) -> list[str]:
    rows = conn.execute("select internal.create_user(%s || g || '@example.test', 'bench-password-1', 'Bench ' || g, %s)"
                        "::text from generate_series(1, %s) g", [prefix, role, n]).fetchall()
    return [r[0] for r in rows]


def delivery_bench(url: str, env: dict, args) -> bool:
    receiver = Receiver()
    secrets: dict[str, str] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for i in range(args.webhooks):
            (wid, secret) = conn.execute(
                "insert into app.webhooks (url, events, secret) values (%s, '{user.created}', "
                "internal.new_webhook_secret()) returning id::text, secret", [f"{receiver.base}/hook{i}"]).fetchone()
            secrets[f"/hook{i}"] = secret
    ok = True
    for workers in (1, 2):
        receiver.received.clear()
        with psycopg.connect(url, autocommit=True) as conn:
            make_users(conn, args.events, "student", f"d{workers}-")
        start = time.perf_counter()
        procs = [subprocess.Popen([*LMS, "events", "deliver"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for _ in range(workers)]
        for p in procs:
            _, err = p.communicate()
            if p.returncode:
                print(f"lms events deliver exited {p.returncode}: {err[-2000:]}")
        elapsed = time.perf_counter() - start
        total = args.events * args.webhooks
        per_hook: dict[str, list[int]] = {}
        for path, headers, body in receiver.received:
            Webhook(secrets[path]).verify(body, headers)
            per_hook.setdefault(path, []).append(int(headers["webhook-id"]))
        in_order = len(per_hook) == args.webhooks and all(
            ids == sorted(ids) and len(set(ids)) == len(ids) == args.events for ids in per_hook.values())
        ok &= in_order and len(receiver.received) == total
        print(f"delivery, {workers} worker process(es): {len(receiver.received)}/{total} POSTs in {elapsed:.2f} s "
              f"= {len(receiver.received) / elapsed:.0f} deliveries/s (process start included); "
              f"signatures verified, once each, in id order per subscription: {in_order}")
    receiver.server.shutdown()
    return ok


async def fan_out(base: str, url: str, tokens: list[str], rounds: int, make_event) -> list[float]:
    """Subscribe one socket per token; `rounds` times commit an event with make_event(conn, round) →
    (event id, indexes of the sockets that must receive it), and time commit → the last of them."""
    received: dict[int, dict[int, float]] = {}
    ready = 0

    async def client(session, index, token) -> None:
        nonlocal ready
        ws = await session.ws_connect(base.replace("http", "ws") + "/ws", headers={"Authorization": f"Bearer {token}"},
                                      max_msg_size=0)
        await ws.send_json({"jsonrpc": "2.0", "method": "event.subscribe", "params": {}, "id": 1})
        answer = await ws.receive_json()
        if "result" not in answer:
            raise RuntimeError(f"event.subscribe refused: {answer}")
        ready += 1
        async for msg in ws:
            data = msg.json()
            if data.get("method") == "event":
                received.setdefault(data["params"]["id"], {})[index] = time.perf_counter()

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.create_task(client(session, i, t)) for i, t in enumerate(tokens)]
        while ready < len(tokens):
            await asyncio.sleep(0.05)
        latencies = []
        with psycopg.connect(url, autocommit=True) as conn:
            for i in range(rounds):
                t0 = time.perf_counter()
                eid, expected = make_event(conn, i)
                deadline = time.perf_counter() + 30
                while time.perf_counter() < deadline and not expected <= set(received.get(eid, {})):
                    await asyncio.sleep(0.001)
                got = received.get(eid, {})
                if not expected <= set(got):
                    print(f"event {eid}: {len(got)} of {len(expected)} sockets received it in 30 s")
                latencies.append(max(got[k] for k in expected) - t0 if expected <= set(got) else float("inf"))
                await asyncio.sleep(0.05)
        for t in tasks:
            t.cancel()
    return latencies


def new_user_event(sockets: int):
    def make(conn, i):
        (uid,) = conn.execute("select internal.create_user(%s, 'bench-password-1', 'Fan', 'student')",
                              [f"fan-{time.time_ns()}-{i}@example.test"]).fetchone()
        (eid,) = conn.execute("select max(id) from app.events where user_id = %s", [uid]).fetchone()
        return eid, set(range(sockets))
    return make


def enrollment_event(students: list[str], course_id: str):
    def make(conn, i):
        conn.execute("insert into app.enrollments (user_id, course_id) values (%s, %s)", [students[i], course_id])
        (eid,) = conn.execute("select max(id) from app.events where user_id = %s", [students[i]]).fetchone()
        return eid, {i}
    return make


COURSE = """
insert into app.courses (instructor_id, title, price_cents, is_published, published_at)
values (internal.create_user('fan-teacher@example.test', 'bench-password-1', 'T', 'instructor'), 'Fan course', 0,
        false, null) returning id::text
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--webhooks", type=int, default=4)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--cases", type=int, nargs="*", help="fan-out cases to run (1 2 3; default all)")
    parser.add_argument("--no-delivery", action="store_true", help="skip the delivery part")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # two sockets per client on this machine
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * args.sockets + 1024)), hard))
    workdir = Path(tempfile.mkdtemp(prefix="lms-events-bench-"))
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
        with psycopg.connect(url, autocommit=True) as conn:  # every client comes from 127.0.0.1
            conn.execute("update app.rate_limits set max_cost = 2000000000 where name = 'address'")
        port = free_port()
        env = {**os.environ, "LMS_ENVIRONMENT": "development",
               "DATABASE_URL": url, "LMS_PORT": str(port), "LMS_JWT_SECRET": JWT_SECRET,
               "LMS_HOME": str(workdir / "home"), "LMS_WEBHOOKS_ALLOW_PRIVATE_URLS": "true"}
        print(f"{os.cpu_count()} cores shared by PostgreSQL, the server, the workers and the clients")
        ok = True if args.no_delivery else delivery_bench(url, env, args)

        server_log = open(workdir / "server.log", "w")  # noqa: SIM115 — closed with the process
        server = subprocess.Popen([sys.executable, "-m", "rpc"], env=env, stdout=server_log, stderr=server_log)
        deadline = time.monotonic() + 60
        while subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/ready"], capture_output=True).returncode:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become ready")
            time.sleep(0.3)
        tokens_service = TokenService(JWT_SECRET, 3600)
        with psycopg.connect(url, autocommit=True) as conn:
            admins = make_users(conn, args.sockets, "admin", "fan-admin-")
            students = make_users(conn, args.sockets, "student", "fan-student-")
            (course_id,) = conn.execute(COURSE).fetchone()  # lessons are not needed to enroll by SQL
        base = f"http://127.0.0.1:{port}"
        cases = (("every socket sees it, one admin identity", [admins[0]] * args.sockets, new_user_event(args.sockets)),
                 (f"every socket sees it, {args.sockets} admin identities", admins, new_user_event(args.sockets)),
                 (f"{args.sockets} student sockets, the event concerns one of them", students,
                  enrollment_event(students, course_id)))
        for number, (label, ids, make_event) in enumerate(cases, 1):
            if args.cases and number not in args.cases:
                continue
            tokens = [tokens_service.sign({"sub": uid, "role": "x"})[0] for uid in ids]
            lat = sorted(asyncio.run(fan_out(base, url, tokens, args.rounds, make_event)))
            if any(x == float("inf") for x in lat):
                ok = False
                problems = [line for line in (workdir / "server.log").read_text().splitlines(True)
                            if "WARNING" in line or "Error" in line or "Traceback" in line or "rpc." in line]
                print("server log (warnings, errors):\n" + "".join(problems[-20:]))
            print(f"fan-out, {args.sockets} sockets subscribed ({label}), {args.rounds} events: commit → last "
                  f"receiving socket p50 {lat[len(lat) // 2] * 1000:.1f} ms, max {lat[-1] * 1000:.1f} ms")
        return 0 if ok else 1
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
        cluster.stop("immediate")
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
