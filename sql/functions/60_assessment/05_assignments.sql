/*
 * Assessment — assignment.* and submission.*, and the grade <= points triggers.
 */

-- ---------------------------------------------------------------------------------------
-- Assignments and submissions
-- ---------------------------------------------------------------------------------------
create or replace function api.assignment_create(
  course_id uuid, title text, description text default null, lesson_id uuid default null,
  due_date timestamptz default null, points integer default null, allow_late_submission boolean default null,
  late_penalty_percentage integer default null, module_id uuid default null, grade_category_id uuid default null,
  grade_posting text default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_assignment app.assignments;
begin
  perform internal.require_course_manager(assignment_create.course_id);
  perform internal.require_grade_category(assignment_create.course_id, assignment_create.grade_category_id);
  perform internal.check_grade_posting(assignment_create.grade_posting);
  insert into app.assignments as a (course_id, lesson_id, title, description, due_date, points,
                                    allow_late_submission, late_penalty_percentage, grade_category_id, grade_posting)
  values (assignment_create.course_id, assignment_create.lesson_id, btrim(assignment_create.title),
          nullif(assignment_create.description, ''), assignment_create.due_date, coalesce(assignment_create.points, 100),
          coalesce(assignment_create.allow_late_submission, false),
          coalesce(assignment_create.late_penalty_percentage, 0), assignment_create.grade_category_id,
          coalesce(assignment_create.grade_posting, 'automatic'))
  returning a.* into v_assignment;
  if assignment_create.module_id is not null then
    perform internal.place_item('assignment', v_assignment.id, v_assignment.course_id, assignment_create.module_id);
    select a.* into v_assignment from app.assignments a where a.id = v_assignment.id;
  end if;
  return internal.assignment_json(v_assignment);
exception
  when foreign_key_violation then
    raise exception 'the lesson does not belong to this course'
      using errcode = 'LM422', detail = 'lesson_not_in_course', hint = 'lesson_id';
end
$$;
comment on function api.assignment_create(uuid, text, text, uuid, timestamptz, integer, boolean, integer, uuid, uuid, text) is
$$Create an assignment in a course (its instructor or an admin). Defaults: 100 points, no late work,
penalty 0 %. lesson_id must be in the same course (422 lesson_not_in_course), module_id a module of it
(422 module_not_in_course), where the assignment goes last, grade_category_id a grade category of it
(422 category_not_in_course; none: the course's implicit one). grade_posting manual holds grades and feedback
back from learners until grade.post.
@result assignment
@param grade_posting minLength=6 maxLength=9
@param title minLength=1 maxLength=200
@param points minimum=1
@param late_penalty_percentage minimum=0 maximum=100$$;

create or replace function api.assignment_update(
  assignment_id uuid, title text default null, description text default null, lesson_id uuid default null,
  due_date timestamptz default null, points integer default null, allow_late_submission boolean default null,
  late_penalty_percentage integer default null, module_id uuid default null, grade_category_id uuid default null,
  grade_posting text default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_assignment app.assignments := internal.managed_row(null::app.assignments, assignment_update.assignment_id,
                                                       'assignment', true);
begin
  perform internal.require_grade_category(v_assignment.course_id, assignment_update.grade_category_id);
  perform internal.check_grade_posting(assignment_update.grade_posting);
  -- API.md "Updates": omitted → unchanged, explicit null → cleared (nullable fields, internal.given).
  update app.assignments a set
    title = coalesce(btrim(assignment_update.title), a.title),
    description = case when internal.given('description', assignment_update.description)
                       then nullif(assignment_update.description, '') else a.description end,
    lesson_id = case when internal.given('lesson_id', assignment_update.lesson_id)
                     then assignment_update.lesson_id else a.lesson_id end,
    due_date = case when internal.given('due_date', assignment_update.due_date)
                    then assignment_update.due_date else a.due_date end,
    points = coalesce(assignment_update.points, a.points),
    allow_late_submission = coalesce(assignment_update.allow_late_submission, a.allow_late_submission),
    late_penalty_percentage = coalesce(assignment_update.late_penalty_percentage, a.late_penalty_percentage),
    grade_category_id = case when internal.given('grade_category_id', assignment_update.grade_category_id)
                             then assignment_update.grade_category_id else a.grade_category_id end,
    grade_posting = coalesce(assignment_update.grade_posting, a.grade_posting),
    grades_posted_at = case when assignment_update.grade_posting = 'manual' and a.grade_posting <> 'manual' then null
                            else a.grades_posted_at end
  where a.id = v_assignment.id
  returning a.* into v_assignment;
  if internal.given('module_id', assignment_update.module_id)
     and assignment_update.module_id is distinct from v_assignment.module_id then
    perform internal.place_item('assignment', v_assignment.id, v_assignment.course_id, assignment_update.module_id);
    select a.* into v_assignment from app.assignments a where a.id = v_assignment.id;
  end if;
  return internal.assignment_json(v_assignment);
exception
  when foreign_key_violation then
    raise exception 'the lesson does not belong to this course'
      using errcode = 'LM422', detail = 'lesson_not_in_course', hint = 'lesson_id';
end
$$;
comment on function api.assignment_update(uuid, text, text, uuid, timestamptz, integer, boolean, integer, uuid, uuid, text) is
$$Change an assignment (instructor of the course, admin); omitted fields stay as they are; an
explicit null clears description (a blank one is stored as null too), lesson_id or due_date (no
deadline). title, points, allow_late_submission and late_penalty_percentage cannot be null.
Submissions already made keep their is_late. points below a grade already given: 422 points_below_grade.
@result assignment
@patch
@param description nullable
@param lesson_id nullable
@param module_id nullable
@param due_date nullable
@param title minLength=1 maxLength=200
@param points minimum=1
@param late_penalty_percentage minimum=0 maximum=100$$;

create or replace function api.assignment_list(course_id uuid, "limit" integer default 50, "offset" integer default 0)
returns jsonb
language plpgsql
stable
as $$
declare
  v_user_id uuid := internal.require_user();
begin
  perform internal.check_page(assignment_list."limit", assignment_list."offset", 100);
  if not internal.can_see_course(assignment_list.course_id) then
    raise exception 'course not found' using errcode = 'LM404', detail = 'not_found', hint = 'course_id';
  end if;
  if not (internal.can_manage_course(assignment_list.course_id)
          or internal.is_actively_enrolled(v_user_id, assignment_list.course_id)) then
    raise exception 'you are not enrolled in this course' using errcode = 'LM403', detail = 'not_enrolled';
  end if;
  -- A learner sees their own due dates and penalties (overrides); the instructor and admins the assignment's.
  return (select coalesce(jsonb_agg(internal.assignment_json(
                   case when internal.can_manage_course(a.course_id) then a
                        else internal.effective_assignment(v_user_id, a) end)
                   order by a.due_date nulls last, a.created_at, a.id), '[]')
          from (select a0.id from app.assignments a0 where a0.course_id = assignment_list.course_id
                order by a0.due_date nulls last, a0.created_at, a0.id
                limit coalesce(assignment_list."limit", 50) offset coalesce(assignment_list."offset", 0)) x
          join app.assignments a on a.id = x.id);
end
$$;
comment on function api.assignment_list(uuid, integer, integer) is
  'Assignments of a course (actively enrolled students, the instructor, admins; others who can see the course 403 not_enrolled; a course the caller cannot see 404).
@result assignment[]
@param limit minimum=1 maximum=100
@param offset minimum=0
Ordered by due_date (none last), then created_at, then id. limit: default 50, at most 100; offset: default 0. A learner sees their own due_date and late_penalty_percentage (overrides).';

create or replace function api.submission_submit(assignment_id uuid, content text default null, file_id uuid default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id    uuid := internal.require_user();
  v_assignment app.assignments;
  v_late       boolean;
  v_submission app.submissions;
  v_module_was boolean;
begin
  select a.* into v_assignment from app.assignments a where a.id = submission_submit.assignment_id;
  if v_assignment.id is null or not internal.can_see_course(v_assignment.course_id) then
    raise exception 'assignment not found' using errcode = 'LM404', detail = 'not_found', hint = 'assignment_id';
  end if;
  if not internal.is_actively_enrolled(v_user_id, v_assignment.course_id) then
    raise exception 'you are not enrolled in this course' using errcode = 'LM403', detail = 'not_enrolled';
  end if;
  perform internal.require_item_unlocked(v_assignment.course_id, v_assignment.module_id);
  v_assignment := internal.effective_assignment(v_user_id, v_assignment);  -- the learner's due date and penalty
  if nullif(btrim(submission_submit.content), '') is null and submission_submit.file_id is null then
    raise exception 'a submission needs content or a file' using errcode = 'LM422', detail = 'empty_submission';
  end if;
  if submission_submit.file_id is not null and not exists (
       select from app.files f where f.id = submission_submit.file_id and f.uploaded_by = v_user_id
                                  and f.assignment_id = v_assignment.id) then
    raise exception 'file not found' using errcode = 'LM404', detail = 'not_found', hint = 'file_id';
  end if;
  v_late := v_assignment.due_date is not null and now() > v_assignment.due_date;
  if v_late and not v_assignment.allow_late_submission then
    raise exception 'the due date has passed' using errcode = 'LM422', detail = 'deadline_passed';
  end if;
  if v_assignment.module_id is not null then  -- module.completed, once: the learner's calls serialise here
    perform from app.enrollments e where e.user_id = v_user_id and e.course_id = v_assignment.course_id for update;
    v_module_was := internal.module_completed(v_user_id, v_assignment.course_id, v_assignment.module_id);
  end if;
  insert into app.submissions as s (assignment_id, user_id, content, file_id, submitted_at, is_late)
  values (v_assignment.id, v_user_id, submission_submit.content, submission_submit.file_id, now(), v_late)
  on conflict on constraint uq_submissions_assignment_id_user_id do update
    set content = excluded.content, file_id = excluded.file_id, submitted_at = excluded.submitted_at,
        is_late = excluded.is_late
    where s.grade is null
  returning s.* into v_submission;
  if v_submission.id is null then
    raise exception 'this submission was already graded' using errcode = 'LM409', detail = 'already_graded';
  end if;
  perform internal.note_module_completion(v_user_id, v_assignment.course_id, v_assignment.module_id,
                                          coalesce(v_module_was, true));
  return internal.hide_grade(internal.submission_json(v_submission, v_assignment.late_penalty_percentage),
                             internal.grade_hidden(v_assignment.grade_posting, v_assignment.grades_posted_at));
end
$$;
comment on function api.submission_submit(uuid, text, uuid) is
$$Submit (or, before grading, replace) own work for an assignment (actively enrolled student) → submission.
After grading: 409 already_graded. After due_date: 422 deadline_passed unless late work is allowed; then
is_late = true and the effective grade is reduced by late_penalty_percentage.
SECURITY DEFINER: students may not write submissions directly (is_late and grades cannot be forged).
@result submission
@param content maxLength=500000$$;

create or replace function api.submission_grade(submission_id uuid, grade numeric default null, feedback text default null,
                                                rubric jsonb default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_user_id    uuid := internal.require_user();
  v_old        app.submissions;
  v_new        app.submissions;
  v_assignment app.assignments;
  v_grade      numeric := submission_grade.grade;
begin
  select s.* into v_old from app.submissions s where s.id = submission_grade.submission_id for update;
  if v_old.id is null then
    raise exception 'submission not found' using errcode = 'LM404', detail = 'not_found', hint = 'submission_id';
  end if;
  select a.* into v_assignment from app.assignments a where a.id = v_old.assignment_id;
  perform internal.require_course_manager(v_assignment.course_id);
  -- Also an instructor enrolled in their own course (ck_submissions_not_self_graded holds it for every path).
  if v_old.user_id = v_user_id then
    raise exception 'nobody grades their own submission' using errcode = 'LM403', detail = 'forbidden',
      hint = 'submission_id';
  end if;
  if submission_grade.grade is not null and submission_grade.rubric is not null then
    raise exception 'give grade or rubric, not both' using errcode = 'LM422', detail = 'invalid_argument', hint = 'rubric';
  end if;
  -- With a rubric the grade is the sum of the chosen levels, computed in the database.
  if submission_grade.rubric is not null or v_old.rubric_id is not null then
    v_grade := coalesce(internal.apply_rubric(v_old, v_assignment, submission_grade.rubric), v_grade);
  end if;
  if v_grade is null or v_grade < 0 or v_grade > v_assignment.points then
    raise exception 'grade must be between 0 and %', v_assignment.points
      using errcode = 'LM422', detail = 'invalid_grade', hint = 'grade';
  end if;
  update app.submissions s
  set grade = v_grade, feedback = coalesce(submission_grade.feedback, s.feedback),
      graded_at = now(), graded_by = v_user_id
  where s.id = v_old.id
  returning s.* into v_new;
  perform internal.audit(case when v_old.grade is null then 'submission.graded' else 'submission.regraded' end,
                         'submission', v_new.id,
                         jsonb_build_object('old_grade', v_old.grade, 'new_grade', v_new.grade,
                                            'old_feedback', v_old.feedback, 'new_feedback', v_new.feedback));
  return internal.submission_json(v_new, v_assignment.late_penalty_percentage);
end
$$;
comment on function api.submission_grade(uuid, numeric, text, jsonb) is
$$Grade a submission 0..points (instructor of the course, admin; else 422 invalid_grade) — with a number
(grade), or with the assignment's rubric: rubric {criterion_id: level_id}, one level for every criterion,
and the grade is the sum of their points (computed in the database; a level of another criterion or rubric,
or a criterion left out: 422 invalid_rubric, data.field rubric.<criterion_id>). Give one of the two.
Regrading is allowed and audited ('submission.regraded' with old and new grade).
Nobody grades their own submission, not even an instructor or admin enrolled in the course: 403 forbidden.
@result submission
@param grade maximum=999999.99
@param feedback maxLength=10000$$;

create or replace function api.submission_list_for_assignment(assignment_id uuid, "limit" integer default 50, "offset" integer default 0)
returns jsonb
language plpgsql
stable cost 1000  -- reads across a whole course (or the site): never in a shared pipeline (rpc/db/calls.py)
as $$
declare
  v_assignment app.assignments;
begin
  perform internal.require_user();
  perform internal.check_page(submission_list_for_assignment."limit", submission_list_for_assignment."offset", 500);
  select a.* into v_assignment from app.assignments a where a.id = submission_list_for_assignment.assignment_id;
  if v_assignment.id is null then
    raise exception 'assignment not found' using errcode = 'LM404', detail = 'not_found', hint = 'assignment_id';
  end if;
  perform internal.require_course_manager(v_assignment.course_id);
  -- One statement, the page by ix_submissions_assignment_id_submitted_at; submission_json is plain
  -- SQL over the row (inlined), so nothing is re-checked per row.
  return (select coalesce(jsonb_agg(internal.submission_json(x.s, v_assignment.late_penalty_percentage)
                                    order by (x.s).submitted_at, (x.s).id), '[]')
          from (select s0 as s from app.submissions s0 where s0.assignment_id = v_assignment.id
                order by s0.submitted_at, s0.id
                limit coalesce(submission_list_for_assignment."limit", 50) offset coalesce(submission_list_for_assignment."offset", 0)) x);
end
$$;
comment on function api.submission_list_for_assignment(uuid, integer, integer) is 'The submissions for an assignment (instructor of the course, admin), one page.
@result submission[]
@param limit minimum=1 maximum=500
@param offset minimum=0
Oldest first (submitted_at, then id). limit: default 50, at most 500; offset: default 0.';

create or replace function api.submission_get_mine(assignment_id uuid)
returns jsonb
language plpgsql
stable
as $$
declare
  v_user_id    uuid := internal.require_user();
  v_assignment app.assignments;
  v_submission app.submissions;
begin
  select a.* into v_assignment from app.assignments a where a.id = submission_get_mine.assignment_id;
  if v_assignment.id is null then
    raise exception 'assignment not found' using errcode = 'LM404', detail = 'not_found', hint = 'assignment_id';
  end if;
  select s.* into v_submission from app.submissions s
  where s.assignment_id = v_assignment.id and s.user_id = v_user_id;
  if v_submission.id is null then
    raise exception 'you have not submitted this assignment' using errcode = 'LM404', detail = 'not_found';
  end if;
  return internal.hide_grade(internal.submission_json(v_submission, v_assignment.late_penalty_percentage),
                             internal.grade_hidden(v_assignment.grade_posting, v_assignment.grades_posted_at));
end
$$;
comment on function api.submission_get_mine(uuid) is 'The caller''s submission for an assignment (404 when none).
@result submission';

-- ---------------------------------------------------------------------------------------
-- grade <= assignment points, whoever writes (constraint triggers on both tables)
-- ---------------------------------------------------------------------------------------
create or replace function internal.tg_submissions__grade_within_points()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_points integer;
begin
  -- FOR SHARE waits for a concurrent change of the assignment's points and then reads the new
  -- value, so a grade and a lowered points value committed at the same time cannot both pass.
  select a.points into v_points from app.assignments a where a.id = new.assignment_id for share;
  if new.grade > v_points then
    raise exception 'grade must be between 0 and %', v_points
      using errcode = 'LM422', detail = 'invalid_grade', hint = 'grade';
  end if;
  return null;
end
$$;
comment on function internal.tg_submissions__grade_within_points() is
  'AFTER INSERT/UPDATE OF grade on app.submissions: grade ≤ the assignment''s points, else LM422 invalid_grade. SECURITY DEFINER: reads the assignment whatever RLS shows the writer.';

drop trigger if exists _010_grade_within_points on app.submissions;
create constraint trigger _010_grade_within_points after insert or update of grade, assignment_id on app.submissions
  for each row when (new.grade is not null) execute function internal.tg_submissions__grade_within_points();

create or replace function internal.tg_assignments__points_cover_grades()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_max numeric;
begin
  select max(s.grade) into v_max from app.submissions s where s.assignment_id = new.id;
  if v_max > new.points then
    raise exception 'points cannot be lower than a grade already given (highest grade: %)', v_max
      using errcode = 'LM422', detail = 'points_below_grade', hint = 'points';
  end if;
  return null;
end
$$;
comment on function internal.tg_assignments__points_cover_grades() is
  'AFTER UPDATE OF points on app.assignments: points may not drop below a grade already given, else LM422 points_below_grade. SECURITY DEFINER: sees every submission of the assignment.';

drop trigger if exists _010_points_cover_grades on app.assignments;
create constraint trigger _010_points_cover_grades after update of points on app.assignments
  for each row when (new.points < old.points) execute function internal.tg_assignments__points_cover_grades();
