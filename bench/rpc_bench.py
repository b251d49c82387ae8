"""RPC throughput and latency against the database-only limit, in one run.

    python -m bench.rpc_bench [--seconds 8] [--clients 1,8,32,64] [--method user.me]

Starts a throw-away PostgreSQL cluster, migrates it, creates a user, starts `lms serve` as a
separate process and drives `POST /rpc` with wrk (Debian package `wrk`); then runs the same
SQL the server runs for the method (role + timeouts + caller, `select api.fn()` — a busy
address's budget is reserved ahead, so no per-call budget statement — one round trip,
`\\;`-joined) with pgbench as lms_authenticator. Prints calls/s, p50/p99 and RPC ÷ pgbench per
client count, and counts protocol round trips (ReadyForQuery messages) per RPC call with
libpq's trace. Everything shares this machine's cores: quote ratios from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import jwt
import psycopg

from rpc.cluster import Cluster, find_bindir, free_port
from rpc.migrate import Migrator

SECRET = "bench-secret-" + uuid.uuid4().hex


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def run_wrk(url: str, token: str, method: str, clients: int, seconds: int, workdir: Path) -> dict:
    script = workdir / "call.lua"
    body = json.dumps({"jsonrpc": "2.0", "method": method, "params": {}, "id": 1})
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = '{body}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
    )
    out = subprocess.run(["wrk", "-t", str(min(clients, 2)), "-c", str(clients), "-d", f"{seconds}s",
                          "--latency", "-s", str(script), url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def lat(pct: str) -> float:
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rate": rps, "p50": lat("50"), "p99": lat("99"), "errors": int(errors.group(1)) if errors else 0}


def run_pgbench(cluster: Cluster, db: str, user_id: str, function: str, clients: int, seconds: int,
                workdir: Path) -> dict:
    script = workdir / "call.sql"
    # The server's steady state for a busy address: its budget is reserved ahead (BudgetLeases), so
    # a call is the identity statement and the function, in one message.
    script.write_text("select set_config('role', 'lms_api', true), set_config('statement_timeout', '5000ms', true), "
                      "set_config('lock_timeout', '2000ms', true), "
                      f"internal.set_caller('{user_id}', '127.0.0.1', '{{}}') \\; select api.{function}();\n")
    logdir = workdir / f"pgbench-{clients}"
    logdir.mkdir()
    os.chmod(logdir, 0o777)
    cmd = [str(find_bindir() / "pgbench"), "-n", "-h", str(cluster.socket_dir), "-p", str(cluster.port),
           "-U", "lms_authenticator", "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds),
           "-f", str(script), "-l", "--log-prefix", str(logdir / "log"), db]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=logdir)
    if out.returncode != 0:
        raise RuntimeError(out.stdout + out.stderr)
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", out.stdout).group(1))
    latencies = []
    for f in logdir.glob("log*"):
        for line in f.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3:
                latencies.append(int(parts[2]) / 1000.0)
    return {"rate": tps, "p50": percentile(latencies, 50), "p99": percentile(latencies, 99), "errors": 0}


async def count_round_trips(server_url: str, method: str, user_id: str, workdir: Path) -> int:
    from rpc.config import Settings
    from rpc.db import CallContext, Database
    from rpc.dispatch import load_methods

    database = Database(server_url, Settings(_env_file=None, pool_min_size=1, pool_max_size=1))
    await database.open()
    try:
        async with database.pool.connection() as conn:
            methods = await load_methods(conn)
        query = methods[method].query(())
        caller = CallContext(user_id, "127.0.0.1")
        await database.call(query, [], caller)  # warm up
        trace = workdir / "trace.txt"
        with trace.open("w") as f:
            async with database.pool.connection() as conn:
                conn.pgconn.trace(f.fileno())
            await database.call(query, [], caller)  # the pool's only connection: the traced one
            async with database.pool.connection() as conn:
                conn.pgconn.untrace()
        text = trace.read_text()
        return len(re.findall(r"\bB\s+\d+\s+ReadyForQuery", text))
    finally:
        await database.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--clients", default="1,8,32,64")
    parser.add_argument("--method", default="user.me")
    parser.add_argument("--pool-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="server processes (lms serve --workers)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk not found: apt-get install wrk", file=sys.stderr)
        return 2
    function = args.method.replace(".", "_", 1)
    workdir = Path(tempfile.mkdtemp(prefix="lms-bench-"))
    workdir.chmod(0o755)
    cluster = Cluster(workdir / "pg", durable=False)
    cluster.init()
    cluster.start()
    server = None
    try:
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
            conn.execute("create database bench")
        url = cluster.url("bench")
        migrator = Migrator(url)
        migrator.migrate()
        migrator.close()
        with psycopg.connect(url, autocommit=True) as conn:
            (user_id,) = conn.execute(
                "insert into app.users (email, password_hash, full_name) "
                "values ('bench@example.test', public.crypt('bench-password-1', public.gen_salt('bf', 4)), 'Bench') "
                "returning id").fetchone()
            # The load comes from one address: lift its budget (reserved ahead in chunks, see rpc/db.py).
            conn.execute("update app.rate_limits set max_cost = 2000000000 where name = 'address'")
        user_id = str(user_id)
        now = int(time.time())
        token = jwt.encode({"sub": user_id, "role": "student", "iat": now, "exp": now + 3600, "typ": "access"},
                           SECRET, algorithm="HS256")
        port = free_port()
        env = {**os.environ, "DATABASE_URL": url, "LMS_PORT": str(port), "LMS_JWT_SECRET": SECRET,
               "LMS_POOL_MIN_SIZE": str(args.pool_size), "LMS_POOL_MAX_SIZE": str(args.pool_size),
               "LMS_WORKERS": str(args.workers)}
        server = subprocess.Popen([sys.executable, "-m", "rpc"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        rpc_url = f"http://127.0.0.1:{port}/rpc"
        deadline = time.monotonic() + 30
        while subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/ready"], capture_output=True).returncode:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become ready")
            time.sleep(0.3)
        trips = asyncio.run(count_round_trips(cluster.url("bench", "lms_authenticator"), args.method, user_id,
                                              workdir))
        print(f"method {args.method}; {args.seconds}s per run; {args.workers} server process(es), "
              f"pool {args.pool_size} each; "
              f"2 cores shared by server, PostgreSQL and load generator")
        print(f"round trips per RPC call (ReadyForQuery messages, libpq trace): {trips}")
        print(f"{'clients':>7} | {'RPC calls/s':>11} {'p50 ms':>7} {'p99 ms':>7} | "
              f"{'pgbench tps':>11} {'p50 ms':>7} {'p99 ms':>7} | {'RPC/pgbench':>11}")
        for clients in [int(c) for c in args.clients.split(",")]:
            r = run_wrk(rpc_url, token, args.method, clients, args.seconds, workdir)
            p = run_pgbench(cluster, "bench", user_id, function, clients, args.seconds, workdir)
            note = f"  ({r['errors']} non-2xx)" if r["errors"] else ""
            print(f"{clients:>7} | {r['rate']:>11.0f} {r['p50']:>7.2f} {r['p99']:>7.2f} | "
                  f"{p['rate']:>11.0f} {p['p50']:>7.2f} {p['p99']:>7.2f} | {r['rate'] / p['rate']:>11.2f}{note}")
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
        cluster.stop("immediate")
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
