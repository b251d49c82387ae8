# ruff: noqa: E501  (SQL text: long lines read better than wrapped ones)
"""The course grade on a gradebook page (issue 30 §1): gradebook.course, a page of 100, in a course of
10,000 learners and in one of 1,000, each with 30 graded items (20 quizzes in "Quizzes", 40 %, the lowest
dropped; 10 assignments in "Assignments", 60 %), every learner with a best score per quiz and a
submission per assignment (1 in 10 still ungraded, 1 in 10 late with a penalty).

The learners, enrollments, counter rows and submissions are written set-based by the superuser
(triggers off, as bench.generate does); the call runs as the server runs it (lms_authenticator, the
instructor set as the caller, one transaction). Medians of --calls pages each (pages 1–10 in turn,
the two courses alternating).

    python -m bench.gradebook [--calls 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg

from bench.assessment import ok
from bench.common import bench_database
from bench.course_design import as_user
from rpc.db.calls import SET_CALLER

LEARNERS = """
    create temp table g_learners on commit drop as
    select gen_random_uuid() as id, g from generate_series(1, %(n)s) g;
    insert into app.users (id, email, password_hash, full_name, role, email_verified_at)
    select l.id, 'grades-' || %(tag)s || '-' || l.g || '@example.test', '!bench-no-login', 'Learner ' || l.g, 'student', now()
    from g_learners l;
    insert into app.enrollments (user_id, course_id, enrolled_at) select l.id, %(course)s, now() - l.g * interval '1 s' from g_learners l;
    insert into app.quiz_attempt_counters (user_id, quiz_id, attempts_used, last_started_at, closed_attempts, best_score, passed)
    select l.id, z.id, 1, now() - interval '1 day', 1, s.score, s.score >= 70
    from g_learners l cross join app.quizzes z
    cross join lateral (select (40 + (hashtext(l.id::text || z.id::text) & 63) * 60 / 63)::integer as score) s
    where z.course_id = %(course)s;
    insert into app.submissions (assignment_id, user_id, content, submitted_at, is_late, grade, graded_at, graded_by)
    select a.id, l.id, 'Work', now() - interval '1 day', h %% 10 = 1,
           case when h %% 10 <> 0 then a.points * (50 + h %% 50) / 100 end,
           case when h %% 10 <> 0 then now() end, case when h %% 10 <> 0 then %(teacher)s::uuid end
    from g_learners l cross join app.assignments a
    cross join lateral (select hashtext(l.id::text || a.id::text) & 1023 as h) x
    where a.course_id = %(course)s
"""


def build(conn, su, teacher: str, learners: int, tag: str) -> str:
    def call(query, *params):
        return ok(as_user(conn, teacher, query, list(params))[0])

    course_id = call("select api.course_create(title => %s, price_cents => 0)", f"Grades {tag}")["id"]
    lesson = call("select api.lesson_create(course_id => %s, title => 'L', content => 'x')", course_id)["id"]
    call("select api.lesson_publish(%s)", lesson)
    call("select api.course_publish(%s)", course_id)
    quizzes = call("select api.grade_category_create(course_id => %s, name => 'Quizzes', weight_percent => 40, drop_lowest => 1)", course_id)["id"]
    work = call("select api.grade_category_create(course_id => %s, name => 'Assignments', weight_percent => 60)", course_id)["id"]
    for i in range(20):
        quiz = call("select api.quiz_create(course_id => %s, title => %s, grade_category_id => %s)", course_id, f"Quiz {i}", quizzes)["id"]
        for k in range(5):
            call("select api.quiz_add_question(quiz_id => %s, question_text => %s, question_type => 'true_false', correct_answer => '\"true\"')", quiz, f"Q{k}?")
        call("select api.quiz_publish(%s)", quiz)
    for i in range(10):
        call("select api.assignment_create(course_id => %s, title => %s, points => 50, late_penalty_percentage => 10, grade_category_id => %s)",
             course_id, f"Assignment {i}", work)
    with su.transaction():
        su.execute("set local session_replication_role = replica")
        for statement in LEARNERS.split(";\n"):
            su.execute(statement, {"n": learners, "course": course_id, "teacher": teacher, "tag": tag})
    su.execute("analyze")
    return course_id


def page_ms(conn, teacher: str, course_id: str, offset: int, function: str) -> float:
    with conn.transaction(force_rollback=True):
        conn.execute(SET_CALLER, ["lms_api", "30s", "10s", teacher, "127.0.0.1", None])
        started = time.perf_counter()
        rows = conn.execute(f"select {function}(course_id => %s, \"limit\" => 100, \"offset\" => %s)",  # noqa: S608 — a fixed name
                            [course_id, offset]).fetchone()[0]
        took = (time.perf_counter() - started) * 1000
    assert len(ok(rows)) == 100, rows
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=30)
    args = parser.parse_args()
    with bench_database() as bench:
        with psycopg.connect(bench.url, autocommit=True) as su:
            teacher = su.execute("select internal.create_user('teacher@example.test', 'bench-password-1', 'Teacher',"
                                 " 'instructor')::text").fetchone()[0]
            with psycopg.connect(bench.authenticator_url, autocommit=True) as conn:
                started = time.perf_counter()
                courses = {n: build(conn, su, teacher, n, str(n)) for n in (10_000, 1_000)}
                print(f"data: 2 courses × 30 graded items, 11,000 learners ({time.perf_counter() - started:.0f} s)")
                times: dict[int, list[float]] = {n: [] for n in courses}
                for call in range(args.calls + 3):
                    for n, course_id in courses.items():
                        took = page_ms(conn, teacher, course_id, 100 * (call % 10), "api.gradebook_course")
                        if call >= 3:
                            times[n].append(took)
        print(f"gradebook.course, a page of 100 with the course grade, median of {args.calls} (in the database):")
        for n in courses:
            print(f"  {n:>6,} learners: {statistics.median(times[n]):6.2f} ms")
        print(f"  ratio 10,000 ÷ 1,000: {statistics.median(times[10_000]) / statistics.median(times[1_000]):.2f}")


if __name__ == "__main__":
    main()
