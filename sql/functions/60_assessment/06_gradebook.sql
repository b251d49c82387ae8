/*
 * Assessment — the gradebook: one set-based query per call.
 */

-- ---------------------------------------------------------------------------------------
-- Gradebook: one set-based query per call
-- ---------------------------------------------------------------------------------------
drop function if exists internal.gradebook(uuid, uuid);  -- before paging (limit/offset) was added
-- plpgsql (it was one SQL function): the page of students is found first, by its own statement per
-- case (a course page or one student), so each is planned with its real values — a SQL function's
-- statements are planned generically, `(p_user_id is null or …)` for 3 rows whatever the course.
create or replace function internal.gradebook(p_course_id uuid, p_user_id uuid default null,
                                              p_limit integer default null, p_offset integer default 0)
returns jsonb
language plpgsql
stable
as $$
declare
  v_students uuid[];
begin
  if p_user_id is null then
    -- In enrollment order, like enrollment.list_for_course: a page is read off
    -- ix_enrollments_course_id_enrolled_at. (Alphabetical order needed every student's name sorted
    -- for every page: 18 ms for 10,000 students. The CSV export lists the whole course by name.)
    v_students := array(
      select e.user_id from app.enrollments e
      where e.course_id = p_course_id
      order by e.enrolled_at, e.id
      limit p_limit offset coalesce(p_offset, 0));
  else
    v_students := array(select e.user_id from app.enrollments e
                        where e.course_id = p_course_id and e.user_id = p_user_id);
  end if;
  -- One student's own row (gradebook.mine) lists published quizzes only: drafts' titles are not theirs to see.
  -- One statement: the page's students, and per student their cells and course grade from
  -- internal.course_grades, which reads each cell once (by key: the page's size, not the course's) for
  -- both. One student's own row (gradebook.mine) lists published quizzes only and hides held-back grades.
  return (
    select coalesce(jsonb_agg(jsonb_build_object(
             'user_id', e.user_id, 'full_name', u.full_name, 'email', u.email, 'is_active', e.is_active,
             'progress_percentage', e.progress_percentage, 'completed_at', e.completed_at,
             'quizzes', coalesce(g.quizzes, '[]'), 'assignments', coalesce(g.assignments, '[]'),
             'lti_items', coalesce(g.lti_items, '[]'),
             'categories', g.categories, 'course_grade', g.course_grade)
           order by s.ord), '[]')
    from unnest(v_students) with ordinality s (user_id, ord)
    join app.enrollments e on e.course_id = p_course_id and e.user_id = s.user_id
    cross join lateral (select u0.full_name, u0.email from app.users u0 where u0.id = s.user_id offset 0) u
    left join internal.course_grades(p_course_id, v_students, p_user_id is not null) g on g.user_id = s.user_id);
end
$$;
comment on function internal.gradebook(uuid, uuid, integer, integer) is
  'Gradebook rows of a course (all enrolled students — one page in enrollment order when p_limit is given — or one): best quiz score per quiz, effective assignment grades, progress, per category subtotals and the course grade (internal.course_grades). One statement. With p_user_id (a student''s own row) only published quizzes are listed.
best_score is null for a quiz without closed attempts; is_late, grade and effective_grade are null without a submission (grades: until graded).
@shape gradebook_row {user_id: uuid, full_name: text, email: text, is_active: bool, progress_percentage: int,
  completed_at: timestamptz?,
  quizzes: {quiz_id: uuid, title: text, best_score: int?, passed: bool?, attempts: int, grade_category_id: uuid?,
    grade_posted?: bool}[],
  assignments: {assignment_id: uuid, title: text, points: int, submitted: bool, is_late: bool?, grade: number?,
    effective_grade: number?, grade_category_id: uuid?, grade_posted?: bool}[],
  lti_items: {line_item_id: uuid, label: text, points: number, grade: number?, grading_progress: text?,
    activity_progress: text?, scored_at: timestamptz?, comment: text?, grade_category_id: uuid?}[],
  categories: grade_category_total[], course_grade: course_grade}';

create or replace function api.gradebook_course(course_id uuid, "limit" integer default 50, "offset" integer default 0)
returns jsonb
language plpgsql
stable cost 1000  -- reads across a whole course (or the site): never in a shared pipeline (rpc/db/calls.py)
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform internal.require_course_manager(gradebook_course.course_id);
  perform internal.check_page(gradebook_course."limit", gradebook_course."offset", 500);
  return internal.gradebook(gradebook_course.course_id, null, coalesce(gradebook_course."limit", 50),
                            coalesce(gradebook_course."offset", 0));
end
$$;
comment on function api.gradebook_course(uuid, integer, integer) is
$$Per enrolled student of a course: best score per quiz, effective assignment grades, progress
(instructor of the course, admin). SECURITY DEFINER: reads enrollments and names of the course's
students after checking the caller manages the course.
@result gradebook_row[]
@param limit minimum=1 maximum=500
@param offset minimum=0
In enrollment order (enrolled_at, then enrollment id), like enrollment.list_for_course: each page
costs the same in a course of 10,000 as of 100. limit: default 50, at most 500; offset: default 0.
The whole course by name: GET /export/courses/{course_id}/gradebook.csv.$$;

create or replace function api.gradebook_mine(course_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id uuid := internal.require_user();
  v_rows    jsonb;
begin
  v_rows := internal.gradebook(gradebook_mine.course_id, v_user_id);
  if jsonb_array_length(v_rows) = 0 then
    -- As elsewhere: a course you can see but never joined is 403 not_enrolled; an invisible one 404.
    if internal.can_see_course(gradebook_mine.course_id) then
      raise exception 'you are not enrolled in this course' using errcode = 'LM403', detail = 'not_enrolled';
    end if;
    raise exception 'course not found' using errcode = 'LM404', detail = 'not_found', hint = 'course_id';
  end if;
  return v_rows -> 0;
end
$$;
comment on function api.gradebook_mine(uuid) is
$$The caller's own gradebook row of a course they are (or were) enrolled in: best quiz scores
(published quizzes only), effective assignment grades, progress. SECURITY DEFINER: reads only the caller's rows.
@result gradebook_row$$;

create or replace function internal.csv_cell(p_text text)
returns text
language sql
immutable
parallel safe
as $$
  select case when p_text ~ '^[=+\-@\t\r]' then '''' || p_text else p_text end
$$;
comment on function internal.csv_cell(text) is
  'A text value made safe for a spreadsheet (OWASP CSV injection): one that begins with = + - @, a tab or a carriage return gets a leading apostrophe, so it is shown as text and never run as a formula. Every text column of every CSV export goes through it.';

/*
 * The whole gradebook of a course as rows for CSV (GET /export/courses/{course_id}/gradebook.csv,
 * rpc/http/exports.py, which COPYs it to the client as it comes): one row per student and quiz or
 * assignment, students by name. The caller is checked once, before the first row.
 */
drop function if exists internal.gradebook_export(uuid);  -- before the grade columns
create or replace function internal.gradebook_export(p_course_id uuid)
returns table (user_id uuid, full_name text, email text, is_active boolean, progress_percentage integer,
               completed_at timestamptz, item_type text, item_id uuid, item_title text, best_score integer,
               passed boolean, attempts integer, submitted boolean, is_late boolean, grade numeric,
               effective_grade numeric, grade_category_id uuid, grade_category text, category_percent numeric,
               category_percent_ungraded_as_zero numeric, course_percent numeric, course_letter text,
               course_percent_ungraded_as_zero numeric, course_grade_overridden boolean)
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform internal.require_course_manager(p_course_id);
  return query
    select e.user_id, internal.csv_cell(u.full_name), internal.csv_cell(u.email), e.is_active,
           e.progress_percentage, e.completed_at, i.item_type, i.item_id, internal.csv_cell(i.item_title), i.best_score, i.passed, i.attempts, i.submitted, i.is_late,
           i.grade, i.effective_grade, i.grade_category_id, internal.csv_cell(coalesce(cat.value ->> 'name', 'Other')),
           (cat.value ->> 'percent')::numeric, (cat.value ->> 'percent_ungraded_as_zero')::numeric,
           (g.course_grade ->> 'percent')::numeric, internal.csv_cell(g.course_grade ->> 'letter'),
           (g.course_grade ->> 'percent_ungraded_as_zero')::numeric, (g.course_grade ->> 'overridden')::boolean
    from app.enrollments e
    -- each learner's name by key: the course's rows, never a scan (and hash) of the site's users
    cross join lateral (select u0.full_name, u0.email from app.users u0 where u0.id = e.user_id offset 0) u
    left join internal.course_grades(p_course_id, array(select e0.user_id from app.enrollments e0 where e0.course_id = p_course_id)) g
      on g.user_id = e.user_id
    cross join lateral (
      select 'quiz'::text as item_type, z.id as item_id, z.title as item_title, z.grade_category_id, c.best_score,
             coalesce(c.passed, false) as passed, coalesce(c.closed_attempts, 0) as attempts,
             null::boolean as submitted, null::boolean as is_late, null::numeric as grade, null::numeric as effective_grade
      from app.quizzes z
      left join app.quiz_attempt_counters c on c.user_id = e.user_id and c.quiz_id = z.id
      where z.course_id = p_course_id
      union all
      select 'assignment', a.id, a.title, a.grade_category_id, null, null, null, s.id is not null, s.is_late, s.grade,
             internal.effective_grade(s.grade, s.is_late,
                                      internal.effective_late_penalty(e.user_id, a.id, a.late_penalty_percentage))
      from app.assignments a
      left join app.submissions s on s.assignment_id = a.id and s.user_id = e.user_id
      where a.course_id = p_course_id
      union all
      select 'lti', li.id, li.label, li.grade_category_id, null, null, null, r.user_id is not null, null, null,
             internal.lti_grade(r, li.score_maximum)
      from app.lti_line_items li
      left join app.lti_results r on r.line_item_id = li.id and r.user_id = e.user_id
      where li.course_id = p_course_id) i
    left join lateral (select x.value from jsonb_array_elements(g.categories) x
                       where (x.value ->> 'category_id')::uuid is not distinct from i.grade_category_id limit 1) cat on true
    where e.course_id = p_course_id
    order by u.full_name, e.user_id, i.item_type desc, i.item_title, i.item_id;
end
$$;
comment on function internal.gradebook_export(uuid) is
  'Every enrolled student''s gradebook of a course (text cells through internal.csv_cell: no spreadsheet formula), one row per student and quiz (best_score, passed, attempts), assignment (submitted, is_late, grade, effective_grade) or LTI line item (item_type lti; submitted: the tool sent a score, effective_grade: its points once FullyGraded), by full_name; each row with its grade category and that category''s subtotal for the student, and the student''s course grade (internal.course_grades, as gradebook.course); LM401/LM404/LM403 not_course_owner first unless the caller manages the course. SECURITY DEFINER: students'' names and other students'' rows, after the check.';
