"""Migrations (yoyo) and the repeatable SQL (sql/functions, sql/policies).

`migrate` applies pending versioned migrations and then, every time, re-applies the
repeatable SQL in one transaction while holding yoyo's lock, and runs the upkeep functions
(`internal.maintain_*`). yoyo's own post-apply hook would skip that when nothing is pending.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from yoyo import get_backend, read_migrations

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "migrations"
SQL = ROOT / "sql"


def yoyo_url(database_url: str) -> str:
    parts = urlsplit(database_url)
    return urlunsplit(("postgresql+psycopg", *parts[1:]))


def repeatable_files() -> list[Path]:
    """sql/functions then sql/policies, each in path order, folders included (a large domain is a
    numbered folder with one topic per file: sql/functions/10_identity/06_login.sql)."""
    def in_order(folder: Path) -> list[Path]:
        return sorted(folder.rglob("*.sql"), key=lambda p: p.relative_to(folder).parts)
    return in_order(SQL / "functions") + in_order(SQL / "policies")


def apply_repeatable(conn: psycopg.Connection) -> None:
    """Re-apply sql/functions then sql/policies, all or nothing, as the owner role."""
    with conn.transaction():
        conn.execute("select set_config('role', 'lms_owner', true)")
        for path in repeatable_files():
            try:
                conn.execute(path.read_text())
            except psycopg.Error as exc:
                raise RuntimeError(f"{path.relative_to(ROOT)}: {exc}") from exc


def maintain(conn: psycopg.Connection, event_retention_days: int = 90) -> dict:
    """Run every internal.maintain_*() function (partitions ahead, purges, expiries)."""
    report: dict = {}
    with conn.transaction():
        conn.execute("select set_config('role', 'lms_owner', true), "
                     "set_config('lms.event_retention_days', %s, true)", [str(event_retention_days)])
        names = conn.execute(
            "select p.oid::regprocedure::text, p.proname from pg_proc p "
            "where p.pronamespace = 'internal'::regnamespace and p.proname like 'maintain\\_%' "
            "and p.pronargs = 0 order by p.proname"
        ).fetchall()
        for signature, name in names:
            (result,) = conn.execute(
                psycopg.sql.SQL("select internal.{}()").format(psycopg.sql.Identifier(name))
            ).fetchone()
            report[signature] = result
    return report


def drop_repeatable(conn: psycopg.Connection) -> None:
    """Before a rollback: drop what the repeatable SQL made (policies, triggers, analytics views,
    functions), since it may depend on tables the rollback drops. Never CASCADE: a table's own
    constraint must not go with a function by accident."""
    with conn.transaction():
        conn.execute(
            """
            do $$
            declare v record;
            begin
              for v in select policyname, schemaname, tablename from pg_policies where schemaname = 'app' loop
                execute format('drop policy %I on %I.%I', v.policyname, v.schemaname, v.tablename);
              end loop;
              for v in select t.tgname, t.tgrelid::regclass as rel from pg_trigger t
                       join pg_class c on c.oid = t.tgrelid
                       where c.relnamespace = 'app'::regnamespace and not t.tgisinternal and t.tgparentid = 0 loop
                execute format('drop trigger %I on %s', v.tgname, v.rel);
              end loop;
              for v in select c.oid::regclass as rel, c.relkind from pg_class c
                       where c.relnamespace = 'analytics'::regnamespace and c.relkind in ('v', 'm') loop
                execute format(case when v.relkind = 'm' then 'drop materialized view %s' else 'drop view %s' end,
                               v.rel);
              end loop;
              for v in select p.oid::regprocedure as fn from pg_proc p
                       where p.pronamespace in ('app'::regnamespace, 'api'::regnamespace, 'internal'::regnamespace)
                       order by p.pronamespace = 'internal'::regnamespace loop
                execute format('drop function if exists %s', v.fn);
              end loop;
            end $$
            """
        )


class Migrator:
    def __init__(self, database_url: str):
        self.database_url = database_url
        self.backend = get_backend(yoyo_url(database_url))
        self.migrations = read_migrations(str(MIGRATIONS))

    def migrate(self) -> list[str]:
        with self.backend.lock():
            pending = self.backend.to_apply(self.migrations)
            self.backend.apply_migrations_only(pending)
            apply_repeatable(self.backend.connection)
            maintain(self.backend.connection)
        return [m.id for m in pending]

    def rollback(self, count: int | None = 1) -> list[str]:
        """Roll back the last `count` migrations (all when None)."""
        with self.backend.lock():
            applied = self.backend.to_rollback(self.migrations)
            todo = applied if count is None else applied[:count]
            if not todo:
                return []
            if self._has_schema():
                drop_repeatable(self.backend.connection)
            self.backend.rollback_migrations(todo)
            remaining = self.backend.to_rollback(self.migrations)
            if remaining:
                apply_repeatable(self.backend.connection)
        return [m.id for m in todo]

    def status(self) -> list[tuple[str, bool]]:
        applied = {m.id for m in self.backend.to_rollback(self.migrations)}
        return [(m.id, m.id in applied) for m in self.migrations]

    def _has_schema(self) -> bool:
        row = self.backend.connection.execute("select to_regnamespace('app') is not null").fetchone()
        return bool(row and row[0])

    def close(self) -> None:
        self.backend.connection.close()
