"""RPC throughput, latency and server CPU against the database-only limit, in one run.

    python -m bench.rpc_bench [--seconds 8] [--rounds 1] [--clients 1,8,32,64] [--methods user.me,course.list]
                              [--baseline REF] [--deployments]

Starts a throw-away PostgreSQL cluster, migrates it, creates a student and a small catalog (10 published
courses), starts `lms serve` as a separate process and drives `POST /rpc` with wrk (Debian package
`wrk`); then runs the same SQL the server runs for the method (role + timeouts + caller, `select
api.fn()::text` — a busy address's budget is reserved ahead, so no per-call budget statement — one
round trip, `\\;`-joined) with pgbench as lms_authenticator. Per client count: calls/s, p50/p99, the
server's CPU µs per call (/proc), its round trips to PostgreSQL per call ("trips": below 1 when calls
shared pipelines, from its lms_db_pipeline_calls metric), RPC ÷ pgbench. Then a batch of 10 `user.me`
per request against the same calls unbatched, and the protocol round trips per call and per batch
(libpq trace: each run of messages to the server answered by a run from it is one round trip).

--baseline REF[,REF…] also serves those commits (`git archive`) and measures each right after this tree,
run by run: before/after in one run. --deployments adds `user.me` at 32 clients with 1 and 2 server processes,
straight to PostgreSQL and through PgBouncer (transaction mode). Everything shares this machine's cores:
quote ratios from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys

from bench.common import Bench, Server, bench_database, measure, run_wrk, source_tree
from bench.mix import create_data


def round_trips(trace: str) -> int:
    """Round trips in a libpq trace: runs of frontend (F) messages followed by a backend (B) reply."""
    trips, last = 0, None
    for line in trace.splitlines():
        parts = line.split("\t")
        direction = next((p for p in parts[:2] if p in ("F", "B")), None)
        if direction == "B" and last == "F":
            trips += 1
        last = direction or last
    return trips


async def count_round_trips(bench: Bench, method: str, batch: int) -> tuple[int, int, int]:
    """Round trips (and ReadyForQuery messages, i.e. transactions) of one call and of a batch of calls
    through the server's own Database, on a pool of one traced connection."""
    from rpc.core.config import Settings
    from rpc.core.dispatch import load_methods
    from rpc.db.calls import CallContext, Database

    database = Database(bench.authenticator_url, Settings(_env_file=None, pool_min_size=1, pool_max_size=1))
    await database.open()
    try:
        async with database.pool.connection() as conn:
            methods = await load_methods(conn)
        query = methods[method].text_query(())
        caller = CallContext(bench.user_id, "127.0.0.1")
        # Warm up as a busy address: its budget is reserved ahead now (else a batch first spends it, in a
        # round trip of its own: see rpc/db/calls.py call_batch).
        await database.call(query, [], caller)
        await database.call_batch([(query, [], caller)] * batch)
        figures = []
        for run in ("one", "batch"):
            trace = bench.workdir / f"trace-{run}.txt"
            with trace.open("w") as f:
                async with database.pool.connection() as conn:
                    conn.pgconn.trace(f.fileno())
                if run == "one":
                    await database.call(query, [], caller)
                else:
                    answers = await database.call_batch([(query, [], caller)] * batch)
                    assert answers and all(isinstance(a, str) for a in answers), answers
                async with database.pool.connection() as conn:
                    conn.pgconn.untrace()
            text = trace.read_text()
            figures.append((round_trips(text), text.count("ReadyForQuery")))
        return figures[0][0], figures[1][0], figures[1][1]
    finally:
        await database.close()


def call_body(method: str, batch: int = 0) -> str:
    one = {"jsonrpc": "2.0", "method": method, "params": {}, "id": 1}
    return json.dumps([dict(one, id=i) for i in range(batch)] if batch else one)


def pgbench_script(user_id: str, function: str) -> str:
    # The server's steady state for a busy address: its budget is reserved ahead (BudgetLeases), so
    # a call is the identity statement and the function, in one message.
    return ("select set_config('role', 'lms_api', true), set_config('statement_timeout', '5000ms', true), "
            "set_config('lock_timeout', '2000ms', true), "
            f"internal.set_caller('{user_id}', '127.0.0.1', '{{}}') \\; select api.{function}()::text;\n")


def wrk_run(bench: Bench, server: Server, body: str, clients: int, seconds: int, calls_per_request: int = 1) -> dict:
    figures = measure(server, lambda: run_wrk(server.url, bench.token, body, clients, seconds, bench.workdir))
    figures["rate"] *= calls_per_request  # calls/s
    figures["cpu_us"] /= calls_per_request
    return figures


def median_run(runs: list[dict]) -> dict:
    """The run of median rate (its p50/p99), with the median CPU per call of all runs."""
    ordered = sorted(runs, key=lambda r: r["rate"])
    figures = dict(ordered[len(ordered) // 2])
    for key in ("cpu_us", "trips_per_call"):
        if key in figures:
            figures[key] = sorted(r[key] for r in runs)[len(runs) // 2]
    figures["errors"] = sum(r["errors"] for r in runs)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--clients", default="1,8,32,64")
    parser.add_argument("--methods", default="user.me,course.list")
    parser.add_argument("--rounds", type=int, default=1,
                        help="runs per figure, interleaved across variants; the median is printed")
    parser.add_argument("--batch", type=int, default=10, help="calls per batch in the batch run")
    parser.add_argument("--pool-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="server processes (lms serve --workers)")
    parser.add_argument("--baseline", help="commits to measure side by side, comma-separated (e.g. main,HEAD~1)")
    parser.add_argument("--deployments", action="store_true",
                        help="also 1 and 2 server processes, direct and through PgBouncer (user.me, 32 clients)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk not found: apt-get install wrk", file=sys.stderr)
        return 2
    with bench_database() as bench:
        setup = bench.start_server("setup")
        asyncio.run(create_data(bench, setup.url, 1))
        bench.stop_server(setup)
        servers = [bench.start_server("this tree", workers=args.workers, pool_size=args.pool_size)]
        for ref in (args.baseline or "").split(","):
            if ref:
                servers.append(bench.start_server(ref, source_tree(ref, bench.workdir), workers=args.workers,
                                                  pool_size=args.pool_size))
        first = args.methods.split(",")[0]
        one, batched, transactions = asyncio.run(count_round_trips(bench, first, args.batch))
        print(f"{args.seconds}s per run; {args.workers} server process(es), pool {args.pool_size} each; "
              f"2 cores shared by server, PostgreSQL and load generator")
        print(f"round trips to PostgreSQL (libpq trace, this tree): {one} per `{first}` call; {batched} per "
              f"batch of {args.batch} ({transactions} transactions: one per call)")
        head = " | ".join(f"{s.label[:14]:>14} calls/s  p50 ms  p99 ms  µs CPU  trips" for s in servers)
        for method in args.methods.split(","):
            function = method.replace(".", "_", 1)
            print(f"\n{method}\nclients | {head} | pgbench tps  p50 ms  p99 ms | RPC/pgbench"
                  + (" | this/base" if args.baseline else ""))
            for clients in [int(c) for c in args.clients.split(",")]:
                rounds: list[list[dict]] = [[] for _ in range(len(servers) + 1)]
                for _ in range(args.rounds):  # interleaved: the machine's drift hits every variant alike
                    for i, server in enumerate(servers):
                        rounds[i].append(wrk_run(bench, server, call_body(method), clients, args.seconds))
                    rounds[-1].append(bench.pgbench(pgbench_script(bench.user_id, function), clients, args.seconds,
                                                    f"call-{function}"))
                *runs, p = [median_run(r) for r in rounds]
                cells = " | ".join(f"{r['rate']:>22.0f} {r['p50']:>7.2f} {r['p99']:>7.2f} {r['cpu_us']:>7.0f} "
                                   f"{r['trips_per_call']:>6.2f}"
                                   + (f" ({r['errors']} non-2xx)" if r["errors"] else "") for r in runs)
                ratios = "/".join(f"{r['rate'] / p['rate']:.2f}" for r in runs)
                line = (f"{clients:>7} | {cells} | {p['rate']:>11.0f} {p['p50']:>7.2f} {p['p99']:>7.2f} | "
                        f"{ratios:>11}")
                if args.baseline:
                    line += " | " + "/".join(f"{runs[0]['rate'] / r['rate']:.2f}" for r in runs[1:])
                print(line, flush=True)
        print(f"\nbatch of {args.batch} `{first}` per request vs one call per request, 32 clients")
        measured = singles_and_batches(bench, servers, first, args)
        for server, (single, batch) in zip(servers, measured, strict=True):
            print(f"  {server.label:>14}: unbatched {single['rate']:.0f} calls/s (p99 {single['p99']:.1f} ms, "
                  f"{single['cpu_us']:.0f} µs CPU/call); batched {batch['rate']:.0f} calls/s "
                  f"(p99 {batch['p99']:.1f} ms a batch, {batch['cpu_us']:.0f} µs CPU/call): "
                  f"{batch['rate'] / single['rate']:.2f}×"
                  + (" ERRORS" if single["errors"] + batch["errors"] else ""), flush=True)
        if args.deployments:
            for server in list(bench.servers):
                bench.stop_server(server)
            deployments(bench, first, args)
    return 0


def singles_and_batches(bench: Bench, servers: list[Server], method: str, args) -> list[tuple[dict, dict]]:
    """Per server, the median run of one call per request and of a batch per request at 32 clients, the
    servers measured in turn, round after round."""
    runs: list[tuple[list, list]] = [([], []) for _ in servers]
    for _ in range(args.rounds):
        for server, (singles, batches) in zip(servers, runs, strict=True):
            singles.append(wrk_run(bench, server, call_body(method), 32, args.seconds))
            batches.append(wrk_run(bench, server, call_body(method, args.batch), 32, args.seconds, args.batch))
    return [(median_run(singles), median_run(batches)) for singles, batches in runs]


def deployments(bench: Bench, method: str, args) -> None:
    print(f"\n`{method}` at 32 clients by deployment (pool {args.pool_size} per process; PgBouncer pool "
          f"{args.pool_size}, transaction mode)")
    bouncer = bench.start_pgbouncer(args.pool_size)
    servers = [bench.start_server(f"{workers} process(es), {via:>9}", workers=workers, pool_size=args.pool_size,
                                  server_database_url=target)
               for via, target in (("direct", None), ("pgbouncer", bouncer)) for workers in (1, 2)]
    for server, (r, b) in zip(servers, singles_and_batches(bench, servers, method, args), strict=True):
        print(f"  {server.label}: {r['rate']:>6.0f} calls/s p99 {r['p99']:>5.1f} ms {r['cpu_us']:>4.0f} µs CPU/call; "
              f"batches of {args.batch}: {b['rate']:>6.0f} calls/s {b['cpu_us']:>4.0f} µs CPU/call"
              + (" ERRORS" if r["errors"] + b["errors"] else ""), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())


