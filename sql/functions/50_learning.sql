/*
 * Learning functions: enrollment, lesson completion and progress.
 *
 * Shape: lms_api has SELECT only on enrollments and lesson_progress (RLS: own rows, the
 * instructor's courses, admins). Every write carries a rule a policy cannot express (free vs
 * paid, progress recomputation, completion + certificate in the same transaction), so writes go
 * through the SECURITY DEFINER functions below, which check their caller themselves.
 *
 * internal.refresh_progress(user, course) is the one place that computes progress and
 * completion; the assessment domain calls it after a passed attempt.
 */

create or replace function internal.enrollment_json(p_enrollment_id uuid)
returns jsonb
language plpgsql  -- not SQL: a SQL function that is not inlined is planned again at every call
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return (select jsonb_build_object(
              'id', e.id, 'user_id', e.user_id, 'course_id', e.course_id, 'course_title', c.title,
              'payment_id', e.payment_id, 'is_active', e.is_active, 'progress_percentage', e.progress_percentage,
              'enrolled_at', e.enrolled_at, 'completed_at', e.completed_at, 'dropped_at', e.dropped_at,
              'last_accessed_at', e.last_accessed_at)
            from app.enrollments e join app.courses c on c.id = e.course_id
            where e.id = p_enrollment_id
              and (e.user_id = app.current_user_id() or internal.can_manage_course(e.course_id)));
end
$$;
comment on function internal.enrollment_json(uuid) is
  'JSON of an enrollment with its course title, for the student, the course''s instructor or an admin (null for others). SECURITY DEFINER so the title shows even after the course was unpublished.
@shape enrollment {id: uuid, user_id: uuid, course_id: uuid, course_title: text, payment_id: uuid?, is_active: bool,
  progress_percentage: int, enrolled_at: timestamptz, completed_at: timestamptz?, dropped_at: timestamptz?,
  last_accessed_at: timestamptz?}';

/*
 * Progress: completed published lessons ÷ published lessons, rounded down. Completion: every
 * published lesson completed and every published quiz of the course passed, on an active
 * enrollment. "Published" is internal.item_counts: the item and its module (if any) published.
 * enrollment; then completed_at is set and the certificate issued in this transaction.
 * A completed enrollment stays completed (its certificate exists).
 */
create or replace function internal.item_counts(p_is_published boolean, p_module_id uuid)
returns boolean
language plpgsql  -- not SQL: a SQL function's body is planned again at every call (one per item)
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return p_is_published and (p_module_id is null
                             or exists (select from app.modules m where m.id = p_module_id and m.is_published));
end
$$;
comment on function internal.item_counts(boolean, uuid) is
  'Whether a lesson or quiz counts for progress and completion: published, in a published module (or in none). The one definition. SECURITY DEFINER: reads the module whoever asks.';

create or replace function internal.refresh_progress(p_user_id uuid, p_course_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_enrollment app.enrollments;
  v_total      integer;
  v_done       integer;
  v_percent    integer;
  v_complete   boolean;
begin
  if p_user_id is distinct from app.current_user_id() and not internal.can_manage_course(p_course_id) then
    raise exception 'progress can be refreshed by the student, the course''s instructor or an admin'
      using errcode = 'LM403', detail = 'forbidden';
  end if;
  select e.* into v_enrollment from app.enrollments e
  where e.user_id = p_user_id and e.course_id = p_course_id
  for update;
  if not found then
    return null;
  end if;
  if v_enrollment.completed_at is not null then
    return jsonb_build_object('progress_percentage', v_enrollment.progress_percentage, 'completed', true);
  end if;

  select count(*)::integer,
         count(*) filter (where exists (select from app.lesson_progress lp
                                        where lp.enrollment_id = v_enrollment.id and lp.lesson_id = l.id))::integer
  into v_total, v_done
  from app.lessons l where l.course_id = p_course_id and internal.item_counts(l.is_published, l.module_id);
  v_percent := case when v_total = 0 then 0 else (100 * v_done) / v_total end;
  v_complete := v_enrollment.is_active and v_total > 0 and v_done = v_total
    and not exists (select from app.quizzes q
                    where q.course_id = p_course_id and internal.item_counts(q.is_published, q.module_id)
                      and (internal.grade_hidden(q.grade_posting, q.grades_posted_at)  -- held back: not passed yet
                           or not exists (select from app.quiz_attempts a
                                          where a.quiz_id = q.id and a.user_id = p_user_id and a.passed)));

  update app.enrollments e set
    progress_percentage = v_percent,
    completed_at = case when v_complete then now() else null end
  where e.id = v_enrollment.id
    and (e.progress_percentage <> v_percent or v_complete);
  if v_complete then
    perform internal.issue_certificate(v_enrollment.id);
  end if;
  return jsonb_build_object('progress_percentage', v_percent, 'completed', v_complete);
end
$$;
comment on function internal.refresh_progress(uuid, uuid) is
  'Recompute a student''s progress in a course and complete it (completed_at + certificate, same transaction) when every published lesson is completed and every published quiz passed. Returns {progress_percentage, completed}, or null without an enrollment. SECURITY DEFINER: writes enrollments; callable for oneself, or by the course''s instructor or an admin.';

create or replace function internal.refresh_course_progress(p_course_id uuid)
returns integer
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id uuid;
  v_count   integer;
begin
  if not internal.can_manage_course(p_course_id) then
    raise exception 'only the course''s instructor or an admin may do this'
      using errcode = 'LM403', detail = 'not_course_owner';
  end if;
  -- Set-based for every unfinished enrollment (one statement, however many students) …
  with published as (
    select l.id from app.lessons l where l.course_id = p_course_id and internal.item_counts(l.is_published, l.module_id)
  ), done as (
    select e.id, count(lp.lesson_id)::integer as n
    from app.enrollments e
    left join app.lesson_progress lp on lp.enrollment_id = e.id and lp.lesson_id in (select p.id from published p)
    where e.course_id = p_course_id and e.completed_at is null
    group by e.id
  ), total as (
    select count(*)::integer as n from published
  )
  update app.enrollments e
  set progress_percentage = case when t.n = 0 then 0 else (100 * d.n) / t.n end
  from done d, total t
  where e.id = d.id and e.progress_percentage <> case when t.n = 0 then 0 else (100 * d.n) / t.n end;
  get diagnostics v_count = row_count;
  -- … and the full check (quizzes, completion, certificate) only where everything is done.
  for v_user_id in
    select e.user_id from app.enrollments e
    where e.course_id = p_course_id and e.completed_at is null and e.is_active and e.progress_percentage = 100
    order by e.id
  loop
    perform internal.refresh_progress(v_user_id, p_course_id);
  end loop;
  return v_count;
end
$$;
comment on function internal.refresh_course_progress(uuid) is
  'Recompute progress of every unfinished enrollment of a course after its published lessons changed (course''s instructor or admin), set-based; completes those now at 100%. Returns how many changed. SECURITY DEFINER: writes other users'' enrollments.';

/*
 * Progress follows the published lessons on every path: statement-level triggers on lessons
 * recompute the courses whose published lessons changed (publish, unpublish, delete), also for
 * direct SQL by the instructor or an admin. A lesson deleted with its course is skipped.
 */
create or replace function internal.tg_lessons__progress_after_update()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
-- @plpgsql_check_options: oldtable = old_lessons, newtable = new_lessons
declare
  v_course_id uuid;
begin
  for v_course_id in
    select distinct n.course_id from new_lessons n join old_lessons o on o.id = n.id
    where n.is_published is distinct from o.is_published or n.course_id <> o.course_id
       or n.module_id is distinct from o.module_id
    union
    select o.course_id from new_lessons n join old_lessons o on o.id = n.id where n.course_id <> o.course_id
  loop
    perform internal.refresh_course_progress(v_course_id);
  end loop;
  return null;
end
$$;
comment on function internal.tg_lessons__progress_after_update() is
  'AFTER UPDATE (statement) on lessons: recompute progress of the courses whose published lessons changed. SECURITY DEFINER like its delete sibling, so it runs the same for every writer; internal.refresh_course_progress still checks the caller.';

create or replace function internal.tg_lessons__progress_after_delete()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
-- @plpgsql_check_options: oldtable = old_lessons
declare
  v_course_id uuid;
begin
  for v_course_id in
    select distinct o.course_id from old_lessons o
    where o.is_published and exists (select from app.courses c where c.id = o.course_id)
  loop
    perform internal.refresh_course_progress(v_course_id);
  end loop;
  return null;
end
$$;
comment on function internal.tg_lessons__progress_after_delete() is
  'AFTER DELETE (statement) on lessons: recompute progress of the courses that lost a published lesson (not when the course itself is deleted). SECURITY DEFINER: tells a deleted course from one RLS hides from the writer; internal.refresh_course_progress still checks the caller.';

drop trigger if exists _400_progress_after_update on app.lessons;
create trigger _400_progress_after_update after update on app.lessons
  referencing old table as old_lessons new table as new_lessons
  for each statement execute function internal.tg_lessons__progress_after_update();
drop trigger if exists _400_progress_after_delete on app.lessons;
create trigger _400_progress_after_delete after delete on app.lessons
  referencing old table as old_lessons
  for each statement execute function internal.tg_lessons__progress_after_delete();

-- ---------------------------------------------------------------------------------------------
-- enrollment.*
-- ---------------------------------------------------------------------------------------------

create or replace function api.enrollment_enroll(course_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id  uuid := internal.require_user();
  v_course   app.courses;
  v_existing app.enrollments;
  v_id       uuid;
begin
  select c.* into v_course from app.courses c where c.id = enrollment_enroll.course_id;
  select e.* into v_existing from app.enrollments e
  where e.user_id = v_user_id and e.course_id = enrollment_enroll.course_id;
  if v_course.id is null
     or not (v_course.is_published or coalesce(v_existing.is_active, false)
             or internal.can_manage_course(v_course.id)) then
    raise exception 'course not found' using errcode = 'LM404', detail = 'not_found', hint = 'course_id';
  end if;
  if coalesce(v_existing.is_active, false) then
    return internal.enrollment_json(v_existing.id);
  end if;
  if not v_course.is_published then
    raise exception 'the course is not published' using errcode = 'LM422', detail = 'course_not_published';
  end if;
  if not v_course.is_free and not (v_existing.id is not null and exists (
           select from app.payments p where p.id = v_existing.payment_id and p.status = 'succeeded')) then
    raise exception 'this course is paid: buy it with order.create' using errcode = 'LM422', detail = 'payment_required';
  end if;
  -- One row per student and course, also under concurrent calls.
  insert into app.enrollments as e (user_id, course_id)
  values (v_user_id, v_course.id)
  on conflict on constraint uq_enrollments_user_id_course_id do update
    set is_active = true, dropped_at = null
    where not e.is_active
  returning e.id into v_id;
  if v_id is null then  -- a concurrent call enrolled first
    select e.id into v_id from app.enrollments e where e.user_id = v_user_id and e.course_id = v_course.id;
  else
    perform internal.audit('enrollment.enrolled', 'enrollment', v_id, jsonb_build_object('course_id', v_course.id));
  end if;
  return internal.enrollment_json(v_id);
end
$$;
comment on function api.enrollment_enroll(uuid) is
  'Enroll yourself in a free published course.
@result enrollment
Idempotent: returns the existing enrollment; a dropped one is re-activated (progress kept). Paid courses: 422 payment_required (enroll through an order), except re-activating an enrollment bought with a payment that was not refunded. Unpublished: 422 course_not_published (404 if you cannot see it). SECURITY DEFINER: students have no direct INSERT on enrollments.';

create or replace function api.enrollment_drop(course_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id uuid := internal.require_user();
  v_id      uuid;
begin
  select e.id into v_id from app.enrollments e
  where e.user_id = v_user_id and e.course_id = enrollment_drop.course_id
  for update;
  if v_id is null then
    if not internal.can_see_course(enrollment_drop.course_id) then
      raise exception 'course not found' using errcode = 'LM404', detail = 'not_found', hint = 'course_id';
    end if;
    raise exception 'you are not enrolled in this course' using errcode = 'LM403', detail = 'not_enrolled';
  end if;
  update app.enrollments e set is_active = false, dropped_at = now()
  where e.id = v_id and e.is_active;
  if found then
    perform internal.audit('enrollment.dropped', 'enrollment', v_id);
  end if;
  return internal.enrollment_json(v_id);
end
$$;
comment on function api.enrollment_drop(uuid) is
  'Leave a course: the enrollment becomes inactive ({is_active: false}); progress is kept. Idempotent.
@result enrollment';

create or replace function api.enrollment_list_mine("limit" integer default 50, "offset" integer default 0)
returns jsonb
language plpgsql
stable
as $$
declare
  v_user_id uuid := internal.require_user();
begin
  perform internal.check_page(enrollment_list_mine."limit", enrollment_list_mine."offset", 100);
  return coalesce((
    select jsonb_agg(internal.enrollment_json(x.id) order by x.enrolled_at desc, x.id)
    from (select e.id, e.enrolled_at from app.enrollments e where e.user_id = v_user_id
          order by e.enrolled_at desc, e.id
          limit coalesce(enrollment_list_mine."limit", 50) offset coalesce(enrollment_list_mine."offset", 0)) x), '[]'::jsonb);
end
$$;
comment on function api.enrollment_list_mine(integer, integer) is
  'Your enrollments (active and dropped), newest first, with course title, progress and completed_at.
@result enrollment[]
@param limit minimum=1 maximum=100
@param offset minimum=0
Ordered by enrolled_at descending, then id. limit: default 50, at most 100; offset: default 0.';

create or replace function api.enrollment_list_for_course(course_id uuid, "limit" integer default 50, "offset" integer default 0)
returns jsonb
language plpgsql
stable cost 1000  -- reads across a whole course (or the site): never in a shared pipeline (rpc/db/calls.py)
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform internal.require_user();
  if not internal.can_see_course(enrollment_list_for_course.course_id) then
    raise exception 'course not found' using errcode = 'LM404', detail = 'not_found', hint = 'course_id';
  end if;
  if not internal.can_manage_course(enrollment_list_for_course.course_id) then
    raise exception 'only the course''s instructor or an admin may list its enrollments'
      using errcode = 'LM403', detail = 'not_course_owner';
  end if;
  perform internal.check_page(enrollment_list_for_course."limit", enrollment_list_for_course."offset", 500);
  -- Checked once above; one statement below: the page by ix_enrollments_course_id_enrolled_at, then
  -- the students' names by primary key — no per-row helper re-checking the caller.
  return (
    select coalesce(jsonb_agg(jsonb_build_object(
             'id', e.id, 'user_id', e.user_id, 'course_id', e.course_id, 'course_title', c.title,
             'payment_id', e.payment_id, 'is_active', e.is_active, 'progress_percentage', e.progress_percentage,
             'enrolled_at', e.enrolled_at, 'completed_at', e.completed_at, 'dropped_at', e.dropped_at,
             'last_accessed_at', e.last_accessed_at,
             'student', jsonb_build_object('id', u.id, 'full_name', u.full_name, 'email', u.email))
             order by e.enrolled_at, e.id), '[]'::jsonb)
    from (select e0.* from app.enrollments e0
          where e0.course_id = enrollment_list_for_course.course_id
          order by e0.enrolled_at, e0.id
          limit coalesce(enrollment_list_for_course."limit", 50)
          offset coalesce(enrollment_list_for_course."offset", 0)) e
    join app.courses c on c.id = e.course_id
    join app.users u on u.id = e.user_id);
end
$$;
comment on function api.enrollment_list_for_course(uuid, integer, integer) is
  'The enrollments of a course with each student''s name and email (the course''s instructor, admins; others who can see the course 403 not_course_owner; a course the caller cannot see 404). SECURITY DEFINER to read the students'' names, which users RLS hides from instructors; checks the caller first.
@result {id: uuid, user_id: uuid, course_id: uuid, course_title: text, payment_id: uuid?, is_active: bool,
  progress_percentage: int, enrolled_at: timestamptz, completed_at: timestamptz?, dropped_at: timestamptz?,
  last_accessed_at: timestamptz?,
  student: {id: uuid, full_name: text, email: text}}[]
@param limit minimum=1 maximum=500
@param offset minimum=0
Oldest enrollment first (enrolled_at, then id). limit: default 50, at most 500; offset: default 0.';

-- ---------------------------------------------------------------------------------------------
-- lesson.complete
-- ---------------------------------------------------------------------------------------------

create or replace function api.lesson_complete(lesson_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id    uuid := internal.require_user();
  v_lesson     record;
  v_enrollment uuid;
  v_module_was boolean;
  v_progress   jsonb;
begin
  select l.id, l.course_id, l.is_published, l.module_id, c.is_published as course_published into v_lesson
  from app.lessons l join app.courses c on c.id = l.course_id
  where l.id = lesson_complete.lesson_id;
  -- Lock the enrollment first: the insert below takes a key-share lock on it (foreign key) and
  -- refresh_progress then wants it for update, so two of this student's calls at once (a batch)
  -- would otherwise deadlock, each waiting for the other's key-share lock.
  select e.id into v_enrollment from app.enrollments e
  where e.user_id = v_user_id and e.course_id = v_lesson.course_id and e.is_active
  for update;
  if v_lesson.id is null
     or not ((v_lesson.is_published and (v_lesson.course_published or v_enrollment is not null))
             or internal.can_manage_course(v_lesson.course_id)) then
    raise exception 'lesson not found' using errcode = 'LM404', detail = 'not_found', hint = 'lesson_id';
  end if;
  if v_enrollment is null then
    raise exception 'enroll in the course to complete its lessons' using errcode = 'LM403', detail = 'not_enrolled';
  end if;
  if not v_lesson.is_published then
    raise exception 'the lesson is not published' using errcode = 'LM422', detail = 'lesson_not_published';
  end if;
  perform internal.require_item_unlocked(v_lesson.course_id, v_lesson.module_id);
  v_module_was := v_lesson.module_id is null or internal.module_completed(v_user_id, v_lesson.course_id, v_lesson.module_id);
  insert into app.lesson_progress (enrollment_id, lesson_id, user_id)
  values (v_enrollment, v_lesson.id, v_user_id)
  on conflict on constraint pk_lesson_progress do nothing;
  update app.enrollments e set last_accessed_at = now() where e.id = v_enrollment;
  perform internal.note_module_completion(v_user_id, v_lesson.course_id, v_lesson.module_id, v_module_was);
  v_progress := internal.refresh_progress(v_user_id, v_lesson.course_id);
  return v_progress;
end
$$;
comment on function api.lesson_complete(uuid) is
  'Mark a published lesson completed (active enrollee); idempotent → {progress_percentage, completed}.
@result {progress_percentage: int, completed: bool}
Completing the last lesson completes the course if every published quiz is passed, and issues the certificate. SECURITY DEFINER: students have no direct write on progress.';

-- ---------------------------------------------------------------------------------------
-- Calendar feeds: a learner's dates as iCalendar (GET /calendar/{token}.ics, rpc/http/calendar.py)
-- ---------------------------------------------------------------------------------------
create or replace function api.calendar_feed_url()
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id  uuid := internal.require_user();
  v_token    text := internal.random_token(32);
  v_replaced boolean;
begin
  v_replaced := exists (select from app.calendar_feeds f where f.user_id = v_user_id);
  insert into app.calendar_feeds (user_id, token_hash) values (v_user_id, internal.sha256(v_token))
  on conflict (user_id) do update set token_hash = excluded.token_hash, created_at = now();
  perform internal.audit('calendar.feed_url', 'user', v_user_id, jsonb_build_object('replaced', v_replaced));
  return jsonb_build_object('feed_url', '/calendar/' || v_token || '.ics', 'replaced', v_replaced);
end
$$;
comment on function api.calendar_feed_url() is
$$Your private calendar feed (iCalendar, RFC 5545): the URL to subscribe to in a calendar app, with your due
dates, quiz closing times and module unlocks as they apply to you (overrides included). The URL holds a secret
token shown only now (the database keeps its SHA-256): asking again makes a new URL and the old one stops working
(replaced: true); calendar.feed_reset revokes it.
@result {feed_url: text, replaced: bool}
SECURITY DEFINER: writes the caller's own feed row (no client privileges on app.calendar_feeds).$$;

create or replace function api.calendar_feed_reset()
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id uuid := internal.require_user();
begin
  delete from app.calendar_feeds f where f.user_id = v_user_id;
  perform internal.audit('calendar.feed_reset', 'user', v_user_id, jsonb_build_object('revoked', found));
  return jsonb_build_object('revoked', found);
end
$$;
comment on function api.calendar_feed_reset() is
$$Revoke your calendar feed: its URL answers 404 from now on (calendar.feed_url makes a new one).
@result {revoked: bool}
SECURITY DEFINER: deletes the caller's own feed row.$$;

create or replace function internal.calendar_feed(p_token text)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user app.users;
begin
  select u.* into v_user from app.calendar_feeds f join app.users u on u.id = f.user_id
  where f.token_hash = internal.sha256(coalesce(p_token, '')) and u.is_active;
  if not found then
    raise exception 'no such calendar feed' using errcode = 'LM404', detail = 'not_found', hint = 'token';
  end if;
  return jsonb_build_object('user_id', v_user.id, 'name', v_user.full_name, 'events', coalesce((
    select jsonb_agg(jsonb_build_object('uid', x.uid, 'kind', x.kind, 'title', x.title, 'at', x.at,
                                        'course_id', x.course_id, 'course', x.course, 'item_id', x.item_id)
                     order by x.at, x.uid)
    from (
      -- assignments: the due date that applies to this learner
      select 'assignment-' || a.id as uid, 'due' as kind, a.title, (internal.effective_assignment(v_user.id, a)).due_date as at,
             c.id as course_id, c.title as course, a.id as item_id
      from app.enrollments e
      join app.courses c on c.id = e.course_id
      join app.assignments a on a.course_id = e.course_id
      left join app.modules m on m.id = a.module_id
      where e.user_id = v_user.id and e.is_active and (a.module_id is null or m.is_published)
      union all
      -- quizzes: when they close for this learner (an override's available_until)
      select 'quiz-' || z.id, 'closes', z.title, internal.quiz_available_until(v_user.id, z.id), c.id, c.title, z.id
      from app.enrollments e
      join app.courses c on c.id = e.course_id
      join app.quizzes z on z.course_id = e.course_id and z.is_published
      left join app.modules m on m.id = z.module_id
      where e.user_id = v_user.id and e.is_active and (z.module_id is null or m.is_published)
      union all
      -- modules: when they open by date for this learner
      select 'module-' || m.id, 'unlocks', m.title, u.unlock_at, c.id, c.title, m.id
      from app.enrollments e
      join app.courses c on c.id = e.course_id
      join app.modules m on m.course_id = e.course_id and m.is_published
      cross join lateral internal.effective_unlock_at(v_user.id, m, e.enrolled_at) u
      where e.user_id = v_user.id and e.is_active) x
    where x.at is not null and x.at > now() - interval '180 days'), '[]'));
end
$$;
comment on function internal.calendar_feed(text) is
  'GET /calendar/{token}.ics: the dates of the feed''s user in the courses they are actively enrolled in, as they apply to them — assignments'' due dates (overrides included), quizzes'' closing times (an override''s available_until), published modules'' unlock dates (override, date, or days after enrolment) — from 180 days back. LM404 not_found for an unknown or revoked token or a deactivated user. SECURITY DEFINER: the feed has no signed-in caller; its token is the credential.';
