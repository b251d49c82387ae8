"""`lms serve`: make sure the database is there and migrated, then serve HTTP.

With --workers N (> 1) the migrated parent forks N server processes that share the port
(SO_REUSEPORT); each has its own pool. SIGTERM/SIGINT to the parent stop all of them
gracefully (in-flight calls finish); SIGHUP is passed on (reload the method catalog)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys

from aiohttp import web

from rpc.app import create_app
from rpc.config import Settings
from rpc.db import server_url


def _run(settings: Settings, url: str, reuse_port: bool) -> None:
    app = create_app(settings, url)
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None, shutdown_timeout=30,
                reuse_port=reuse_port or None)


def serve(settings: Settings, demo: bool = False) -> int:
    from rpc.config import database_url
    from rpc.migrate import Migrator

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("yoyo").setLevel(logging.WARNING)
    url = database_url(settings)
    migrator = Migrator(url, settings.event_retention_days, settings.migrate_lock_wait_seconds,
                        settings.analyst_max_transaction_seconds)
    try:
        applied = migrator.migrate()  # bounded: MigrationBlocked names the blockers (lms exits 3)
    finally:
        migrator.close()
    print(f"database migrated ({len(applied)} new migration(s))", file=sys.stderr)
    if demo:
        from rpc.demo import seed

        seed(url)
    target = server_url(settings, url)
    workers = settings.workers
    print(f"serving JSON-RPC on http://{settings.host}:{settings.port}/rpc with {workers} worker(s) "
          f"(API reference: http://{settings.host}:{settings.port}/)", file=sys.stderr)
    if workers <= 1:
        _run(settings, target, reuse_port=False)
        return 0
    ctx = multiprocessing.get_context("fork")
    children = [ctx.Process(target=_run, args=(settings, target, True), daemon=False) for _ in range(workers)]
    for child in children:
        child.start()

    def forward(signum, _frame):
        for child in children:
            if child.pid and child.is_alive():
                os.kill(child.pid, signal.SIGTERM if signum == signal.SIGINT else signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    for child in children:
        child.join()
    return max((c.exitcode or 0) for c in children)
