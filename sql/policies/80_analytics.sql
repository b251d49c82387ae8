/*
 * Analytics grants: analysts read the views (security_invoker, so RLS of the underlying tables
 * applies); the API role does not need them.
 */
grant select on analytics.quiz_best_scores, analytics.assignment_grades to lms_analyst;
