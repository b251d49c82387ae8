/*
 * Analytics — views for analysts (security_invoker, so the RLS of the underlying tables
 * applies: an analyst sees what their linked LMS user may see).
 * Shared with other domains: nothing; uses internal.effective_grade (assessment).
 */

-- ---------------------------------------------------------------------------------------
-- Analytics (RLS of the underlying tables applies: security_invoker views)
-- ---------------------------------------------------------------------------------------
create or replace view analytics.quiz_best_scores with (security_invoker = true) as
  select z.course_id, a.quiz_id, a.user_id, max(a.score) as best_score, bool_or(a.passed) as passed,
         count(*) as attempts, max(a.submitted_at) as last_submitted_at
  from app.quiz_attempts a
  join app.quizzes z on z.id = a.quiz_id
  where a.status <> 'in_progress'
  group by z.course_id, a.quiz_id, a.user_id;
comment on view analytics.quiz_best_scores is 'Best closed-attempt score per student and quiz (what the caller may see under RLS).';

create or replace view analytics.assignment_grades with (security_invoker = true) as
  select a.course_id, s.assignment_id, s.user_id, s.grade, s.is_late,
         internal.effective_grade(s.grade, s.is_late, a.late_penalty_percentage) as effective_grade,
         a.points, s.submitted_at, s.graded_at
  from app.submissions s
  join app.assignments a on a.id = s.assignment_id;
comment on view analytics.assignment_grades is 'Submissions with their effective (late-penalised) grades (what the caller may see under RLS).';
