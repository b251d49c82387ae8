# ruff: noqa: E501  (SQL text: long lines read better than wrapped ones)
"""`python -m bench.generate --scale S`: fill a database with realistic, referentially valid data, set-based.

Scale 1 ≈ 100k users, 2k courses, 20k lessons, ~1M enrollments, ~3.9M lesson-progress rows, ~2.6M quiz
attempts over 24 months, ~200k submissions; scale 0.1 a tenth. Two big courses are always there —
one with 10,000 students (all users when there are fewer) and one with 1,000 — so a page of 100 can be
compared between them.

Every step is one INSERT … SELECT (no row-by-row RPC, no client round trip per row). Triggers are
off while loading (session_replication_role = replica, superuser only): the rules they enforce hold by
construction, and `verify()` checks them afterwards — foreign keys, progress = lesson_progress, counters
= attempts, completed enrollments have their certificate and passed every quiz, paid enrollments have a
completed order and a succeeded payment, refunds deactivated their enrollment.
"""

from __future__ import annotations

import argparse
import sys
import time

import psycopg

from rpc.core.config import Settings
from rpc.db.cluster import database_url

# (label, SQL), run without client-side parameters: the scale factor is the session setting
# lms.bench_scale (set once, bound). Temp tables g_* carry ordinals for set-based picking.
STEPS: list[tuple[str, str]] = [
    ("users", """
        create temp table g_users as
        select n, gen_random_uuid() as id,
               case when n <= 5 then 'admin' when n <= 5 + greatest(20, (1000 * current_setting('lms.bench_scale')::numeric)::int) then 'instructor'
                    else 'student' end as role
        from generate_series(1, greatest(11000, (100000 * current_setting('lms.bench_scale')::numeric)::int)) n;
        insert into app.users (id, email, password_hash, full_name, role, email_verified_at, created_at, updated_at)
        select id, 'user' || n || '@bench.example', '!bench-no-login',
               (array['Ada','Ben','Chloé','Dev','Eva','Femi','Gus','Hana','Ivo','Jun'])[1 + n % 10] || ' '
                 || (array['Smith','Okafor','Müller','Tanaka','Silva','Novak','Khan','Rossi','Berg','Lee'])[1 + (n / 10) % 10]
                 || ' ' || n,
               role, now() - interval '800 days', now() - interval '800 days', now() - interval '800 days'
        from g_users;
        insert into app.admins (user_id) select id from g_users where role = 'admin';
        insert into app.instructors (user_id, title) select id, 'Lecturer' from g_users where role = 'instructor';
        create index on g_users (n);
        analyze g_users;
    """),
    ("courses", """
        create temp table g_courses as
        select n, gen_random_uuid() as id,
               (select u.id from g_users u where u.n = 6 + (gs.n % greatest(20, (1000 * current_setting('lms.bench_scale')::numeric)::int))) as instructor_id,
               case when n % 5 in (1, 2) then 1900 + (n % 7) * 1000 else 0 end as price_cents,
               case when n = 3 then 20 else 5 + (n * 7) % 11 end as n_lessons,
               1 + n % 3 as n_quizzes,
               case when n = 1 then least(10000, (select count(*) from g_users where role = 'student'))::int
                    when n = 2 then 1000 else 0 end as big
        from generate_series(1, greatest(40, (2000 * current_setting('lms.bench_scale')::numeric)::int)) gs (n);
        insert into app.courses (id, instructor_id, title, short_description, description, price_cents, category, tags,
                                 is_published, published_at, created_at, updated_at)
        select id, instructor_id,
               (array['Intro to','Advanced','Practical','Applied','History of'])[1 + n % 5] || ' '
                 || (array['databases','statistics','French','guitar','economics','biology','design','Rust'])[1 + n % 8]
                 || ' ' || n,
               'A course about ' || n, repeat('Learn things step by step. ', 8), price_cents,
               (array['tech','languages','music','science','business'])[1 + n % 5],
               array[(array['beginner','advanced','project'])[1 + n % 3]],
               true, now() - interval '760 days' + (n % 30) * interval '1 day',
               now() - interval '770 days', now() - interval '760 days'
        from g_courses;
        create index on g_courses (n);
        analyze g_courses;
    """),
    ("lessons", """
        insert into app.lessons (course_id, title, content, video_url, duration_minutes, lesson_order, is_published,
                                 created_at, updated_at)
        select c.id, 'Lesson ' || k, repeat('Lesson text. ', 40), 'https://video.example/' || c.n || '/' || k,
               5 + k % 20, k, true, now() - interval '770 days', now() - interval '770 days'
        from g_courses c cross join generate_series(1, c.n_lessons) k;
    """),
    ("quizzes and questions", """
        insert into app.quizzes (course_id, title, time_limit_minutes, passing_score_percentage, max_attempts,
                                 is_published, created_at, updated_at)
        select c.id, 'Quiz ' || k, 30, 60, 3, true, now() - interval '770 days', now() - interval '770 days'
        from g_courses c cross join generate_series(1, c.n_quizzes) k;
        insert into app.questions (quiz_id, question_text, question_type, options, correct_answer, points,
                                   question_order, created_at, updated_at)
        select z.id, 'Question ' || k || ': which option is right?', 'multiple_choice',
               '["alpha", "beta", "gamma", "delta"]'::jsonb, (array['alpha','beta','gamma','delta'])[1 + k % 4], 1, k,
               z.created_at, z.created_at
        from app.quizzes z cross join generate_series(1, 8) k;
    """),
    ("assignments", """
        insert into app.assignments (course_id, title, description, due_date, points, allow_late_submission,
                                     late_penalty_percentage, created_at, updated_at)
        select c.id, 'Project ' || c.n, 'Hand in your project.', null, 100, false, 0,
               now() - interval '770 days', now() - interval '770 days'
        from g_courses c;
    """),
    ("enrollments", """
        -- ~10 courses per student, popularity skewed (random()^2), plus the two big courses.
        create temp table g_enrol as
        with picks as (
          select u.id as user_id, 3 + floor(power(random(), 1.5) * (nc.n - 2))::int as cn
          from g_users u cross join (select count(*)::int as n from g_courses) nc
          cross join lateral generate_series(1, 4 + (u.n * 13) % 14) k
          where u.role = 'student'
        )
        select distinct on (p.user_id, c.id) gen_random_uuid() as id, p.user_id, c.id as course_id,
               c.price_cents, c.n as course_n
        from picks p join g_courses c on c.n = p.cn
        union all
        select gen_random_uuid(), u.id, c.id, c.price_cents, c.n
        from g_courses c join g_users u on u.role = 'student' and u.n <= 5 + greatest(20, (1000 * current_setting('lms.bench_scale')::numeric)::int) + c.big
        where c.big > 0;
        -- de-duplicate the union (a random id each side)
        delete from g_enrol a using g_enrol b
        where a.user_id = b.user_id and a.course_id = b.course_id and a.id < b.id;
        alter table g_enrol add column enrolled_at timestamptz, add column f double precision,
                            add column refunded boolean;
        update g_enrol set enrolled_at = now() - interval '730 days' + random() * interval '700 days',
                           f = case when random() < 0.15 then 1 when random() < 0.45 then 0 else random() end,
                           refunded = price_cents > 0 and random() < 0.03;
        analyze g_enrol;
    """),
    ("orders and payments", """
        create temp table g_paid as
        select e.id as enrollment_id, gen_random_uuid() as order_id, gen_random_uuid() as payment_id, e.*
        from g_enrol e where e.price_cents > 0;
        insert into app.orders (id, user_id, course_id, amount_cents, currency, status, provider_payment_intent_id,
                                created_at, updated_at, completed_at)
        select order_id, user_id, course_id, price_cents, 'USD', case when refunded then 'refunded' else 'completed' end,
               'pi_bench_' || replace(order_id::text, '-', ''), enrolled_at - interval '2 minutes', enrolled_at,
               enrolled_at - interval '1 minute'
        from g_paid;
        insert into app.payments (id, order_id, provider, provider_payment_id, amount_cents, currency, status, created_at,
                                  refunded_at, user_id, payment_method, metadata)
        select payment_id, order_id, 'stripe', 'pi_bench_' || replace(order_id::text, '-', ''), price_cents, 'USD',
               case when refunded then 'refunded' else 'succeeded' end, enrolled_at - interval '1 minute',
               case when refunded then enrolled_at + interval '3 days' end, user_id, 'card',
               jsonb_build_object('order_id', order_id)
        from g_paid;
        -- a few failed orders too (no payment, no enrollment)
        insert into app.orders (user_id, course_id, amount_cents, currency, status, created_at, updated_at)
        select user_id, course_id, price_cents, 'USD', 'failed', enrolled_at - interval '1 day', enrolled_at - interval '1 day'
        from g_paid where random() < 0.05;
    """),
    ("enrollments and lesson progress", """
        -- lessons completed: the first floor(f * n) of the course, in order
        insert into app.enrollments (id, user_id, course_id, payment_id, is_active, progress_percentage, enrolled_at,
                                     completed_at, dropped_at, last_accessed_at)
        select e.id, e.user_id, e.course_id, p.payment_id, not e.refunded,
               (100 * floor(e.f * c.n_lessons)::int) / c.n_lessons,
               e.enrolled_at,
               case when e.f = 1 and not e.refunded then e.enrolled_at + interval '20 days' end,
               case when e.refunded then e.enrolled_at + interval '3 days' end,
               e.enrolled_at + interval '20 days'
        from g_enrol e join g_courses c on c.id = e.course_id
        left join g_paid p on p.enrollment_id = e.id;
        insert into app.lesson_progress (enrollment_id, lesson_id, user_id, completed_at)
        select e.id, l.id, e.user_id, e.enrolled_at + l.lesson_order * interval '1 day'
        from g_enrol e join g_courses c on c.id = e.course_id
        join app.lessons l on l.course_id = e.course_id and l.lesson_order <= floor(e.f * c.n_lessons);
    """),
    ("quiz attempts", """
        -- Partitions for every month of the history first (internal.add_month_partition, as the owner).
        set role lms_owner;
        select internal.add_month_partition('app.quiz_attempts'::regclass,
                                            (date_trunc('month', now() at time zone 'UTC') - make_interval(months => m))::timestamp)
        from generate_series(0, 25) m;
        reset role;
        -- Per enrollment that started (f > 0) and quiz of its course: 1..3 attempts. Completed enrollments
        -- (f = 1) pass their last attempt; the others pass or fail at random.
        create temp table g_tries as
        select e.user_id, z.id as quiz_id, e.enrolled_at, e.f, e.refunded,
               1 + (abs(hashtext(e.id::text || z.id::text)) % 3) as n_attempts
        from g_enrol e join app.quizzes z on z.course_id = e.course_id
        where e.f > 0 and random() < 0.85 or e.f = 1;
        create temp table g_attempts as
        select gen_random_uuid() as id, t.user_id, t.quiz_id, k as attempt_number,
               least(t.enrolled_at + k * interval '3 days' + random() * interval '2 days', now() - interval '1 hour')
                 as started_at,
               case when k = t.n_attempts and t.f = 1 then 5 + floor(random() * 4)::int
                    else floor(random() * 9)::int end as earned
        from g_tries t cross join generate_series(1, t.n_attempts) k;
        insert into app.quiz_attempts (id, user_id, quiz_id, attempt_number, status, started_at, deadline_at,
                                       submitted_at, score, passed, points_earned, points_total, answers, grading)
        select a.id, a.user_id, a.quiz_id, a.attempt_number, 'submitted', a.started_at,
               a.started_at + interval '30 minutes', a.started_at + interval '12 minutes',
               round(100.0 * a.earned / 8)::int, round(100.0 * a.earned / 8) >= 60, a.earned, 8,
               g.answers, g.grading
        from g_attempts a
        cross join lateral (
          -- the first `earned` questions answered right, the others wrong
          select jsonb_object_agg(q.id, case when q.question_order <= a.earned then q.correct_answer else 'wrong' end)
                   as answers,
                 jsonb_object_agg(q.id, jsonb_build_object(
                   'answer', case when q.question_order <= a.earned then q.correct_answer else 'wrong' end,
                   'correct', q.question_order <= a.earned,
                   'points_earned', case when q.question_order <= a.earned then 1 else 0 end, 'points', 1)) as grading
          from app.questions q where q.quiz_id = a.quiz_id) g;
        insert into app.quiz_attempt_counters (user_id, quiz_id, attempts_used, last_started_at, closed_attempts,
                                               best_score, passed)
        select user_id, quiz_id, count(*), max(started_at), count(*), round(100.0 * max(earned) / 8),
               bool_or(round(100.0 * earned / 8) >= 60)
        from g_attempts group by user_id, quiz_id;
    """),
    ("completion fix-up", """
        -- A finished enrollment is complete only if every quiz of its course was passed (true by
        -- construction for f = 1); the certificate follows completion.
        update app.enrollments e set completed_at = null
        where e.completed_at is not null
          and exists (select from app.quizzes z where z.course_id = e.course_id and z.is_published
                      and not exists (select from app.quiz_attempts a
                                      where a.quiz_id = z.id and a.user_id = e.user_id and a.passed));
        insert into app.certificates (certificate_number, user_id, course_id, enrollment_id, holder_name, course_title,
                                      issued_at)
        select 'LMS-' || upper(substr(h, 1, 4) || '-' || substr(h, 5, 4) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4)),
               e.user_id, e.course_id, e.id, u.full_name, c.title, e.completed_at
        from app.enrollments e join app.users u on u.id = e.user_id join app.courses c on c.id = e.course_id
        cross join lateral (select md5(e.id::text) as h) x
        where e.completed_at is not null;
    """),
    ("submissions", """
        insert into app.submissions (assignment_id, user_id, content, submitted_at, is_late, grade, feedback,
                                     graded_at, graded_by)
        select a.id, e.user_id, 'My project, version ' || (abs(hashtext(e.id::text)) % 9),
               e.enrolled_at + interval '15 days', false,
               case when g then (40 + abs(hashtext(e.id::text)) % 61)::numeric end,
               case when g then 'Good work.' end, case when g then e.enrolled_at + interval '18 days' end,
               case when g then c.instructor_id end
        from g_enrol e join g_courses c on c.id = e.course_id join app.assignments a on a.course_id = e.course_id
        cross join lateral (select random() < 0.7 as g) x
        where e.f >= 0.5 and random() < 0.45;
    """),
    ("modules and overrides", """
        -- Four published modules per course: week 2 requires week 1, week 3 opens 7 days after
        -- enrolment (half the modules with a rule), week 4 holds the assignment. Lessons in order over
        -- the four, quizzes after each module's lessons.
        insert into app.modules (course_id, title, position, is_published, unlock_after_days, created_at, updated_at)
        select c.id, 'Week ' || k, k, true, case when k = 3 then 7 end, now() - interval '770 days',
               now() - interval '770 days'
        from g_courses c cross join generate_series(1, 4) k;
        insert into app.module_prerequisites (module_id, prerequisite_id, course_id, created_at)
        select w2.id, w1.id, w2.course_id, now() - interval '770 days'
        from app.modules w2 join app.modules w1 on w1.course_id = w2.course_id and w1.position = 1
        where w2.position = 2;
        create temp table g_placed as
        select l.id, m.id as module_id, row_number() over (partition by m.id order by l.lesson_order) as pos
        from app.lessons l join g_courses c on c.id = l.course_id
        join app.modules m on m.course_id = l.course_id and m.position = 1 + (l.lesson_order - 1) * 4 / c.n_lessons;
        update app.lessons l set module_id = p.module_id, module_position = p.pos from g_placed p where p.id = l.id;
        with q as (
          select z.id, z.course_id, row_number() over (partition by z.course_id order by z.title, z.id) as n
          from app.quizzes z
        )
        update app.quizzes z set module_id = m.id,
               module_position = q.n + (select count(*) from g_placed p where p.module_id = m.id)
        from q join app.modules m on m.course_id = q.course_id and m.position = least(q.n, 3)
        where z.id = q.id;
        update app.assignments a set module_id = m.id,
               module_position = 1 + (select count(*) from g_placed p where p.module_id = m.id)
        from app.modules m where m.course_id = a.course_id and m.position = 4;
        -- 2% of the enrollments: one more attempt at the course's first quiz and 1.5× the time.
        insert into app.learner_overrides (course_id, user_id, quiz_id, extra_attempts, created_by)
        select distinct on (e.id) e.course_id, e.user_id, z.id, 1, c.instructor_id
        from g_enrol e join g_courses c on c.id = e.course_id join app.quizzes z on z.course_id = e.course_id
        where abs(hashtext(e.id::text)) % 50 = 0
        order by e.id, z.module_position;
        insert into app.accommodations (course_id, user_id, time_multiplier, created_by)
        select e.course_id, e.user_id, 1.5, c.instructor_id
        from g_enrol e join g_courses c on c.id = e.course_id
        where abs(hashtext(e.id::text)) % 50 = 0;
    """),
    ("vacuum analyze", ""),
]

CHECKS: list[tuple[str, str]] = [
    ("enrollment user/course/payment exist",
     "select count(*) from app.enrollments e where not exists (select from app.users u where u.id = e.user_id) "
     "or not exists (select from app.courses c where c.id = e.course_id) "
     "or (e.payment_id is not null and not exists (select from app.payments p where p.id = e.payment_id))"),
    ("progress = completed published lessons",
     "select count(*) from app.enrollments e where e.progress_percentage <> ("
     " select (100 * count(lp.lesson_id) filter (where l.is_published)) / nullif(count(*) filter (where l.is_published), 0)"
     " from app.lessons l left join app.lesson_progress lp on lp.lesson_id = l.id and lp.enrollment_id = e.id"
     " where l.course_id = e.course_id)"),
    ("lesson_progress belongs to its enrollment's course",
     "select count(*) from app.lesson_progress lp join app.enrollments e on e.id = lp.enrollment_id "
     "join app.lessons l on l.id = lp.lesson_id where l.course_id <> e.course_id or lp.user_id <> e.user_id"),
    ("counters = attempts",
     "select count(*) from app.quiz_attempt_counters c full join (select user_id, quiz_id, count(*) n, max(started_at) m, "
     "count(*) filter (where status <> 'in_progress') closed, max(score) filter (where status <> 'in_progress') best, "
     "coalesce(bool_or(passed) filter (where status <> 'in_progress'), false) passed "
     "from app.quiz_attempts group by 1, 2) a using (user_id, quiz_id) "
     "where c.attempts_used is distinct from a.n or c.last_started_at is distinct from a.m "
     "or (c.closed_attempts, c.best_score, c.passed) is distinct from (a.closed, a.best, a.passed)"),
    ("attempts: one row per attempt number",
     "select count(*) from (select user_id, quiz_id, attempt_number from app.quiz_attempts group by 1, 2, 3 "
     "having count(*) > 1) x"),
    ("attempts of enrolled students only",
     "select count(*) from app.quiz_attempts a join app.quizzes z on z.id = a.quiz_id "
     "where not exists (select from app.enrollments e where e.user_id = a.user_id and e.course_id = z.course_id)"),
    ("completed ⇒ every lesson done, every quiz passed, certificate",
     "select count(*) from app.enrollments e where e.completed_at is not null and (e.progress_percentage <> 100 "
     "or not exists (select from app.certificates c where c.enrollment_id = e.id) "
     "or exists (select from app.quizzes z where z.course_id = e.course_id and z.is_published and not exists "
     "(select from app.quiz_attempts a where a.quiz_id = z.id and a.user_id = e.user_id and a.passed)))"),
    ("certificate ⇒ completed enrollment",
     "select count(*) from app.certificates c join app.enrollments e on e.id = c.enrollment_id where e.completed_at is null"),
    ("paid enrollment ⇒ completed/refunded order with its payment",
     "select count(*) from app.enrollments e join app.courses c on c.id = e.course_id where c.price_cents > 0 and "
     "not exists (select from app.payments p join app.orders o on o.id = p.order_id "
     "where p.id = e.payment_id and o.user_id = e.user_id and o.course_id = e.course_id "
     "and o.status in ('completed', 'refunded') and p.amount_cents = o.amount_cents)"),
    ("no order completed without payment",
     "select count(*) from app.orders o where o.status in ('completed', 'refunded') "
     "and not exists (select from app.payments p where p.order_id = o.id)"),
    ("refund ⇒ enrollment inactive",
     "select count(*) from app.payments p join app.enrollments e on e.payment_id = p.id "
     "where p.status = 'refunded' and e.is_active"),
    ("submissions graded by someone else, within points",
     "select count(*) from app.submissions s join app.assignments a on a.id = s.assignment_id "
     "where s.graded_by = s.user_id or s.grade > a.points"),
    ("items in a module of their own course, overrides on items of theirs",
     "select (select count(*) from app.lessons l left join app.modules m on m.id = l.module_id and m.course_id = l.course_id"
     " where m.id is null) + (select count(*) from app.quizzes z left join app.modules m on m.id = z.module_id"
     " and m.course_id = z.course_id where m.id is null) + (select count(*) from app.learner_overrides o"
     " where not exists (select from app.quizzes z where z.id = o.quiz_id and z.course_id = o.course_id))"),
    ("no attempt in DEFAULT", "select count(*) from partitions.quiz_attempts_default"),
]


def verify(conn: psycopg.Connection) -> list[tuple[str, int]]:
    """Every rule above as a count of violating rows (0 everywhere = valid)."""
    return [(label, conn.execute(q).fetchone()[0]) for label, q in CHECKS]


def bar(i: int, n: int, label: str, seconds: float) -> str:
    done = int(30 * i / n)
    return f"[{'#' * done}{'.' * (30 - done)}] {i}/{n} {label} ({seconds:.1f} s)"


def generate(url: str, scale: float, check: bool = True, out=sys.stdout) -> dict:
    started = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("set session_replication_role = replica")  # triggers off; verify() checks the rules
        conn.execute("set maintenance_work_mem = '512MB'")
        conn.execute("set work_mem = '256MB'")
        conn.execute("select setseed(0.21)")
        conn.execute("select set_config('lms.bench_scale', %s, false)", [str(scale)])
        if conn.execute("select count(*) from app.users where email like '%@bench.example'").fetchone()[0]:
            raise SystemExit("this database already holds generated data; use a fresh one")
        for i, (label, script) in enumerate(STEPS, 1):
            t0 = time.monotonic()
            print(bar(i - 1, len(STEPS), label + " …", 0), end="\r", file=out, flush=True)
            if label == "vacuum analyze":
                conn.execute("vacuum (analyze)")
            else:
                with conn.transaction():
                    for stmt in split(script):
                        conn.execute(stmt)
            print(bar(i, len(STEPS), label, time.monotonic() - t0) + " " * 10, file=out, flush=True)
        conn.execute("set session_replication_role = origin")
        counts = dict(conn.execute(
            "select 'users', count(*) from app.users union all select 'courses', count(*) from app.courses "
            "union all select 'lessons', count(*) from app.lessons union all select 'enrollments', count(*) from app.enrollments "
            "union all select 'lesson_progress', count(*) from app.lesson_progress "
            "union all select 'quiz_attempts', count(*) from app.quiz_attempts "
            "union all select 'submissions', count(*) from app.submissions "
            "union all select 'certificates', count(*) from app.certificates "
            "union all select 'orders', count(*) from app.orders union all select 'payments', count(*) from app.payments "
            "union all select 'refunded payments', count(*) from app.payments where status = 'refunded' "
            "union all select 'attempt partitions', count(*) from pg_inherits where inhparent = 'app.quiz_attempts'::regclass"
        ).fetchall())
        counts["database size"] = conn.execute("select pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
        counts["seconds"] = round(time.monotonic() - started, 1)
        for k, v in counts.items():
            print(f"  {k:20} {v}", file=out)
        if check:
            t0 = time.monotonic()
            bad = [(label, n) for label, n in verify(conn) if n]
            print(f"  rules checked in {time.monotonic() - t0:.1f} s: "
                  + ("all hold" if not bad else f"VIOLATED {bad}"), file=out)
            if bad:
                raise SystemExit(1)
    return counts


def split(script: str) -> list[str]:
    """Statements of a step (none of them contains a semicolon inside a literal)."""
    out, cur = [], []
    for line in script.splitlines():
        if line.strip().startswith("--"):
            continue
        cur.append(line)
        if line.rstrip().endswith(";"):
            stmt = "\n".join(cur).strip().rstrip(";")
            if stmt:
                out.append(stmt)
            cur = []
    if "\n".join(cur).strip():
        out.append("\n".join(cur).strip())
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.generate [--scale S] [--no-check]` or `python -m bench.generate verify`
    (DATABASE_URL, or the embedded cluster of LMS_HOME)."""
    p = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.splitlines()[0])
    p.add_argument("action", nargs="?", choices=["generate", "verify"], default="generate")
    p.add_argument("--scale", type=float, default=0.1, help="1 ≈ 100k users, 1M enrollments, 2.6M attempts")
    p.add_argument("--no-check", action="store_true", help="skip the rule checks afterwards")
    args = p.parse_args(argv)
    url = database_url(Settings())
    if args.action == "verify":
        with psycopg.connect(url) as conn:
            bad = [(label, n) for label, n in verify(conn) if n]
        print("all rules hold" if not bad else f"VIOLATED: {bad}")
        return 1 if bad else 0
    generate(url, args.scale, check=not args.no_check)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
