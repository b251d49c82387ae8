"""event.list without `since` for a student and an instructor among many events of others (issue 34 §4):
the student has 26 events among N of other users; the instructor's course has 300, written last. Medians
of 15 calls as the server runs them (lms_authenticator, set_caller, one transaction each), in the
database. Before the read by audience it walked the events in id order under row-level security.

    python -m bench.event_list [N]   (default 300,000)
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid

import psycopg

from bench.common import bench_database
from rpc.db.calls import SET_CALLER


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000
    with bench_database() as bench:
        with psycopg.connect(bench.url, autocommit=True) as su:
            su.execute("set session_replication_role = replica")
            student, teacher = uuid.uuid4(), uuid.uuid4()
            su.execute("insert into app.users (id, email, password_hash, full_name, role) values "
                       "(%s, 's@x.test', '!', 'S', 'student'), (%s, 't@x.test', '!', 'T', 'instructor')",
                       [student, teacher])
            su.execute("insert into app.instructors (user_id) values (%s) on conflict do nothing", [teacher])
            course = su.execute("insert into app.courses (title, instructor_id, price_cents) values ('Mine', %s, 0) "
                                "returning id", [teacher]).fetchone()[0]
            su.execute("insert into app.events (type, user_id, data, id) select 'lesson.completed', "
                       "gen_random_uuid(), '{}', g from generate_series(1, %s) g", [n])
            su.execute("insert into app.events (type, user_id, data, id) select 'lesson.completed', %s, '{}', "
                       "%s + g from generate_series(1, 26) g", [student, n])
            su.execute("insert into app.events (type, user_id, course_id, data, id) select 'lesson.completed', "
                       "gen_random_uuid(), %s, '{}', %s + 100 + g from generate_series(1, 300) g", [course, n])
            su.execute("update app.event_sequencer set last_id = (select max(id) from app.events)")
            su.execute("analyze app.events")
        print(f"event.list, no since, {n:,} events of others, median of 15 (in the database):")
        with psycopg.connect(bench.authenticator_url, autocommit=True) as conn:
            for who, uid in (("student", student), ("instructor", teacher)):
                times = []
                for _ in range(15):
                    with conn.transaction():
                        conn.execute(SET_CALLER, ["lms_api", "30s", "1s", uid, None, []])
                        started = time.perf_counter()
                        answered = len(conn.execute("select api.event_list()").fetchone()[0])
                        times.append((time.perf_counter() - started) * 1000)
                print(f"  {who:<10}: {answered} events, {statistics.median(times):.2f} ms")


if __name__ == "__main__":
    main()
