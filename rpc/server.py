"""`lms serve`: make sure the database is there and migrated, then serve HTTP."""

from __future__ import annotations

import logging
import sys

from aiohttp import web

from rpc.app import create_app
from rpc.config import Settings
from rpc.db import server_url


def serve(settings: Settings, demo: bool = False) -> int:
    from rpc.cli import database_url
    from rpc.migrate import Migrator

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    url = database_url(settings)
    migrator = Migrator(url)
    try:
        applied = migrator.migrate()
    finally:
        migrator.close()
    print(f"database migrated ({len(applied)} new migration(s))", file=sys.stderr)
    if demo:
        from rpc.demo import seed

        seed(url)
    app = create_app(settings, server_url(settings, url))
    print(f"serving JSON-RPC on http://{settings.host}:{settings.port}/rpc  (API reference: "
          f"http://{settings.host}:{settings.port}/)", file=sys.stderr)
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None, shutdown_timeout=30)
    return 0
