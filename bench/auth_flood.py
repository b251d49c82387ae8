"""Does a flood of bad logins starve the rest of the API? (issue 13, item 5)

    python -m bench.auth_flood [--seconds 15] [--flooders 4] [--cost 10]

Starts a throw-away cluster (bcrypt cost `--cost`, the production default 10), `lms serve` as a
separate process, and measures `course.list` latency with wrk (1 connection) in three phases:
  quiet     — no other load;
  limited   — 4 clients send batches of 50 logins with random emails (wrk, Lua), default limits:
              the address's login failures and budget run out, and what is left is refused cheaply;
  unlimited — the same flood with every limit lifted, so every login really hashes: shows the
              CPU bound of password hashing (LMS_PASSWORD_HASH_CONCURRENCY, default 1 per process).
Prints calls/s and p50/p99 of course.list, and the flood's batches/s and logins/s per phase.
Goal: course.list p99 < 100 ms while the flood runs. Everything shares the machine's 2 cores.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

from rpc.db.cluster import Cluster, free_port
from rpc.db.migrate import Migrator

FLOOD_LUA = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
math.randomseed(os.time() + math.floor(os.clock() * 1000000))
request = function()
  local calls = {}
  for i = 1, 50 do
    calls[i] = string.format(
      '{"jsonrpc":"2.0","id":%d,"method":"auth.login","params":{"email":"nobody-%d-%d@example.test","password":"guess-guess-guess"}}',
      i, math.random(1, 1000000000), i)
  end
  return wrk.format(nil, nil, nil, "[" .. table.concat(calls, ",") .. "]")
end
"""

PROBE_LUA = """
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"course.list","params":{}}'
wrk.headers["Content-Type"] = "application/json"
"""


def wrk(url: str, script: Path, clients: int, seconds: int) -> dict:
    out = subprocess.run(["wrk", "-t", "1", "-c", str(clients), "-d", f"{seconds}s", "--latency",
                          "--timeout", "30s", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout

    def lat(pct: str) -> float:
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return float("nan")
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {"rate": rate, "p50": lat("50"), "p99": lat("99")}


def phase(url: str, workdir: Path, flooders: int, seconds: int) -> tuple[dict, dict | None]:
    probe_script, flood_script = workdir / "probe.lua", workdir / "flood.lua"
    probe_script.write_text(PROBE_LUA)
    flood_script.write_text(FLOOD_LUA)
    flood = None
    if flooders:
        flood = subprocess.Popen(["wrk", "-t", "1", "-c", str(flooders), "-d", f"{seconds + 2}s", "--timeout", "30s",
                                  "-s", str(flood_script), url], stdout=subprocess.PIPE, text=True)
        time.sleep(2)  # let the flood build up first
    probe = wrk(url, probe_script, 1, seconds)
    flood_result = None
    if flood is not None:
        out, _ = flood.communicate(timeout=seconds + 60)
        batches = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        flood_result = {"batches": batches, "logins": batches * 50}
    return probe, flood_result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--flooders", type=int, default=4)
    parser.add_argument("--cost", type=int, default=10, help="bcrypt cost (lms.bcrypt_cost)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk not found: apt-get install wrk", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="lms-flood-"))
    workdir.chmod(0o755)
    cluster = Cluster(workdir / "pg", durable=False)
    cluster.init()
    cluster.start()
    server = None
    try:
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
            conn.execute("create database bench")
            conn.execute(sql.SQL("alter database bench set lms.bcrypt_cost = {}").format(sql.Literal(str(args.cost))))
        url = cluster.url("bench")
        migrator = Migrator(url)
        migrator.migrate()
        migrator.close()
        port = free_port()
        env = {**os.environ, "LMS_ENVIRONMENT": "development",
               "DATABASE_URL": url, "LMS_PORT": str(port), "LMS_JWT_SECRET": "flood-" + "x" * 40,
               "LMS_HOME": str(workdir / "home")}
        server = subprocess.Popen([sys.executable, "-m", "rpc", "--demo"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rpc_url = f"http://127.0.0.1:{port}/rpc"
        deadline = time.monotonic() + 60
        while subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/ready"], capture_output=True).returncode:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become ready")
            time.sleep(0.3)
        time.sleep(1)
        print(f"bcrypt cost {args.cost}; {args.flooders} flooders × batches of 50 logins (random emails); "
              f"probe: course.list, 1 connection; {args.seconds}s per phase; 2 cores shared by everything")
        print(f"{'phase':<10} | {'course.list/s':>13} {'p50 ms':>7} {'p99 ms':>7} | {'flood batches/s':>15} "
              f"{'logins/s':>9}")
        with psycopg.connect(url, autocommit=True) as conn:
            for name in ("quiet", "limited", "unlimited"):
                if name == "unlimited":
                    conn.execute("update app.rate_limits set max_cost = 2000000000")
                conn.execute("truncate app.rate_counters")
                probe, flood = phase(rpc_url, workdir, 0 if name == "quiet" else args.flooders, args.seconds)
                flood_text = f"{flood['batches']:>15.1f} {flood['logins']:>9.0f}" if flood else f"{'-':>15} {'-':>9}"
                print(f"{name:<10} | {probe['rate']:>13.0f} {probe['p50']:>7.2f} {probe['p99']:>7.2f} | {flood_text}",
                      flush=True)
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
        cluster.stop("immediate")
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
