"""Course design (issue 28): what modules, locks and overrides cost a learner's calls, and course.copy.

Two courses of the same size — 50 lessons, 10 quizzes × 20 questions, 10 assignments — one flat (no
module: the path a course takes without modules, as before issue 28) and one in 4 modules (a chain of
prerequisites over two of them, a drip date on another, the learner with an override and an
accommodation). For each, the median time PostgreSQL takes for `lesson.get`, `course.get` and
`attempt.start` as a learner (the api function called as the server calls it: lms_authenticator, the
caller set, one transaction per call), their ratio, the buffers of the lock check (internal.module_states,
one statement however many modules), and course.copy of the modular course.

    python -m bench.course_design [--calls 300]
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg

from bench.common import bench_database
from rpc.db.calls import SET_CALLER

LESSONS, QUIZZES, QUESTIONS, ASSIGNMENTS = 50, 10, 20, 10


def as_user(conn: psycopg.Connection, user_id: str, query: str, params: list):
    """One call as the server makes it: a transaction, the caller set, the api function; → (value, seconds)."""
    with conn.transaction():
        conn.execute(SET_CALLER, ["lms_api", "30s", "10s", user_id, "127.0.0.1", None])
        started = time.perf_counter()
        value = conn.execute(query, params).fetchone()[0]
        took = time.perf_counter() - started
    return value, took


def build(conn, instructor: str, modular: bool) -> dict:
    def call(query, *params):
        value, _ = as_user(conn, instructor, query, list(params))
        if isinstance(value, dict) and "error" in value:
            raise RuntimeError(value)
        return value

    course = call("select api.course_create(title => %s, price_cents => 0)",
                  "Modular" if modular else "Flat")["id"]
    modules = []
    if modular:
        for n in range(4):
            prereq = [modules[-1]] if n in (1, 2) else None
            unlock_after = 0 if n == 3 else None  # a drip rule (open from enrolment on)
            modules.append(call("select api.module_create(course_id => %s, title => %s, prerequisite_module_ids => %s,"
                                " unlock_after_days => %s)", course, f"Week {n + 1}", prereq, unlock_after)["id"])
    lessons = []
    for n in range(LESSONS):
        module = modules[n * len(modules) // LESSONS] if modules else None
        lesson = call("select api.lesson_create(course_id => %s, title => %s, content => %s, module_id => %s)",
                      course, f"Lesson {n}", "text " * 200, module)["id"]
        call("select api.lesson_publish(%s)", lesson)
        lessons.append(lesson)
    quizzes = []
    for n in range(QUIZZES):
        module = modules[0] if modules else None
        quiz = call("select api.quiz_create(course_id => %s, title => %s, time_limit_minutes => 30, max_attempts => 5,"
                    " module_id => %s)", course, f"Quiz {n}", module)["id"]
        for k in range(QUESTIONS):
            call("select api.quiz_add_question(quiz_id => %s, question_text => %s, question_type => 'true_false',"
                 " correct_answer => 'true')", quiz, f"Q{k}?")
        call("select api.quiz_publish(%s)", quiz)
        quizzes.append(quiz)
    for n in range(ASSIGNMENTS):
        module = modules[-1] if modules else None
        call("select api.assignment_create(course_id => %s, title => %s, module_id => %s)", course, f"A{n}", module)
    for module in modules:
        call("select api.module_publish(%s)", module)
    call("select api.course_publish(%s)", course)
    return {"course": course, "lessons": lessons, "quizzes": quizzes, "modules": modules}


def median_ms(conn, user_id: str, query: str, params: list, calls: int) -> float:
    times = [as_user(conn, user_id, query, params)[1] for _ in range(calls)]
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    with bench_database() as bench:
        url = bench.cluster.url("bench", "lms_authenticator")
        with psycopg.connect(bench.url, autocommit=True) as su:
            (instructor,) = su.execute("select internal.create_user('teacher@example.test', 'bench-password-1',"
                                       " 'Teacher', 'instructor')::text").fetchone()
        with psycopg.connect(url, autocommit=True) as conn:
            flat, modular = build(conn, instructor, False), build(conn, instructor, True)
            learner = bench.user_id
            for course in (flat, modular):
                as_user(conn, learner, "select api.enrollment_enroll(%s)", [course["course"]])
            as_user(conn, instructor, "select api.accommodation_set(%s, %s, 1.5)", [modular["course"], learner])
            as_user(conn, instructor, "select api.override_set(user_id => %s, quiz_id => %s, extra_attempts => 2)",
                    [learner, modular["quizzes"][0]])
            print(f"courses: {LESSONS} lessons, {QUIZZES} quizzes × {QUESTIONS} questions, {ASSIGNMENTS} assignments;"
                  f" the modular one in 4 modules; {args.calls} calls each, medians")
            # The modular lesson is in week 1 (open); week 2 waits for it — the check runs for every module.
            rows = [("lesson.get", "select api.lesson_get(%s)", "lessons", 0),
                    ("course.get", "select api.course_get(%s)", "course", None),
                    ("attempt.start", "select api.attempt_start(%s)", "quizzes", 0)]
            for name, query, key, index in rows:
                figures = []
                for course in (flat, modular):
                    target = course[key] if index is None else course[key][index]
                    median_ms(conn, learner, query, [target], 20)  # warm
                    figures.append(median_ms(conn, learner, query, [target], args.calls))
                print(f"  {name:<14} flat {figures[0]:6.3f} ms   modular {figures[1]:6.3f} ms"
                      f"   ratio {figures[1] / figures[0]:.2f}")
            with conn.transaction():
                conn.execute(SET_CALLER, ["lms_api", "30s", "10s", learner, "127.0.0.1", None])
                plan = conn.execute("explain (analyze, buffers, costs off, timing off, summary off)"
                                    " select * from internal.module_states(%s, %s)",
                                    [learner, modular["course"]]).fetchall()
            print("  lock check, internal.module_states (one statement for the 4 modules):")
            for (line,) in plan:
                if "Buffers" in line or "Function Scan" in line:
                    print("    " + line.strip())
            times = []
            for n in range(5):
                started = time.perf_counter()
                copy, _ = as_user(conn, instructor, "select api.course_copy(%s, %s)",
                                  [modular["course"], f"copy {n}"])
                times.append((time.perf_counter() - started) * 1000)
                assert "id" in copy, copy
            print(f"  course.copy of the modular course: median {statistics.median(times):.1f} ms"
                  f" (min {min(times):.1f}, max {max(times):.1f}; 5 copies)")


if __name__ == "__main__":
    main()
