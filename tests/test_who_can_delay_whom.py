"""Who can delay whom (issue 26): a session of one role holding what it can — advisory locks of
any key, row locks it may take, an open transaction that has read every table it can read, a
LISTEN/NOTIFY on any channel — delays no client call beyond its own timeout, and freezes nothing
(event.list keeps showing new events, live sockets keep receiving them, exactly once)."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import psycopg
from psycopg import sql

from tests.conftest import RpcClient, Users
from tests.helpers.catalog import make_course
from tests.helpers.events import call, next_event
from tests.helpers.files import pdf, upload

# Every advisory key the server ever used (the events gate (90, 1), event fences (low bigint ids),
# the per-user upload lock (30, hashtext(user))) and a spread of others.
BIGINT_KEYS = [1, 2, 3, 50, 1000, 2 ** 31, 2 ** 40]
PAIR_KEYS = [(90, 1), (30, 0), (1, 1), (0, 0)]


def readable_relations(conn) -> list[str]:
    return [r for (r,) in conn.execute(
        "select c.oid::regclass::text from pg_class c where c.relnamespace in "
        "('app'::regnamespace, 'analytics'::regnamespace) and c.relkind in ('r', 'p', 'v') "
        "and not c.relispartition and has_table_privilege(c.oid, 'select') order by 1")]


def hold_everything(conn, student_ids: list[str]) -> dict:
    """In `conn`'s open transaction: every advisory lock listed (session and transaction level,
    exclusive), a read of every relation it may read (ACCESS SHARE kept), and FOR KEY SHARE / FOR
    UPDATE on any row it is allowed to lock. Returns what it managed to hold."""
    held = {"advisory": 0, "relations": 0, "row_locks": 0}
    for key in BIGINT_KEYS:
        conn.execute("select pg_advisory_lock(%s::bigint), pg_advisory_xact_lock(%s::bigint + 1)", [key, key])
        held["advisory"] += 2
    pairs = PAIR_KEYS + [(30, None)] * len(student_ids)
    for (a, b), sid in zip(pairs, [None] * len(PAIR_KEYS) + student_ids, strict=True):
        if sid is not None:
            (b,), = conn.execute("select hashtext(%s)", [sid]).fetchall()
        conn.execute("select pg_advisory_lock(%s, %s)", [a, b])
        held["advisory"] += 1
    for rel in readable_relations(conn):
        conn.execute(sql.SQL("select count(*) from {}").format(sql.SQL(rel)))
        held["relations"] += 1
        for mode in ("for key share", "for update"):
            conn.execute("savepoint s")
            try:
                conn.execute(sql.SQL("select 1 from {} {}").format(sql.SQL(rel), sql.SQL(mode)))
                held["row_locks"] += 1
                conn.execute("release savepoint s")
            except psycopg.errors.InsufficientPrivilege:
                conn.execute("rollback to savepoint s")
            except psycopg.errors.FeatureNotSupported:  # views with aggregates
                conn.execute("rollback to savepoint s")
    conn.execute("listen lms_events")  # inside the open transaction: would pin a notification queue
    for payload in ("1", "300", "not-a-number", "mark:9000000000000000000"):
        conn.execute("select pg_notify('lms_events', %s)", [payload])
    return held


async def timed(coro, budget: float = 1.5):
    started = time.monotonic()
    answer = await coro
    elapsed = time.monotonic() - started
    assert elapsed < budget, f"a call waited {elapsed:.2f}s"
    return answer


async def test_an_analyst_holding_everything_it_can_delays_no_client(frpc, db, analyst):  # noqa: F811
    rpc: RpcClient = frpc
    users = Users(db, rpc)
    ina = await users.make("instructor")
    ada = await users.make("admin")
    course_id, lessons = await make_course(rpc, ina, lessons=2)
    students = [await users.make("student") for _ in range(3)]
    await rpc.ok("enrollment.enroll", {"course_id": course_id}, students[0].token)  # the analyst's user
    (assignment,), = db.execute("insert into app.assignments (course_id, title) values (%s, 'Essay') returning id",
                                [course_id])
    login = analyst(students[0].id)
    url = rpc.base.replace("http", "ws") + "/ws"
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(url, headers={"Authorization": f"Bearer {ada.token}"})
        assert "result" in await call(ws, "event.subscribe", {"types": ["enrollment.created", "lesson.completed"]})
        with db.connect(user=login, autocommit=False) as hostile:
            hostile.execute("set statement_timeout = 0")
            held = hold_everything(hostile, [s.id for s in students])
            assert held["advisory"] >= 10 and held["relations"] >= 10
            before = await timed(rpc.ok("event.list", {"limit": 1000}, ada.token))
            for s in students[1:]:
                await timed(rpc.ok("enrollment.enroll", {"course_id": course_id}, s.token))
                await timed(rpc.ok("lesson.complete", {"lesson_id": lessons[0]}, s.token))
                status, body = await timed(upload(rpc, s.token, pdf(seed=s.id.encode()), assignment_id=assignment))
                assert status == 201, body
            await timed(rpc.ok("user.me", {}, students[0].token))
            expected = [(t, s.id) for s in students[1:] for t in ("enrollment.created", "lesson.completed")]
            deadline = time.monotonic() + 3  # ids appear when the sequencer (maybe the hub, right now) commits
            while True:
                after = await timed(rpc.ok("event.list", {"since": before[-1]["id"] if before else 0}, ada.token))
                got = [(e["type"], e["data"]["user_id"]) for e in after if e["type"] != "user.created"]
                if got == expected or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            assert got == expected
            wanted = [e["id"] for e in after if e["type"] != "user.created"]
            live = []
            while len(live) < 4:  # (an event that committed just before the subscription may come first)
                event = await next_event(ws, timeout=5)
                if event["id"] > before[-1]["id"]:
                    live.append(event["id"])
            assert live == wanted
            hostile.rollback()
        try:  # nothing replayed by the hostile NOTIFYs, nothing more than the four
            extra = await next_event(ws, timeout=0.5)
        except TimeoutError:
            extra = None
        assert extra is None, extra
        await ws.close()


async def test_an_instructor_or_student_session_cannot_stall_the_event_sequencer(rpc, users, db):
    """The sequencer's row and the events' rows can be locked by no client role: lms_api has no
    privilege on them (a client's own transaction is one call long anyway)."""
    with db.connect() as su:
        for rel in ("app.event_sequencer", "app.events"):
            for role in ("lms_api", "lms_analyst", "lms_authenticator"):
                (may,), = su.execute("select has_table_privilege(%s, %s, 'update')", [role, rel]).fetchall()
                assert not may, (role, rel)
        (api_sees,), = su.execute("select has_table_privilege('lms_api', 'app.event_sequencer', 'select')").fetchall()
        assert not api_sees



async def test_migrate_waits_behind_an_analyst_without_holding_up_the_api(rpc, users, db, analyst):
    """An analyst keeps a transaction open that read app.events and app.users; `lms db migrate`
    (repeatable SQL forced, as after an upgrade) needs ACCESS EXCLUSIVE on them. While it retries,
    no API call fails or waits beyond its own timeout; after its bound it gives up naming the
    analyst's session, and once the analyst is gone it completes."""
    from rpc.db.migrate import MigrationBlocked, Migrator

    ina = await users.make("instructor")
    course_id, _ = await make_course(rpc, ina, lessons=1)
    sam = await users.make("student")
    login = analyst(sam.id)
    with db.connect(user=login, autocommit=False) as hostile:
        hostile.execute("select count(*) from app.events")
        hostile.execute("select count(*) from app.users")
        (pid,), = hostile.execute("select pg_backend_pid()").fetchall()
        migrator = Migrator(db.url, lock_wait=4.0)
        try:
            blocked = asyncio.get_running_loop().run_in_executor(
                None, lambda: migrator.migrate(force_repeatable=True))
            answers, slowest = [], 0.0
            while not blocked.done():
                started = time.monotonic()
                answers.append(await rpc.call("user.me", {}, sam.token))
                answers.append(await rpc.call("course.get", {"course_id": course_id}, sam.token))
                slowest = max(slowest, time.monotonic() - started)
            try:
                await blocked
                raise AssertionError("migrate did not wait for the analyst's locks")
            except MigrationBlocked as exc:
                message = str(exc)
        finally:
            migrator.close()
        assert len(answers) > 20 and all("result" in a for a in answers), [a for a in answers if "error" in a][:3]
        assert slowest < 1.5, slowest
        assert f"pid {pid} (role {login}" in message and "pg_terminate_backend" in message, message
        hostile.rollback()
    migrator = Migrator(db.url, lock_wait=10.0)
    try:
        assert migrator.migrate(force_repeatable=True) == [] and migrator.repeatable_applied
        migrator.migrate()
        assert not migrator.repeatable_applied  # unchanged: a server start takes no lock at all
    finally:
        migrator.close()


def test_migrate_keeps_events_for_the_configured_retention(db):
    """Issue 35's first defect: migrate (also every server start) purged events older than the
    default 90 days whatever LMS_EVENT_RETENTION_DAYS said."""
    from rpc.db.migrate import Migrator, maintain

    db.execute("insert into app.events (type, occurred_at, data) values ('user.created', now() - interval '200 days', "
               "'{\"probe\": true}')")
    db.execute("update app.settings set value = 365 where name = 'event_retention_days'")
    # A process whose environment says 30 days changes nothing: policy is the database's (issue 35 §1).
    migrator = Migrator(db.url, seeds={"event_retention_days": 30})
    try:
        migrator.migrate()
        maintain(migrator.backend.connection)
    finally:
        migrator.close()
    assert db.execute("select count(*) from app.events where data ? 'probe'") == [(1,)]
    assert db.execute("select value from app.settings where name = 'event_retention_days'") == [(365,)]


async def test_a_runaway_analyst_session_is_ended_by_the_watchdog(rpc, users, db, analyst):
    """An analyst lifts their own timeouts and keeps a transaction open; the server's watchdog
    (rpc/http/watchdog.py, every 30 s in each process) ends it past LMS_ANALYST_MAX_TRANSACTION_SECONDS.
    A fresh analyst session and a superuser's long transaction are left alone."""
    from rpc.http import watchdog

    sam = await users.make("student")
    login = analyst(sam.id)
    with db.connect(user=login, autocommit=False) as runaway, db.connect(autocommit=False) as dba:
        runaway.execute("set statement_timeout = 0")
        runaway.execute("set idle_in_transaction_session_timeout = 0")
        runaway.execute("select count(*) from app.events")
        dba.execute("select count(*) from app.events")
        await asyncio.sleep(2.2)
        with db.connect(user=login) as fresh:
            fresh.execute("begin")
            db.execute("update app.settings set value = 2 where name = 'analyst_max_transaction_seconds'")
            assert await watchdog.end_runaway_analyst_sessions(rpc.service) == 1
            assert fresh.execute("select 1").fetchone() == (1,)
        try:
            runaway.execute("select 1")
            raise AssertionError("the runaway analyst session is still alive")
        except psycopg.OperationalError:
            pass
        assert dba.execute("select 1").fetchone() == (1,)
