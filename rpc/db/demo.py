"""`lms serve --demo` / `lms db seed`: a small demo data set, loaded once (idempotent).

Users are made the one way they always are (internal.create_user; role rows by trigger).
An admin, an instructor, two students, a free course in two modules (Basics: two lessons;
Summarising: a lesson, a quiz and an assignment, open once Basics is completed), and a paid
course with a quiz that draws 3 of a 4-question bank (shuffled, partial credit) around an
essay. Written with the DBA connection as lms_definer (which may
bypass RLS), the way an operator would load fixtures; every constraint still applies.
"""

from __future__ import annotations

import psycopg

DEMO_PASSWORD = "demo-password-2026"
LOGINS = [
    ("admin@demo.lms", "Ada Admin", "admin"),
    ("instructor@demo.lms", "Ivan Instructor", "instructor"),
    ("student1@demo.lms", "Sara Student", "student"),
    ("student2@demo.lms", "Sam Student", "student"),
]

SEED = """
with people (email, full_name, role) as (select * from unnest(%s::text[], %s::text[], %s::text[]))
select internal.create_user(p.email, %s, p.full_name, p.role) from people p
where not exists (select from app.users u where lower(u.email) = p.email);

update app.users u set email_verified_at = coalesce(u.email_verified_at, now()) where u.email like '%@demo.lms';

update app.instructors i
set title = 'Database engineer', bio = 'Teaches SQL and PostgreSQL.', expertise = '{sql,postgresql}'
from app.users u where u.id = i.user_id and lower(u.email) = 'instructor@demo.lms';

insert into app.courses (id, instructor_id, title, short_description, description, price_cents, category, tags,
                         is_published, published_at)
select c.id::uuid, u.id, c.title, c.short, c.descr, c.price, c.category, c.tags::text[], false, null
from app.users u,
     (values ('d0000000-0000-4000-8000-000000000001', 'Introduction to SQL', 'Query data with confidence.',
              'SELECT, JOIN, GROUP BY and window functions, with exercises.', 0, 'databases', '{sql,beginner}'),
             ('d0000000-0000-4000-8000-000000000002', 'PostgreSQL internals', 'MVCC, WAL, planner.',
              'How PostgreSQL stores, plans and recovers.', 4900, 'databases', '{postgresql,advanced}'))
       as c (id, title, short, descr, price, category, tags)
where lower(u.email) = 'instructor@demo.lms'
on conflict (id) do nothing;

insert into app.modules (id, course_id, title, description, position, is_published, requirement)
values ('d5000000-0000-4000-8000-000000000001', 'd0000000-0000-4000-8000-000000000001', 'Basics',
        'Selecting and joining.', 1, true, 'all'),
       ('d5000000-0000-4000-8000-000000000002', 'd0000000-0000-4000-8000-000000000001', 'Summarising',
        'Aggregates, then the quiz and the assignment: open once Basics is completed.', 2, true, 'all')
on conflict (id) do nothing;

insert into app.module_prerequisites (module_id, prerequisite_id, course_id)
values ('d5000000-0000-4000-8000-000000000002', 'd5000000-0000-4000-8000-000000000001',
        'd0000000-0000-4000-8000-000000000001')
on conflict do nothing;

insert into app.lessons (id, course_id, title, content, duration_minutes, lesson_order, is_published, module_id,
                         module_position)
values ('d1000000-0000-4000-8000-000000000001', 'd0000000-0000-4000-8000-000000000001', 'Selecting rows',
        'SELECT picks columns; WHERE picks rows.', 15, 1, true, 'd5000000-0000-4000-8000-000000000001', 1),
       ('d1000000-0000-4000-8000-000000000002', 'd0000000-0000-4000-8000-000000000001', 'Joining tables',
        'JOIN combines rows of two tables on a condition.', 20, 2, true, 'd5000000-0000-4000-8000-000000000001', 2),
       ('d1000000-0000-4000-8000-000000000003', 'd0000000-0000-4000-8000-000000000001', 'Aggregates',
        'GROUP BY folds rows into groups.', 25, 3, true, 'd5000000-0000-4000-8000-000000000002', 1),
       ('d1000000-0000-4000-8000-000000000004', 'd0000000-0000-4000-8000-000000000002', 'MVCC',
        'Every row version has xmin and xmax.', 30, 1, true, null, null),
       ('d1000000-0000-4000-8000-000000000005', 'd0000000-0000-4000-8000-000000000002', 'Write-ahead log',
        'Changes are logged before they are applied.', 30, 2, true, null, null)
on conflict (id) do nothing;

insert into app.quizzes (id, course_id, lesson_id, title, time_limit_minutes, passing_score_percentage, max_attempts,
                         is_published, module_id, module_position)
values ('d2000000-0000-4000-8000-000000000001', 'd0000000-0000-4000-8000-000000000001',
        'd1000000-0000-4000-8000-000000000003', 'SQL basics check', 15, 60, 3, false,
        'd5000000-0000-4000-8000-000000000002', 2)
on conflict (id) do nothing;

insert into app.questions (id, quiz_id, question_text, question_type, options, correct_answer, points, question_order)
values ('d3000000-0000-4000-8000-000000000001', 'd2000000-0000-4000-8000-000000000001',
        'Which clause filters rows before grouping?', 'multiple_choice', '["WHERE", "HAVING", "ORDER BY"]',
        'WHERE', 2, 1),
       ('d3000000-0000-4000-8000-000000000002', 'd2000000-0000-4000-8000-000000000001',
        'An inner join keeps rows without a match.', 'true_false', null, 'false', 1, 2),
       ('d3000000-0000-4000-8000-000000000003', 'd2000000-0000-4000-8000-000000000001',
        'Which keyword removes duplicate rows?', 'short_answer', null, 'distinct', 1, 3)
on conflict (id) do nothing;

insert into app.assignments (id, course_id, title, description, due_date, points, allow_late_submission,
                             late_penalty_percentage, module_id, module_position)
values ('d4000000-0000-4000-8000-000000000001', 'd0000000-0000-4000-8000-000000000001', 'Write three queries',
        'Submit three queries over the sample schema.', now() + interval '14 days', 100, true, 20,
        'd5000000-0000-4000-8000-000000000002', 3)
on conflict (id) do nothing;

insert into app.question_banks (id, course_id, title)
values ('d6000000-0000-4000-8000-000000000001', 'd0000000-0000-4000-8000-000000000002', 'Internals question bank')
on conflict (id) do nothing;

insert into app.questions (id, bank_id, question_text, question_type, options, correct_answer, points, question_order,
                           tolerance)
values ('d3000000-0000-4000-8000-000000000004', 'd6000000-0000-4000-8000-000000000001',
        'Which of these are row-version fields?', 'multiple_answer', '["xmin", "xmax", "ctid", "oid"]',
        '["xmin", "xmax"]', 2, 1, null),
       ('d3000000-0000-4000-8000-000000000005', 'd6000000-0000-4000-8000-000000000001',
        'The WAL is written before the data pages.', 'true_false', null, 'true', 1, 2, null),
       ('d3000000-0000-4000-8000-000000000006', 'd6000000-0000-4000-8000-000000000001',
        'The default page size in kB?', 'numeric', null, '8', 1, 3, 0),
       ('d3000000-0000-4000-8000-000000000007', 'd6000000-0000-4000-8000-000000000001',
        'Which process writes dirty pages at a checkpoint?', 'short_answer', null, 'checkpointer', 1, 4, null)
on conflict (id) do nothing;

insert into app.quizzes (id, course_id, title, time_limit_minutes, passing_score_percentage, max_attempts,
                         is_published, shuffle_questions, shuffle_options, partial_credit)
values ('d2000000-0000-4000-8000-000000000002', 'd0000000-0000-4000-8000-000000000002', 'Internals check',
        30, 60, 2, false, true, true, true)
on conflict (id) do nothing;

insert into app.questions (id, quiz_id, question_text, question_type, correct_answer, points, question_order)
values ('d3000000-0000-4000-8000-000000000008', 'd2000000-0000-4000-8000-000000000002',
        'Explain in a few sentences why VACUUM is needed.', 'essay',
        'Dead row versions; visibility map; transaction id wraparound.', 3, 1)
on conflict (id) do nothing;

insert into app.quiz_pools (id, quiz_id, bank_id, course_id, draw_count, points_each, position)
values ('d7000000-0000-4000-8000-000000000001', 'd2000000-0000-4000-8000-000000000002',
        'd6000000-0000-4000-8000-000000000001', 'd0000000-0000-4000-8000-000000000002', 3, null, 1)
on conflict (id) do nothing;

update app.courses set is_published = true, published_at = now()
where id in ('d0000000-0000-4000-8000-000000000001', 'd0000000-0000-4000-8000-000000000002') and not is_published;

update app.quizzes set is_published = true
where id in ('d2000000-0000-4000-8000-000000000001', 'd2000000-0000-4000-8000-000000000002') and not is_published
"""


def seed(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("select set_config('role', 'lms_definer', true)")
        params = [[e for e, _, _ in LOGINS], [n for _, n, _ in LOGINS], [r for _, _, r in LOGINS], DEMO_PASSWORD]
        for statement in SEED.split(";\n\n"):
            conn.execute(statement, params if "%s" in statement else None)
        conn.commit()
    print(f"demo data loaded. Logins (password for all: {DEMO_PASSWORD}):")
    for email, name, role in LOGINS:
        print(f"  {role:<10} {email:<22} {name}")
    print("free course: d0000000-0000-4000-8000-000000000001, paid course: d0000000-0000-4000-8000-000000000002")
    print(BUY_PAID_COURSE)


BUY_PAID_COURSE = """Buy the paid course (local payment provider; README "Buying a course"):
  1. auth.login {email: student1@demo.lms, password: …} → access_token
  2. order.create {course_id: d0000000-0000-4000-8000-000000000002} (Bearer token) → order_id, client_secret
  3. lms payments simulate ORDER_ID --outcome succeeded   (posts the signed Stripe event to this server)
  4. lesson.get {lesson_id: d1000000-0000-4000-8000-000000000004} → the lesson's content
  Refund: order.refund {order_id} as admin@demo.lms, then lms payments simulate ORDER_ID --outcome refunded"""
