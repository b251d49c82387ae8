"""A realistic mix through POST /rpc, next to pgbench running the same SQL mix, in one run.

    python -m bench.mix [--seconds 20 [--rounds 2] | --minutes 10] [--clients 32] [--workers 1,2] [--pgbouncer]

Data first (through the API): an instructor, 10 free published courses of 5 lessons, a quiz of 3
questions and an assignment each; one student per client, enrolled everywhere, each with a submission
to grade and a refresh token. Then each client loops over the mix, by calls: catalog 40%
(course.list, course.get), lesson 30% (lesson.get 2 : lesson.complete 1), attempt 15% (attempt.start
then attempt.submit), login/refresh 10% (auth.login then auth.refresh), grading 5% (the instructor
regrades a submission). Prints calls/s, p50/p99 per method, errors (must be 0), the server's CPU µs per
call and RSS at start and end, then pgbench running the same SQL (per call what the server sends:
identity + `select api.fn(…)::text` in one message) with the same weights; RPC ÷ pgbench is
calls/s ÷ SQL calls/s. The load generator is a small asyncio HTTP/1.1 client in this process:
it shares the 2 cores with the server and PostgreSQL, as wrk and pgbench do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import time
from collections import defaultdict

import psycopg

from bench.common import Bench, bench_database, measure, percentile, token_for

COURSES = 10
LESSONS = 5
PASSWORD = "bench-password-1"
# (script, weight in scripts, calls per script): calls add up to the shares of the issue
MIX = [("course.list", 40, 1), ("course.get", 40, 1), ("lesson.get", 40, 1), ("lesson.complete", 20, 1),
       ("attempt", 15, 2), ("auth", 10, 2), ("submission.grade", 10, 1)]


class Client:
    """One keep-alive HTTP/1.1 connection posting JSON-RPC calls; raises on a non-200 or an error."""

    def __init__(self, url: str):
        m = re.match(r"http://([^:/]+):(\d+)(/.*)", url)
        self.host, self.port, self.path = m.group(1), int(m.group(2)), m.group(3)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def call(self, method: str, params: dict, token: str | None = None):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}).encode()
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self.writer.write((f"POST {self.path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                           f"{auth}Content-Length: {len(body)}\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
        answer = json.loads(await self.reader.readexactly(length))
        if status != 200 or "error" in answer:
            raise RuntimeError(f"{method}: HTTP {status} {answer}")
        return answer["result"]

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def create_data(bench: Bench, url: str, students: int) -> dict:
    """Courses, lessons, quizzes, assignments, students (enrolled, one submission each, logged in)."""
    with psycopg.connect(bench.url, autocommit=True) as conn:
        (instructor,) = conn.execute("select internal.create_user('teacher@example.test', %s, 'Teacher', "
                                     "'instructor')", [PASSWORD]).fetchone()
        people = [str(conn.execute("select internal.create_user(%s, %s, %s, 'student')",
                                   [f"student{i}@example.test", PASSWORD, f"Student {i}"]).fetchone()[0])
                  for i in range(students)]
    teacher = token_for(str(instructor), "instructor")
    client = Client(url)
    data: dict = {"teacher": teacher, "courses": [], "lessons": [], "quizzes": [], "submissions": [], "students": []}
    assignments = []
    for c in range(COURSES):
        course = await client.call("course.create", {"title": f"Course {c}", "price_cents": 0,
                                                     "description": "A course " * 20, "category": "bench"}, teacher)
        cid = course["course_id"] if "course_id" in course else course["id"]
        data["courses"].append(cid)
        for n in range(LESSONS):
            lesson = await client.call("lesson.create", {"course_id": cid, "title": f"Lesson {n}",
                                                         "content": "Text " * 200, "duration_minutes": 10}, teacher)
            lid = lesson.get("lesson_id") or lesson["id"]
            await client.call("lesson.publish", {"lesson_id": lid}, teacher)
            data["lessons"].append(lid)
        quiz = await client.call("quiz.create", {"course_id": cid, "title": "Quiz", "max_attempts": 1000000}, teacher)
        qid = quiz.get("quiz_id") or quiz["id"]
        for q in range(3):
            await client.call("quiz.add_question", {"quiz_id": qid, "question_text": f"Q{q}?",
                                                    "question_type": "true_false", "correct_answer": "true"}, teacher)
        await client.call("quiz.publish", {"quiz_id": qid}, teacher)
        data["quizzes"].append(qid)
        assignment = await client.call("assignment.create", {"course_id": cid, "title": "Essay", "points": 100},
                                       teacher)
        assignments.append(assignment.get("assignment_id") or assignment["id"])
        await client.call("course.publish", {"course_id": cid}, teacher)
    for i, uid in enumerate(people):
        token = token_for(uid)
        for cid in data["courses"]:
            await client.call("enrollment.enroll", {"course_id": cid}, token)
        sub = await client.call("submission.submit", {"assignment_id": assignments[i % COURSES],
                                                      "content": "My essay"}, token)
        data["submissions"].append(sub.get("submission_id") or sub["id"])
        login = await client.call("auth.login", {"email": f"student{i}@example.test", "password": PASSWORD})
        data["students"].append({"id": uid, "email": f"student{i}@example.test", "token": token,
                                 "refresh": login["refresh_token"]})
    client.close()
    return data


async def drive(url: str, data: dict, seconds: float) -> tuple[dict, int]:
    """Every student loops over the mix until the time is up: latencies (ms) per method, errors."""
    latencies: dict[str, list[float]] = defaultdict(list)
    errors = [0]
    scripts = [m[0] for m in MIX]
    weights = [m[1] for m in MIX]
    stop = time.monotonic() + seconds

    async def one(student: dict, rng: random.Random) -> None:
        client = Client(url)

        async def timed(method: str, params: dict, token: str | None):
            started = time.perf_counter()
            try:
                result = await client.call(method, params, token)
            except (RuntimeError, OSError, asyncio.IncompleteReadError) as exc:
                errors[0] += 1
                if errors[0] <= 3:
                    print("error:", str(exc)[:300])
                client.close()
                client.writer = None
                return None
            latencies[method].append((time.perf_counter() - started) * 1000)
            return result

        token = student["token"]
        while time.monotonic() < stop:
            script = rng.choices(scripts, weights)[0]
            if script == "course.list":
                await timed("course.list", {"category": "bench"}, token)
            elif script == "course.get":
                await timed("course.get", {"course_id": rng.choice(data["courses"])}, token)
            elif script in ("lesson.get", "lesson.complete"):
                await timed(script, {"lesson_id": rng.choice(data["lessons"])}, token)
            elif script == "attempt":
                started = await timed("attempt.start", {"quiz_id": rng.choice(data["quizzes"])}, token)
                if started:
                    answers = {q["question_id"]: rng.choice(["true", "false"]) for q in started["questions"]}
                    await timed("attempt.submit", {"attempt_id": started["attempt_id"], "answers": answers}, token)
            elif script == "auth":
                login = await timed("auth.login", {"email": student["email"], "password": PASSWORD}, None)
                if login:
                    pair = await timed("auth.refresh", {"refresh_token": login["refresh_token"]}, None)
                    if pair:
                        student["refresh"] = pair["refresh_token"]
            else:
                await timed("submission.grade", {"submission_id": rng.choice(data["submissions"]),
                                                 "grade": rng.randint(0, 100), "feedback": "ok"}, data["teacher"])
        client.close()

    await asyncio.gather(*(one(s, random.Random(i)) for i, s in enumerate(data["students"])))
    return latencies, errors[0]


def pgbench_mix(bench: Bench, data: dict, clients: int, seconds: int) -> dict:
    """The same SQL mix with pgbench: per call the server's identity statement and `select api.fn(…)::text`,
    one message; weights as the RPC mix's. SQL calls/s, p50/p99 per script."""
    student = data["students"][0]  # logs in and refreshes (anonymous calls: any client may)

    def ident(user: str | None) -> str:
        who = f"'{user}'" if user else "null"  # ids made here, not input: a script file, not a query
        return ("select set_config('role', 'lms_api', true), set_config('statement_timeout', '5000ms', true), "
                f"set_config('lock_timeout', '2000ms', true), internal.set_caller({who}, '127.0.0.1', '{{}}') \\; ")

    # Each pgbench client is one student, as each RPC client is (an attempt is per student): the
    # caller is picked from a literal array by pgbench's client_id, no extra statement.
    ids = ",".join(s["id"] for s in data["students"])
    submissions = ",".join(data["submissions"])  # one per client, as the RPC clients spread their grading
    me = ident(None).replace("internal.set_caller(null", f"internal.set_caller(('{{{ids}}}'::uuid[])[:client_id + 1]")
    teacher_id = json.loads(__import__("base64").urlsafe_b64decode(data["teacher"].split(".")[1] + "=="))["sub"]
    scripts = {
        "course.list": me + "select api.course_list(category => 'bench')::text;\n",
        "course.get": me + f"select api.course_get(course_id => '{data['courses'][0]}')::text;\n",
        "lesson.get": me + f"select api.lesson_get(lesson_id => '{data['lessons'][0]}')::text;\n",
        "lesson.complete": me + f"select api.lesson_complete(lesson_id => '{data['lessons'][1]}')::text;\n",
        "attempt": me + f"select api.attempt_start(quiz_id => '{data['quizzes'][0]}')->>'attempt_id' as aid \\gset\n"
                   + me + "select api.attempt_submit(attempt_id => ':aid', answers => '{}')::text;\n",
        "auth": ident(None) + f"select api.auth_login(email => '{student['email']}', password => '{PASSWORD}')"
                "->>'refresh_token' as rt \\gset\n"
                + ident(None) + "select api.auth_refresh(refresh_token => ':rt')::text;\n",
        "submission.grade": ident(teacher_id) + f"select api.submission_grade(submission_id => "
                            f"('{{{submissions}}}'::uuid[])[:client_id + 1], grade => 50, feedback => 'ok')::text;\n",
    }
    files = []
    for name, weight, _ in MIX:
        path = bench.workdir / f"mix-{name}.sql"
        path.write_text(scripts[name])
        files.append(f"{path}@{weight}")
    return bench.pgbench_files(files, clients, seconds, calls={i: m[2] for i, m in enumerate(MIX)})


async def run_mix(bench: Bench, url: str, data: dict, seconds: float) -> dict:
    latencies, errors = await drive(url, data, seconds)
    calls = sum(len(v) for v in latencies.values())
    return {"latencies": latencies, "errors": errors, "requests": calls, "rate": calls / seconds}


def print_mix(label: str, figures: dict) -> None:
    print(f"{label}: {figures['rate']:.0f} calls/s, errors {figures['errors']}, "
          f"server CPU {figures['cpu_us']:.0f} µs/call")
    print(f"  {'method':<18} {'calls':>7} {'p50 ms':>7} {'p99 ms':>7}")
    for method, values in sorted(figures["latencies"].items()):
        print(f"  {method:<18} {len(values):>7} {percentile(values, 50):>7.2f} {percentile(values, 99):>7.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20, help="mix time per deployment (and for pgbench)")
    parser.add_argument("--rounds", type=int, default=2, help="the time is cut in rounds, deployments in turn")
    parser.add_argument("--minutes", type=int, help="run the mix this long instead, in rounds of a minute")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", default="1", help="server processes, e.g. 1,2: one deployment each")
    parser.add_argument("--pgbouncer", action="store_true", help="also each through PgBouncer (transaction mode)")
    parser.add_argument("--pool-size", type=int, default=8)
    args = parser.parse_args()
    rounds, chunk = (args.minutes, 60.0) if args.minutes else (args.rounds, args.seconds / args.rounds)
    with bench_database() as bench:
        setup = bench.start_server("setup")
        data = asyncio.run(create_data(bench, setup.url, args.clients))
        bench.stop_server(setup)
        print(f"realistic mix: {args.clients} clients, {rounds * chunk:.0f}s per deployment in {rounds} round(s), "
              f"deployments in turn; pool {args.pool_size} per process; bcrypt cost 4 for this database's "
              f"logins (at the default 10, login is bcrypt-bound)")
        bouncer = bench.start_pgbouncer(args.pool_size) if args.pgbouncer else None
        servers = [bench.start_server(f"{workers} process(es), {via}", workers=workers, pool_size=args.pool_size,
                                      server_database_url=target)
                   for via, target in (("direct", None), *((("pgbouncer", bouncer),) if bouncer else ()))
                   for workers in [int(w) for w in args.workers.split(",")]]
        figures = {s.label: {"latencies": defaultdict(list), "errors": 0, "requests": 0, "cpu": 0.0,
                             "rss": [s.rss_kib()]} for s in servers}
        pgbench_runs = []
        for _ in range(rounds):
            for server in servers:
                f = figures[server.label]
                part = measure(server, lambda s=server: asyncio.run(run_mix(bench, s.url, data, chunk)))
                for k, v in part["latencies"].items():
                    f["latencies"][k] += v
                f["errors"] += part["errors"]
                f["requests"] += part["requests"]
                f["cpu"] += part["cpu_us"] * part["requests"]
                f["rss"].append(server.rss_kib())
            pgbench_runs.append(pgbench_mix(bench, data, args.clients, max(1, int(min(chunk, 20)))))
        p_rate = sorted(r["rate"] for r in pgbench_runs)[len(pgbench_runs) // 2]
        for server in servers:
            f = figures[server.label]
            f["rate"] = f["requests"] / (rounds * chunk)
            f["cpu_us"] = f["cpu"] / max(f["requests"], 1)
            print_mix(f"RPC, {server.label}", f)
            rss = [f"{r / 1024:.0f}" for r in f["rss"]]
            print(f"  server RSS (all its processes, shared pages counted in each): {rss[0]} MiB at start, "
                  f"{rss[-1]} MiB at the end (after each round: {', '.join(rss[1:])})")
        p = pgbench_runs[-1]
        print(f"pgbench, same SQL mix: {p_rate:.0f} SQL calls/s (median of {len(pgbench_runs)} run(s)), "
              f"errors {sum(r['errors'] for r in pgbench_runs)}; last run by script:")
        for name, (p50, p99) in p["scripts"].items():
            print(f"  {name:<18} p50 {p50:.2f} ms  p99 {p99:.2f} ms (whole script)")
        for server in servers:
            print(f"RPC ÷ pgbench, {server.label}: {figures[server.label]['rate'] / p_rate:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

