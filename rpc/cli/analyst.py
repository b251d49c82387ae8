"""`lms analyst grant|revoke|list`: PostgreSQL logins for analysts, linked to an LMS user.

An analyst's login is a member of `lms_analyst`; `app.analyst_logins` links it to an LMS user, so
row-level security shows it exactly what that user may see (app.current_user_id()). Each login
gets limits a DBA can change afterwards with ALTER ROLE: a connection limit, a statement
timeout and an idle-in-transaction timeout. The password is read from a prompt or stdin (never
argv) and sent as a SCRAM verifier computed by libpq, so the password itself is in no statement.
Needs a role with CREATEROLE (the embedded cluster's superuser has it).
"""

from __future__ import annotations

import argparse
import sys

import psycopg

DEFAULT_CONNECTION_LIMIT = 5
DEFAULT_STATEMENT_TIMEOUT = "30s"


def add_parser(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser("analyst", help="analyst grant|revoke|list: PostgreSQL logins under RLS, linked to a user")
    a.add_argument("action", choices=["grant", "revoke", "list"])
    a.add_argument("login", nargs="?", help="the PostgreSQL login name (grant, revoke)")
    a.add_argument("--user", help="grant: the email of the LMS user whose view the analyst gets")
    a.add_argument("--connection-limit", type=int, default=DEFAULT_CONNECTION_LIMIT)
    a.add_argument("--statement-timeout", default=DEFAULT_STATEMENT_TIMEOUT)
    a.set_defaults(func=run)


def run(args: argparse.Namespace, settings) -> int:
    from rpc.cli.users import quiet_logging, read_password
    from rpc.db.cluster import database_url

    if args.action != "list" and not args.login:
        print("error: name the login", file=sys.stderr)
        return 2
    if args.action == "grant" and not args.user:
        print("error: grant needs --user EMAIL", file=sys.stderr)
        return 2
    try:
        password = read_password() if args.action == "grant" else None
    except (ValueError, EOFError, KeyboardInterrupt) as exc:
        print(f"error: {exc or 'no password given'}", file=sys.stderr)
        return 1
    try:
        with psycopg.connect(database_url(settings), autocommit=True) as conn:
            quiet_logging(conn)
            if args.action == "grant":
                return grant(conn, args, password or "", settings)
            if args.action == "revoke":
                return revoke(conn, args.login)
            return show(conn)
    except psycopg.errors.InsufficientPrivilege as exc:
        print(f"error: {exc.diag.message_primary} — this needs a role with CREATEROLE (DATABASE_URL)",
              file=sys.stderr)
        return 1
    except psycopg.Error as exc:
        print(f"error: {exc.diag.message_primary or exc}", file=sys.stderr)
        return 1


def grant(conn: psycopg.Connection, args: argparse.Namespace, password: str, settings) -> int:
    """internal.analyst_grant (the rules are in SQL); here only the password's length and its SCRAM verifier."""
    if len(password) < 12:
        print("error: the password needs at least 12 characters", file=sys.stderr)
        return 1
    verifier = conn.pgconn.encrypt_password(password.encode(), args.login.encode(), b"scram-sha-256").decode()
    try:
        (done,) = conn.execute("select internal.analyst_grant(%s, %s, %s, %s, %s, %s)",
                               [args.login, args.user, verifier, args.connection_limit, args.statement_timeout,
                                settings.analyst_temp_file_limit]).fetchone()
    except psycopg.Error as exc:
        if exc.sqlstate == "LM404":
            print(f"error: no LMS user with the email {args.user}: link the login to an existing user (e.g. "
                  f"instructor@demo.lms in the demo), or create one first: lms user create --email {args.user} "
                  f"--role instructor", file=sys.stderr)
            return 1
        raise
    print(f"{'created' if done['created'] else 'updated'} analyst login {args.login} → {done['email']} "
          f"({done['role']}); connection limit {done['connection_limit']}, statement_timeout "
          f"{done['statement_timeout']}, temp_file_limit {done['temp_file_limit']}; transactions older than "
          f"{done['max_transaction_seconds']} s are ended by the server's watchdog")
    return 0


def revoke(conn: psycopg.Connection, login: str) -> int:
    try:
        (outcome,) = conn.execute("select internal.analyst_revoke(%s)", [login]).fetchone()
    except psycopg.errors.DependentObjectsStillExist as exc:
        print(f"error: {login} still owns or has privileges on objects; reassign or drop them first "
              f"(REASSIGN OWNED BY {login} TO …; DROP OWNED BY {login}):\n{exc.diag.message_detail}",
              file=sys.stderr)
        return 1
    print(f"no login {login}; nothing to do" if outcome == "absent" else f"revoked analyst login {login}")
    return 0


def show(conn: psycopg.Connection) -> int:
    rows = conn.execute(
        "select r.rolname, u.email, u.role, u.is_active, r.rolconnlimit, "
        "       array_to_string(coalesce(s.setconfig, '{}'), ' ') "
        "from pg_roles r "
        "left join app.analyst_logins l on l.login_name = r.rolname "
        "left join app.users u on u.id = l.user_id "
        "left join pg_db_role_setting s on s.setrole = r.oid and s.setdatabase = 0 "
        "where pg_has_role(r.oid, 'lms_analyst'::regrole, 'member') and r.rolname <> 'lms_analyst' and not r.rolsuper "
        "order by r.rolname").fetchall()
    print(f"{'login':<24} {'user':<32} {'role':<11} {'active':<6} {'conn':<5} settings")
    for login, email, role, active, limit, config in rows:
        print(f"{login:<24} {email or '(not linked)':<32} {role or '-':<11} {str(active or False):<6} "
              f"{limit:<5} {config}")
    return 0
