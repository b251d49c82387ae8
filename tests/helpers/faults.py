"""Shared by the fault and replica tests (issue 21, sections 3 and 4): a throw-away cluster of a
test's own (stopping or killing it hurts no other test), a small world of courses made with SQL, a
write load through the real server over HTTP that records every call acknowledged as successful,
and the invariants that no crash may break, checked with SQL."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psycopg

from rpc.db.cluster import Cluster
from rpc.db.migrate import Migrator
from rpc.workers import payments

CALL_TIMEOUT = aiohttp.ClientTimeout(total=10)  # every client call is bounded: a hang fails the test
PASSWORD = "fault-password-2026"


@contextlib.contextmanager
def own_cluster():
    """A migrated cluster of one test's own (database `lms`). synchronous_commit is on, as in
    production: a commit is acknowledged only once its WAL is written, so a crash of PostgreSQL
    (immediate stop, a killed process) loses no acknowledged commit — which the tests count. fsync
    stays off as in every test cluster (it matters only when the operating system itself crashes)."""
    root = Path(tempfile.mkdtemp(prefix="lms-faults-"))
    root.chmod(0o755)
    cluster = Cluster(root / "pg", durable=False)
    try:
        cluster.up()
        migrator = Migrator(cluster.url())
        try:
            migrator.migrate()
        finally:
            migrator.close()
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute("alter database lms set lms.bcrypt_cost = '4'")
            conn.execute("alter system set synchronous_commit = 'on'")
            conn.execute("select pg_reload_conf()")
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            assert conn.execute("show synchronous_commit").fetchone() == ("on",)
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class World:
    instructor: str
    students: list[str]                # user ids
    free_courses: list[tuple[str, list[str]]]  # (course id, its published lesson ids)
    quiz_course: str                   # a free course with a published quiz (unlimited attempts)
    quiz: str
    paid_courses: list[str] = field(default_factory=list)


def make_world(url: str, students: int, free_courses: int, lessons: int = 2, paid_courses: int = 0) -> World:
    """Courses, lessons, a quiz and students, written as superuser with SQL (the way an operator loads
    fixtures; every constraint and trigger still applies). Students are enrolled in the quiz course."""
    tag = uuid.uuid4().hex[:6]
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        (instructor,) = conn.execute("select internal.create_user(%s, %s, 'Fault Instructor', 'instructor')::text",
                                     [f"teacher-{tag}@example.test", PASSWORD]).fetchone()
        ids = [r[0] for r in conn.execute(
            "select internal.create_user('s' || g || '-' || %s || '@example.test', %s, 'Student ' || g,"
            " 'student')::text from generate_series(1, %s) g", [tag, PASSWORD, students])]
        prices = [0] * (free_courses + 1) + [4900] * paid_courses
        courses = [r[0] for r in conn.execute(
            "insert into app.courses (instructor_id, title, price_cents, is_published)"
            " select %s, 'Course ' || o, p, false from unnest(%s::integer[]) with ordinality as t(p, o)"
            " order by o returning id::text", [instructor, prices])]
        conn.execute("insert into app.lessons (course_id, title, content, lesson_order, is_published)"
                     " select c, 'Lesson ' || n, 'text', n, true from unnest(%s::uuid[]) c, generate_series(1, %s) n",
                     [courses, lessons])
        conn.execute("update app.courses set is_published = true, published_at = now() where id = any(%s::uuid[])",
                     [courses])
        (quiz,) = conn.execute("insert into app.quizzes (course_id, title, max_attempts) values (%s, 'Quiz', null)"
                               " returning id::text", [courses[0]]).fetchone()
        conn.execute("insert into app.questions (quiz_id, question_text, question_type, correct_answer,"
                     " question_order) values (%s, 'True?', 'true_false', 'true', 1)", [quiz])
        conn.execute("update app.quizzes set is_published = true where id = %s", [quiz])
        conn.execute("insert into app.enrollments (user_id, course_id) select u, %s from unnest(%s::uuid[]) u",
                     [courses[0], ids])
        lesson_rows = conn.execute("select course_id::text, id::text from app.lessons where course_id = any(%s::uuid[])"
                                   " order by lesson_order", [courses]).fetchall()
    by_course: dict[str, list[str]] = collections.defaultdict(list)
    for course, lesson in lesson_rows:
        by_course[course].append(lesson)
    free = [(c, by_course[c]) for c in courses[1:free_courses + 1]]
    return World(instructor, ids, free, courses[0], quiz, courses[free_courses + 1:])


class Load:
    """Concurrent writers through POST /rpc (one per student): enrollment.enroll and lesson.complete
    over the free courses, attempt.start + attempt.submit on the quiz, and (with a webhook secret)
    order.create + a signed payment_intent.succeeded for the paid courses. A call failing with
    -32000 is retried later. Every acknowledged write is recorded with its time."""

    def __init__(self, base: str, session: aiohttp.ClientSession, world: World, tokens: dict[str, str],
                 webhook_secret: str | None = None):
        self.base, self.session, self.world, self.tokens = base, session, world, tokens
        self.webhook_secret = webhook_secret
        self.acks: list[tuple[float, str, tuple]] = []  # (monotonic time, kind, key)
        self.codes: collections.Counter = collections.Counter()  # JSON-RPC error codes seen
        self.bad: list[str] = []   # anything but a result or -32000: other codes, HTTP errors, timeouts
        self.transport: list[str] = []  # connections cut (allowed only where a test says so)
        self.calls = 0
        self.stop = asyncio.Event()
        self.allow_transport_errors = False
        self.unsure: set[tuple[str, str]] = set()  # purchases whose webhook delivery got no answer

    async def rpc(self, method: str, params: dict, token: str, allowed: tuple = ()):
        """→ (result, None) or (None, error code); None, None when the connection was cut. Error codes
        other than -32000 and `allowed` are recorded as bad."""
        self.calls += 1
        body = {"jsonrpc": "2.0", "id": self.calls, "method": method, "params": params}
        try:
            async with self.session.post(self.base + "/rpc", json=body, timeout=CALL_TIMEOUT,
                                         headers={"Authorization": f"Bearer {token}"}) as resp:
                if resp.status != 200:
                    self.bad.append(f"{method}: HTTP {resp.status}")
                    return None, resp.status
                answer = await resp.json()
        except TimeoutError:
            self.bad.append(f"{method}: no answer within {CALL_TIMEOUT.total} s")
            return None, "timeout"
        except aiohttp.ClientError as exc:
            (self.transport if self.allow_transport_errors else self.bad).append(f"{method}: {exc!r}")
            return None, None
        if "result" in answer:
            return answer["result"], None
        code = answer["error"]["code"]
        self.codes[code] += 1
        if code != -32000 and code not in allowed:
            self.bad.append(f"{method}: {answer['error']}")
        return None, code

    async def webhook(self, event: dict) -> bool:
        body, headers = payments.signed(event, self.webhook_secret)
        try:
            async with self.session.post(self.base + "/webhooks/stripe", data=body, headers=headers,
                                         timeout=CALL_TIMEOUT) as resp:
                await resp.read()
                if resp.status not in (200, 503):
                    self.bad.append(f"webhook: HTTP {resp.status}")
                return resp.status == 200
        except TimeoutError:
            self.bad.append("webhook: no answer")
        except aiohttp.ClientError as exc:
            (self.transport if self.allow_transport_errors else self.bad).append(f"webhook: {exc!r}")
        return False

    def ack(self, kind: str, *key) -> None:
        self.acks.append((time.monotonic(), kind, key))

    async def student(self, user_id: str) -> None:
        token = self.tokens[user_id]
        work: collections.deque = collections.deque()
        buys = collections.deque(self.world.paid_courses if self.webhook_secret else [])
        for i, (course, lessons) in enumerate(self.world.free_courses):
            work.append(("enroll", course))
            work.extend(("complete", lesson) for lesson in lessons)
            if i % 2 == 0:
                work.append(("attempt", None))
            if buys and i % 3 == 0:  # purchases all along, not only at the end
                work.append(("buy", buys.popleft()))
        work.extend(("buy", course) for course in buys)
        while not self.stop.is_set():
            item = work.popleft() if work else ("attempt", None)
            done = await self.do(user_id, token, item)
            if not done:
                work.appendleft(item)
                await asyncio.sleep(0.05)

    async def do(self, user_id: str, token: str, item: tuple) -> bool:
        kind, target = item
        if kind == "enroll":
            result, _ = await self.rpc("enrollment.enroll", {"course_id": target}, token)
            if result is None:
                return False
            self.ack("enroll", user_id, target)
        elif kind == "complete":
            result, _ = await self.rpc("lesson.complete", {"lesson_id": target}, token)
            if result is None:
                return False
            self.ack("complete", user_id, target)
        elif kind == "attempt":
            result, _ = await self.rpc("attempt.start", {"quiz_id": self.world.quiz}, token)
            if result is None:
                return False
            self.ack("start", result["attempt_id"])
            question = result["questions"][0]["id"]
            submitted, _ = await self.rpc("attempt.submit", {"attempt_id": result["attempt_id"],
                                                             "answers": {question: "true"}}, token)
            if submitted is not None:  # not retried: a resumed attempt.start hands the open attempt back
                self.ack("submit", result["attempt_id"])
        elif kind == "buy":
            # After a delivery whose answer was lost the purchase may have gone through: 409 already_enrolled.
            retried = (user_id, target) in self.unsure
            order, code = await self.rpc("order.create", {"course_id": target}, token,
                                         allowed=(409,) if retried else ())
            if code == 409 and retried:
                return True
            if order is None:
                return False
            event = payments.build_event("succeeded", order["order_id"], order["payment_intent_id"],
                                         order["amount_cents"], order["currency"])
            if not await self.webhook(event):
                self.unsure.add((user_id, target))
                return False
            self.ack("paid", order["order_id"])
        return True

    async def run(self) -> list[asyncio.Task]:
        return [asyncio.create_task(self.student(s)) for s in self.world.students]

    def acked(self, before: float | None = None) -> dict[str, set]:
        out: dict[str, set] = collections.defaultdict(set)
        for at, kind, key in self.acks:
            if before is None or at < before:
                out[kind].add(key)
        return out


def missing_writes(url: str, acked: dict[str, set]) -> dict[str, int]:
    """How many acknowledged writes of each kind the database does not have."""
    with psycopg.connect(url, autocommit=True) as conn:
        return {kind: _missing(conn, kind, acked.get(kind, set())) for kind in MISSING}


MISSING = {
    "enroll": "select count(*) from unnest(%s::uuid[], %s::uuid[]) k(u, c)"
              " where not exists (select from app.enrollments e where e.user_id = k.u and e.course_id = k.c)",
    "complete": "select count(*) from unnest(%s::uuid[], %s::uuid[]) k(u, l)"
                " where not exists (select from app.lesson_progress p where p.user_id = k.u and p.lesson_id = k.l)",
    "start": "select count(*) from unnest(%s::uuid[]) k(a) where not exists (select from app.quiz_attempts q"
             " where q.id = k.a)",
    "submit": "select count(*) from unnest(%s::uuid[]) k(a) where not exists (select from app.quiz_attempts q"
              " where q.id = k.a and q.status = 'submitted')",
    "paid": "select count(*) from unnest(%s::uuid[]) k(o) where not exists (select from app.orders o"
            " join app.payments p on p.order_id = o.id where o.id = k.o and o.status = 'completed')",
}


def _missing(conn: psycopg.Connection, kind: str, keys: set) -> int:
    if not keys:
        return 0
    columns = [list(c) for c in zip(*keys, strict=True)]
    return conn.execute(MISSING[kind], columns).fetchone()[0]


INVARIANTS = {
    "attempt counter differs from the attempts": """
        select count(*) from app.quiz_attempt_counters c
        where c.attempts_used <> (select count(*) from app.quiz_attempts a
                                  where a.user_id = c.user_id and a.quiz_id = c.quiz_id)""",
    "attempts without a counter": """
        select count(*) from (select distinct a.user_id, a.quiz_id from app.quiz_attempts a) a
        where not exists (select from app.quiz_attempt_counters c
                          where c.user_id = a.user_id and c.quiz_id = a.quiz_id)""",
    "attempt numbers not 1..n": """
        select count(*) from (select count(*) n, max(a.attempt_number) m, count(distinct a.attempt_number) d
                              from app.quiz_attempts a group by a.user_id, a.quiz_id) x
        where not (x.n = x.m and x.n = x.d)""",
    "more than one open attempt": """
        select count(*) from (select 1 from app.quiz_attempts a where a.status = 'in_progress'
                              group by a.user_id, a.quiz_id having count(*) > 1) x""",
    "progress differs from lesson_progress": """
        select count(*) from app.enrollments e
        where e.completed_at is null and e.progress_percentage <> (
          select case when count(*) = 0 then 0 else (100 * count(lp.lesson_id) / count(*))::integer end
          from app.lessons l left join app.lesson_progress lp on lp.lesson_id = l.id and lp.enrollment_id = e.id
          where l.course_id = e.course_id and l.is_published)""",
    "lesson_progress of another user's enrollment": """
        select count(*) from app.lesson_progress lp join app.enrollments e on e.id = lp.enrollment_id
        where lp.user_id <> e.user_id""",
    "completed without a certificate": """
        select count(*) from app.enrollments e
        where e.completed_at is not null
          and not exists (select from app.certificates c where c.enrollment_id = e.id)""",
    "certificate without a completed enrollment": """
        select count(*) from app.certificates c
        where not exists (select from app.enrollments e where e.id = c.enrollment_id and e.completed_at is not null)""",
    "order completed without a payment": """
        select count(*) from app.orders o where o.status in ('completed', 'refunded')
          and not exists (select from app.payments p
                          where p.order_id = o.id and p.status in ('succeeded', 'refunded'))""",
    "completed order without its active paid enrollment": """
        select count(*) from app.orders o where o.status = 'completed'
          and not exists (select from app.enrollments e join app.payments p on p.id = e.payment_id
                          where e.user_id = o.user_id and e.course_id = o.course_id and e.is_active
                            and p.order_id = o.id)""",
    "succeeded payment of an order not completed": """
        select count(*) from app.payments p where p.status = 'succeeded'
          and not exists (select from app.orders o where o.id = p.order_id and o.status = 'completed')""",
    "more than one payment per order": """
        select count(*) from (select 1 from app.payments p where p.status <> 'amount_mismatch'
                              group by p.order_id having count(*) > 1) x""",
}


def violations(conn: psycopg.Connection) -> dict[str, int]:
    """Each invariant → the number of rows breaking it (all 0 in a consistent database)."""
    return {name: conn.execute(query).fetchone()[0] for name, query in INVARIANTS.items()}
