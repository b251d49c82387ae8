"""Analytics views (issue 18 §2, §4) with known data: everything is made through the real RPC
server (courses, lessons, quizzes, attempts, assignments, grades), timestamps are shifted as
superuser, then each view is read by analyst logins linked to an instructor, a student and an
admin and compared with exact numbers. EXPLAIN as an instructor-linked analyst shows index use
over a few thousand seeded rows. The side-channel probes of the issue are reproduced: the bearer
values are now unreachable, and what an analyst still learns (existence by known keys) is shown."""

# ruff: noqa: S608  (SQL is composed from the catalog's own relation names and fixed predicates)
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal as D

import psycopg
import pytest

pytestmark = pytest.mark.asyncio


def rows(db, login: str, query: str, params=None, tz: str = "Asia/Tokyo") -> list[tuple]:
    """Rows of a query as an analyst login (session time zone far from UTC: days/months must not move)."""
    with db.connect(login) as conn:
        conn.execute(f"set timezone = '{tz}'")
        return conn.execute(query, params).fetchall()


@pytest.fixture
async def world(rpc, db, users):
    """Course A (ina): 2 lessons, a 2-question quiz, a 20-point assignment (late: −10 %);
    s1 passes the quiz and completes, s2 does one lesson and fails the quiz, s3 enrolls and drops.
    Course B (ian): s3 enrolled. Orders/payments inserted as the webhook would leave them."""
    ina, ian = await users.make("instructor"), await users.make("instructor")
    s1, s2, s3 = [await users.make("student") for _ in range(3)]
    ada = await users.make("admin")
    a = await rpc.ok("course.create", {"title": "Course A", "price_cents": 0}, ina.token)
    lessons = []
    for i in range(2):
        lesson = await rpc.ok("lesson.create", {"course_id": a["id"], "title": f"L{i}", "content": "x"}, ina.token)
        await rpc.ok("lesson.publish", {"lesson_id": lesson["id"]}, ina.token)
        lessons.append(lesson["id"])
    await rpc.ok("course.publish", {"course_id": a["id"]}, ina.token)
    b = await rpc.ok("course.create", {"title": "Course B", "price_cents": 0}, ian.token)
    lb = await rpc.ok("lesson.create", {"course_id": b["id"], "title": "L", "content": "x"}, ian.token)
    await rpc.ok("lesson.publish", {"lesson_id": lb["id"]}, ian.token)
    await rpc.ok("course.publish", {"course_id": b["id"]}, ian.token)
    # Modules: a published one and a draft behind it in A, a published one in B (items stay course-level).
    m1 = await rpc.ok("module.create", {"course_id": a["id"], "title": "Part 1"}, ina.token)
    await rpc.ok("module.publish", {"module_id": m1["id"]}, ina.token)
    await rpc.ok("module.create", {"course_id": a["id"], "title": "Part 2", "prerequisite_module_ids": [m1["id"]]},
                 ina.token)
    mb = await rpc.ok("module.create", {"course_id": b["id"], "title": "Part 1"}, ian.token)
    await rpc.ok("module.publish", {"module_id": mb["id"]}, ian.token)

    quiz = await rpc.ok("quiz.create", {"course_id": a["id"], "title": "Q"}, ina.token)
    q1 = (await rpc.ok("quiz.add_question", {"quiz_id": quiz["id"], "question_text": "?", "question_type": "true_false",
                                             "correct_answer": "true"}, ina.token))["id"]
    q2 = (await rpc.ok("quiz.add_question", {"quiz_id": quiz["id"], "question_text": "?",
                                             "question_type": "multiple_choice", "options": ["a", "b", "c"],
                                             "correct_answer": "b"}, ina.token))["id"]
    await rpc.ok("quiz.publish", {"quiz_id": quiz["id"]}, ina.token)
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).isoformat()
    asg = await rpc.ok("assignment.create", {"course_id": a["id"], "title": "A1", "points": 20, "due_date": future,
                                             "allow_late_submission": True, "late_penalty_percentage": 10}, ina.token)

    for s in (s1, s2, s3):
        await rpc.ok("enrollment.enroll", {"course_id": a["id"]}, s.token)
    await rpc.ok("override.set", {"user_id": s1.id, "quiz_id": quiz["id"], "extra_attempts": 1}, ina.token)
    await rpc.ok("override.set", {"user_id": s2.id, "assignment_id": asg["id"], "waive_late_penalty": True}, ina.token)
    await rpc.ok("accommodation.set", {"course_id": a["id"], "user_id": s2.id, "time_multiplier": 1.5}, ina.token)
    await rpc.ok("enrollment.enroll", {"course_id": b["id"]}, s3.token)
    await rpc.ok("enrollment.drop", {"course_id": a["id"]}, s3.token)

    async def attempt(student, answers):
        started = await rpc.ok("attempt.start", {"quiz_id": quiz["id"]}, student.token)
        await rpc.ok("attempt.submit", {"attempt_id": started["attempt_id"], "answers": answers}, student.token)

    await attempt(s1, {q1: "true", q2: "a"})   # 50
    await attempt(s1, {q1: "true", q2: "b"})   # 100, passed
    await attempt(s2, {q1: "false", q2: "c"})  # 0
    for lid in lessons:
        await rpc.ok("lesson.complete", {"lesson_id": lid}, s1.token)
    await rpc.ok("lesson.complete", {"lesson_id": lessons[0]}, s2.token)

    sub1 = await rpc.ok("submission.submit", {"assignment_id": asg["id"], "content": "w"}, s1.token)
    await rpc.ok("assignment.update", {"assignment_id": asg["id"], "due_date": "2020-01-01T00:00:00+00:00"}, ina.token)
    sub2 = await rpc.ok("submission.submit", {"assignment_id": asg["id"], "content": "w"}, s2.token)
    await rpc.ok("submission.grade", {"submission_id": sub1["id"], "grade": 18}, ina.token)
    await rpc.ok("submission.grade", {"submission_id": sub2["id"], "grade": 10}, ina.token)

    with db.connect() as conn:
        # Time: s1 enrolled 10 days before completing; activity on two UTC days, near midnight.
        conn.execute("update app.enrollments set enrolled_at = completed_at - interval '10 days' "
                     "where user_id = %s and course_id = %s", [s1.id, a["id"]])
        conn.execute("update app.lesson_progress set completed_at = '2025-03-01 23:30+00'")
        conn.execute("update app.quiz_attempts set deadline_at = null, started_at = case when user_id = %s "
                     "then timestamptz '2025-03-02 00:30+00' else '2025-03-01 23:00+00' end", [s1.id])
        conn.execute("update app.quiz_attempts set submitted_at = started_at + interval '10 minutes'")
        conn.execute("update app.submissions set submitted_at = case when user_id = %s "
                     "then timestamptz '2025-03-02 00:40+00' else '2025-03-01 23:10+00' end", [s1.id])
        # Money: o1 (s1, A) January; o2 (s2, A) last hour of January UTC, refunded 2 February; o3 (s3, B) February.
        for n, (user, course, cents, completed, refunded) in enumerate([
                (s1, a, 1000, "2025-01-15 12:00+00", None),
                (s2, a, 1000, "2025-01-31 23:30+00", "2025-02-02 10:00+00"),
                (s3, b, 500, "2025-02-10 08:00+00", None)]):
            (oid,) = conn.execute(
                "insert into app.orders (user_id, course_id, amount_cents, status, completed_at) "
                "values (%s, %s, %s, %s, %s) returning id",
                [user.id, course["id"], cents, "refunded" if refunded else "completed", completed]).fetchone()
            conn.execute("insert into app.payments (order_id, provider_payment_id, amount_cents, currency, status, "
                         "refunded_at, user_id, created_at) values (%s, %s, %s, 'USD', %s, %s, %s, %s)",
                         [oid, f"pi_test_{n}", cents, "refunded" if refunded else "succeeded", refunded, user.id,
                          completed])
        # A pending order counts nowhere.
        conn.execute("insert into app.orders (user_id, course_id, amount_cents) values (%s, %s, 700)", [s2.id, a["id"]])
    return dict(ina=ina, ian=ian, s1=s1, s2=s2, s3=s3, ada=ada, a=a["id"], b=b["id"], quiz=quiz["id"], q1=q1, q2=q2,
                asg=asg["id"])


async def test_course_stats_and_funnel(world, db, analyst):
    w = world
    inst, stu, adm = analyst(w["ina"].id), analyst(w["s2"].id), analyst(w["ada"].id)
    q = ("select course_id::text, title, enrolled, active, completed, completion_rate, avg_progress, "
         "avg_best_quiz_score from analytics.course_stats where course_id = %s")
    full = (w["a"], "Course A", 3, 2, 1, D("0.3333"), D("50.00"), D("50.00"))
    assert rows(db, inst, q, [w["a"]]) == [full]
    assert rows(db, adm, q, [w["a"]]) == [full]
    # The student sees the public course, and only their own enrollment and attempt in it.
    assert rows(db, stu, q, [w["a"]]) == [(w["a"], "Course A", 1, 1, 0, D("0.0000"), D("50.00"), D("0.00"))]
    # ina sees course B (published) but none of its enrollments.
    assert rows(db, inst, q, [w["b"]]) == [(w["b"], "Course B", 0, 0, 0, None, None, None)]
    assert rows(db, adm, q, [w["b"]]) == [(w["b"], "Course B", 1, 1, 0, D("0.0000"), D("0.00"), None)]

    f = "select course_id::text, enrolled, started, completed, start_rate, started_completion_rate, " \
        "avg_days_to_complete, median_days_to_complete from analytics.enrollment_funnel where course_id = %s"
    expected = (w["a"], 3, 2, 1, D("0.6667"), D("0.5000"), D("10.00"), D("10.00"))
    assert rows(db, inst, f, [w["a"]]) == [expected]
    assert rows(db, adm, f, [w["a"]]) == [expected]
    assert rows(db, stu, f, [w["a"]]) == [(w["a"], 1, 1, 0, D("1.0000"), D("0.0000"), None, None)]


async def test_quiz_item_stats_only_for_managers(world, db, analyst):
    w = world
    q = ("select question_id::text, attempts, correct_rate from analytics.quiz_item_stats where quiz_id = %s "
         "order by correct_rate")
    expected = [(w["q2"], 3, D("0.3333")), (w["q1"], 3, D("0.6667"))]
    assert rows(db, analyst(w["ina"].id), q, [w["quiz"]]) == expected
    assert rows(db, analyst(w["ada"].id), q, [w["quiz"]]) == expected
    assert rows(db, analyst(w["ian"].id), q, [w["quiz"]]) == []  # another instructor
    assert rows(db, analyst(w["s1"].id), q, [w["quiz"]]) == []   # a student: never per-question correctness
    login = analyst(w["s1"].id)
    with db.connect(login) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("select grading from app.quiz_attempts")
    best = "select user_id, best_score, attempts from analytics.quiz_best_scores where quiz_id = %s order by best_score"
    assert rows(db, analyst(w["ina"].id), best, [w["quiz"]]) == [
        (uuid.UUID(w["s2"].id), 0, 1), (uuid.UUID(w["s1"].id), 100, 2)]


async def test_assignment_stats(world, db, analyst):
    w = world
    q = "select assignment_id::text, submissions, late, graded, avg_effective_grade from analytics.assignment_stats " \
        "where assignment_id = %s"
    # 18 on time; 10 late, whose 10 % penalty s2's override waives → mean 14 (13.5 with the penalty)
    expected = [(w["asg"], 2, 1, 2, D("14.00"))]
    assert rows(db, analyst(w["ina"].id), q, [w["asg"]]) == expected
    assert rows(db, analyst(w["ada"].id), q, [w["asg"]]) == expected
    assert rows(db, analyst(w["s2"].id), q, [w["asg"]]) == [(w["asg"], 1, 1, 1, D("10.00"))]
    assert rows(db, analyst(w["s3"].id), q, [w["asg"]]) == []  # dropped: the assignment is not visible


async def test_revenue_monthly_in_utc_months(world, db, analyst):
    w = world
    q = ("select course_id::text, month, orders, gross_cents, refunded_cents, net_cents from analytics.revenue_monthly "
         "order by course_id = %s desc, month")
    jan, feb = dt.date(2025, 1, 1), dt.date(2025, 2, 1)
    a_rows = [(w["a"], jan, 2, 2000, 0, 2000), (w["a"], feb, 0, 0, 1000, -1000)]
    assert rows(db, analyst(w["ina"].id), q, [w["a"]]) == a_rows
    assert rows(db, analyst(w["ada"].id), q, [w["a"]]) == a_rows + [(w["b"], feb, 1, 500, 0, 500)]
    assert rows(db, analyst(w["s2"].id), q, [w["a"]]) == [(w["a"], jan, 1, 1000, 0, 1000),
                                                          (w["a"], feb, 0, 0, 1000, -1000)]
    assert rows(db, analyst(w["ian"].id), q, [w["a"]]) == [(w["b"], feb, 1, 500, 0, 500)]


async def test_daily_active_learners_in_utc_days(world, db, analyst):
    w = world
    q = "select day, learners from analytics.daily_active_learners order by day"
    d1, d2 = dt.date(2025, 3, 1), dt.date(2025, 3, 2)
    # 1 March: s1 (lessons) and s2 (lesson, attempt, submission); 2 March: s1 (attempts, submission).
    assert rows(db, analyst(w["ina"].id), q) == [(d1, 2), (d2, 1)]
    assert rows(db, analyst(w["ada"].id), q) == [(d1, 2), (d2, 1)]
    assert rows(db, analyst(w["s1"].id), q) == [(d1, 1), (d2, 1)]
    assert rows(db, analyst(w["ian"].id), q) == []


async def test_my_certificates_and_no_number_of_others(world, db, analyst):
    w = world
    ((number,),) = db.execute("select certificate_number from app.certificates where user_id = %s", [w["s1"].id])
    assert rows(db, analyst(w["s1"].id), "select certificate_number, course_id from analytics.my_certificates") == [
        (number, uuid.UUID(w["a"]))]
    for who in ("s2", "ina", "ada"):
        assert rows(db, analyst(w[who].id), "select certificate_number from analytics.my_certificates") == []
    # The instructor still counts certificates of the course, without the numbers.
    count = "select count(*) from app.certificates where course_id = %s"
    assert rows(db, analyst(w["ina"].id), count, [w["a"]]) == [(1,)]


# ------------------------------------------------------------------------------- fast under RLS
async def test_views_are_index_backed_for_an_instructor_analyst(world, db, analyst):
    """A few thousand rows in other instructors' courses; EXPLAIN as ina's analyst: no seq scan over them."""
    w = world
    with db.connect() as conn:
        conn.execute("""
          with u as (
            insert into app.users (email, password_hash, full_name)
            select 'bulk' || g || '@example.test', 'x', 'Bulk ' || g from generate_series(1, 3000) g returning id),
          c as (
            insert into app.courses (instructor_id, title)
            select %s, 'Bulk ' || g from generate_series(1, 300) g returning id),
          cn as (select id, row_number() over () as n from c),
          un as (select id, row_number() over () as n from u)
          insert into app.enrollments (user_id, course_id, progress_percentage)
          select un.id, cn.id, (un.n %% 100)::int from un join cn on cn.n = 1 + un.n %% 300""", [w["ian"].id])
        conn.execute("""
          insert into app.assignments (course_id, title)
          select id, 'Bulk' from app.courses where title like 'Bulk%%'""")
        conn.execute("""
          insert into app.submissions (assignment_id, user_id, content)
          select a.id, e.user_id, 'w' from app.assignments a join app.enrollments e on e.course_id = a.course_id
          where a.title = 'Bulk'""")
        conn.execute("analyze")
    login = analyst(w["ina"].id)
    with db.connect(login) as conn:
        for query, params in [
                ("select * from analytics.course_stats where course_id = %s", [w["a"]]),
                ("select * from analytics.enrollment_funnel where course_id = %s", [w["a"]]),
                ("select * from analytics.assignment_stats where assignment_id = %s", [w["asg"]])]:
            plan = "\n".join(r[0] for r in conn.execute("explain " + query, params).fetchall())
            for big in ("enrollments", "submissions", "users", "courses"):
                assert f"Seq Scan on {big}" not in plan, (query, plan)
            assert "Index" in plan, plan
        enrolled = conn.execute("select enrolled from analytics.course_stats where course_id = %s", [w["a"]])
        assert enrolled.fetchone() == (3,)


# ------------------------------------------------------------------------------- §4 side channels
async def test_side_channel_probes(world, db, analyst, rpc):
    """The issue's probes, as an analyst linked to a student (s2)."""
    w = world
    await rpc.ok("auth.login", {"email": w["s1"].email, "password": w["s1"].password})  # s1 has a refresh token
    login = analyst(w["s2"].id)
    probes = [
        "explain (analyze) select 1 from app.certificates "
        "where certificate_number >= 'LMS-0' and certificate_number < 'LMS-G'",
        "select 1 from app.certificates where starts_with(certificate_number, 'LMS-')",
        "explain (analyze) select 1 from app.refresh_tokens where id >= '00000000-0000-0000-0000-000000000000'",
        "select count(*) from app.refresh_tokens",
        "select 1 from app.user_tokens where id is not null",
        "select 1 from app.user_mfa",
        "select 1 from app.mfa_recovery_codes",
        "select password_hash from app.users",
        "select 1 from app.users where password_hash like '$2%%'",
        "select 1 from app.questions where correct_answer = 'true'",
        "select 1 from app.quiz_attempts where grading is not null",
        "select 1 from app.orders where provider_client_secret is not null",
        # global counts and activity that RLS hides row by row (issue 26 §3b)
        "select n_live_tup, n_tup_ins from pg_stat_user_tables where relname = 'enrollments'",
        "select pg_stat_get_live_tuples('app.enrollments'::regclass)",
        "select xact_commit from pg_stat_database",
        "select idx_scan from pg_stat_user_indexes",
    ]
    with db.connect(login, autocommit=True) as conn:
        conn.execute("set enable_seqscan = off")
        for probe in probes:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(probe)
        # What an analyst still learns: existence of a hidden row by its known key (here: s1 is
        # enrolled in course A) from the row count an index condition produced below the RLS
        # filter. Documented as residual risk in the README ("For analysts").
        plan = "\n".join(r[0] for r in conn.execute(
            "explain (analyze, costs off, timing off, summary off) select 1 from app.enrollments "
            "where user_id = %s and course_id = %s", [w["s1"].id, w["a"]]).fetchall())
        assert "Rows Removed by Filter: 1" in plan, plan
        assert conn.execute("select count(*) from app.enrollments where user_id = %s", [w["s1"].id]).fetchone() == (0,)


# ------------------------------------------------------------------------------- §3 the access matrix
# Which rows each caller may SELECT, per table/view: a predicate over the table (alias t) evaluated
# as superuser for the caller `{me}` (uuid or null), `{adm}` (caller is an active admin); None =
# SELECT denied (42501). One entry per table of app and view of analytics: a new one without an
# entry fails the test. Columns: (rows for the API role, rows for an analyst linked to the same user).
M = "(select c.id from app.courses c where c.instructor_id = {me})"          # courses I teach
E = "(select e.course_id from app.enrollments e where e.user_id = {me} and e.is_active)"  # I'm enrolled
OWN_OR_TAUGHT = f"t.user_id = {{me}} or t.course_id in {M} or {{adm}}"
# Work whose grades are held back from the learners of my courses (grade_posting manual, not posted)
HELD = (f"(select z.id from app.quizzes z where z.course_id in {E} and z.grade_posting = 'manual' "
        f"and z.grades_posted_at is null union all select a.id from app.assignments a where a.course_id in {E} "
        f"and a.grade_posting = 'manual' and a.grades_posted_at is null)")
VISIBLE_QUIZ = f"(t.course_id in {M} or (t.is_published and t.course_id in {E}) or {{adm}})"
VISIBLE_MODULE = (f"((t.is_published and (t.course_id in (select id from app.courses where is_published) "
                  f"or t.course_id in {E})) or t.course_id in {M} or {{adm}})")
SELECT_RULES: dict[str, tuple[str | None, str | None]] = {
    "app.users": ("t.id = {me} or {adm}",) * 2,
    "app.admins": ("t.user_id = {me} or {adm}",) * 2,
    "app.instructors": ("true",) * 2,
    "app.user_mfa": ("t.user_id = {me}", None),
    "app.refresh_tokens": ("t.user_id = {me}", None),
    "app.user_tokens": (None, None),
    "app.mfa_recovery_codes": (None, None),
    "app.login_attempts": (None, None),
    "app.analyst_logins": (None, "t.login_name = {login}"),
    "app.audit_log": ("{adm}",) * 2,
    "app.outbox": (None, None),
    "app.sso_providers": (None, None),  # the client secret: lms_definer only
    "app.sso_states": (None, None),
    "app.sso_identities": (None, None),  # sso.identities_mine shows your own
    "app.sso_codes": (None, None),
    "app.lti_tools": (None, None),
    "app.lti_platform_keys": (None, None),  # the private keys: lms_definer only
    "app.lti_links": (None, None),
    "app.lti_launches": (None, None),
    "app.lti_access_tokens": (None, None),
    "app.lti_assertions": (None, None),
    "app.lti_line_items": ("false", None),  # a tool's own (its access token); no person, no analyst
    "app.lti_results": ("false", None),
    "app.calendar_feeds": (None, None),  # the feed's token hash: calendar.feed_url / GET /calendar/{token}.ics
    "app.oneroster_users": (None, None),  # rostering: the DBA's lms oneroster import|export only
    "app.oneroster_classes": (None, None),
    "app.oneroster_enrollments": (None, None),
    "app.oneroster_refs": (None, None),
    "app.oneroster_stage": (None, None),
    "app.rate_limits": (None, None),
    "app.rate_counters": (None, None),
    "app.settings": (None, None),
    "app.courses": (f"t.is_published or t.instructor_id = {{me}} or {{adm}} or t.id in {E}",) * 2,
    "app.lessons": (f"(t.is_published and (t.course_id in (select id from app.courses where is_published) "
                    f"or t.course_id in {E})) or t.course_id in {M} or {{adm}}",) * 2,
    "app.files": (f"t.uploaded_by = {{me}} or {{adm}} or t.course_id in {M} or t.course_id in {E} or t.assignment_id "
                  f"in (select a.id from app.assignments a where a.course_id in {M})",) * 2,
    "app.storage_pending": ("t.kind = 'upload' and t.user_id = {me}", None),
    "app.orders": (OWN_OR_TAUGHT,) * 2,
    "app.payments": (f"t.user_id = {{me}} or t.order_id in (select o.id from app.orders o where o.course_id in {M}) "
                     "or {adm}",) * 2,
    "app.payment_events": ("{adm}",) * 2,
    "app.enrollments": (OWN_OR_TAUGHT,) * 2,
    "app.lesson_progress": (f"t.user_id = {{me}} or t.enrollment_id in (select e.id from app.enrollments e "
                            f"where e.course_id in {M}) or {{adm}}",) * 2,
    "app.quizzes": (VISIBLE_QUIZ,) * 2,
    "app.modules": (VISIBLE_MODULE,) * 2,
    "app.learner_overrides": (OWN_OR_TAUGHT,) * 2,
    "app.accommodations": (OWN_OR_TAUGHT,) * 2,
    "app.module_prerequisites": (f"t.module_id in (select t.id from app.modules t where {VISIBLE_MODULE})",) * 2,
    "app.questions": (f"t.quiz_id in (select t.id from app.quizzes t where {VISIBLE_QUIZ}) "
                      f"or t.bank_id in (select b.id from app.question_banks b where b.course_id in {M} or {{adm}}) "
                      "or t.id in (select (d ->> 'id')::uuid from app.quiz_attempts a "
                      "cross join jsonb_array_elements(a.draw) d where a.user_id = {me})",) * 2,
    "app.question_banks": (f"t.course_id in {M} or {{adm}}",) * 2,
    "app.quiz_pools": (f"t.course_id in {M} or {{adm}}",) * 2,
    "app.manual_grades": (OWN_OR_TAUGHT, f"(t.user_id = {{me}} and t.quiz_id not in {HELD}) or t.course_id in {M} "
                                         "or {adm}"),
    "app.grade_categories": (f"t.course_id in {M} or t.course_id in {E} or {{adm}}",) * 2,
    "app.grade_scheme_letters": (f"t.course_id in {M} or t.course_id in {E} or {{adm}}",) * 2,
    "app.final_grade_overrides": (OWN_OR_TAUGHT,) * 2,
    "app.rubrics": (f"t.course_id in {M} or t.course_id in {E} or {{adm}}",) * 2,
    "app.rubric_criteria": (f"t.rubric_id in (select r.id from app.rubrics r where r.course_id in {M} "
                            f"or r.course_id in {E} or {{adm}})",) * 2,
    "app.rubric_levels": (f"t.rubric_id in (select r.id from app.rubrics r where r.course_id in {M} "
                          f"or r.course_id in {E} or {{adm}})",) * 2,
    "app.submission_rubric_levels": (
        f"t.submission_id in (select s.id from app.submissions s where s.user_id = {{me}} or s.assignment_id in "
        f"(select a.id from app.assignments a where a.course_id in {M}) or {{adm}})",
        f"t.submission_id in (select s.id from app.submissions s where (s.user_id = {{me}} and s.assignment_id "
        f"not in {HELD}) or s.assignment_id in (select a.id from app.assignments a where a.course_id in {M}) "
        f"or {{adm}})"),
    "app.quiz_attempt_counters": (None, None),
    "app.quiz_attempts": (f"t.user_id = {{me}} or t.quiz_id in "
                          f"(select z.id from app.quizzes z where z.course_id in {M}) or {{adm}}",
                          f"(t.user_id = {{me}} and t.quiz_id not in {HELD}) or t.quiz_id in "
                          f"(select z.id from app.quizzes z where z.course_id in {M}) or {{adm}}"),
    "app.assignments": (f"t.course_id in {M} or t.course_id in {E} or {{adm}}",) * 2,
    "app.submissions": (f"t.user_id = {{me}} or t.assignment_id in (select a.id from app.assignments a "
                        f"where a.course_id in {M}) or {{adm}}",
                        f"(t.user_id = {{me}} and t.assignment_id not in {HELD}) or t.assignment_id in "
                        f"(select a.id from app.assignments a where a.course_id in {M}) or {{adm}}"),
    "app.certificates": (OWN_OR_TAUGHT,) * 2,
    "app.events": (OWN_OR_TAUGHT,) * 2,  # issue 20: the subject, the course's instructor, admins
    "app.webhooks": (None, None),
    "app.webhook_deliveries": (None, None),
    "app.event_sequencer": (None, None),
    # Views: analysts only; their rows are the exact numbers of the tests above.
    **{f"analytics.{v}": (None, "view") for v in (
        "quiz_best_scores", "assignment_grades", "course_stats", "enrollment_funnel", "assignment_stats",
        "revenue_monthly", "daily_active_learners", "quiz_item_stats", "my_certificates", "module_availability",
        "course_grades")},
}
# What the API role may write directly (everything else is refused; analysts write nothing).
API_WRITES = {"app.users": {"UPDATE"}, "app.instructors": {"UPDATE"}, "app.courses": {"INSERT", "UPDATE", "DELETE"},
              "app.lessons": {"INSERT", "UPDATE", "DELETE"}, "app.quizzes": {"INSERT", "UPDATE"},
              "app.questions": {"INSERT", "UPDATE", "DELETE"}, "app.assignments": {"INSERT", "UPDATE"},
              "app.submissions": {"UPDATE"}, "app.certificates": {"UPDATE"}, "app.files": {"INSERT", "DELETE"},
              "app.storage_pending": {"INSERT", "DELETE"}, "app.modules": {"INSERT", "UPDATE", "DELETE"},
              "app.module_prerequisites": {"INSERT", "DELETE"}, "app.question_banks": {"INSERT", "UPDATE"},
              "app.quiz_pools": {"INSERT", "DELETE"},
              "app.lti_line_items": {"INSERT", "UPDATE", "DELETE"}, "app.lti_results": {"INSERT", "UPDATE"}}


def _count_as(conn, rel: str):
    try:
        with conn.transaction():
            return conn.execute(f"select count(*) from {rel}").fetchone()[0]
    except psycopg.errors.InsufficientPrivilege:
        return None


def _may(conn, rel: str, op: str) -> bool:
    fn = "has_any_column_privilege" if op in ("INSERT", "UPDATE") else "has_table_privilege"
    return conn.execute(f"select {fn}(%s::regclass, %s)", [rel, op]).fetchone()[0]


async def test_access_matrix(world, db, analyst, rpc):
    w = world
    await rpc.ok("auth.login", {"email": w["s1"].email, "password": w["s1"].password})  # tokens, login attempts
    relations = {r for (r,) in db.execute(
        "select c.oid::regclass::text from pg_class c "
        "where c.relnamespace in ('app'::regnamespace, 'analytics'::regnamespace) "
        "and c.relkind in ('r', 'p', 'v', 'm') and not c.relispartition")}
    assert relations == set(SELECT_RULES), ("tables/views without an access-matrix entry (or stale entries)",
                                            relations ^ set(SELECT_RULES))
    actors = {"anonymous": None, "student owner": w["s1"], "other student": w["s2"], "course instructor": w["ina"],
              "other instructor": w["ian"], "admin": w["ada"]}
    cells = 0
    with db.connect() as su:
        def expected(rule: str | None, user, login: str | None) -> int | None:
            if rule is None:
                return None
            me = f"'{user.id}'::uuid" if user else "null::uuid"
            adm = "true" if user and user.role == "admin" else "false"
            pred = rule.format(me=me, adm=adm, login=f"'{login}'" if login else "null")
            return su.execute(f"select count(*) from {rel} t where coalesce(({pred}), false)").fetchone()[0]

        for name, user in actors.items():
            # The server's own path: lms_authenticator, SET ROLE lms_api, transaction-local lms.user_id.
            with db.connect("lms_authenticator") as api:
                api.execute("select set_config('role', 'lms_api', false), set_config('lms.user_id', %s, false)",
                            [user.id if user else ""])
                for rel, (api_rule, _) in SELECT_RULES.items():
                    want = expected(api_rule, user, None) if not rel.startswith("analytics.") else None
                    assert _count_as(api, rel) == want, (name, "api", rel)
                    for op in ("INSERT", "UPDATE", "DELETE"):  # (no USAGE on schema analytics at all)
                        may = not rel.startswith("analytics.") and _may(api, rel, op)
                        assert may == (op in API_WRITES.get(rel, set())), (name, "api", rel, op)
                    cells += 4
            if name in ("other student", "other instructor"):
                continue
            # The analyst's path: their own login, linked to the user (or to nobody).
            login = analyst(user.id) if user else analyst(w["s1"].id)
            if user is None:
                db.execute("delete from app.analyst_logins where login_name = %s", [login])
            with db.connect(login) as conn:
                for rel, (_, rule) in SELECT_RULES.items():
                    got = _count_as(conn, rel)
                    if rule == "view":
                        assert got is not None, (name, "analyst", rel)
                    else:
                        assert got == expected(rule, user, login), (name, "analyst", rel, got)
                    for op in ("INSERT", "UPDATE", "DELETE"):
                        assert not _may(conn, rel, op), (name, "analyst", rel, op)
                    refused = (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectNotInPrerequisiteState)
                    with pytest.raises(refused), conn.transaction():
                        conn.execute(f"delete from {rel}")
                    cells += 4
    assert cells == len(SELECT_RULES) * 4 * 10
    print(f"access matrix: {cells} cells")
