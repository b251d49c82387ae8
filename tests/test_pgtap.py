"""Runs every pgTAP file in tests/sql/ with pg_prove, each against a fresh database that has
pgTAP and the `tests` helper schema, connected as lms_authenticator (the RPC layer's login)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from psycopg import sql

SQL_TESTS = Path(__file__).parent / "sql"
HELPERS = sorted((SQL_TESTS / "helpers").glob("*.sql"))
FILES = sorted(SQL_TESTS.glob("*_test.sql"))


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_pgtap_file(db, path):
    prove = shutil.which("pg_prove")
    assert prove, "pg_prove not found: apt-get install libtap-parser-sourcehandler-pgtap-perl postgresql-15-pgtap"
    with db.connect() as conn:
        # A login for files that test the analyst path (`-- pg_prove user: lms_test_analyst`).
        conn.execute("do $$ begin if not exists (select from pg_roles where rolname = 'lms_test_analyst') then "
                     "create role lms_test_analyst login in role lms_analyst; end if; end $$")
        conn.execute(sql.SQL("grant temporary on database {} to lms_test_analyst").format(sql.Identifier(db.name)))
        conn.execute("create extension pgtap")
        for helper in HELPERS:
            conn.execute(helper.read_text())
        # Structural assertions resolve names like 'app.users'::regclass: schema USAGE only (no
        # table privilege) for the login in these throw-away databases.
        conn.execute("grant usage on schema app, api, internal, analytics, partitions to lms_authenticator")
        conn.execute(sql.SQL("grant temporary on database {} to lms_authenticator").format(sql.Identifier(db.name)))
    # Behaviour runs as the RPC login; a structural file may ask for the superuser, whose
    # catalog views show every constraint (`-- pg_prove user: postgres` in its first lines).
    header = path.read_text()[:500]
    match = re.search(r"^-- pg_prove user: (\w+)$", header, re.M)
    user = match.group(1) if match else "lms_authenticator"
    out = subprocess.run(
        [prove, "--failures", "-h", str(db.cluster.socket_dir), "-p", str(db.cluster.port),
         "-U", user, "-d", db.name, str(path)],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, f"pg_prove {path.name} failed:\n{out.stdout}\n{out.stderr}"
