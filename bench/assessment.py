# ruff: noqa: E501  (SQL text: long lines read better than wrapped ones)
"""Assessment depth (issue 29): what a draw, the grading queue and a regrade cost in the database.

- attempt.start and attempt.submit of a quiz drawing 20 questions of a 1,000-question bank
  (plain, and with questions and options shuffled) and of a 100,000-question bank, against a quiz of
  20 fixed questions: medians of --calls
  start + submit pairs each, as the server calls them (lms_authenticator, the caller set, one
  transaction per call), and their ratio;
- grading.queue's first page (20) with 1,000 and with 100,000 essay answers waiting in the course;
- quiz.regrade of one question held by 10,000 submitted attempts of 10,000 enrolled learners, each
  turning from failed to passed (so the course completion of each is checked).

The waiting answers and the 10,000 attempts are written set-based by the superuser (triggers off, as
bench.generate does); everything timed goes through the api functions.

    python -m bench.assessment [--calls 200]
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg

from bench.common import bench_database
from bench.course_design import as_user
from rpc.db.calls import SET_CALLER


def ok(value):
    if isinstance(value, dict) and "error" in value:
        raise RuntimeError(value)
    return value


def course(conn, teacher: str, learner: str, title: str) -> str:
    course_id = ok(as_user(conn, teacher, "select api.course_create(title => %s, price_cents => 0)", [title])[0])["id"]
    lesson = ok(as_user(conn, teacher, "select api.lesson_create(course_id => %s, title => 'L', content => 'x')",
                        [course_id])[0])["id"]
    as_user(conn, teacher, "select api.lesson_publish(%s)", [lesson])
    as_user(conn, teacher, "select api.course_publish(%s)", [course_id])
    as_user(conn, learner, "select api.enrollment_enroll(%s)", [course_id])
    return course_id


def quiz(conn, teacher: str, course_id: str, title: str) -> str:
    return ok(as_user(conn, teacher, "select api.quiz_create(course_id => %s, title => %s, max_attempts => 1000000)",
                      [course_id, title])[0])["id"]


def mc(i: int) -> list:
    return [f"Question {i}: which option?", "multiple_choice", '["alpha", "beta", "gamma", "delta"]', '"beta"']


def start_submit(conn, learner: str, quizzes: dict[str, str], calls: int) -> dict[str, tuple[float, float]]:
    """Medians of start and submit per quiz, the quizzes taken in turn (a noisy moment weighs on each alike)."""
    starts: dict[str, list[float]] = {label: [] for label in quizzes}
    submits: dict[str, list[float]] = {label: [] for label in quizzes}
    for n in range(calls + 10):
        for label, quiz_id in quizzes.items():
            started, took = as_user(conn, learner, "select api.attempt_start(%s)", [quiz_id])
            answers = {q["id"]: "beta" for q in ok(started)["questions"]}
            _, took2 = as_user(conn, learner, "select api.attempt_submit(%s, %s)",
                               [started["attempt_id"], psycopg.types.json.Jsonb(answers)])
            if n >= 10:
                starts[label].append(took * 1000)
                submits[label].append(took2 * 1000)
    return {label: (statistics.median(starts[label]), statistics.median(submits[label])) for label in quizzes}


PENDING = """
    -- n submitted attempts of one quiz by the learner, each with one essay answer waiting
    insert into app.quiz_attempts (id, user_id, quiz_id, attempt_number, status, started_at, submitted_at,
                                   points_earned, points_total, answers, grading)
    select gen_random_uuid(), %(learner)s, %(quiz)s, 1000 + g, 'needs_grading', now() - interval '1 day' + g * interval '1 ms',
           now() - interval '1 day' + g * interval '1 ms', 0, 2, '{}', jsonb_build_object(%(question)s::text,
           jsonb_build_object('answer', 'An essay', 'correct', null, 'points_earned', null, 'points', 2))
    from generate_series(1, %(n)s) g;
    insert into app.manual_grades (attempt_id, attempt_started_at, question_id, quiz_id, course_id, user_id, submitted_at,
                                   answer, points)
    select a.id, a.started_at, %(question)s, a.quiz_id, %(course)s, a.user_id, a.submitted_at, 'An essay', 2
    from app.quiz_attempts a where a.quiz_id = %(quiz)s and a.status = 'needs_grading'
"""

SUBMITTED = """
    -- n learners of the course (users and enrollments as bench.generate writes them), one submitted
    -- attempt each, graded against a wrong key: every attempt failed its one question
    create temp table g_learners on commit drop as
    select gen_random_uuid() as id, g from generate_series(1, %(n)s) g;
    insert into app.users (id, email, password_hash, full_name, role, email_verified_at)
    select l.id, 'regrade-' || l.g || '@example.test', u.password_hash, 'Learner ' || l.g, 'student', now()
    from g_learners l cross join (select password_hash from app.users where id = %(learner)s) u;
    insert into app.enrollments (user_id, course_id) select l.id, %(course)s from g_learners l;
    insert into app.quiz_attempt_counters (user_id, quiz_id, attempts_used, last_started_at, closed_attempts, best_score)
    select l.id, %(quiz)s, 1, now() - interval '1 day', 1, 0 from g_learners l;
    insert into app.quiz_attempts (id, user_id, quiz_id, attempt_number, status, started_at, submitted_at, score, passed,
                                   points_earned, points_total, answers, grading)
    select gen_random_uuid(), l.id, %(quiz)s, 1, 'submitted', now() - interval '1 day' + l.g * interval '1 ms',
           now() - interval '1 day' + l.g * interval '1 ms', 0, false, 0, 1, jsonb_build_object(%(question)s::text, 'true'),
           jsonb_build_object(%(question)s::text,
                              jsonb_build_object('answer', 'true', 'correct', false, 'points_earned', 0, 'points', 1))
    from g_learners l
"""


def queue_ms(conn, teacher: str, course_id: str, calls: int) -> float:
    times = []
    for _ in range(calls):
        with conn.transaction(force_rollback=True):  # the claim is not kept: every call sees the first page
            conn.execute(SET_CALLER, ["lms_api", "30s", "10s", teacher, "127.0.0.1", None])
            started = time.perf_counter()
            page = conn.execute("select api.grading_queue(course_id => %s)", [course_id]).fetchone()[0]
            times.append((time.perf_counter() - started) * 1000)
            assert len(ok(page)) == 20, page
    return statistics.median(times[3:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    with bench_database() as bench:
        with psycopg.connect(bench.url, autocommit=True) as su:
            teacher, learner = (su.execute("select internal.create_user(%s, 'bench-password-1', %s, %s)::text",
                                           [f"{n}@example.test", n, r]).fetchone()[0]
                                for n, r in (("teacher", "instructor"), ("learner", "student")))
        with psycopg.connect(bench.authenticator_url, autocommit=True) as conn:
            course_id = course(conn, teacher, learner, "Assessment bench")
            fixed = quiz(conn, teacher, course_id, "Fixed 20")
            for i in range(20):
                as_user(conn, teacher, "select api.quiz_add_question(quiz_id => %s, question_text => %s,"
                        " question_type => %s, options => %s, correct_answer => %s)", [fixed, *mc(i)])
            bank = ok(as_user(conn, teacher, "select api.bank_create(%s, 'Big bank')", [course_id])[0])["id"]
            for i in range(1000):
                as_user(conn, teacher, "select api.bank_add_question(bank_id => %s, question_text => %s,"
                        " question_type => %s, options => %s, correct_answer => %s)", [bank, *mc(i)])
            # A bank of 100,000 (written set-based by the superuser, triggers on: each takes its place 1..n)
            huge = ok(as_user(conn, teacher, "select api.bank_create(%s, 'Huge bank')", [course_id])[0])["id"]
            with psycopg.connect(bench.url, autocommit=True) as su:
                su.execute("insert into app.questions (bank_id, question_text, question_type, options, correct_answer,"
                           " question_order) select %s, 'Question ' || g || ': which option?', 'multiple_choice',"
                           " '[\"alpha\", \"beta\", \"gamma\", \"delta\"]', 'beta', g"
                           " from generate_series(1, 100000) g", [huge])
                su.execute("vacuum analyze app.questions")
            drawn = quiz(conn, teacher, course_id, "Drawn 20 of 1,000")
            shuffled = quiz(conn, teacher, course_id, "Drawn and shuffled")
            huge_quiz = quiz(conn, teacher, course_id, "Drawn 20 of 100,000")
            for q in (drawn, shuffled):
                ok(as_user(conn, teacher, "select api.quiz_add_pool(%s, %s, 20)", [q, bank])[0])
            ok(as_user(conn, teacher, "select api.quiz_add_pool(%s, %s, 20)", [huge_quiz, huge])[0])
            as_user(conn, teacher, "select api.quiz_update(quiz_id => %s, shuffle_questions => true,"
                    " shuffle_options => true)", [shuffled])
            for q in (fixed, drawn, shuffled, huge_quiz):
                ok(as_user(conn, teacher, "select api.quiz_publish(%s)", [q])[0])
            quizzes = {"20 fixed questions": fixed, "20 drawn of a 1,000 bank": drawn,
                       "the same, shuffled": shuffled, "20 drawn of a 100,000 bank": huge_quiz}
            figures = start_submit(conn, learner, quizzes, args.calls)
            print(f"attempt.start + attempt.submit, medians of {args.calls} (in the database):")
            print(f"  {'':<28} {'start':>9} {'submit':>9}   ratio to fixed")
            base = figures["20 fixed questions"]
            for label, (start, submit) in figures.items():
                print(f"  {label:<28} {start:6.3f} ms {submit:6.3f} ms   {start / base[0]:.2f} {submit / base[1]:.2f}")

            # The grading queue, first page, with 1,000 and with 100,000 answers waiting.
            print("grading.queue, first page of 20 (median of 30):")
            for n in (1000, 100_000):
                queued = course(conn, teacher, learner, f"Queue {n}")
                essay_quiz = quiz(conn, teacher, queued, "Essays")
                question = ok(as_user(conn, teacher, "select api.quiz_add_question(quiz_id => %s, question_text => 'Why?',"
                                      " question_type => 'essay', points => 2)", [essay_quiz])[0])["id"]
                with psycopg.connect(bench.url, autocommit=True) as su, su.transaction():
                    su.execute("set local session_replication_role = replica")
                    for statement in PENDING.split(";\n"):
                        su.execute(statement, {"learner": learner, "quiz": essay_quiz, "question": question,
                                               "course": queued, "n": n})
                with psycopg.connect(bench.url, autocommit=True) as su:
                    su.execute("analyze app.manual_grades")
                print(f"  {n:>7,} waiting: {queue_ms(conn, teacher, queued, 33):6.3f} ms")

            # quiz.regrade of 10,000 submitted attempts.
            regraded_course = course(conn, teacher, learner, "Regrade")
            regrade_quiz = quiz(conn, teacher, regraded_course, "Regrade me")
            tf = ok(as_user(conn, teacher, "select api.quiz_add_question(quiz_id => %s, question_text => 'True?',"
                            " question_type => 'true_false', correct_answer => '\"false\"')", [regrade_quiz])[0])["id"]
            with psycopg.connect(bench.url, autocommit=True) as su, su.transaction():
                su.execute("set local session_replication_role = replica")
                for statement in SUBMITTED.split(";\n"):
                    su.execute(statement, {"learner": learner, "quiz": regrade_quiz, "question": tf, "n": 10_000,
                                           "course": regraded_course})
            with psycopg.connect(bench.url, autocommit=True) as su:
                su.execute("analyze app.quiz_attempts")
            as_user(conn, teacher, "select api.quiz_update_question(question_id => %s, correct_answer => '\"true\"')", [tf])
            result, took = as_user(conn, teacher, "select api.quiz_regrade(%s, %s)", [regrade_quiz, tf])
            print(f"quiz.regrade of {ok(result)['attempts_regraded']:,} attempts of as many learners"
                  f" ({result['scores_changed']:,} scores changed, each now passing: course completion checked for"
                  f" each): {took * 1000:.0f} ms")


if __name__ == "__main__":
    main()
