"""The `lms` command: serve, run the embedded database, migrate, seed, manage users."""

from __future__ import annotations

import argparse
import json
import sys

from rpc import analystcli, benchcli, docs, events, outbox, paymentscli, usercli
from rpc.cluster import ClusterError, default_cluster
from rpc.config import Settings, database_url, policy_seeds
from rpc.migrate import MigrationBlocked, RollbackFailed, RollbackRefused


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from rpc.migrate import Migrator, maintain

    if args.action == "up":
        if settings.database_url:
            print("DATABASE_URL is set: nothing to start.", file=sys.stderr)
            return 0
        cluster = default_cluster()
        cluster.up()
        print(f"PostgreSQL running; DATABASE_URL={cluster.url()}")
        print(f"psql: psql '{cluster.url()}'")
        return 0
    if args.action == "down":
        default_cluster().stop()
        return 0
    if args.action == "url":
        print(database_url(settings, start=False))
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
            from rpc.storage import sweep

            report = maintain(migrator.backend.connection)
            report["storage"] = sweep(migrator.backend.connection, settings)  # bytes follow the rows
            print(json.dumps(report, indent=2, default=str))
        elif args.action == "seed":
            from rpc.demo import seed

            seed(url)
    finally:
        migrator.close()
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from rpc.server import serve

    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    if args.workers:
        settings.workers = args.workers
    return serve(settings, demo=args.demo)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lms", description="LMS backend: JSON-RPC server and database tools")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="migrate and serve JSON-RPC on HTTP (embedded PostgreSQL without DATABASE_URL)")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--demo", action="store_true", help="load the demo data set and print its logins")
    s.add_argument("--workers", type=int, help="server processes sharing the port (default LMS_WORKERS or 1)")
    s.set_defaults(func=cmd_serve)

    d = sub.add_parser("db", help="database: up|down|url|migrate|rollback|status|reset|maintain|seed")
    d.add_argument("action",
                   choices=["up", "down", "url", "migrate", "rollback", "status", "reset", "maintain", "seed"])
    d.add_argument("--count", type=int, default=1, help="rollback: how many migrations (default 1)")
    d.add_argument("--all", action="store_true", help="rollback: every migration")
    d.add_argument("--repeatable", action="store_true",
                   help="migrate: re-apply sql/functions and sql/policies even when unchanged")
    d.set_defaults(func=cmd_db)

    for module in (usercli, analystcli, outbox, paymentscli, events, benchcli, docs):  # each registers its own
        module.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args, Settings())
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (MigrationBlocked, RollbackRefused, RollbackFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
