"""`lms serve`: make sure the database is there and migrated, then serve HTTP.

With --workers N (> 1) the migrated parent forks N server processes that share the port
(SO_REUSEPORT); each has its own pool. The parent supervises them (`supervise`): a worker that dies
unasked is reported and replaced (a bounded number of times), and the exit status is non-zero when
any worker died or stopped uncleanly. SIGTERM/SIGINT to the parent stop all of them gracefully
(in-flight calls finish); SIGHUP is passed on (reload the method catalog)."""

from __future__ import annotations

import argparse
import errno
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import time

from aiohttp import web

from rpc.core.config import Settings, policy_seeds, production_problems
from rpc.db.calls import server_database_url
from rpc.http.app import create_app


def _run(settings: Settings, url: str, reuse_port: bool) -> None:
    app = create_app(settings, url)
    try:
        web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None, shutdown_timeout=30,
                    reuse_port=reuse_port or None)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        print(f"error: {settings.host}:{settings.port} {PORT_IN_USE}", file=sys.stderr)
        sys.exit(1)


PORT_IN_USE = "is in use by another process: stop it, or choose another port with LMS_PORT=…"


def port_taken(host: str, port: int) -> bool:
    """Whether host:port is already bound by another process (checked before anything is announced)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def serve(settings: Settings, demo: bool = False) -> int:
    """Serve until SIGINT/SIGTERM. An embedded cluster this call had to start is stopped on the way out
    (one it found running, e.g. after `lms db up`, is left running)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("yoyo").setLevel(logging.WARNING)
    if settings.environment == "production" and not demo and (problems := production_problems(settings)):
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        print("refusing to serve in production (LMS_ENVIRONMENT=production, the default); for development "
              "set LMS_ENVIRONMENT=development or use `lms serve --demo` (make serve)", file=sys.stderr)
        return 2
    if port_taken(settings.host, settings.port):
        print(f"error: {settings.host}:{settings.port} {PORT_IN_USE}", file=sys.stderr)
        return 1
    cluster = None
    if not settings.database_url:
        from rpc.db.cluster import default_cluster

        cluster = default_cluster(settings.home)
        if cluster.exists() and cluster.is_running():
            cluster = None  # not ours to stop
    try:
        return _serve(settings, demo)
    finally:
        if cluster is not None and cluster.is_running():
            print("stopping the embedded PostgreSQL cluster", file=sys.stderr)
            cluster.stop()


def _serve(settings: Settings, demo: bool) -> int:
    from rpc.db.cluster import database_url
    from rpc.db.migrate import Migrator

    url = database_url(settings)
    migrator = Migrator(url, settings.migrate_lock_wait_seconds, seeds=policy_seeds(settings))
    try:
        applied = migrator.migrate()  # bounded: MigrationBlocked names the blockers (lms exits 3)
    finally:
        migrator.close()
    print(f"database migrated ({len(applied)} new migration(s))", file=sys.stderr)
    if demo:
        from rpc.db.demo import seed

        seed(url)
    target = server_database_url(settings, url)
    workers = settings.workers
    print(f"serving JSON-RPC on http://{settings.host}:{settings.port}/rpc with {workers} worker(s) "
          f"(API reference: http://{settings.host}:{settings.port}/)", file=sys.stderr)
    if workers <= 1:
        _run(settings, target, reuse_port=False)
        return 0
    return supervise(settings, target, workers)


RESTARTS_ALLOWED = 5  # worker deaths within RESTART_WINDOW seconds before the supervisor gives up
RESTART_WINDOW = 60.0


FORWARDED = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


def _worker(settings: Settings, target: str) -> None:
    """A forked worker: none of the supervisor's signal handlers (a replacement is forked after they are
    installed), SIGHUP ignored until the app's own handler replaces it; then serve. It is forked with the
    forwarded signals blocked (supervise.start) and unblocks them only here: a SIGTERM that arrives in
    between is delivered now, to the default action (the worker serves nothing yet), instead of running
    the copy of the supervisor's handler that a fork inherits — which passed it on and lost it, leaving
    a replacement worker that never stopped."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
    _run(settings, target, reuse_port=True)


def exit_text(code: int | None) -> str:
    return f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"


def supervise(settings: Settings, target: str, workers: int) -> int:
    """Fork `workers` server processes sharing the port and keep that many alive: a worker that dies
    while no shutdown was asked for (a crash, SIGKILL, the OOM killer) is reported and replaced, up to
    RESTARTS_ALLOWED times in RESTART_WINDOW seconds (then everything stops, exit 1). SIGTERM/SIGINT
    stop all gracefully; SIGHUP is passed on. The exit status says what happened: 0 when every worker
    stopped cleanly on request, else 1."""
    ctx = multiprocessing.get_context("fork")
    # A SIGHUP arriving before a new worker installed its own handler (rpc/http/app.py) must not kill it:
    # workers start with SIGHUP ignored, and the loop's handler replaces that.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def start() -> multiprocessing.Process:
        child = ctx.Process(target=_worker, args=(settings, target), daemon=False)
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)  # until the child resets its handlers
        try:
            child.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        return child

    children = [start() for _ in range(workers)]
    stopping = False
    failed = False
    deaths: list[float] = []

    def forward(signum, _frame):
        nonlocal stopping
        if signum in (signal.SIGTERM, signal.SIGINT):
            stopping = True
        for child in children:
            if child.pid and child.is_alive():
                os.kill(child.pid, signal.SIGTERM if signum == signal.SIGINT else signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    while children:
        multiprocessing.connection.wait([c.sentinel for c in children], timeout=1.0)
        for child in [c for c in children if not c.is_alive()]:
            children.remove(child)
            child.join()
            if stopping:
                if child.exitcode != 0:
                    failed = True
                    print(f"worker {child.pid} stopped with {exit_text(child.exitcode)}", file=sys.stderr)
                continue
            failed = True
            now = time.monotonic()
            deaths = [t for t in deaths if now - t < RESTART_WINDOW] + [now]
            print(f"worker {child.pid} died ({exit_text(child.exitcode)})", file=sys.stderr)
            if len(deaths) > RESTARTS_ALLOWED:
                print(f"more than {RESTARTS_ALLOWED} worker deaths in {RESTART_WINDOW:.0f} s: stopping",
                      file=sys.stderr)
                forward(signal.SIGTERM, None)
                continue
            replacement = start()
            children.append(replacement)
            print(f"worker {replacement.pid} started in its place", file=sys.stderr)
    return 1 if failed else 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    if args.workers:
        settings.workers = args.workers
    return serve(settings, demo=args.demo)


def add_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("serve", help="migrate and serve JSON-RPC on HTTP (embedded PostgreSQL without DATABASE_URL)")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--demo", action="store_true", help="load the demo data set and print its logins")
    s.add_argument("--workers", type=int, help="server processes sharing the port (default LMS_WORKERS or 1)")
    s.set_defaults(func=run)
