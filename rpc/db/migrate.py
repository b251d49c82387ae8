"""Migrations (yoyo) and the repeatable SQL (sql/functions, sql/policies).

`migrate` applies pending versioned migrations and then re-applies the repeatable SQL — when it
changed since it was last applied (internal.repeatable_sql), or when forced — in one transaction
while holding yoyo's lock, and runs the upkeep functions (`internal.maintain_*`).

Migrate never keeps the API waiting behind another session: every statement runs with a short
lock_timeout (LOCK_TIMEOUT), so while it waits for a lock held elsewhere (an analyst's open
transaction) it holds the locks it took for at most that long before its transaction rolls back
and is tried again with back-off; after `lock_wait` seconds it gives up with MigrationBlocked,
naming the sessions that hold locks on the project's tables (pid, role, state, transaction start,
query) so a DBA can end them (`select pg_terminate_backend(<pid>)`).
"""

from __future__ import annotations

import hashlib
import random
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.types.json import Jsonb
from yoyo import get_backend, read_migrations

from rpc.db import lti_keys

ROOT = Path(__file__).resolve().parents[2]
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


SETTINGS_MIGRATION = "0023_policy_settings"  # creates app.settings: the environment seeds it then
LOCK_TIMEOUT = "100ms"  # the longest an API call waits behind a lock migrate holds, per try


class MigrationBlocked(RuntimeError):
    """Migrate gave up waiting for locks other sessions hold; the message names them."""


class RollbackRefused(RuntimeError):
    """A rollback that would leave functions without their schema; nothing was changed."""


class RollbackFailed(RuntimeError):
    """A rollback script failed; its transaction rolled back, nothing was changed."""


def repeatable_bundle() -> list[tuple[str, str]]:
    """(path, SQL) of every repeatable file, in the order they are applied."""
    return [(str(path.relative_to(ROOT)), path.read_text()) for path in repeatable_files()]


def bundle_sha256(bundle: list[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for path, text in bundle:
        digest.update(path.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()


def _has_bundles(conn: psycopg.Connection) -> bool:
    return conn.execute("select to_regclass('internal.repeatable_sql') is not null").fetchone()[0]


def recorded_bundle(conn: psycopg.Connection, head: str) -> tuple[str, list[tuple[str, str]]] | None:
    """(sha256, bundle) of the repeatable SQL last applied while `head` was the newest migration."""
    with conn.transaction():
        if not _has_bundles(conn):
            return None
        row = conn.execute("select sha256, bundle from internal.repeatable_sql where migration_id = %s",
                           [head]).fetchone()
    return (row[0], [tuple(f) for f in row[1]]) if row else None


def apply_repeatable(conn: psycopg.Connection, head: str | None = None,
                     bundle: list[tuple[str, str]] | None = None) -> None:
    """Apply the repeatable SQL (today's files, or a recorded `bundle`), all or nothing, as the
    owner role; with `head`, record what was applied for that newest migration (a later rollback
    to `head` re-applies exactly this)."""
    bundle = repeatable_bundle() if bundle is None else bundle
    with conn.transaction():
        conn.execute("select set_config('role', 'lms_owner', true)")
        for path, text in bundle:
            try:
                conn.execute(text)
            except psycopg.errors.LockNotAvailable:
                raise
            except psycopg.Error as exc:
                raise RuntimeError(f"{path}: {exc}") from exc
        conn.execute("reset role")
        if head is not None and _has_bundles(conn):
            conn.execute("insert into internal.repeatable_sql (migration_id, sha256, bundle) "
                         "values (%s, %s, %s) on conflict (migration_id) do update set sha256 = excluded.sha256, "
                         "bundle = excluded.bundle, applied_at = now()",
                         [head, bundle_sha256(bundle), Jsonb(bundle)])


def lock_holders(conn: psycopg.Connection) -> list[str]:
    """Other sessions holding locks on the project's relations, oldest transaction first."""
    rows = conn.execute(
        """
        select a.pid, a.usename, a.state, a.xact_start, left(regexp_replace(a.query, '[[:space:]]+', ' ', 'g'), 120)
        from pg_stat_activity a
        where a.pid <> pg_backend_pid() and a.datname = current_database()
          and exists (select from pg_locks l join pg_class c on c.oid = l.relation
                      where l.pid = a.pid and l.granted
                        and c.relnamespace::regnamespace::text
                            in ('app', 'api', 'internal', 'analytics', 'partitions'))
        order by a.xact_start nulls last, a.pid
        """).fetchall()
    return [f"pid {pid} (role {user}, {state}, transaction since {start:%Y-%m-%d %H:%M:%S%z}): {query}"
            if start else f"pid {pid} (role {user}, {state}): {query}" for pid, user, state, start, query in rows]


def _lock_not_available(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, psycopg.errors.LockNotAvailable):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def maintain(conn: psycopg.Connection) -> dict:
    """Run every internal.maintain_*() function (partitions ahead, purges, expiries, runaway
    analyst sessions), with the limits of app.settings."""
    report: dict = {}
    with conn.transaction():
        conn.execute("select set_config('role', 'lms_owner', true)")
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
    """Before a rollback: drop what the repeatable SQL made (policies, triggers, analytics and internal
    views, functions), since it may depend on tables the rollback drops. Never CASCADE: a table's own
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
                       where c.relnamespace in ('analytics'::regnamespace, 'internal'::regnamespace)
                         and c.relkind in ('v', 'm')
                       order by c.oid desc loop  -- a view before the views it reads
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
    def __init__(self, database_url: str, lock_wait: float = 60.0, bundle: list[tuple[str, str]] | None = None,
                 seeds: dict[str, int] | None = None):
        """`bundle`: the repeatable SQL this checkout applies (default: today's files under sql/).
        `seeds`: policy settings from the environment (config.policy_seeds), written into app.settings
        by the migrate that creates it — never later: the database's values hold for every process."""
        self.database_url = database_url
        self.bundle = bundle
        self.seeds = dict(seeds or {})
        self.lock_wait = lock_wait
        self.backend = get_backend(yoyo_url(database_url))
        self.migrations = read_migrations(str(MIGRATIONS))
        self.repeatable_applied = False
        with self.backend.connection.transaction():
            self.backend.connection.execute("select set_config('lock_timeout', %s, false)", [LOCK_TIMEOUT])

    def migrate(self, force_repeatable: bool = False, target: str | None = None) -> list[str]:
        """Apply what is pending (up to and including `target`; retrying while another session holds
        a lock it needs, at most lock_wait seconds: then MigrationBlocked names the holders) → the
        ids applied."""
        applied: list[str] = []

        def once() -> list[str]:
            applied.extend(self._migrate_once(force_repeatable, target))  # a migration that landed stays
            return applied
        return self._retrying(once)

    def _retrying(self, step):
        deadline = time.monotonic() + self.lock_wait
        delay = 0.1
        while True:
            try:
                return step()
            except Exception as exc:
                if not _lock_not_available(exc):
                    raise
                if time.monotonic() + delay > deadline:
                    holders = lock_holders(self.backend.connection) or ["(none left: try again)"]
                    raise MigrationBlocked(
                        f"migrate waited {self.lock_wait:.0f}s for locks that other sessions hold on the "
                        "project's tables (nothing was changed by the step that waited; the API was never "
                        f"held up more than {LOCK_TIMEOUT} at a time). Holding: " + "; ".join(holders)
                        + ". End one with: select pg_terminate_backend(<pid>); then migrate again.") from exc
                time.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, 2.0)

    def _migrate_once(self, force_repeatable: bool, target: str | None = None) -> list[str]:
        with self.backend.lock():
            pending = self.backend.to_apply(self.migrations)
            if target is not None:
                ids = [m.id for m in pending]
                pending = pending[:ids.index(target) + 1] if target in ids else []
            self.backend.apply_migrations_only(pending)  # one transaction per migration
            conn = self.backend.connection
            if self.seeds and SETTINGS_MIGRATION in {m.id for m in pending}:
                with conn.transaction():
                    for name, value in self.seeds.items():
                        conn.execute("update app.settings set value = %s, updated_at = now() where name = %s",
                                     [value, name])
            head = self._head()
            recorded = recorded_bundle(conn, head) if head else None
            bundle = repeatable_bundle() if self.bundle is None else self.bundle
            self.repeatable_applied = bool(pending) or force_repeatable \
                or recorded is None or recorded[0] != bundle_sha256(bundle)
            if self.repeatable_applied:
                apply_repeatable(conn, head, bundle)
            lti_keys.ensure_key(conn)  # the platform's first LTI signing key (Python: RSA)
            maintain(conn)
        return [m.id for m in pending]

    def rollback(self, count: int | None = 1) -> list[str]:
        """Roll back the last `count` migrations (all when None), retrying on locks like migrate."""
        return self._retrying(lambda: self._rollback_once(count))

    def _rollback_once(self, count: int | None) -> list[str]:
        """One transaction: drop the repeatable SQL, run each rollback script, unmark the migrations,
        re-apply the repeatable SQL recorded when the new newest migration was the newest. Without
        such a record (that release was never migrated here, or before records were kept) a partial
        rollback is refused before anything changes: today's functions need today's schema."""
        with self.backend.lock():
            applied = self.backend.to_rollback(self.migrations)  # newest first
            todo = applied if count is None else applied[:count]
            if not todo:
                return []
            remaining = applied[len(todo):]
            head = remaining[0].id if remaining else None
            with psycopg.connect(self.database_url, autocommit=True) as conn:
                conn.execute("select set_config('lock_timeout', %s, false)", [LOCK_TIMEOUT])
                bundle = recorded_bundle(conn, head) if head else None
                if head and bundle is None:
                    raise RollbackRefused(
                        f"nothing was rolled back: no functions and policies are recorded for {head}, the "
                        f"migration that would be the newest (today's need today's schema). Either roll "
                        f"back from a checkout of the release whose newest migration is {head} after "
                        f"`lms db migrate --repeatable` there once, or `lms db rollback --all`.")
                with conn.transaction():
                    if conn.execute("select to_regnamespace('app') is not null").fetchone()[0]:
                        drop_repeatable(conn)
                    for migration in todo:
                        script = Path(migration.path).with_suffix(".rollback.sql")
                        try:
                            conn.execute(script.read_text())
                        except psycopg.errors.LockNotAvailable:
                            raise
                        except psycopg.Error as exc:
                            raise RollbackFailed(f"nothing was rolled back: {script.name} failed: "
                                                 f"{exc.diag.message_primary or exc}") from exc
                        conn.execute("reset role")
                        self._unmark(conn, migration)
                    if bundle is not None:
                        apply_repeatable(conn, head, bundle[1])
        return [m.id for m in todo]

    def _unmark(self, conn: psycopg.Connection, migration) -> None:
        """yoyo's bookkeeping of a rolled-back migration, in our transaction."""
        conn.execute(psycopg.sql.SQL("delete from {} where migration_hash = %s").format(
            psycopg.sql.Identifier(self.backend.migration_table)), [migration.hash])
        log = self.backend.get_log_data(migration, "rollback")
        conn.execute(psycopg.sql.SQL("insert into {} ({}) values ({})").format(
            psycopg.sql.Identifier(self.backend.log_table),
            psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, log)),
            psycopg.sql.SQL(", ").join([psycopg.sql.Placeholder()] * len(log))), list(log.values()))

    def _head(self) -> str | None:
        applied = self.backend.to_rollback(self.migrations)
        return applied[0].id if applied else None

    def status(self) -> list[tuple[str, bool]]:
        applied = {m.id for m in self.backend.to_rollback(self.migrations)}
        return [(m.id, m.id in applied) for m in self.migrations]

    def close(self) -> None:
        self.backend.connection.close()
