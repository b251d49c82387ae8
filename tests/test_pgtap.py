"""Runs every pgTAP file in tests/sql/ with pg_prove, each against a fresh database that has
pgTAP and the `tests` helper schema, connected as lms_authenticator (the RPC layer's login)."""

from __future__ import annotations

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
        conn.execute("create extension pgtap")
        for helper in HELPERS:
            conn.execute(helper.read_text())
        conn.execute(sql.SQL("grant temporary on database {} to lms_authenticator").format(sql.Identifier(db.name)))
    out = subprocess.run(
        [prove, "--failures", "-h", str(db.cluster.socket_dir), "-p", str(db.cluster.port),
         "-U", "lms_authenticator", "-d", db.name, str(path)],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, f"pg_prove {path.name} failed:\n{out.stdout}\n{out.stderr}"
