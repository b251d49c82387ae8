/*
 * Assessment — JSON of quizzes, questions, attempts, assignments and submissions, and the
 * 'manages this course' guards used by the writers.
 */

-- ---------------------------------------------------------------------------------------
-- JSON shapes
-- ---------------------------------------------------------------------------------------
create or replace function internal.quiz_json(p_quiz app.quizzes)
returns jsonb
language sql
stable
as $$
  select jsonb_build_object(
    'id', p_quiz.id, 'quiz_id', p_quiz.id, 'course_id', p_quiz.course_id, 'lesson_id', p_quiz.lesson_id,
    'title', p_quiz.title, 'description', p_quiz.description,
    'time_limit_minutes', p_quiz.time_limit_minutes,
    'passing_score_percentage', p_quiz.passing_score_percentage,
    'max_attempts', p_quiz.max_attempts, 'is_published', p_quiz.is_published,
    'created_at', p_quiz.created_at, 'updated_at', p_quiz.updated_at,
    'module_id', p_quiz.module_id, 'module_position', p_quiz.module_position,
    'shuffle_questions', p_quiz.shuffle_questions, 'shuffle_options', p_quiz.shuffle_options,
    'partial_credit', p_quiz.partial_credit, 'grade_category_id', p_quiz.grade_category_id,
    'grade_posting', p_quiz.grade_posting, 'grades_posted_at', p_quiz.grades_posted_at)
$$;
comment on function internal.quiz_json(app.quizzes) is
$$A quiz's settings as every quiz.* method returns them (no questions).
@shape quiz {id: uuid, quiz_id: uuid, course_id: uuid, lesson_id: uuid?, title: text, description: text?,
  time_limit_minutes: int?, passing_score_percentage: int, max_attempts: int?, is_published: bool,
  created_at: timestamptz, updated_at: timestamptz, module_id: uuid?, module_position: int?,
  shuffle_questions: bool, shuffle_options: bool, partial_credit: bool, grade_category_id: uuid?,
  grade_posting: text, grades_posted_at: timestamptz?}$$;

create or replace function internal.quiz_questions_public(p_quiz_id uuid)
returns jsonb
language sql
stable
as $$
  select coalesce(jsonb_agg(jsonb_build_object(
           'id', q.id, 'question_id', q.id, 'quiz_id', q.quiz_id, 'question_text', q.question_text,
           'question_type', q.question_type, 'options', q.options, 'points', q.points,
           'question_order', q.question_order) order by q.question_order), '[]')
  from app.questions q
  where q.quiz_id = p_quiz_id
$$;
comment on function internal.quiz_questions_public(uuid) is
  'Questions of a quiz without correct_answer, in order, as the caller may see them (RLS applies).
@shape question_public {id: uuid, question_id: uuid, quiz_id: uuid, question_text: text, question_type: text,
  options: text[]?, points: int, question_order: int}';

create or replace function internal.quiz_questions(p_quiz_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_course_id uuid := (select z.course_id from app.quizzes z where z.id = p_quiz_id);
begin
  if v_course_id is null or not internal.can_manage_course(v_course_id) then
    raise exception 'quiz not found' using errcode = 'LM404', detail = 'not_found', hint = 'quiz_id';
  end if;
  return (select coalesce(jsonb_agg(internal.question_json(q) order by q.question_order), '[]')
          from app.questions q where q.quiz_id = p_quiz_id);
end
$$;
comment on function internal.quiz_questions(uuid) is
  'Questions of a quiz WITH correct_answer (the question shape, internal.question_json), for the course''s instructor or an admin only (else LM404). SECURITY DEFINER because no client role may select correct_answer.';

create or replace function internal.attempt_json(p_attempt app.quiz_attempts)
returns jsonb
language sql
stable
as $$
  select jsonb_build_object(
    'id', p_attempt.id, 'attempt_id', p_attempt.id, 'quiz_id', p_attempt.quiz_id, 'user_id', p_attempt.user_id,
    'attempt_number', p_attempt.attempt_number, 'status', p_attempt.status,
    'started_at', p_attempt.started_at, 'deadline', p_attempt.deadline_at,
    'submitted_at', p_attempt.submitted_at, 'score', p_attempt.score, 'passed', p_attempt.passed,
    'points_earned', trim_scale(p_attempt.points_earned), 'points_total', p_attempt.points_total,
    'answers', p_attempt.answers)
$$;
comment on function internal.attempt_json(app.quiz_attempts) is
  'An attempt as students may see it: totals and the given answers, never the per-question grading.
Totals, score, passed, submitted_at and answers are null while the attempt is in progress (score and passed also while needs_grading: an essay waits for a person); answers maps question ids to the given answer (text, an array of options, or null).
@shape attempt {id: uuid, attempt_id: uuid, quiz_id: uuid, user_id: uuid, attempt_number: int, status: text,
  started_at: timestamptz, deadline: timestamptz?, submitted_at: timestamptz?, score: int?, passed: bool?,
  points_earned: number?, points_total: int?, answers: object?, grade_posted?: bool}';

create or replace function internal.assignment_json(p_assignment app.assignments)
returns jsonb
language sql
stable
as $$
  select jsonb_build_object(
    'id', p_assignment.id, 'assignment_id', p_assignment.id, 'course_id', p_assignment.course_id,
    'lesson_id', p_assignment.lesson_id, 'title', p_assignment.title, 'description', p_assignment.description,
    'due_date', p_assignment.due_date, 'points', p_assignment.points,
    'allow_late_submission', p_assignment.allow_late_submission,
    'late_penalty_percentage', p_assignment.late_penalty_percentage,
    'created_at', p_assignment.created_at, 'updated_at', p_assignment.updated_at,
    'module_id', p_assignment.module_id, 'module_position', p_assignment.module_position,
    'grade_category_id', p_assignment.grade_category_id, 'grade_posting', p_assignment.grade_posting,
    'grades_posted_at', p_assignment.grades_posted_at)
$$;
comment on function internal.assignment_json(app.assignments) is
$$An assignment as every assignment.* method returns it.
@shape assignment {id: uuid, assignment_id: uuid, course_id: uuid, lesson_id: uuid?, title: text, description: text?,
  due_date: timestamptz?, points: int, allow_late_submission: bool, late_penalty_percentage: int,
  created_at: timestamptz, updated_at: timestamptz, module_id: uuid?, module_position: int?,
  grade_category_id: uuid?, grade_posting: text, grades_posted_at: timestamptz?}$$;

create or replace function internal.submission_rubric_json(p_submission_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if not exists (select from app.submissions s join app.assignments a on a.id = s.assignment_id
                 where s.id = p_submission_id
                   and (s.user_id = app.current_user_id() or internal.can_manage_course(a.course_id))) then
    return null;
  end if;
  return (select jsonb_agg(jsonb_build_object('criterion_id', c.id, 'title', c.title, 'level_id', l.id,
                                              'label', l.label, 'points', trim_scale(x.points)) order by c.position)
          from app.submission_rubric_levels x
          join app.rubric_criteria c on c.id = x.criterion_id
          join app.rubric_levels l on l.id = x.level_id
          where x.submission_id = p_submission_id);
end
$$;
comment on function internal.submission_rubric_json(uuid) is
  'The rubric levels chosen for a submission, by criterion in order (null: graded without a rubric) — for its learner and the course''s managers only. SECURITY DEFINER: reads the rubric tables after that check.';

create or replace function internal.submission_json(p_submission app.submissions, p_late_penalty_percentage integer)
returns jsonb
language sql
stable
as $$
  select jsonb_build_object(
    'id', p_submission.id, 'submission_id', p_submission.id, 'assignment_id', p_submission.assignment_id,
    'user_id', p_submission.user_id, 'content', p_submission.content, 'file_id', p_submission.file_id,
    'submitted_at', p_submission.submitted_at, 'is_late', p_submission.is_late,
    'grade', p_submission.grade, 'feedback', p_submission.feedback, 'graded_at', p_submission.graded_at,
    'graded_by', p_submission.graded_by,
    'effective_grade', internal.effective_grade(p_submission.grade, p_submission.is_late,
      internal.effective_late_penalty(p_submission.user_id, p_submission.assignment_id, p_late_penalty_percentage)),
    'rubric', case when p_submission.rubric_id is not null then internal.submission_rubric_json(p_submission.id) end)
$$;
comment on function internal.submission_json(app.submissions, integer) is
$$A submission with its raw grade and the effective grade (the learner's late penalty applied: none when
their override waives it); grade, feedback,
graded_at, graded_by and effective_grade are null until it is graded.
@shape submission {id: uuid, submission_id: uuid, assignment_id: uuid, user_id: uuid, content: text?, file_id: uuid?,
  submitted_at: timestamptz, is_late: bool, grade: number?, feedback: text?, graded_at: timestamptz?,
  graded_by: uuid?, effective_grade: number?, grade_posted?: bool,
  rubric: {criterion_id: uuid, title: text, level_id: uuid, label: text, points: number}[]?}$$;

-- ---------------------------------------------------------------------------------------
-- Quizzes (instructor writes: SECURITY INVOKER under RLS)
-- ---------------------------------------------------------------------------------------
create or replace function internal.require_course_manager(p_course_id uuid)
returns void
language plpgsql
stable
as $$
begin
  perform internal.require_user();
  -- can_see_course, not a read of app.courses: this also runs inside SECURITY DEFINER functions
  -- (gradebook.course), where RLS does not hide invisible courses.
  if not internal.can_see_course(p_course_id) then
    raise exception 'course not found' using errcode = 'LM404', detail = 'not_found', hint = 'course_id';
  end if;
  if not internal.can_manage_course(p_course_id) then
    raise exception 'only the course''s instructor or an admin may do this'
      using errcode = 'LM403', detail = 'not_course_owner';
  end if;
end
$$;
comment on function internal.require_course_manager(uuid) is
  'Raises LM401 (anonymous), LM404 (course not visible) or LM403 not_course_owner unless the caller manages the course.';

create or replace function internal.managed_row(p_row anyelement, p_id uuid, p_noun text, p_lock boolean default false)
returns anyelement
language plpgsql
volatile
as $$
-- @plpgsql_check_options: anyelementtype = app.quizzes
declare
  v_table  regclass := (select t.typrelid::regclass from pg_catalog.pg_type t where t.oid = pg_typeof(p_row));
  v_plural text := (select c.relname::text from pg_catalog.pg_class c where c.oid = v_table);
  v_row    alias for $0;  -- the result: a row of p_row's type
begin
  perform internal.require_user();
  -- Look first, lock after the check: FOR UPDATE also applies the update policy, which would make a
  -- row the caller can see (an enrolled student) look missing (404 instead of 403).
  execute format('select r.* from %s r where r.id = $1', v_table) into v_row using p_id;
  if v_row.id is null then
    raise exception '% not found', p_noun using errcode = 'LM404', detail = 'not_found', hint = p_noun || '_id';
  end if;
  if not internal.can_manage_course(v_row.course_id) then
    raise exception 'only the course''s instructor or an admin may change its %', v_plural
      using errcode = 'LM403', detail = 'not_course_owner';
  end if;
  if p_lock then
    execute format('select r.* from %s r where r.id = $1 for update', v_table) into v_row using p_id;
    if v_row.id is null then
      raise exception '% not found', p_noun using errcode = 'LM404', detail = 'not_found', hint = p_noun || '_id';
    end if;
  end if;
  return v_row;
end
$$;
comment on function internal.managed_row(anyelement, uuid, text, boolean) is
$$The row p_id of the course-owned table whose row type p_row names (null::app.quizzes, null::app.assignments:
any app table with id and course_id), optionally locked FOR UPDATE, if the caller manages its course:
the "look, check, lock" every instructor write starts with. LM401 for anonymous callers; LM404 "<p_noun>
not found" (hint <p_noun>_id) if invisible or gone; LM403 not_course_owner if visible but not theirs.
SECURITY INVOKER: what the caller sees is what RLS shows them.$$;

create or replace function internal.managed_quiz(p_quiz_id uuid, p_lock boolean default false)
returns app.quizzes
language sql
volatile
as $$
  select internal.managed_row(null::app.quizzes, p_quiz_id, 'quiz', p_lock)
$$;
comment on function internal.managed_quiz(uuid, boolean) is
  'The quiz (optionally locked FOR UPDATE) if the caller manages its course; LM404 if invisible, LM403 if visible but not theirs (internal.managed_row).';
