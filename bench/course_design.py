"""Course design (issue 28): what modules, locks and overrides cost a learner's calls, and course.copy.

Courses of the same size — 50 lessons, 10 quizzes × 20 questions, 10 assignments: one in a database
migrated by the commit before modules (`--before`, default the parent of the commit that added
migration 0025; its own migrations and functions, in the same cluster), one flat in this tree (no
module) and one in 4 modules in this tree (a chain of prerequisites over two of them, a drip rule on
another, the learner with an override and an accommodation). For each, the median time PostgreSQL
takes for `lesson.get`, `course.get` and `attempt.start` as a learner (the api function called as the
server calls it: lms_authenticator, the caller set, one transaction per call), the ratio of the modular
course to the one before modules, the buffers of the lock check (internal.module_states, one statement
however many modules), and course.copy of the modular course.

With `--scale S`, the same three calls on generated data instead (`bench.generate --scale S`, each
tree generating its own database: this tree's has 4 modules per course — week 2 requires week 1,
week 3 opens 7 days after enrolment — and overrides plus an accommodation for 2% of enrollments):
--samples learners (active enrollments picked by a hash), each call --calls times per learner (attempt.start rolled
back), the median over all.

    python -m bench.course_design [--calls 300] [--before REF]
    python -m bench.course_design --scale 1 [--samples 40] [--calls 30] [--before REF]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from bench.common import bench_database, migrate_database, source_tree
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
    placed = ", module_id => %s" if modular else ""  # the tree before modules has no module_id

    def at(module):
        return (module,) if modular else ()

    lessons = []
    for n in range(LESSONS):
        module = modules[n * len(modules) // LESSONS] if modules else None
        lesson = call("select api.lesson_create(course_id => %s, title => %s, content => %s" + placed + ")",
                      course, f"Lesson {n}", "text " * 200, *at(module))["id"]
        call("select api.lesson_publish(%s)", lesson)
        lessons.append(lesson)
    quizzes = []
    for n in range(QUIZZES):
        module = modules[0] if modules else None
        quiz = call("select api.quiz_create(course_id => %s, title => %s, time_limit_minutes => 30, max_attempts => 5"
                    + placed + ")", course, f"Quiz {n}", *at(module))["id"]
        for k in range(QUESTIONS):
            call("select api.quiz_add_question(quiz_id => %s, question_text => %s, question_type => 'true_false',"
                 " correct_answer => 'true')", quiz, f"Q{k}?")
        call("select api.quiz_publish(%s)", quiz)
        quizzes.append(quiz)
    for n in range(ASSIGNMENTS):
        module = modules[-1] if modules else None
        call("select api.assignment_create(course_id => %s, title => %s" + placed + ")", course, f"A{n}", *at(module))
    for module in modules:
        call("select api.module_publish(%s)", module)
    call("select api.course_publish(%s)", course)
    return {"course": course, "lessons": lessons, "quizzes": quizzes, "modules": modules}


def median_ms(conn, user_id: str, query: str, params: list, calls: int) -> float:
    times = [as_user(conn, user_id, query, params)[1] for _ in range(calls)]
    return statistics.median(times) * 1000


def before_ref() -> str:
    """The parent of the commit that added migration 0025 (modules)."""
    root = Path(__file__).resolve().parent.parent
    added = subprocess.run(["git", "-C", str(root), "log", "--diff-filter=A", "--format=%H", "--",
                            "migrations/0025_course_modules.sql"], capture_output=True, text=True, check=True)
    return added.stdout.split()[-1] + "^"


def people(url: str) -> tuple[str, str]:
    """A teacher and a learner in a database: (instructor id, learner id)."""
    with psycopg.connect(url, autocommit=True) as su:
        ids = [su.execute("select internal.create_user(%s, 'bench-password-1', %s, %s)::text",
                          [f"{name}@example.test", name, role]).fetchone()[0]
               for name, role in (("teacher", "instructor"), ("learner", "student"))]
    return ids[0], ids[1]


ROWS = [("lesson.get", "select api.lesson_get(%s)", "lessons", 0),
        ("course.get", "select api.course_get(%s)", "course", None),
        ("attempt.start", "select api.attempt_start(%s)", "quizzes", 0)]


def medians(conn, learner: str, course: dict, calls: int) -> list[float]:
    figures = []
    for _, query, key, index in ROWS:
        target = course[key] if index is None else course[key][index]
        median_ms(conn, learner, query, [target], 20)  # warm
        figures.append(median_ms(conn, learner, query, [target], calls))
    return figures


GENERATED_CASES = """
    select e.user_id::text, e.course_id::text,
           (select l.id from app.lessons l where l.course_id = e.course_id and l.is_published
            order by l.lesson_order limit 1)::text,
           (select z.id from app.quizzes z
            left join app.quiz_attempt_counters c on c.quiz_id = z.id and c.user_id = e.user_id
            where z.course_id = e.course_id and z.is_published and coalesce(c.attempts_used, 0) < z.max_attempts
            order by z.title limit 1)::text
    from app.enrollments e
    where e.is_active and abs(hashtext(e.id::text)) %% 7 = 0
    order by hashtext(e.id::text)
    limit %s
"""


def rolled_back_ms(conn, user_id: str, query: str, params: list) -> float:
    """One call as the server makes it, rolled back (attempt.start writes)."""
    with conn.transaction(force_rollback=True):
        conn.execute(SET_CALLER, ["lms_api", "30s", "10s", user_id, "127.0.0.1", None])
        started = time.perf_counter()
        conn.execute(query, params).fetchone()
        return (time.perf_counter() - started) * 1000


def generated_medians(url: str, samples: int, calls: int) -> tuple[list[float], int]:
    """Medians of lesson.get, course.get, attempt.start over learners of the generated data (each call
    `calls` times per learner), skipping a call a learner may not make (a locked module)."""
    with psycopg.connect(url, autocommit=True) as su:
        cases = [c for c in su.execute(GENERATED_CASES, [samples]).fetchall() if c[2] and c[3]]
    times: list[list[float]] = [[], [], []]
    with psycopg.connect(url.replace("postgres@", "lms_authenticator@"), autocommit=True) as conn:
        for user, course, lesson, quiz in cases:
            for k, (query, target) in enumerate(((ROWS[0][1], lesson), (ROWS[1][1], course), (ROWS[2][1], quiz))):
                try:
                    runs = [rolled_back_ms(conn, user, query, [target]) for _ in range(calls + 3)][3:]
                except psycopg.Error:  # 423 module_locked: this learner has not opened that module
                    continue
                times[k].extend(runs)
    return [statistics.median(t) for t in times], len(cases)


def generated(args, ref: str) -> None:
    with bench_database() as bench:
        old_tree = source_tree(ref, bench.workdir)
        with psycopg.connect(bench.cluster.url("postgres"), autocommit=True) as su:
            su.execute("create database before")
        migrate_database(bench.cluster.url("before"), old_tree)
        for url, tree in ((bench.cluster.url("before"), old_tree), (bench.url, None)):
            env = {**os.environ, "DATABASE_URL": url,
                   "PYTHONPATH": str(tree or Path(__file__).resolve().parent.parent)}
            subprocess.run([sys.executable, "-m", "bench.generate", "--scale", str(args.scale), "--no-check"],
                           env=env, cwd=str(tree or Path.cwd()), check=True, stdout=subprocess.DEVNULL)
        before, n_before = generated_medians(bench.cluster.url("before"), args.samples, args.calls)
        after, n_after = generated_medians(bench.url, args.samples, args.calls)
        with psycopg.connect(bench.url, autocommit=True) as su:
            modules, rules, overrides = su.execute(
                "select (select count(*) from app.modules), (select count(*) from app.modules m"
                " where m.unlock_after_days"
                " is not null or exists (select from app.module_prerequisites p where p.module_id = m.id)),"
                " (select count(*) from app.learner_overrides)").fetchone()
        print(f"generated data, scale {args.scale}: {n_before} / {n_after} learners, {args.calls} calls each,"
              f" medians in the database; before = {ref}")
        print(f"  this tree: {modules} modules ({rules} with a prerequisite or a drip rule), {overrides} overrides")
        print(f"  {'':<14} {'before':>9} {'modules':>9}   ratio")
        for (name, *_), old, new in zip(ROWS, before, after, strict=True):
            print(f"  {name:<14} {old:6.3f} ms {new:6.3f} ms   {new / old:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--before", default=None, help="the commit to compare with (default: the one before modules)")
    parser.add_argument("--scale", type=float, default=None, help="time the calls on generated data of this scale")
    parser.add_argument("--samples", type=int, default=40)
    args = parser.parse_args()
    ref = args.before or before_ref()
    if args.scale is not None:
        generated(args, ref)
        return
    with bench_database() as bench:
        with psycopg.connect(bench.cluster.url("postgres"), autocommit=True) as su:
            su.execute("create database before")
        migrate_database(bench.cluster.url("before"), source_tree(ref, bench.workdir))
        teacher, student = people(bench.cluster.url("before"))
        with psycopg.connect(bench.cluster.url("before", "lms_authenticator"), autocommit=True) as conn:
            old = build(conn, teacher, False)
            as_user(conn, student, "select api.enrollment_enroll(%s)", [old["course"]])
            before = medians(conn, student, old, args.calls)

        instructor, learner = people(bench.url)
        with psycopg.connect(bench.authenticator_url, autocommit=True) as conn:
            flat, modular = build(conn, instructor, False), build(conn, instructor, True)
            for course in (flat, modular):
                as_user(conn, learner, "select api.enrollment_enroll(%s)", [course["course"]])
            as_user(conn, instructor, "select api.accommodation_set(%s, %s, 1.5)", [modular["course"], learner])
            as_user(conn, instructor, "select api.override_set(user_id => %s, quiz_id => %s, extra_attempts => 2)",
                    [learner, modular["quizzes"][0]])
            after_flat, after_modular = medians(conn, learner, flat, args.calls), medians(conn, learner, modular,
                                                                                          args.calls)
            print(f"courses: {LESSONS} lessons, {QUIZZES} quizzes × {QUESTIONS} questions, {ASSIGNMENTS} assignments;"
                  f" {args.calls} calls each, medians in the database; before = {ref}")
            print(f"  {'':<14} {'before':>9} {'flat':>9} {'4 modules':>10}   modules / before")
            for (name, *_), *row in zip(ROWS, before, after_flat, after_modular, strict=True):
                print(f"  {name:<14} {row[0]:6.3f} ms {row[1]:6.3f} ms {row[2]:7.3f} ms   {row[2] / row[0]:.2f}")
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
