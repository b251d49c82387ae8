"""A rollback a DBA can trust (issue 27 §1): rolling back N migrations is one transaction — all of
it, or nothing changed and a clear message — and ends at a state a server runs on, with the
functions and policies recorded when that migration was the newest."""

from __future__ import annotations

import aiohttp
import pytest

from rpc.migrate import Migrator, RollbackFailed, RollbackRefused
from tests import conftest
from tests.conftest import make_settings, start_server
from tests.test_foundation import schema_dump, scratch  # noqa: F401 — scratch is a fixture


async def server_answers(db) -> None:
    """A real server on the database answers a call that reads the schema (course.list)."""
    app, runner, base = await start_server(db.server_url, make_settings())
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(base + "/rpc", json={"jsonrpc": "2.0", "method": "course.list",
                                                          "params": {}, "id": 1}) as resp:
                answer = await resp.json()
        assert "result" in answer, answer
    finally:
        await runner.cleanup()


async def test_stepping_back_one_migration_at_a_time_keeps_a_working_server(pg_cluster, scratch):  # noqa: F811
    """Deploy history 0019 → 0020 (each migrate records its functions; today's functions fit both
    schemas), then --count 1: the rollback re-applies, in its own transaction, the functions
    recorded for the migration it returns to, and a server answers. One more step back reaches a
    migration that was never the newest here: refused, nothing changed."""
    name = scratch()
    db = conftest.TestDatabase(pg_cluster, name)
    migrator = Migrator(db.url)
    try:
        ids = [m.id for m in migrator.migrations]
        for target in ("0019_storage_pending_bytes", ids[-1]):
            migrator.migrate(target=target)
            await server_answers(db)
        at_head = schema_dump(pg_cluster, name)
        assert migrator.rollback(1) == [ids[-1]]
        await server_answers(db)
        assert db.execute("select count(*) from pg_constraint where conname = 'ck_users_metadata_size'") == [(0,)]
        with pytest.raises(RollbackRefused, match="nothing was rolled back: no functions and policies are "
                                                  "recorded for 0018_analyst_watchdog"):
            migrator.rollback(1)  # 0017 was never the newest here: refused, nothing changed
        await server_answers(db)
        migrator.migrate()
        assert schema_dump(pg_cluster, name) == at_head
    finally:
        migrator.close()


async def test_a_failing_rollback_changes_nothing(pg_cluster, scratch):  # noqa: F811
    """A rollback script that fails (here: a drifted database — someone dropped the constraint
    0020's rollback drops) leaves every migration, function and policy as it was, and says why."""
    name = scratch()
    db = conftest.TestDatabase(pg_cluster, name)
    migrator = Migrator(db.url)
    try:
        migrator.migrate(target="0019_storage_pending_bytes")
        migrator.migrate()
        db.execute("alter table app.users drop constraint ck_users_metadata_size")
        before = schema_dump(pg_cluster, name)
        applied = [m for m, done in migrator.status() if done]
        with pytest.raises(RollbackFailed, match="nothing was rolled back: 0020_users_metadata_size.rollback.sql"):
            migrator.rollback(1)
        assert schema_dump(pg_cluster, name) == before  # the functions and policies too
        assert [m for m, done in migrator.status() if done] == applied
        await server_answers(db)
    finally:
        migrator.close()
