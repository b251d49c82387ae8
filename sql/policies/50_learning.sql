/*
 * Learning: grants and RLS for enrollments and lesson progress.
 *
 * Reading: a student sees their own enrollments and progress; an instructor those of their
 * courses; admins all. Writing: no client role writes these tables directly — enrolling, dropping
 * and completing lessons carry rules (free vs paid, progress, completion + certificate) that run
 * in the SECURITY DEFINER functions of sql/functions/50_learning.sql, which check the caller.
 * Without INSERT/UPDATE/DELETE grants and write policies, a direct write is refused.
 */
alter table app.enrollments enable row level security;
alter table app.enrollments force row level security;
alter table app.lesson_progress enable row level security;
alter table app.lesson_progress force row level security;

grant select on app.enrollments to lms_api, lms_analyst;
create policy select_own_instructor_admin on app.enrollments for select to lms_api, lms_analyst
  using (user_id = (select app.current_user_id())
         or course_id in (select internal.my_course_ids())
         or (select internal.is_admin()));

grant select on app.lesson_progress to lms_api, lms_analyst;
create policy select_own_instructor_admin on app.lesson_progress for select to lms_api, lms_analyst
  using (user_id = (select app.current_user_id())
         or enrollment_id in (select e.id from app.enrollments e
                              where e.course_id in (select internal.my_course_ids()))
         or (select internal.is_admin()));

grant execute on function internal.enrollment_json(uuid) to lms_api;
grant execute on function internal.refresh_progress(uuid, uuid) to lms_api;
grant execute on function internal.refresh_course_progress(uuid) to lms_api;

grant execute on function api.enrollment_enroll(uuid) to lms_api;
grant execute on function api.enrollment_drop(uuid) to lms_api;
grant execute on function api.enrollment_list_mine(integer, integer) to lms_api;
grant execute on function api.enrollment_list_for_course(uuid, integer, integer) to lms_api;
grant execute on function api.lesson_complete(uuid) to lms_api;

-- Calendar feeds: no client privileges on the table; calendar.feed_url / feed_reset write the caller's own row,
-- GET /calendar/{token}.ics reads through internal.calendar_feed (the token is the credential).
alter table app.calendar_feeds enable row level security;
alter table app.calendar_feeds force row level security;
grant execute on function api.calendar_feed_url(), api.calendar_feed_reset() to lms_api;
grant execute on function internal.calendar_feed(text) to lms_api;

-- Rostering (OneRoster, lms oneroster import|export): no client privileges. The DBA's connection runs the
-- SECURITY DEFINER merge and exports (granted to lms_owner); what they call runs as lms_definer.
alter table app.oneroster_users enable row level security;
alter table app.oneroster_users force row level security;
alter table app.oneroster_classes enable row level security;
alter table app.oneroster_classes force row level security;
alter table app.oneroster_enrollments enable row level security;
alter table app.oneroster_enrollments force row level security;
alter table app.oneroster_refs enable row level security;
alter table app.oneroster_refs force row level security;
alter table app.oneroster_stage enable row level security;
alter table app.oneroster_stage force row level security;
grant execute on function internal.oneroster_merge(text), internal.oneroster_export_refs(text, text[]),
  internal.oneroster_export_users(), internal.oneroster_export_classes(), internal.oneroster_export_enrollments()
to lms_owner;
grant execute on function internal.oneroster_cell(text[], text[], text), internal.oneroster_status(text),
  internal.oneroster_role(text), internal.oneroster_time(text), internal.oneroster_bool(text),
  internal.oneroster_new_role(text, text, boolean), internal.oneroster_fail(text, integer, text, text),
  internal.oneroster_mode(text), internal.oneroster_check_common(text), internal.oneroster_check_users(),
  internal.oneroster_check_classes(), internal.oneroster_check_enrollments(), internal.oneroster_merge_users(boolean),
  internal.oneroster_merge_classes(boolean, uuid), internal.oneroster_apply()
to lms_definer;
grant select on internal.oneroster_stage_rows, internal.oneroster_stage_users, internal.oneroster_stage_classes,
  internal.oneroster_stage_enrollments, internal.oneroster_manifest, internal.oneroster_users_incoming,
  internal.oneroster_classes_incoming, internal.oneroster_enrollments_incoming, internal.oneroster_class_teachers,
  internal.oneroster_student_places
to lms_definer;
