# ruff: noqa: E501  (SQL text: long lines read better than wrapped ones)
"""Database-side timings of the issue-21 calls on generated data (`python -m bench.generate --scale S`).

    DATABASE_URL=postgresql://postgres@/bench1?host=…&port=… python -m bench.scale [--runs 7]

Each call runs as the API role exactly as the server does it — connected as lms_authenticator, in one
transaction `set_config('role', 'lms_api', true), set_config('lms.user_id', <real user id>, true)`, then
`explain (analyze, format json) select api.<fn>(…)`; the figure is planning + execution time, the
median of --runs runs after two warm-up runs. Writes (attempt.start) are rolled back.
Analysts: the same query on analytics.quiz_best_scores as a login linked to an admin (RLS) and as
the superuser (no RLS), medians; the ratio is analyst ÷ owner.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql


def as_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.split("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


BUFFERS: dict[str, int] = {}  # last call's shared buffers touched (hit + read), by query text


def explain_ms(conn: psycopg.Connection, query: sql.Composable, params: list, user_id: str | None) -> float:
    with conn.transaction(force_rollback=True):
        conn.execute("select set_config('role', 'lms_api', true), set_config('lms.user_id', %s, true)",
                     [user_id or ""])
        (plan,) = conn.execute(sql.SQL("explain (analyze, buffers, format json) ") + query, params).fetchone()
    p = plan[0] if isinstance(plan, list) else json.loads(plan)[0]
    top = p["Plan"]
    BUFFERS[query.as_string(conn) + repr(params)] = top["Shared Hit Blocks"] + top["Shared Read Blocks"]
    return p["Planning Time"] + p["Execution Time"]


def plan_ms(conn: psycopg.Connection, q: sql.Composable, p: list) -> float:
    (plan,) = conn.execute(sql.SQL("explain (analyze, format json) ") + q, p).fetchone()
    return plan[0]["Planning Time"] + plan[0]["Execution Time"]


def median_ms(fn, runs: int) -> float:
    for _ in range(2):
        fn()
    return round(statistics.median(fn() for _ in range(runs)), 2)


def call(fn: str, **params) -> tuple[sql.Composable, list]:
    args = sql.SQL(", ").join(sql.SQL("{} => %s").format(sql.Identifier(k)) for k in params)
    return sql.SQL("select api.{}({})").format(sql.Identifier(fn), args), list(params.values())


def cases(su: psycopg.Connection) -> dict:
    """Real ids from the generated data: the 10,000- and 1,000-student courses and their people."""
    big = su.execute("select c.id, c.instructor_id, count(*) n from app.courses c join app.enrollments e on e.course_id = c.id "
                     "group by c.id order by n desc limit 1").fetchone()
    small = su.execute("select c.id, c.instructor_id, count(*) n from app.courses c join app.enrollments e on e.course_id = c.id "
                       "group by c.id having count(*) between 900 and 1100 order by abs(count(*) - 1000) limit 1").fetchone()
    out = {"big": big, "small": small}
    for key, (cid, _, _) in (("big", big), ("small", small)):
        out[key + "_quiz"] = su.execute("select z.id from app.quizzes z left join app.quiz_attempts a on a.quiz_id = z.id "
                                        "where z.course_id = %s group by z.id order by count(a.*) desc limit 1",
                                        [cid]).fetchone()[0]
        out[key + "_assignment"] = su.execute("select id from app.assignments where course_id = %s limit 1",
                                              [cid]).fetchone()[0]
    out["lessons20"] = su.execute(
        "select l.course_id, (select e.user_id from app.enrollments e where e.course_id = l.course_id and e.is_active limit 1) "
        "from app.lessons l group by l.course_id order by count(*) desc limit 1").fetchone()
    out["student"] = su.execute("select e.user_id from app.enrollments e where e.is_active "
                                "and e.course_id = %s limit 1", [out["lessons20"][0]]).fetchone()[0]
    # attempt.start: an active enrollee of the big course with attempts left at its quiz
    out["starter"] = su.execute(
        "select e.user_id from app.enrollments e left join app.quiz_attempt_counters c "
        "on c.user_id = e.user_id and c.quiz_id = %s where e.course_id = %s and e.is_active "
        "and coalesce(c.attempts_used, 0) < 3 limit 1", [out["big_quiz"], big[0]]).fetchone()[0]
    out["admin"] = su.execute("select user_id from app.admins order by user_id limit 1").fetchone()[0]
    return out


def run(url: str, runs: int) -> dict:
    results: dict = {}
    with psycopg.connect(url, autocommit=True) as su, \
            psycopg.connect(as_user(url, "lms_authenticator"), autocommit=True) as api:
        c = cases(su)
        results["sizes"] = {"big_course_students": c["big"][2], "small_course_students": c["small"][2],
                            "courses": su.execute("select count(*) from app.courses").fetchone()[0],
                            "attempt_partitions": su.execute("select count(*) from pg_inherits where inhparent = "
                                                             "'app.quiz_attempts'::regclass").fetchone()[0],
                            "course_get_lessons": su.execute("select count(*) from app.lessons where course_id = %s",
                                                             [c["lessons20"][0]]).fetchone()[0]}

        def timed(fn: str, user, **params) -> float:
            q, p = call(fn, **params)
            ms = median_ms(lambda: explain_ms(api, q, p, str(user)), runs)
            # Work done, independent of how busy the machine is: shared buffers the call touched.
            results[f"buffers {fn} {params.get('limit', '')} {label_of(params)}".rstrip()] = \
                BUFFERS[q.as_string(api) + repr(p)]
            return ms

        keys = {c["big"][0]: "big", c["small"][0]: "small", c["big_quiz"]: "big", c["small_quiz"]: "small",
                c["big_assignment"]: "big", c["small_assignment"]: "small"}

        def label_of(params: dict) -> str:
            for k in ("course_id", "quiz_id", "assignment_id"):
                if params.get(k) in keys:
                    return f"({keys[params[k]]})"
            return ""

        for key in ("big", "small"):
            cid, inst, _ = c[key]
            results[f"enrollment.list_for_course limit 100 ({key})"] = timed(
                "enrollment_list_for_course", inst, course_id=cid, limit=100)
            results[f"gradebook.course limit 100 ({key})"] = timed("gradebook_course", inst, course_id=cid, limit=100)
            results[f"attempt.list_for_quiz limit 100 ({key})"] = timed(
                "attempt_list_for_quiz", inst, quiz_id=c[key + "_quiz"], limit=100)
            results[f"submission.list_for_assignment limit 100 ({key})"] = timed(
                "submission_list_for_assignment", inst, assignment_id=c[key + "_assignment"], limit=100)
        results["course.get (enrolled student)"] = timed("course_get", c["student"], course_id=c["lessons20"][0])
        results["course.list (first page)"] = timed("course_list", c["student"])
        results["course.list (search)"] = timed("course_list", c["student"], search="practical statistics")
        results["attempt.start (rolled back)"] = timed("attempt_start", c["starter"], quiz_id=c["big_quiz"])
        for name in ("enrollment.list_for_course", "gradebook.course", "attempt.list_for_quiz",
                     "submission.list_for_assignment"):
            results[f"ratio big/small {name}"] = round(
                results[f"{name} limit 100 (big)"] / results[f"{name} limit 100 (small)"], 2)
        results.update(analyst(su, url, c, runs))
    return results


def analyst(su: psycopg.Connection, url: str, c: dict, runs: int) -> dict:
    """analytics.quiz_best_scores as an analyst linked to an admin vs as the superuser (RLS bypassed)."""
    su.execute("do $$ begin if not exists (select from pg_roles where rolname = 'bench_analyst') then "
               "create role bench_analyst login in role lms_analyst; end if; end $$")
    su.execute("insert into app.analyst_logins (login_name, user_id) values ('bench_analyst', %s) "
               "on conflict (login_name) do update set user_id = excluded.user_id", [c["admin"]])
    out = {}
    queries = {
        "one course": (sql.SQL("select count(*), avg(best_score) from analytics.quiz_best_scores where course_id = %s"),
                       [c["big"][0]]),
        "whole view": (sql.SQL("select count(*), avg(best_score) from analytics.quiz_best_scores"), []),
    }
    with psycopg.connect(as_user(url, "bench_analyst"), autocommit=True) as an:
        for label, (q, p) in queries.items():
            r = 3 if label == "whole view" else runs
            # Alternating analyst and owner run by run, so a busy moment of the machine hits both.
            for _ in range(2 if r > 3 else 1):
                plan_ms(an, q, p), plan_ms(su, q, p)
            pairs = [(plan_ms(an, q, p), plan_ms(su, q, p)) for _ in range(r)]
            a = round(statistics.median(x for x, _ in pairs), 2)
            o = round(statistics.median(y for _, y in pairs), 2)
            out[f"analyst quiz_best_scores {label}: analyst ms"] = a
            out[f"analyst quiz_best_scores {label}: owner ms"] = o
            out[f"analyst quiz_best_scores {label}: ratio"] = round(a / o, 2)
    return out


def apply_functions_of(url: str, ref: str | None) -> None:
    """Re-apply sql/functions and sql/policies as of git ref (read with `git show`, nothing checked
    out), in the order `lms db migrate` uses; ref None = the working tree's (rpc.migrate)."""
    from rpc.db.migrate import ROOT, apply_repeatable, repeatable_files

    with psycopg.connect(url, autocommit=True) as conn:
        if ref is None:
            apply_repeatable(conn)
            return
        names = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "-r", "--name-only", ref, "sql/functions",
                                "sql/policies"], check=True, capture_output=True, text=True).stdout.split()
        folders = {"functions": [], "policies": []}
        for name in names:
            if name.endswith(".sql"):
                folders[name.split("/")[1]].append(name)
        ordered = [n for k in ("functions", "policies")
                   for n in sorted(folders[k], key=lambda n: Path(n).parts[2:])]
        assert len(ordered) >= len(repeatable_files()) // 2
        with conn.transaction():
            conn.execute("select set_config('role', 'lms_owner', true)")
            for name in ordered:
                text = subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:{name}"], check=True,
                                      capture_output=True, text=True).stdout
                conn.execute(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--before", metavar="REF",
                    help="also time the function bodies of git REF (e.g. main) on the same data, side by side")
    args = ap.parse_args()
    url = os.environ["DATABASE_URL"]
    print("load average before: " + open("/proc/loadavg").read().split(" ", 3)[:3].__str__())
    after = run(url, args.runs)
    before: dict = {}
    if args.before:
        try:
            apply_functions_of(url, args.before)
            before = run(url, args.runs)
        finally:
            apply_functions_of(url, None)
        print(f"{'':60} {args.before:>10} {'this tree':>10}")
    print("load average after: " + open("/proc/loadavg").read().split(" ", 3)[:3].__str__())
    for k, v in after.items():
        print(f"{k:60} {str(before.get(k, '')):>10} {v!s:>10}" if before else f"{k:60} {v}")


if __name__ == "__main__":
    main()
