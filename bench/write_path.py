"""The write path of a transaction that emits one event, this tree against other commits, with pgbench.

    python -m bench.write_path [--rev 5a18f96 ...] [--clients 1,8,32] [--seconds 10] [--rounds 2]
                               [--warmup 3] [--listen] [--durable]

Starts one throw-away cluster (non-durable like the test suite's unless --durable) and in it one
database per design: this tree's migrations and repeatable SQL, and each --rev's (its tree checked
out with `git worktree add`, migrated by a subprocess that imports rpc from that tree; removed at the
end). A database `baseline` holds one plain table shaped like app.events (identity key, no other
index, no trigger).

Each point is pgbench (`-n -M prepared -c N -j N -T seconds`, as the superuser over the cluster's
socket) running one transaction of one statement:

    baseline:  begin; insert into plain_events (type, user_id, course_id, data) values (...); commit;
    a design:  begin; select internal.emit_event(...); commit;

internal.emit_event is called directly (its signature read from pg_proc, arguments bound by name;
it is SECURITY DEFINER, so the superuser runs it as its owner, as the event triggers do): what is
measured is the event's own cost on a writer — at 5a18f96 an advisory-lock fence plus a NOTIFY that
PostgreSQL serialises at commit, at HEAD a plain insert whose id the sequencer gives after commit.
The user.created payload of one user made with internal.create_user. Before every point the event
tables (app.events, app.webhook_deliveries) and plain_events are truncated and a checkpoint taken,
so every point starts from empty tables; before round 1 each transaction runs --warmup seconds
(at the highest client count, not reported). With --listen a session LISTENs on lms_events and reads its
notifications throughout (as the old design's event hub did); without it nobody listens.

After each design's point the events written are counted against pgbench's transactions, and where
the design has a sequencer (internal.events_sequence) it is called until no event is left without an
id: how many it numbered, and at what rate (the rate a reader must keep up with the writers).

Prints one line per point (tps, mean latency, failures, events, sequencing), then per client count the
median over the rounds of each tps and of each ratio taken within one round (design / baseline, and
this tree / each --rev). Points of a round run one client count at a time, baseline then designs,
in reverse order on even rounds, so drift on a shared machine falls on every column alike.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from rpc.db.cluster import Cluster, find_bindir

ROOT = Path(__file__).resolve().parent.parent
EVENT_TYPE = "user.created"
MIGRATE = """\
import sys
from pathlib import Path
import rpc
if not Path(rpc.__file__).resolve().is_relative_to(Path.cwd().resolve()):
    raise SystemExit(f"rpc imported from {rpc.__file__}, not from {Path.cwd()}")
from rpc.db.migrate import Migrator
Migrator(sys.argv[1]).migrate()
print(rpc.__file__)
"""
PLAIN_TABLE = """\
create table plain_events (
  seq         bigint generated always as identity primary key,
  type        text not null,
  occurred_at timestamptz not null default now(),
  user_id     uuid,
  course_id   uuid,
  data        jsonb not null default '{}'
)"""


@dataclass
class Target:
    label: str
    dbname: str
    script: str = ""
    features: str = ""
    sequencer: bool = False
    truncate: str = ""
    tps: dict[int, list[float]] = field(default_factory=dict)


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout.strip()


def migrate(tree: Path, url: str) -> str:
    """Migrate `url` with the rpc package of `tree` (a subprocess: PYTHONPATH and cwd = tree) → its rpc path."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", MIGRATE, url], cwd=tree, env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"migrating with {tree} failed:\n{out.stdout}{out.stderr}")
    return out.stdout.strip().splitlines()[-1]


def payload(user_id: str) -> str:
    """The user.created event's data (as tg_users__events builds it)."""
    return json.dumps({"user_id": user_id, "email": "bench@example.test", "full_name": "Bench", "role": "student"})


def literal(conn: psycopg.Connection, value) -> str:
    return "null" if value is None else sql.Literal(value).as_string(conn)


def emit_call(conn: psycopg.Connection, values: dict[str, object]) -> str:
    """`internal.emit_event(p_x => …, …)` for the overload whose parameters are all known or defaulted."""
    overloads = conn.execute(
        "select p.oid::regprocedure::text, coalesce(p.proargnames, '{}'), p.pronargs, p.pronargdefaults "
        "from pg_proc p where p.pronamespace = 'internal'::regnamespace and p.proname = 'emit_event'").fetchall()
    for _signature, names, nargs, ndefaults in overloads:
        required = names[:nargs - ndefaults]
        if len(names) >= nargs and set(required) <= set(values):
            args = ", ".join(f"{n} => {literal(conn, values[n])}" for n in names[:nargs] if n in values)
            return f"internal.emit_event({args})"
    raise SystemExit(f"no internal.emit_event this bench can call: {[o[0] for o in overloads] or 'none'}")


def prepare_design(cluster: Cluster, target: Target, tree: Path) -> str:
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(target.dbname)))
        conn.execute(sql.SQL("alter database {} set lms.bcrypt_cost = '4'").format(sql.Identifier(target.dbname)))
    rpc_file = migrate(tree, cluster.url(target.dbname))
    with psycopg.connect(cluster.url(target.dbname), autocommit=True) as conn:
        (user_id,) = conn.execute("select internal.create_user('bench@example.test', 'bench-password-1', "
                                  "'Bench', 'student')::text").fetchone()
        data = payload(user_id)
        call = emit_call(conn, {"p_type": EVENT_TYPE, "p_user_id": user_id, "p_course_id": None, "p_data": data})
        (body,) = conn.execute("select string_agg(p.prosrc, ' ') from pg_proc p where p.proname = 'emit_event' "
                               "and p.pronamespace = 'internal'::regnamespace").fetchone()
        target.sequencer = conn.execute("select to_regproc('internal.events_sequence') is not null").fetchone()[0]
    features = [name for name, present in (("advisory fence", "advisory" in body), ("NOTIFY", "pg_notify" in body),
                                           ("sequencer after commit", target.sequencer)) if present]
    target.features = " + ".join(features) or "plain insert"
    target.script = f"begin;\nselect {call};\ncommit;\n"
    target.truncate = "truncate app.events, app.webhook_deliveries"
    return rpc_file


def prepare_baseline(cluster: Cluster, target: Target) -> None:
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(target.dbname)))
    with psycopg.connect(cluster.url(target.dbname), autocommit=True) as conn:
        conn.execute(PLAIN_TABLE)
        row = conn.execute("select gen_random_uuid()::text").fetchone()[0]
        data = payload(row)
        insert = sql.SQL("insert into plain_events (type, user_id, course_id, data) values ({}, {}, null, {})").format(
            sql.Literal(EVENT_TYPE), sql.Literal(row), sql.Literal(data)).as_string(conn)
        target.script = f"begin;\n{insert};\ncommit;\n"
    target.features = "insert into a plain table, no event"
    target.truncate = "truncate plain_events"


def pgbench_cmd(cluster: Cluster, script: Path, clients: int, seconds: int, dbname: str) -> list[str]:
    return [str(find_bindir() / "pgbench"), "-n", "-M", "prepared", "-h", str(cluster.socket_dir),
            "-p", str(cluster.port), "-U", "postgres", "-c", str(clients), "-j", str(clients), "-T", str(seconds),
            "-f", str(script), dbname]


def run_point(cluster: Cluster, target: Target, script: Path, clients: int, seconds: int) -> dict:
    with psycopg.connect(cluster.url(target.dbname), autocommit=True) as conn:
        conn.execute(target.truncate)
        conn.execute("checkpoint")
    out = subprocess.run(pgbench_cmd(cluster, script, clients, seconds, target.dbname), capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stdout + out.stderr)
    figures = {
        "tps": float(re.search(r"^tps = ([\d.]+)", out.stdout, re.M).group(1)),
        "latency": float(re.search(r"^latency average = ([\d.]+) ms", out.stdout, re.M).group(1)),
        "transactions": int(re.search(r"number of transactions actually processed: (\d+)", out.stdout).group(1)),
        "failed": int(m.group(1)) if (m := re.search(r"number of failed transactions: (\d+)", out.stdout)) else 0,
    }
    if target.dbname == "baseline":
        return figures
    with psycopg.connect(cluster.url(target.dbname), autocommit=True) as conn:
        figures["events"] = conn.execute("select count(*) from app.events").fetchone()[0]
        if target.sequencer:
            started, calls = time.monotonic(), 0
            while conn.execute("select exists (select from app.events where id is null)").fetchone()[0]:
                conn.execute("select internal.events_sequence()")
                calls += 1
            figures["sequence_s"] = time.monotonic() - started
            figures["sequence_calls"] = calls
            figures["sequenced"] = conn.execute("select count(id) from app.events").fetchone()[0]
    return figures


def describe(target: Target, figures: dict) -> str:
    text = (f"{figures['tps']:9,.0f} tps  {figures['latency']:7.2f} ms mean  {figures['failed']} failed  "
            f"{figures['transactions']:,} transactions")
    if "events" in figures:
        text += f"  {figures['events']:,} events" + ("" if figures["events"] == figures["transactions"] else " (≠!)")
    if "sequenced" in figures:
        rate = figures["sequenced"] / figures["sequence_s"] if figures["sequence_s"] else float("inf")
        text += (f"  sequenced {figures['sequenced']:,} in {figures['sequence_s']:.2f} s "
                 f"({figures['sequence_calls']} calls, {rate:,.0f}/s)")
    return text


class Listener:
    """A session LISTENing on lms_events that reads every notification (the old event hub's part)."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute("listen lms_events")
        self.received = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping:
            for _ in self.conn.notifies(timeout=0.5):
                self.received += 1

    def close(self) -> None:
        self.stopping = True
        self.thread.join(5)
        self.conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", action="append", default=[], help="another git revision to compare (repeatable)")
    parser.add_argument("--clients", default="1,8,32", help="comma-separated client counts (-c N -j N)")
    parser.add_argument("--seconds", type=int, default=10, help="pgbench -T per point")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3, help="seconds of each transaction before round 1 (0: none)")
    parser.add_argument("--listen", action="store_true", help="a session LISTENs on lms_events meanwhile")
    parser.add_argument("--durable", action="store_true", help="fsync and synchronous_commit on")
    args = parser.parse_args(argv)
    clients = [int(c) for c in args.clients.split(",")]

    workdir = Path(tempfile.mkdtemp(prefix="lms-write-path-"))
    workdir.chmod(0o755)
    cluster = Cluster(workdir / "pg", durable=args.durable)
    worktrees: list[Path] = []
    listeners: list[Listener] = []
    try:
        cluster.init()
        cluster.start()
        head = git("rev-parse", "--short", "HEAD")
        dirty = " + changes" if git("status", "--porcelain", "--untracked-files=no") else ""
        trees = [(f"this tree ({head}{dirty})", "this_tree", ROOT)]
        for rev in args.rev:
            short = git("rev-parse", "--short", f"{rev}^{{commit}}")
            path = workdir / f"tree-{short}"
            git("worktree", "add", "--detach", str(path), short)
            worktrees.append(path)
            trees.append((short, f"rev_{short}", path))

        baseline = Target("baseline", "baseline")
        prepare_baseline(cluster, baseline)
        targets = [baseline]
        for label, dbname, tree in trees:
            target = Target(label, dbname)
            rpc_file = prepare_design(cluster, target, tree)
            targets.append(target)
            print(f"{label}: migrated with {rpc_file}; emit_event: {target.features}")
        for target in targets:
            path = workdir / f"{target.dbname}.sql"
            path.write_text(target.script)
            print(f"\n{target.label} — {target.features} — {path}:\n{target.script.rstrip()}")
        if args.listen:
            listeners = [Listener(cluster.url(t.dbname)) for t in targets[1:]]
        example = pgbench_cmd(cluster, workdir / "<target>.sql", 0, args.seconds, "<target>")
        print("\npgbench per point:", " ".join(example).replace("-c 0 -j 0", "-c N -j N"))
        print(f"cluster: {'durable' if args.durable else 'fsync = off, synchronous_commit = off'}; "
              f"listener: {'on' if args.listen else 'none'}; load average at start {os.getloadavg()[0]:.2f}\n")

        for target in targets if args.warmup else []:  # first-touch costs (catalog caches, plans) out of round 1
            run_point(cluster, target, workdir / f"{target.dbname}.sql", max(clients), args.warmup)
        for round_ in range(1, args.rounds + 1):
            order = targets if round_ % 2 else targets[::-1]
            for n in clients:
                for target in order:
                    figures = run_point(cluster, target, workdir / f"{target.dbname}.sql", n, args.seconds)
                    target.tps.setdefault(n, []).append(figures["tps"])
                    print(f"round {round_}  -c {n:<3} {target.label:<28} {describe(target, figures)}", flush=True)
        if listeners:
            print(f"\nlistener sessions received {sum(listener.received for listener in listeners):,} notifications")

        designs = targets[1:]
        ratios = [(f"{d.label.split(' (')[0]} / baseline", d, baseline) for d in designs]
        ratios += [(f"{designs[0].label.split(' (')[0]} / {d.label}", designs[0], d) for d in designs[1:]]
        print(f"\nmedian of {args.rounds} round(s), tps (ratios taken within each round, then the median); "
              f"load average at end {os.getloadavg()[0]:.2f}")
        header = ["clients", *[t.label for t in targets], *[r[0] for r in ratios]]
        rows = []
        for n in clients:
            row = [str(n), *[f"{statistics.median(t.tps[n]):,.0f}" for t in targets]]
            for _, a, b in ratios:
                row.append(f"{statistics.median(x / y for x, y in zip(a.tps[n], b.tps[n], strict=True)):.2f}")
            rows.append(row)
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for r in [header, *rows]:
            print("  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)))
        return 0
    finally:
        for listener in listeners:
            listener.close()
        cluster.stop("immediate")
        for path in worktrees:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=False)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
