"""`lms db up|down|url|migrate|rollback|status|reset|maintain|seed`: the database, for a DBA."""

from __future__ import annotations

import argparse
import json
import sys
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from rpc.core.config import Settings, policy_seeds
from rpc.db.cluster import database_url, default_cluster


def run(args: argparse.Namespace, settings: Settings) -> int:
    from rpc.db.migrate import Migrator, maintain

    if args.action == "up":
        if settings.database_url:
            print("DATABASE_URL is set: nothing to start.", file=sys.stderr)
            return 0
        cluster = default_cluster(settings.home)
        cluster.up()
        print(f"PostgreSQL running; DATABASE_URL={cluster.url()}")
        print(f"psql: psql '{cluster.url()}'")
        return 0
    if args.action == "down":
        default_cluster(settings.home).stop()
        return 0
    if args.action == "url":
        url = database_url(settings, start=False)
        print(url_as(url, args.user) if args.user else url)
        return 0
    url = database_url(settings)
    migrator = Migrator(url, settings.migrate_lock_wait_seconds, seeds=policy_seeds(settings))
    try:
        if args.action == "migrate":
            applied = migrator.migrate(force_repeatable=args.repeatable)
            print(f"applied {len(applied)} migration(s); repeatable SQL "
                  + ("re-applied" if migrator.repeatable_applied else "unchanged (--repeatable re-applies it)"))
        elif args.action == "rollback":
            done = migrator.rollback(None if args.all else args.count)
            print("rolled back: " + (", ".join(done) or "nothing"))
        elif args.action == "status":
            for mid, applied in migrator.status():
                print(f"{'applied' if applied else 'pending'}  {mid}")
        elif args.action == "reset":
            migrator.rollback(None)
            migrator.migrate()
            print("database reset: rolled back everything and migrated again")
        elif args.action == "maintain":
            from rpc.workers.storage import sweep

            report = maintain(migrator.backend.connection)
            report["storage"] = sweep(migrator.backend.connection, settings)  # bytes follow the rows
            print(json.dumps(report, indent=2, default=str))
        elif args.action == "seed":
            from rpc.db.demo import seed

            seed(url)
    finally:
        migrator.close()
    return 0


def url_as(url: str, user: str) -> str:
    """The same database under another login (`lms db url --user ana`: an analyst's psql). psql lets a
    URL's user win over -U, so the login goes into the URL; no password is carried over."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = quote(user, safe="") + "@" + host + (f":{parts.port}" if parts.port else "")
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k not in ("user", "password")])
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def add_parser(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("db", help="database: up|down|url|migrate|rollback|status|reset|maintain|seed")
    d.add_argument("action",
                   choices=["up", "down", "url", "migrate", "rollback", "status", "reset", "maintain", "seed"])
    d.add_argument("--count", type=int, default=1, help="rollback: how many migrations (default 1)")
    d.add_argument("--user", help="url: the URL for this login instead (e.g. an analyst's, for psql)")
    d.add_argument("--all", action="store_true", help="rollback: every migration")
    d.add_argument("--repeatable", action="store_true",
                   help="migrate: re-apply sql/functions and sql/policies even when unchanged")
    d.set_defaults(func=run)
