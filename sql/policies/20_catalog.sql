/*
 * Catalog: grants and RLS for courses and lessons.
 *
 * Everyone (anonymous included) sees published courses and the syllabus of published lessons;
 * active enrollees keep seeing their course and its published lessons after an unpublish; the
 * instructor sees and changes their own courses and lessons; admins see and change all.
 * Only the instructor of a course or an admin may update or delete it — enforced here, so a
 * direct UPDATE of someone else's course by lms_api affects 0 rows.
 *
 * Lesson content: a column-privilege split. lms_api and lms_analyst may SELECT every lessons
 * column except content and video_url; those are read through internal.lesson_content()
 * (SECURITY DEFINER, instructor/admin/active enrollee). A direct `select content from
 * app.lessons` is "permission denied" for every client role.
 */
alter table app.courses enable row level security;
alter table app.courses force row level security;
alter table app.lessons enable row level security;
alter table app.lessons force row level security;
alter table app.modules enable row level security;
alter table app.modules force row level security;
alter table app.module_prerequisites enable row level security;
alter table app.module_prerequisites force row level security;


-- The membership helpers every domain's policies and functions use: granted here, once, by the
-- domain that owns them. "Manages this course" is one idiom everywhere in policies:
--   course_id in (select internal.my_course_ids()) or (select internal.is_admin())
-- and internal.can_manage_course(id) is the same rule for one course, in function bodies.
grant execute on function internal.my_course_ids() to lms_api, lms_analyst, lms_definer;
grant execute on function internal.can_manage_course(uuid) to lms_api, lms_analyst, lms_definer;
grant execute on function internal.can_see_course(uuid) to lms_api, lms_definer;
grant execute on function internal.my_enrolled_course_ids() to lms_api, lms_analyst, lms_definer;
grant execute on function internal.is_actively_enrolled(uuid, uuid) to lms_api, lms_analyst, lms_definer;
grant execute on function internal.is_instructor(uuid) to lms_api, lms_definer;
grant execute on function internal.normalize_tags(text[]) to lms_api;
grant execute on function internal.instructor_name(uuid) to lms_api, lms_analyst;
grant execute on function internal.course_json(app.courses) to lms_api, lms_definer;  -- and course.copy
grant execute on function internal.can_read_lesson_content(uuid, boolean) to lms_api, lms_analyst;
grant execute on function internal.lesson_content(uuid) to lms_api, lms_analyst;
grant execute on function internal.course_lesson_contents(uuid) to lms_api;
grant execute on function internal.lesson_json(uuid, boolean) to lms_api;
grant execute on function internal.syllabus_json(uuid, boolean) to lms_api;
grant execute on function internal.lock_course_for_change(uuid) to lms_api;
grant execute on function internal.lesson_course_for_change(uuid) to lms_api;
grant execute on function internal.find_courses(text, text, text, uuid, integer, integer) to lms_api;
grant execute on function internal.tg_courses__publish_rule() to lms_api;
grant execute on function internal.require_published_lesson_left(app.courses, uuid) to lms_api;

-- courses ---------------------------------------------------------------------------------------
grant select on app.courses to lms_api, lms_analyst;
grant insert (instructor_id, title, short_description, description, price_cents, currency, category, tags,
              thumbnail_url)
  on app.courses to lms_api;
grant update (instructor_id, title, short_description, description, price_cents, currency, category, tags,
              thumbnail_url, is_published)
  on app.courses to lms_api;
grant delete on app.courses to lms_api;

create policy select_public_owner_enrolled_admin on app.courses for select to lms_api, lms_analyst
  using (is_published
         or instructor_id = (select app.current_user_id())
         or (select internal.is_admin())
         or id in (select internal.my_enrolled_course_ids()));
create policy insert_instructor_admin on app.courses for insert to lms_api
  with check ((instructor_id = (select app.current_user_id())
               and (select internal.current_user_role()) in ('instructor', 'admin'))
              or (select internal.is_admin()));
-- Changing a course needs the current role too: a demoted or deactivated instructor keeps no control.
create policy update_owner_admin on app.courses for update to lms_api
  using (id in (select internal.my_course_ids()) or (select internal.is_admin()))
  with check ((instructor_id = (select app.current_user_id())
               and (select internal.current_user_role()) = 'instructor')
              or (select internal.is_admin()));
create policy delete_owner_admin on app.courses for delete to lms_api
  using (id in (select internal.my_course_ids()) or (select internal.is_admin()));

-- lessons ---------------------------------------------------------------------------------------
grant select (id, course_id, title, duration_minutes, lesson_order, is_published, created_at, updated_at,
              module_id, module_position)
  on app.lessons to lms_api, lms_analyst;
grant insert (course_id, title, content, video_url, duration_minutes, lesson_order, is_published)
  on app.lessons to lms_api;
grant update (title, content, video_url, duration_minutes, lesson_order, is_published) on app.lessons to lms_api;
grant delete on app.lessons to lms_api;

create policy select_syllabus_owner_admin on app.lessons for select to lms_api, lms_analyst
  using ((is_published and (exists (select from app.courses c where c.id = course_id and c.is_published)
                            or course_id in (select internal.my_enrolled_course_ids())))
         or course_id in (select internal.my_course_ids())
         or (select internal.is_admin()));
create policy insert_owner_admin on app.lessons for insert to lms_api
  with check (course_id in (select internal.my_course_ids()) or (select internal.is_admin()));
create policy update_owner_admin on app.lessons for update to lms_api
  using (course_id in (select internal.my_course_ids()) or (select internal.is_admin()))
  with check (course_id in (select internal.my_course_ids()) or (select internal.is_admin()));
create policy delete_owner_admin on app.lessons for delete to lms_api
  using (course_id in (select internal.my_course_ids()) or (select internal.is_admin()));

-- modules ---------------------------------------------------------------------------------------
-- Seen like the syllabus: published modules of a visible course (or one the caller is enrolled in),
-- every module by the instructor and admins. Written through module.* (prerequisites, positions and
-- placement are rules a policy cannot express), or directly by the instructor or an admin.
grant select on app.modules, app.module_prerequisites to lms_api, lms_analyst;
grant insert (course_id, title, description, position, is_published, unlock_at, unlock_after_days, requirement)
  on app.modules to lms_api;
grant update (title, description, position, is_published, unlock_at, unlock_after_days, requirement, updated_at)
  on app.modules to lms_api;
grant delete on app.modules to lms_api;
grant insert, delete on app.module_prerequisites to lms_api;

create policy select_visible_owner_admin on app.modules for select to lms_api, lms_analyst
  using ((is_published and (exists (select from app.courses c where c.id = course_id and c.is_published)
                            or course_id in (select internal.my_enrolled_course_ids())))
         or course_id in (select internal.my_course_ids())
         or (select internal.is_admin()));
create policy insert_owner_admin on app.modules for insert to lms_api
  with check (course_id in (select internal.my_course_ids()) or (select internal.is_admin()));
create policy update_owner_admin on app.modules for update to lms_api
  using (course_id in (select internal.my_course_ids()) or (select internal.is_admin()))
  with check (course_id in (select internal.my_course_ids()) or (select internal.is_admin()));
create policy delete_owner_admin on app.modules for delete to lms_api
  using (course_id in (select internal.my_course_ids()) or (select internal.is_admin()));
create policy select_visible_owner_admin on app.module_prerequisites for select to lms_api, lms_analyst
  using (exists (select from app.modules m where m.id = module_id));
create policy insert_owner_admin on app.module_prerequisites for insert to lms_api
  with check (course_id in (select internal.my_course_ids()) or (select internal.is_admin()));
create policy delete_owner_admin on app.module_prerequisites for delete to lms_api
  using (course_id in (select internal.my_course_ids()) or (select internal.is_admin()));

grant execute on function
  internal.module_states(uuid, uuid),
  internal.require_item_unlocked(uuid, uuid), internal.item_counts(boolean, uuid),
  internal.place_item(text, uuid, uuid, uuid, integer), internal.renumber_module_items(uuid),
  internal.require_module_of_course(uuid, uuid)
to lms_api, lms_definer;
-- Called by SECURITY DEFINER functions only (module_states, require_item_unlocked; lesson.complete,
-- attempt.submit and submission.submit).
grant execute on function internal.effective_unlock_at(uuid, app.modules, timestamptz),
  internal.modules_done(uuid, uuid[]), internal.module_lock(uuid, app.modules, timestamptz, uuid[]) to lms_definer;
grant execute on function internal.module_completed(uuid, uuid, uuid), internal.note_module_completion(uuid, uuid, uuid, boolean)
to lms_definer;
grant execute on function internal.module_states(uuid, uuid) to lms_analyst;
grant execute on function
  internal.modules_json(uuid, boolean), internal.module_json(uuid),
  internal.managed_module(uuid), internal.set_prerequisites(app.modules, uuid[]), internal.check_requirement(text)
to lms_api;
grant execute on function api.module_create(uuid, text, text, integer, timestamptz, integer, uuid[], text) to lms_api;
grant execute on function api.module_update(uuid, text, text, timestamptz, integer, uuid[], text) to lms_api;
grant execute on function api.module_publish(uuid), api.module_unpublish(uuid), api.module_delete(uuid),
  api.module_reorder(uuid, uuid[]), api.module_list(uuid), api.module_move_item(uuid, text, uuid, integer)
to lms_api;

-- course.* and lesson.* methods
grant execute on function api.course_create(text, integer, text, text, text, text[], text, text, uuid) to lms_api;
grant execute on function api.course_update(uuid, text, text, text, integer, text, text[], text, text, uuid) to lms_api;
grant execute on function api.course_publish(uuid) to lms_api;
grant execute on function api.course_unpublish(uuid) to lms_api;
grant execute on function api.course_delete(uuid) to lms_api;
grant execute on function api.course_copy(uuid, text, integer) to lms_api;
grant execute on function api.course_get(uuid) to lms_api;
grant execute on function api.course_list(text, text, text, uuid, integer, integer) to lms_api;
grant execute on function api.lesson_create(uuid, text, text, text, integer, integer, uuid) to lms_api;
grant execute on function api.lesson_update(uuid, text, text, text, integer, uuid) to lms_api;
grant execute on function api.lesson_publish(uuid) to lms_api;
grant execute on function api.lesson_unpublish(uuid) to lms_api;
grant execute on function api.lesson_delete(uuid) to lms_api;
grant execute on function api.lesson_reorder(uuid, uuid[]) to lms_api;
grant execute on function api.lesson_get(uuid) to lms_api;

-- LTI (issue 31): no client privileges on the tools, the platform keys (the private halves), the links or the
-- launches — everything goes through the functions below (sql/functions/20_catalog/09_lti.sql).
alter table app.lti_tools enable row level security;
alter table app.lti_tools force row level security;
alter table app.lti_platform_keys enable row level security;
alter table app.lti_platform_keys force row level security;
alter table app.lti_links enable row level security;
alter table app.lti_links force row level security;
alter table app.lti_launches enable row level security;
alter table app.lti_launches force row level security;
grant execute on function api.lti_tool_register(text, text, text, text, text, text, text[]) to lms_api;
grant execute on function api.lti_tool_update(uuid, text, text, text, text, text, text[], boolean) to lms_api;
grant execute on function api.lti_tool_delete(uuid) to lms_api;
grant execute on function api.lti_tool_list(integer, integer) to lms_api;
grant execute on function api.lti_link_create(uuid, uuid, text, uuid, text, jsonb, jsonb) to lms_api;
grant execute on function api.lti_launch(uuid) to lms_api;
-- The browser's steps (rpc/http/lti.py), called as lms_api by the server for an anonymous caller.
grant execute on function internal.lti_auth(text, text, text, text, text, text), internal.lti_jwks() to lms_api;
grant execute on function api.lti_deep_link(uuid, uuid, uuid) to lms_api;
grant execute on function api.lti_link_list(uuid), api.lti_link_delete(uuid), api.lti_line_item_list(uuid),
  api.lti_line_item_update(uuid, text, uuid, numeric) to lms_api;
grant execute on function internal.lti_column_json(app.lti_line_items) to lms_definer;
grant execute on function internal.lti_deep_link_return(text, text, text, jsonb) to lms_api;
grant execute on function internal.lti_link_add(uuid, uuid, uuid, text, text, jsonb, jsonb),
  internal.lti_launch_start(app.lti_tools, uuid, uuid, uuid, uuid, text, text) to lms_definer;

-- LTI Advantage services: the tool as a caller (sql/functions/20_catalog/10_lti_services.sql). The server
-- calls these as lms_api for a request bearing a tool's access token; each makes the token's tool the
-- caller, and row-level security below decides what it sees and changes.
alter table app.lti_access_tokens enable row level security;
alter table app.lti_access_tokens force row level security;
alter table app.lti_assertions enable row level security;
alter table app.lti_assertions force row level security;
grant execute on function app.current_tool_id(), internal.tool_has_scope(text), internal.tool_links_course(uuid),
  internal.require_tool_scope(text[]), internal.lti_line_item_json(app.lti_line_items, text),
  internal.lti_line_item_fields(jsonb), internal.lti_grade(app.lti_results, numeric), internal.lti_token_tool(text),
  internal.set_tool_caller(text), internal.lti_tool_link(text, uuid), internal.tool_course_learner(uuid, uuid),
  internal.lti_own_line_item(uuid, uuid) to lms_api, lms_definer;
grant execute on function internal.lti_client(text), internal.lti_token_grant(text, text, timestamptz, text[]),
  internal.lti_line_items_list(text, text, uuid, text, text, text, integer, integer),
  internal.lti_line_item_get(text, text, uuid, uuid), internal.lti_line_item_create(text, text, uuid, jsonb),
  internal.lti_line_item_update(text, text, uuid, uuid, jsonb), internal.lti_line_item_delete(text, uuid, uuid),
  internal.lti_score_post(text, uuid, uuid, jsonb),
  internal.lti_results_list(text, text, uuid, uuid, uuid, integer, integer),
  internal.lti_memberships(text, text, uuid, text, integer, integer) to lms_api;
grant execute on function internal.lti_course_members(text, uuid, text, integer, integer) to lms_api;

-- Line items: a tool's own, in courses where it has a link; writing them takes the lineitem scope.
alter table app.lti_line_items enable row level security;
alter table app.lti_line_items force row level security;
grant select, insert, update, delete on app.lti_line_items to lms_api;
create policy tool_reads_own on app.lti_line_items for select to lms_api
  using (tool_id = app.current_tool_id() and internal.tool_links_course(course_id));
create policy tool_adds_own on app.lti_line_items for insert to lms_api
  with check (tool_id = app.current_tool_id() and internal.tool_links_course(course_id)
              and internal.tool_has_scope('https://purl.imsglobal.org/spec/lti-ags/scope/lineitem'));
create policy tool_changes_own on app.lti_line_items for update to lms_api
  using (tool_id = app.current_tool_id() and internal.tool_has_scope('https://purl.imsglobal.org/spec/lti-ags/scope/lineitem'))
  with check (tool_id = app.current_tool_id() and internal.tool_links_course(course_id));
create policy tool_removes_own on app.lti_line_items for delete to lms_api
  using (tool_id = app.current_tool_id() and internal.tool_has_scope('https://purl.imsglobal.org/spec/lti-ags/scope/lineitem'));

-- Results: of the tool's own line items (as the policies above let it see them); writing takes the score
-- scope and a learner enrolled in the line item's course.
alter table app.lti_results enable row level security;
alter table app.lti_results force row level security;
grant select, insert, update on app.lti_results to lms_api;
create policy tool_reads_own on app.lti_results for select to lms_api
  using (line_item_id in (select li.id from app.lti_line_items li)
         and (internal.tool_has_scope('https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly')
              or internal.tool_has_scope('https://purl.imsglobal.org/spec/lti-ags/scope/score')));
create policy tool_scores_own on app.lti_results for insert to lms_api
  with check (internal.tool_has_scope('https://purl.imsglobal.org/spec/lti-ags/scope/score')
              and exists (select from app.lti_line_items li
                          where li.id = line_item_id and internal.tool_course_learner(li.course_id, user_id)));
create policy tool_rescores_own on app.lti_results for update to lms_api
  using (internal.tool_has_scope('https://purl.imsglobal.org/spec/lti-ags/scope/score')
         and line_item_id in (select li.id from app.lti_line_items li))
  with check (exists (select from app.lti_line_items li
                      where li.id = line_item_id and internal.tool_course_learner(li.course_id, user_id)));
grant execute on function internal.lti_tool_json(app.lti_tools), internal.lti_link_json(app.lti_links) to lms_definer;
