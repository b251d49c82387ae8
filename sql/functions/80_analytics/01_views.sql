/*
 * Analytics — views for analysts over the tables they may read (security_invoker = true, so the
 * RLS of the underlying tables applies: an analyst sees what their linked LMS user may see).
 * Shared with other domains: nothing; uses internal.effective_grade (assessment).
 * The views whose data analysts may not read row by row (per-question correctness, certificate
 * numbers) are in 02_definer.sql.
 *
 * Conventions: rates are fractions 0–1 (numeric, 4 decimals; null when there is nothing to divide
 * by), money integer cents in the order's currency, days/months are dates in UTC.
 * Views here never select from another analytics view (the rollback drops views in any order),
 * and each is dropped and recreated on every migrate so a column change needs no migration.
 */

-- ---------------------------------------------------------------------------------------
-- Per student: best quiz score; per submission: effective grade (kept from the first release)
-- ---------------------------------------------------------------------------------------
drop view if exists analytics.quiz_best_scores;
create view analytics.quiz_best_scores with (security_invoker = true) as
  select z.course_id, a.quiz_id, a.user_id, max(a.score) as best_score, bool_or(a.passed) as passed,
         count(*) as attempts, max(a.submitted_at) as last_submitted_at
  from app.quiz_attempts a
  join app.quizzes z on z.id = a.quiz_id
  where a.status <> 'in_progress'
  group by z.course_id, a.quiz_id, a.user_id;
comment on view analytics.quiz_best_scores is 'Best closed-attempt score per student and quiz (what the caller may see under RLS).';
comment on column analytics.quiz_best_scores.best_score is 'Highest score (0–100) of the student''s submitted or expired attempts.';
comment on column analytics.quiz_best_scores.passed is 'True when any closed attempt passed.';
comment on column analytics.quiz_best_scores.attempts is 'Closed attempts (submitted or expired).';

drop view if exists analytics.assignment_grades;
create view analytics.assignment_grades with (security_invoker = true) as
  select a.course_id, s.assignment_id, s.user_id, s.grade, s.is_late,
         internal.effective_grade(s.grade, s.is_late,
                                  internal.effective_late_penalty(s.user_id, a.id, a.late_penalty_percentage))
           as effective_grade,
         a.points, s.submitted_at, s.graded_at
  from app.submissions s
  join app.assignments a on a.id = s.assignment_id;
comment on view analytics.assignment_grades is 'Submissions with their effective (late-penalised) grades (what the caller may see under RLS).';
comment on column analytics.assignment_grades.effective_grade is 'grade × (100 − late penalty) / 100 when late, else grade; null while ungraded.';

-- ---------------------------------------------------------------------------------------
-- course_stats: one row per visible course
-- ---------------------------------------------------------------------------------------
drop view if exists analytics.course_stats;
create view analytics.course_stats with (security_invoker = true) as
  select c.id as course_id, c.title,
         coalesce(e.enrolled, 0) as enrolled, coalesce(e.active, 0) as active,
         coalesce(e.completed, 0) as completed,
         round(e.completed::numeric / nullif(e.enrolled, 0), 4) as completion_rate,
         round(e.avg_progress, 2) as avg_progress,
         round(q.avg_best_score, 2) as avg_best_quiz_score
  from app.courses c
  left join lateral (
    select count(*)::integer as enrolled, (count(*) filter (where x.is_active))::integer as active,
           (count(*) filter (where x.completed_at is not null))::integer as completed,
           avg(x.progress_percentage) as avg_progress
    from app.enrollments x where x.course_id = c.id) e on true
  left join lateral (
    select avg(b.best) as avg_best_score
    from (select max(a.score) as best
          from app.quizzes z
          join app.quiz_attempts a on a.quiz_id = z.id and a.status <> 'in_progress'
          where z.course_id = c.id
          group by a.quiz_id, a.user_id) b) q on true;
comment on view analytics.course_stats is
  'Per course the caller may see: enrollments, completion and scores, counted over the enrollments and attempts the caller may see (an instructor-linked analyst: everything of their courses; a student-linked one: only their own rows).';
comment on column analytics.course_stats.enrolled is 'Enrollments ever made (active or dropped).';
comment on column analytics.course_stats.active is 'Enrollments not dropped (is_active).';
comment on column analytics.course_stats.completed is 'Enrollments with completed_at set (100 % progress).';
comment on column analytics.course_stats.completion_rate is 'completed / enrolled, fraction 0–1 (4 decimals); null without enrollments.';
comment on column analytics.course_stats.avg_progress is 'Mean progress_percentage of the enrollments, in percent 0–100 (2 decimals); null without enrollments.';
comment on column analytics.course_stats.avg_best_quiz_score is 'Mean over (student, quiz) of the best closed-attempt score, 0–100 (2 decimals); null without closed attempts.';

-- ---------------------------------------------------------------------------------------
-- enrollment_funnel: enrolled → started → completed, and time to completion
-- ---------------------------------------------------------------------------------------
drop view if exists analytics.enrollment_funnel;
create view analytics.enrollment_funnel with (security_invoker = true) as
  select c.id as course_id,
         coalesce(f.enrolled, 0) as enrolled, coalesce(f.started, 0) as started,
         coalesce(f.completed, 0) as completed,
         round(f.started::numeric / nullif(f.enrolled, 0), 4) as start_rate,
         round(f.completed::numeric / nullif(f.started, 0), 4) as started_completion_rate,
         round(f.avg_days, 2) as avg_days_to_complete,
         round(f.median_days::numeric, 2) as median_days_to_complete
  from app.courses c
  left join lateral (
    select count(*)::integer as enrolled,
           (count(*) filter (where x.progress_percentage > 0 or x.completed_at is not null))::integer as started,
           (count(*) filter (where x.completed_at is not null))::integer as completed,
           avg(extract(epoch from x.completed_at - x.enrolled_at) / 86400) as avg_days,
           percentile_cont(0.5) within group (order by extract(epoch from x.completed_at - x.enrolled_at) / 86400)
             as median_days
    from app.enrollments x where x.course_id = c.id) f on true;
comment on view analytics.enrollment_funnel is
  'Per course the caller may see: enrolled → started (progress > 0, i.e. a completed lesson or passed quiz) → completed, with the days from enrolling to completing (over the enrollments the caller may see).';
comment on column analytics.enrollment_funnel.enrolled is 'Enrollments ever made (active or dropped).';
comment on column analytics.enrollment_funnel.started is 'Enrollments with progress_percentage > 0 or completed_at set.';
comment on column analytics.enrollment_funnel.completed is 'Enrollments with completed_at set.';
comment on column analytics.enrollment_funnel.start_rate is 'started / enrolled, fraction 0–1; null without enrollments.';
comment on column analytics.enrollment_funnel.started_completion_rate is 'completed / started, fraction 0–1; null when nobody started.';
comment on column analytics.enrollment_funnel.avg_days_to_complete is 'Mean days (fractional, 2 decimals) from enrolled_at to completed_at over completed enrollments; null when none.';
comment on column analytics.enrollment_funnel.median_days_to_complete is 'Median of the same (2 decimals); null when none.';

-- ---------------------------------------------------------------------------------------
-- assignment_stats: one row per visible assignment
-- ---------------------------------------------------------------------------------------
drop view if exists analytics.assignment_stats;
create view analytics.assignment_stats with (security_invoker = true) as
  select a.id as assignment_id,
         coalesce(s.submissions, 0) as submissions, coalesce(s.late, 0) as late,
         coalesce(s.graded, 0) as graded, round(s.avg_effective_grade, 2) as avg_effective_grade
  from app.assignments a
  left join lateral (
    select count(*)::integer as submissions, (count(*) filter (where x.is_late))::integer as late,
           (count(*) filter (where x.grade is not null))::integer as graded,
           avg(internal.effective_grade(x.grade, x.is_late,
                                        internal.effective_late_penalty(x.user_id, a.id, a.late_penalty_percentage)))
             as avg_effective_grade
    from app.submissions x where x.assignment_id = a.id) s on true;
comment on view analytics.assignment_stats is
  'Per assignment the caller may see: submissions, late ones, graded ones and the mean effective grade (over the submissions the caller may see).';
comment on column analytics.assignment_stats.submissions is 'Submissions (one per student).';
comment on column analytics.assignment_stats.late is 'Submissions made after the due date (is_late).';
comment on column analytics.assignment_stats.graded is 'Submissions with a grade.';
comment on column analytics.assignment_stats.avg_effective_grade is 'Mean effective grade (late penalty applied, in points of the assignment, 2 decimals) of the graded submissions; null when none is graded.';

-- ---------------------------------------------------------------------------------------
-- revenue_monthly: per course and UTC month; a refund counts in the month it happened
-- ---------------------------------------------------------------------------------------
drop view if exists analytics.revenue_monthly;
create view analytics.revenue_monthly with (security_invoker = true) as
  select m.course_id, m.month,
         (count(*) filter (where m.kind = 'order'))::integer as orders,
         coalesce(sum(m.amount_cents) filter (where m.kind = 'order'), 0)::bigint as gross_cents,
         coalesce(sum(m.amount_cents) filter (where m.kind = 'refund'), 0)::bigint as refunded_cents,
         (coalesce(sum(m.amount_cents) filter (where m.kind = 'order'), 0)
          - coalesce(sum(m.amount_cents) filter (where m.kind = 'refund'), 0))::bigint as net_cents
  from (
    select o.course_id, (date_trunc('month', o.completed_at at time zone 'UTC'))::date as month,
           'order' as kind, o.amount_cents
    from app.orders o
    where o.completed_at is not null
    union all
    select o.course_id, (date_trunc('month', p.refunded_at at time zone 'UTC'))::date,
           'refund', p.amount_cents
    from app.payments p
    join app.orders o on o.id = p.order_id
    where p.status = 'refunded'
  ) m
  group by m.course_id, m.month;
comment on view analytics.revenue_monthly is
  'Money per course and UTC month, over the orders and payments the caller may see (buyer: own; instructor: their courses; admin: all). Sums are integer cents in the orders'' currency (a course sells in one currency).';
comment on column analytics.revenue_monthly.month is 'First day of the UTC month.';
comment on column analytics.revenue_monthly.orders is 'Orders completed in the month (including ones refunded later).';
comment on column analytics.revenue_monthly.gross_cents is 'Sum of amount_cents of the orders completed in the month.';
comment on column analytics.revenue_monthly.refunded_cents is 'Sum of amount_cents of the payments refunded in the month (refunded_at).';
comment on column analytics.revenue_monthly.net_cents is 'gross_cents − refunded_cents.';

-- ---------------------------------------------------------------------------------------
-- daily_active_learners: distinct learners with any activity on a UTC day
-- ---------------------------------------------------------------------------------------
drop view if exists analytics.daily_active_learners;
create view analytics.daily_active_learners with (security_invoker = true) as
  select d.day, count(distinct d.user_id)::integer as learners
  from (
    select (p.completed_at at time zone 'UTC')::date as day, p.user_id from app.lesson_progress p
    union all
    select (a.started_at at time zone 'UTC')::date, a.user_id from app.quiz_attempts a
    union all
    select (a.submitted_at at time zone 'UTC')::date, a.user_id from app.quiz_attempts a where a.submitted_at is not null
    union all
    select (s.submitted_at at time zone 'UTC')::date, s.user_id from app.submissions s
  ) d
  group by d.day;
comment on view analytics.daily_active_learners is
  'Learners active per UTC day: completed a lesson, started or submitted a quiz attempt, or submitted an assignment (over the rows the caller may see).';
comment on column analytics.daily_active_learners.day is 'The UTC calendar day.';
comment on column analytics.daily_active_learners.learners is 'Distinct users with at least one such activity that day.';

-- ---------------------------------------------------------------------------------------
-- module_availability: per enrollment the caller may see, each module's state for that learner
-- ---------------------------------------------------------------------------------------
drop view if exists analytics.module_availability;
create view analytics.module_availability with (security_invoker = true) as
  select e.course_id, e.user_id, s.module_id, s.locked, s.unlocks_at, s.requires, s.completed
  from app.enrollments e
  cross join lateral internal.module_states(e.user_id, e.course_id) s;
comment on view analytics.module_availability is 'For each enrollment the caller may see (a learner: their own; an instructor: their courses''; an admin: all), every module of the course as internal.module_states computes it now — the same definition the API uses to refuse 423 module_locked.';
comment on column analytics.module_availability.locked is 'True while the module is unpublished, before unlocks_at, or a prerequisite is not completed.';
comment on column analytics.module_availability.unlocks_at is 'When the module opens by date for this learner (the later of unlock_at — or their override — and enrolled_at + unlock_after_days), while in the future; else null.';
comment on column analytics.module_availability.requires is 'Prerequisite modules this learner has not completed yet.';
comment on column analytics.module_availability.completed is 'The module''s requirement is met (all / any_one of its published items done).';
