/*
 * Catalog functions: courses and lessons, and the membership helpers every domain's policies use.
 *
 * Shape: the api functions are SECURITY INVOKER, so RLS on app.courses / app.lessons is what
 * enforces ownership (only the course's instructor or an admin may change a course or its
 * lessons) — for JSON-RPC calls and for direct SQL alike. The functions add the precise
 * errors: 404 not_found when the caller cannot see the course, 403 not_course_owner when they
 * can see it but do not own it.
 *
 * Lesson content (content, video_url) is a column-privilege split: lms_api / lms_analyst may
 * select every lessons column except those two (sql/policies/20_catalog.sql). They are read
 * through internal.lesson_content(), a SECURITY DEFINER function that returns them only to the
 * course's instructor, admins and active enrollees (published lessons).
 *
 * The membership helpers (my_course_ids, my_enrolled_course_ids) are SECURITY DEFINER sets so
 * that policies can say `course_id in (select internal.my_course_ids())` without one table's
 * policy recursing into another's.
 */

-- ---------------------------------------------------------------------------------------------
-- Shared helpers (names and signatures are used by other domains: keep them).
-- ---------------------------------------------------------------------------------------------

create or replace function internal.my_course_ids()
returns setof uuid
language plpgsql
stable
parallel safe
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return query
    select c.id from app.courses c
    where c.instructor_id = app.current_user_id() and internal.current_user_role() in ('instructor', 'admin');
end
$$;
comment on function internal.my_course_ids() is
  'Ids of the courses the calling user teaches — only while they are an active instructor (or admin): a demoted or deactivated instructor keeps no control. SECURITY DEFINER so policies can use it without recursing through courses RLS; reveals only the caller''s own courses.';

create or replace function internal.can_manage_course(p_course_id uuid)
returns boolean
language plpgsql
stable
parallel safe
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  -- internal.is_admin() or p_course_id in (select internal.my_course_ids()), in one lookup: it is
  -- asked several times by most calls.
  return exists (select from app.users u
                 where u.id = app.current_user_id() and u.is_active
                   and (u.role = 'admin'
                        or (u.role = 'instructor'
                            and exists (select from app.courses c where c.id = p_course_id and c.instructor_id = u.id))));
end
$$;
comment on function internal.can_manage_course(uuid) is
  'True when the calling user is an active admin, or an active instructor (current role) who teaches the course. SECURITY DEFINER: answers for the caller only, whatever RLS shows.';

/*
 * Visibility of a course, the same rule as the courses select policy
 * (sql/policies/20_catalog.sql, keep the two in step): published, or taught by the caller, or the
 * caller is an admin or actively enrolled. SECURITY DEFINER so that definer functions (which
 * bypass RLS) can tell "invisible: 404" from "visible but not allowed: 403" exactly as invoker
 * functions do by reading app.courses under RLS.
 */
create or replace function internal.can_see_course(p_course_id uuid)
returns boolean
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return (select exists (
            select from app.courses c
            where c.id = p_course_id
              and (c.is_published
                   or c.instructor_id = app.current_user_id()
                   or internal.is_admin()
                   or exists (select from app.enrollments e
                              where e.user_id = app.current_user_id() and e.course_id = c.id and e.is_active))));
end
$$;
comment on function internal.can_see_course(uuid) is
  'True when the calling user may see the course (the courses select policy): published, their own, admin, or actively enrolled. False for unknown ids. SECURITY DEFINER: answers for the caller only; used where RLS does not apply to tell 404 from 403.';

create or replace function internal.my_enrolled_course_ids()
returns setof uuid
language plpgsql
stable
parallel safe
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return query
    select e.course_id from app.enrollments e
    where e.user_id = app.current_user_id() and e.is_active;
end
$$;
comment on function internal.my_enrolled_course_ids() is
  'Ids of the courses the calling user is actively enrolled in. SECURITY DEFINER (policy helper, no recursion); reveals only the caller''s own enrollments.';

create or replace function internal.is_actively_enrolled(p_user_id uuid, p_course_id uuid)
returns boolean
language plpgsql  -- not SQL: a SQL function that is not inlined is planned again at every call
stable
as $$
begin
  return (select exists (select from app.enrollments e
                           where e.user_id = p_user_id and e.course_id = p_course_id and e.is_active));
end
$$;
comment on function internal.is_actively_enrolled(uuid, uuid) is
  'True when p_user_id has an active enrollment in p_course_id. SECURITY INVOKER: under lms_api RLS it can only confirm enrollments the caller may see (own, own courses'', admin); inside SECURITY DEFINER functions it sees all.';

create or replace function internal.is_instructor(p_user_id uuid)
returns boolean
language plpgsql  -- not SQL: a SQL function that is not inlined is planned again at every call
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return (select exists (select from app.instructors i join app.users u on u.id = i.user_id
                           where i.user_id = p_user_id and u.role = 'instructor' and u.is_active));
end
$$;
comment on function internal.is_instructor(uuid) is
  'True when p_user_id is an active user whose role is instructor (with an instructor profile), i.e. may own new courses. SECURITY DEFINER: the tables'' RLS belongs to identity; who teaches is public anyway.';

-- Grade posting (issue 30 §3): whether a quiz's or an assignment's grades are held back from learners.
create or replace function internal.grade_hidden(p_posting text, p_posted_at timestamptz)
returns boolean
language sql
immutable
parallel safe
as $$
  select p_posting = 'manual' and p_posted_at is null
$$;
comment on function internal.grade_hidden(text, timestamptz) is
  'Whether a quiz''s or assignment''s grades are held back from its learners: grade_posting manual and not posted (grade.post). The one definition.';

create or replace function internal.hide_grade(p_json jsonb, p_hidden boolean default true)
returns jsonb
language plpgsql  -- not SQL: with its sub-select it is not inlined, and would be planned at every call
immutable
parallel safe
as $$
begin
  if p_hidden is not true or p_json is null then
    return p_json;
  end if;
  return (select jsonb_object_agg(e.key, case when e.key in ('score', 'passed', 'points_earned', 'best_score', 'grade',
                                                             'effective_grade', 'feedback', 'graded_at', 'graded_by', 'rubric')
                                              then 'null'::jsonb else e.value end)
          from jsonb_each(p_json) e) || '{"grade_posted": false}';
end
$$;
comment on function internal.hide_grade(jsonb, boolean) is
  'What a learner (or an event) may see of held-back work: the object with its score, passed, points_earned, best_score, grade, effective_grade, feedback, graded_at, graded_by and rubric set to null and grade_posted: false (unchanged when p_hidden is not true).';

create or replace function internal.check_grade_posting(p_posting text)
returns void
language plpgsql
immutable
as $$
begin
  if p_posting is not null and p_posting not in ('automatic', 'manual') then
    raise exception 'grade_posting is automatic or manual' using errcode = 'LM422', detail = 'invalid_argument',
      hint = 'grade_posting';
  end if;
end
$$;
comment on function internal.check_grade_posting(text) is 'LM422 invalid_argument (field grade_posting) unless it is automatic, manual or not given.';
