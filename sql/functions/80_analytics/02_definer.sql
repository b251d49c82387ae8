/*
 * Analytics — the two views over data analysts may not read row by row, each a security_invoker
 * view over a SECURITY DEFINER set-returning function that filters by the caller itself:
 * - quiz_item_stats: per-question correctness lives in quiz_attempts.grading, which no client
 *   role may select (for true/false it is the answer). The function aggregates it only for the
 *   courses the caller teaches (internal.my_course_ids()) or for an admin; a student (or an
 *   anonymous login) gets no rows — never a per-student value.
 * - my_certificates: certificates.certificate_number is a bearer value (certificate.verify and
 *   the PDF show the holder by it), so analysts get no column privilege on it — they can neither
 *   read it nor use it in a predicate. A holder reads their own numbers here.
 * A predicate on such a view is applied to the function's result (a function scan), never to an
 * index below a policy, so EXPLAIN ANALYZE counts only rows the caller may see.
 * Shared with other domains: nothing; uses internal.my_course_ids / internal.is_admin (shared).
 */

create or replace function internal.analytics_quiz_item_stats()
returns table (quiz_id uuid, question_id uuid, attempts integer, correct_rate numeric)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  with mine as (
    select z.id from app.quizzes z
    where z.course_id in (select internal.my_course_ids()) or internal.is_admin()
  ), graded as (
    -- Every question an attempt held (its fixed questions or its draw) is a key of its grading.
    select a.quiz_id, g.key::uuid as question_id, count(*) as attempts,
           count(*) filter (where (g.value ->> 'correct')::boolean) as correct
    from mine m
    join app.quiz_attempts a on a.quiz_id = m.id and a.status <> 'in_progress'
    cross join lateral jsonb_each(a.grading) g
    group by a.quiz_id, g.key::uuid
  )
  select coalesce(q.quiz_id, g.quiz_id), coalesce(q.id, g.question_id),
         coalesce(g.attempts, 0)::integer,
         round(g.correct::numeric / nullif(g.attempts, 0), 4)
  from (select q0.quiz_id, q0.id from mine m join app.questions q0 on q0.quiz_id = m.id) q
  full join graded g on g.quiz_id = q.quiz_id and g.question_id = q.id
$$;
comment on function internal.analytics_quiz_item_stats() is
  'Per question of the quizzes the caller manages (course instructor, admin) — its fixed questions and every bank question an attempt drew: closed attempts that held it and the fraction answered correctly (fully; an essay counts once graded with full points). Students and anonymous callers get no rows. SECURITY DEFINER: reads quiz_attempts.grading, which no client role may select; filters by the caller itself.';

drop view if exists analytics.quiz_item_stats;
create view analytics.quiz_item_stats with (security_invoker = true) as
  select s.quiz_id, s.question_id, s.attempts, s.correct_rate
  from internal.analytics_quiz_item_stats() s;
comment on view analytics.quiz_item_stats is
  'Per question: how many closed attempts graded it and the fraction correct — only for quizzes of courses the caller teaches, or all for an admin (students: no rows). Aggregates only; per-attempt correctness stays unreadable.';
comment on column analytics.quiz_item_stats.attempts is 'Submitted or expired attempts whose grading covers the question.';
comment on column analytics.quiz_item_stats.correct_rate is 'Correct answers / attempts, fraction 0–1 (4 decimals); null without attempts.';

create or replace function internal.analytics_my_certificates()
returns table (id uuid, certificate_number text, course_id uuid, course_title text, holder_name text,
               issued_at timestamptz, revoked_at timestamptz, revoked_reason text)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select c.id, c.certificate_number, c.course_id, c.course_title, c.holder_name, c.issued_at,
         c.revoked_at, c.revoked_reason
  from app.certificates c
  where c.user_id = app.current_user_id()
$$;
comment on function internal.analytics_my_certificates() is
  'The calling user''s own certificates with their numbers. SECURITY DEFINER: analysts have no privilege on certificates.certificate_number (a bearer value), so a holder reads their own here and nobody else''s.';

drop view if exists analytics.my_certificates;
create view analytics.my_certificates with (security_invoker = true) as
  select m.id, m.certificate_number, m.course_id, m.course_title, m.holder_name, m.issued_at,
         m.revoked_at, m.revoked_reason
  from internal.analytics_my_certificates() m;
comment on view analytics.my_certificates is
  'The linked user''s own certificates, with the certificate number (which app.certificates does not grant to analysts).';
comment on column analytics.my_certificates.certificate_number is 'The public number a verifier types into certificate.verify (a bearer value: only the holder''s own).';
comment on column analytics.my_certificates.issued_at is 'When the completing transaction issued it.';
comment on column analytics.my_certificates.revoked_at is 'When an admin revoked it; null while valid.';
comment on column analytics.my_certificates.revoked_reason is 'Why it was revoked; null while valid.';

-- ---------------------------------------------------------------------------------------------
-- Runaway analyst sessions (issue 26 §3). An analyst may SET statement_timeout = 0 and keep a
-- transaction open for as long as they like; this bounds them from outside.
-- ---------------------------------------------------------------------------------------------

create or replace function internal.end_runaway_analyst_sessions()
returns integer
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_max_age interval := make_interval(secs => internal.setting('analyst_max_transaction_seconds'));
  v_pid     integer;
  v_ended   integer := 0;
begin
  for v_pid in
    select a.pid from pg_stat_activity a join pg_roles r on r.oid = a.usesysid
    where a.datname = current_database() and a.pid <> pg_backend_pid() and not r.rolsuper
      and pg_has_role(a.usesysid, 'lms_analyst', 'member') and r.rolname <> 'lms_analyst'
      and a.xact_start < now() - v_max_age
  loop
    if pg_terminate_backend(v_pid) then
      v_ended := v_ended + 1;
    end if;
  end loop;
  return v_ended;
end
$$;
comment on function internal.end_runaway_analyst_sessions() is
  'Ends (pg_terminate_backend) every analyst session (a login in lms_analyst, never a superuser) whose transaction began more than analyst_max_transaction_seconds (app.settings) ago — a query running that long, or a transaction left open — and returns how many. Run by each server process every 30 s and by lms db maintain. SECURITY DEFINER: lms_definer holds pg_signal_backend and pg_read_all_stats (0018).';

create or replace function internal.maintain_analyst_sessions()
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_seconds bigint := internal.setting('analyst_max_transaction_seconds');
begin
  return jsonb_build_object('analyst_sessions_ended', internal.end_runaway_analyst_sessions(),
                            'analyst_max_transaction_seconds', v_seconds);
end
$$;
comment on function internal.maintain_analyst_sessions() is
  'Upkeep (`lms db maintain`): internal.end_runaway_analyst_sessions (app.settings analyst_max_transaction_seconds, default 900). SECURITY DEFINER: like the function it calls, it signals other roles'' sessions.';

create or replace function internal.analytics_course_grades()
returns table (course_id uuid, user_id uuid, percent numeric, letter text, percent_ungraded_as_zero numeric,
               letter_ungraded_as_zero text, overridden boolean, computed_percent numeric)
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_me      uuid := app.current_user_id();
  v_course  uuid;
  v_managed boolean;
begin
  if v_me is null then
    return;
  end if;
  -- Courses the caller manages: every learner's grade; courses they take: their own, as they see it.
  for v_course, v_managed in
    select c.id, true from app.courses c where c.id in (select internal.my_course_ids()) or internal.is_admin()
    union
    select e.course_id, false from app.enrollments e
    where e.user_id = v_me and not (e.course_id in (select internal.my_course_ids()) or internal.is_admin())
  loop
    return query
      select v_course, g.user_id, (g.course_grade ->> 'percent')::numeric, g.course_grade ->> 'letter',
             (g.course_grade ->> 'percent_ungraded_as_zero')::numeric, g.course_grade ->> 'letter_ungraded_as_zero',
             (g.course_grade ->> 'overridden')::boolean, (g.course_grade ->> 'computed_percent')::numeric
      from internal.course_grades(v_course,
                                  case when v_managed
                                       then array(select e.user_id from app.enrollments e where e.course_id = v_course)
                                       else array[v_me] end,
                                  not v_managed) g;
  end loop;
end
$$;
comment on function internal.analytics_course_grades() is
  'The course grades the caller may see, from internal.course_grades (the gradebook''s own numbers): every learner of the courses they teach (all, for an admin), their own in the courses they take. SECURITY DEFINER: reads other learners'' work for a course''s manager only.';

drop view if exists analytics.course_grades;
create view analytics.course_grades with (security_invoker = true) as
  select g.course_id, g.user_id, g.percent, g.letter, g.percent_ungraded_as_zero, g.letter_ungraded_as_zero,
         g.overridden, g.computed_percent
  from internal.analytics_course_grades() g;
comment on view analytics.course_grades is
  'Per learner and course: the course grade exactly as gradebook.course shows it (internal.course_grades) — for the courses the caller teaches (all, for an admin), and the caller''s own.';
comment on column analytics.course_grades.percent is 'The course grade in percent (2 decimals): graded work only; a final grade set by the instructor wins. Null without graded work.';
comment on column analytics.course_grades.percent_ungraded_as_zero is 'The same, counting ungraded work as 0.';
comment on column analytics.course_grades.overridden is 'True when the instructor set the final grade (grade.override_final).';
comment on column analytics.course_grades.computed_percent is 'The computed grade beside an override.';
