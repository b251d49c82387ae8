"""`lms user …`: bootstrap and repair accounts from the shell (DBA connection)."""

from __future__ import annotations

import argparse


def add_parsers(sub: argparse._SubParsersAction) -> None:
    u = sub.add_parser("user", help="user create|set-password (password read from a prompt or stdin)")
    u.add_argument("action", choices=["create", "set-password"])
    u.add_argument("--email", required=True)
    u.add_argument("--full-name", default=None)
    u.add_argument("--role", default="student", choices=["student", "instructor", "admin"])
    u.set_defaults(func=run)


def run(args: argparse.Namespace, settings) -> int:
    print("lms user: not available until the identity functions exist", flush=True)
    return 1
