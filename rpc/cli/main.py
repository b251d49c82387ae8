"""The `lms` command. Each command group is a module of rpc/cli that registers its own parser."""

from __future__ import annotations

import argparse
import sys

from rpc.cli import analyst, db, docs, events, lti, oneroster, outbox, payments, serve, users, xapi
from rpc.core.config import Settings
from rpc.db.cluster import ClusterError
from rpc.db.migrate import MigrationBlocked, RollbackFailed, RollbackRefused

GROUPS = (serve, db, users, analyst, outbox, payments, events, xapi, oneroster, lti, docs)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lms", description="LMS backend: JSON-RPC server and database tools")
    sub = p.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args, Settings())
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (MigrationBlocked, RollbackFailed, RollbackRefused) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
