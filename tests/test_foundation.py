"""Foundation: migrations round-trip, sql/schema ↔ migrations drift, constraint behaviour,
the analyst side of app.current_user_id(), and the static checks (plpgsql_check, squawk, ruff)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from rpc.db.migrate import ROOT, Migrator, apply_repeatable, maintain
from tests.helpers.foundation import schema_dump


def test_migrate_rollback_all_migrate_gives_identical_schema(pg_cluster, scratch):
    name = scratch()
    migrator = Migrator(pg_cluster.url(name))
    try:
        versioned = [p for p in (ROOT / "migrations").glob("*.sql") if ".rollback" not in p.name]
        assert len(migrator.migrate()) == len(versioned)
        first = schema_dump(pg_cluster, name)
        rolled = migrator.rollback(None)
        assert len(rolled) == len(migrator.migrations)
        with psycopg.connect(pg_cluster.url(name)) as conn:
            left = conn.execute("select count(*) from pg_namespace where nspname in "
                                "('app', 'api', 'internal', 'analytics', 'partitions')").fetchone()[0]
        assert left == 0, "rolling everything back leaves no project schema"
        migrator.migrate()
        assert schema_dump(pg_cluster, name) == first
        assert migrator.migrate() == [], "a second migrate applies nothing and still succeeds"
    finally:
        migrator.close()


def test_schema_files_build_the_same_database_as_the_migrations(pg_cluster, template_db, scratch):
    name = scratch()
    with psycopg.connect(pg_cluster.url(name), autocommit=True) as conn:
        for path in sorted((ROOT / "sql" / "schema").glob("*.sql")):
            with conn.transaction():
                conn.execute(path.read_text())
        apply_repeatable(conn)
        maintain(conn)
    assert schema_dump(pg_cluster, name) == schema_dump(pg_cluster, template_db)


@pytest.mark.parametrize("statement, sqlstate", [
    ("insert into app.courses (instructor_id, title, price_cents) values (%(instructor)s, 'x', -1)", "23514"),
    ("update app.enrollments set progress_percentage = 101 where id = %(enrollment)s", "23514"),
    ("insert into app.users (email, password_hash, full_name, role) values ('r@x.test', 'h', 'R', 'wizard')", "23514"),
    ("insert into app.enrollments (user_id, course_id) values (%(student)s, %(course)s)", "23505"),
    ("insert into app.users (email, password_hash, full_name) values ('Ada@Example.TEST', 'h', 'Ada 2')", "23505"),
    ("insert into app.users (email, password_hash, full_name) values (' pad@x.test', 'h', 'Pad')", "23514"),
    ("insert into app.lessons (course_id, title, lesson_order) values (%(course)s, 'L', 0)", "23514"),
])
def test_constraints_reject_bad_rows(db, statement, sqlstate):
    with db.connect() as conn:
        student = conn.execute("insert into app.users (email, password_hash, full_name) "
                               "values ('ada@example.test', 'h', 'Ada') returning id").fetchone()[0]
        instructor = conn.execute("insert into app.users (email, password_hash, full_name, role) "
                                  "values ('prof@example.test', 'h', 'Prof', 'instructor') returning id").fetchone()[0]
        conn.execute("insert into app.instructors (user_id) values (%s) on conflict do nothing", [instructor])
        course = conn.execute("insert into app.courses (instructor_id, title) values (%s, 'C') returning id",
                              [instructor]).fetchone()[0]
        enrollment = conn.execute("insert into app.enrollments (user_id, course_id) values (%s, %s) returning id",
                                  [student, course]).fetchone()[0]
        with pytest.raises(psycopg.Error) as info:
            conn.execute(statement, {"student": student, "instructor": instructor, "course": course,
                                     "enrollment": enrollment})
        assert info.value.sqlstate == sqlstate


def test_analyst_gets_their_mapping_and_cannot_forge_an_id(db, analyst):
    with db.connect() as conn:
        mine, other = (conn.execute("insert into app.users (email, password_hash, full_name) values (%s, 'h', 'A') "
                                    "returning id", [f"{n}@example.test"]).fetchone()[0] for n in ("ana", "eve"))
    login = analyst(mine)
    with db.connect(login) as conn:
        assert conn.execute("select app.current_user_id()").fetchone()[0] == mine
        conn.execute("select set_config('lms.user_id', %s, false)", [str(other)])
        assert conn.execute("select app.current_user_id()").fetchone()[0] == mine
        conn.execute("set role lms_analyst")
        assert conn.execute("select app.current_user_id()").fetchone()[0] == mine
        rows = conn.execute("select id from app.users").fetchall()
        assert rows == [(mine,)], "RLS shows the analyst only what their user may see"


def test_plpgsql_check_finds_no_errors(db):
    with db.connect() as conn:
        conn.execute("create extension plpgsql_check")
        rows = conn.execute(
            """
            select p.oid::regprocedure::text, c.level, c.message, c.lineno
            from pg_proc p
            join pg_language l on l.oid = p.prolang and l.lanname = 'plpgsql'
            cross join lateral plpgsql_check_function_tb(
                p.oid, coalesce((select t.tgrelid from pg_trigger t where t.tgfoid = p.oid limit 1), 0)::regclass
            ) c
            where p.pronamespace in ('app'::regnamespace, 'api'::regnamespace, 'internal'::regnamespace)
              and c.level = 'error'
            """
        ).fetchall()
    assert rows == [], "\n".join(f"{r[0]} line {r[3]}: {r[2]}" for r in rows)


def test_squawk_accepts_the_migrations():
    squawk = shutil.which("squawk") or str(Path(__import__("sys").executable).parent / "squawk")
    files = sorted(str(p) for p in (ROOT / "migrations").glob("*.sql"))
    out = subprocess.run([squawk, *files], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_accepts_the_python():
    ruff = shutil.which("ruff") or str(Path(__import__("sys").executable).parent / "ruff")
    out = subprocess.run([ruff, "check", "rpc", "tests", "bench"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


def test_no_sql_built_by_string_formatting_in_python():
    pattern = re.compile(r"(execute|fetch\w*)\(\s*f[\"']|\.format\(", re.I)
    offenders = []
    for path in list((ROOT / "rpc").rglob("*.py")):
        for no, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line) and re.search(r"select|insert|update|delete|call", line, re.I) \
                    and not re.search(r"sql\.SQL|SQL\(|Identifier|Literal", line):
                offenders.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()}")
    assert offenders == []
