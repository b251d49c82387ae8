"""A rollback a DBA can trust (issue 27 §1): rolling back N migrations is one transaction — all of
it, or nothing changed and a clear message — and ends at a state a server runs on, with the
functions and policies recorded when that migration was the newest."""

from __future__ import annotations

import subprocess
from pathlib import PurePosixPath

import aiohttp
import pytest
from yoyo import read_migrations

from rpc.db.migrate import MIGRATIONS, ROOT, Migrator, RollbackFailed, RollbackRefused
from tests import conftest
from tests.conftest import make_settings, start_server
from tests.helpers.foundation import schema_dump


async def server_answers(db) -> None:
    """A real server on the database answers a call that reads the schema (course.list)."""
    app, runner, base = await start_server(db.server_database_url, make_settings())
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(base + "/rpc", json={"jsonrpc": "2.0", "method": "course.list",
                                                          "params": {}, "id": 1}) as resp:
                answer = await resp.json()
        assert "result" in answer, answer
    finally:
        await runner.cleanup()


def release_bundle(migration_id: str) -> list[tuple[str, str]]:
    """The functions and policies of the release whose newest migration was `migration_id`: the files
    under sql/functions and sql/policies (in migrate's order) just before the next migration was
    committed — what a DBA running that release applied. From git history (a clean clone has it)."""
    ids = [m.id for m in read_migrations(str(MIGRATIONS))]
    following = ids[ids.index(migration_id) + 1]
    try:
        added = git("log", "--diff-filter=A", "--format=%H", "--", f"migrations/{following}.sql").split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the earlier release's functions are not at hand")
    rev = f"{added[-1]}^" if added else "HEAD"  # not committed yet: HEAD is the earlier release
    names = git("ls-tree", "-r", "--name-only", rev, "--", "sql/functions", "sql/policies").split()

    def order(folder: str) -> list[str]:
        inside = [n for n in names if n.startswith(folder + "/") and n.endswith(".sql")]
        return sorted(inside, key=lambda n: PurePosixPath(n).relative_to(folder).parts)
    return [(n, git("show", f"{rev}:{n}")) for n in order("sql/functions") + order("sql/policies")]


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


async def test_stepping_back_one_migration_at_a_time_keeps_a_working_server(pg_cluster, scratch):  # noqa: F811
    """Deploy history: the release before the newest migration (its own functions, from git), then
    today's. --count 1 re-applies, in its own transaction, the functions recorded for the migration it
    returns to: the schema is the earlier release's exactly and a server answers. One more step back
    reaches a migration that was never the newest here: refused, nothing changed."""
    name = scratch()
    db = conftest.TestDatabase(pg_cluster, name)
    ids = [m.id for m in read_migrations(str(MIGRATIONS))]
    earlier = Migrator(db.url, bundle=release_bundle(ids[-2]))
    migrator = Migrator(db.url)
    try:
        earlier.migrate(target=ids[-2])
        await server_answers(db)
        at_earlier = schema_dump(pg_cluster, name)
        migrator.migrate()
        await server_answers(db)
        at_head = schema_dump(pg_cluster, name)
        assert migrator.rollback(1) == [ids[-1]]
        await server_answers(db)
        assert schema_dump(pg_cluster, name) == at_earlier
        with pytest.raises(RollbackRefused, match="nothing was rolled back: no functions and policies are "
                                                  f"recorded for {ids[-3]}"):
            migrator.rollback(1)  # ids[-3] was never the newest here: refused, nothing changed
        assert schema_dump(pg_cluster, name) == at_earlier
        migrator.migrate()
        assert schema_dump(pg_cluster, name) == at_head
    finally:
        earlier.close()
        migrator.close()


async def test_a_failing_rollback_changes_nothing(pg_cluster, scratch):  # noqa: F811
    """Rolling back to before 0021 (every later migration first, then 0021) where 0021's script
    fails — a drifted database: someone dropped the index it drops — leaves every migration,
    function and policy as it was, and says why."""
    name = scratch()
    db = conftest.TestDatabase(pg_cluster, name)
    ids = [m.id for m in read_migrations(str(MIGRATIONS))]
    at = ids.index("0021_orders_cancellation")
    earlier = Migrator(db.url, bundle=release_bundle(ids[at - 1]))
    migrator = Migrator(db.url)
    try:
        earlier.migrate(target=ids[at - 1])
        migrator.migrate()
        db.execute("drop index app.ix_orders_intent_to_cancel")
        before = schema_dump(pg_cluster, name)
        applied = [m for m, done in migrator.status() if done]
        with pytest.raises(RollbackFailed, match="nothing was rolled back: 0021_orders_cancellation.rollback.sql"):
            migrator.rollback(len(ids) - at)
        assert schema_dump(pg_cluster, name) == before  # the functions and policies too
        assert [m for m, done in migrator.status() if done] == applied
        await server_answers(db)
    finally:
        earlier.close()
        migrator.close()


async def test_the_modules_migration_keeps_every_course_as_it_was_and_its_rollback_makes_it_flat(pg_cluster, scratch):  # noqa: F811
    """0025 on a database with courses (the release before it, its own functions): every course gets one
    published module holding its lessons (in order), then its quizzes and assignments; progress and
    what a learner may open are unchanged. Rolling back leaves each course flat, the rows as they were."""
    from tests.helpers.faults import make_world

    name = scratch()
    db = conftest.TestDatabase(pg_cluster, name)
    ids = [m.id for m in read_migrations(str(MIGRATIONS))]
    at = ids.index("0025_course_modules")
    earlier = Migrator(db.url, bundle=release_bundle(ids[at - 1]))
    migrator = Migrator(db.url)
    try:
        earlier.migrate(target=ids[at - 1])
        world = make_world(db.url, students=3, free_courses=2, lessons=3)
        course, lessons = world.free_courses[0]
        db.execute("insert into app.assignments (course_id, title) values (%s, 'Essay')", [world.quiz_course])
        db.execute("insert into app.lessons (course_id, title, lesson_order) values (%s, 'Draft', 4)", [course])
        db.execute("insert into app.enrollments (user_id, course_id) values (%s, %s)", [world.students[0], course])
        progress = "select user_id::text, course_id::text, progress_percentage from app.enrollments order by 1, 2"
        before = db.execute(progress)
        flat = db.execute("select id::text, course_id::text, lesson_order, is_published from app.lessons order by 1")

        migrator.migrate()
        courses = db.execute("select count(*) from app.courses")[0][0]
        assert db.execute("select count(*), count(distinct course_id), bool_and(is_published and position = 1)"
                          " from app.modules") == [(courses, courses, True)]
        placed = db.execute(
            "select i.kind, i.module_position from (select 'lesson' kind, module_id, module_position, lesson_order o"
            " from app.lessons union all select 'quiz', module_id, module_position, 0 from app.quizzes"
            " union all select 'assignment', module_id, module_position, 0 from app.assignments) i"
            " join app.modules m on m.id = i.module_id where m.course_id = %s order by i.module_position",
            [world.quiz_course])
        assert placed == [("lesson", 1), ("lesson", 2), ("lesson", 3), ("quiz", 4), ("assignment", 5)]
        assert db.execute("select count(*) from app.lessons where module_id is null") == [(0,)]
        assert db.execute(progress) == before
        await server_answers(db)

        migrator.rollback(len(ids) - at)
        assert db.execute("select count(*) from information_schema.tables where table_name = 'modules'") == [(0,)]
        assert db.execute("select id::text, course_id::text, lesson_order, is_published from app.lessons"
                          " order by 1") == flat
        assert db.execute(progress) == before
        await server_answers(db)
    finally:
        earlier.close()
        migrator.close()
