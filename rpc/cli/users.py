"""`lms user …`: bootstrap and repair accounts from the shell (DBA connection).

The password is read from a prompt (twice) or, when stdin is not a terminal, from its first
line; never from an argument (it would land in the shell history and `ps`). Validation and
hashing happen in SQL (internal.create_user / internal.set_password_by_email), as for the API.
"""

from __future__ import annotations

import argparse
import getpass
import sys

import psycopg


def add_parser(sub: argparse._SubParsersAction) -> None:
    u = sub.add_parser("user", help="user create|set-password (password read from a prompt or stdin)")
    u.add_argument("action", choices=["create", "set-password"])
    u.add_argument("--email", required=True)
    u.add_argument("--full-name", default=None, help="create: default the email's local part")
    u.add_argument("--role", default="student", choices=["student", "instructor", "admin"])
    u.set_defaults(func=run)


def read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise ValueError("the passwords differ")
    return first


def quiet_logging(conn: psycopg.Connection) -> None:
    """This session sends a password: as a superuser, keep its statements and parameters out of the
    log whatever postgresql.conf says (values are bound server-side anyway: `$1` in the text)."""
    if conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()[0]:
        for name, value in (("log_statement", "none"), ("log_min_error_statement", "panic"),
                            ("log_min_duration_statement", "-1"), ("log_parameter_max_length", "0"),
                            ("log_parameter_max_length_on_error", "0")):
            conn.execute("select set_config(%s, %s, false)", [name, value])


def run(args: argparse.Namespace, settings) -> int:
    from rpc.db.cluster import database_url

    try:
        password = read_password()
    except (ValueError, EOFError, KeyboardInterrupt) as exc:
        print(f"error: {exc or 'no password given'}", file=sys.stderr)
        return 1
    try:
        with psycopg.connect(database_url(settings), autocommit=True) as conn:
            quiet_logging(conn)
            if args.action == "create":
                full_name = args.full_name or args.email.strip().split("@", 1)[0]
                (user_id,) = conn.execute(
                    "select internal.create_user(%s, %s, %s, %s)",
                    [args.email, password, full_name, args.role],
                ).fetchone()
                print(f"created {args.role} {args.email.strip()} ({user_id})")
            else:
                (user_id,) = conn.execute(
                    "select internal.set_password_by_email(%s, %s)", [args.email, password]
                ).fetchone()
                print(f"password set for {args.email.strip()} ({user_id}); their sessions were revoked")
    except psycopg.Error as exc:
        diag = exc.diag
        reason = f" ({diag.message_detail})" if diag.message_detail else ""
        print(f"error: {diag.message_primary or exc}{reason}", file=sys.stderr)
        return 1
    return 0
