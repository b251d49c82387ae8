/*
 * Analytics grants: analysts read the views (security_invoker, so the RLS and column privileges
 * of the underlying tables apply); the API role does not need them. quiz_item_stats and
 * my_certificates call SECURITY DEFINER functions that filter by the caller themselves.
 */
grant select on analytics.quiz_best_scores, analytics.assignment_grades, analytics.course_stats,
  analytics.enrollment_funnel, analytics.assignment_stats, analytics.revenue_monthly,
  analytics.daily_active_learners, analytics.quiz_item_stats, analytics.my_certificates,
  analytics.module_availability, analytics.course_grades
to lms_analyst;
grant execute on function internal.analytics_quiz_item_stats(), internal.analytics_my_certificates(),
  internal.analytics_course_grades() to lms_analyst;
-- The server's watchdog (rpc/http/watchdog.py) ends runaway analyst sessions as lms_api.
grant execute on function internal.end_runaway_analyst_sessions() to lms_api;
