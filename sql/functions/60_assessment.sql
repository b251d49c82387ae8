/*
 * Assessment: quizzes and their questions, quiz attempts with grading in the database,
 * assignments, submissions and the gradebook.
 *
 * Shape and why:
 * - app.questions.correct_answer is never granted to lms_api or lms_analyst (column
 *   privileges). Whatever needs it runs in a few SECURITY DEFINER functions that check the
 *   caller: internal.quiz_questions (instructors/admins), api.attempt_submit (grading).
 * - Students never write attempts, counters or submissions directly: attempt.start,
 *   attempt.submit and submission.submit are SECURITY DEFINER and check the caller, so a
 *   score, a deadline or is_late cannot be forged with direct SQL. Instructors' writes
 *   (quizzes, questions, assignments, grades) are SECURITY INVOKER under RLS.
 * - The attempt limit is enforced by locking the caller's app.quiz_attempt_counters row
 *   (insert … on conflict do update), which serialises concurrent attempt.start calls of one
 *   student for one quiz; a unique index cannot do it on the partitioned attempts table.
 * - An attempt stores what it was graded against (grading: per question the answer, whether it
 *   was correct, points earned and worth; points_total), so later quiz edits never change
 *   recorded scores. grading is readable by no client role (column privileges): per-question
 *   correctness would tell a student the right answers. Students get their given answers
 *   (answers) and the totals; the course's instructor/admins get grading through
 *   internal.quiz_attempts_graded (SECURITY DEFINER, checks the caller).
 * - Grading iterates the quiz's questions (one row each); an answer key spelled differently
 *   (upper case, no dashes) but naming the same question is refused, never counted twice.
 * - A submission's grade never exceeds its assignment's points: constraint triggers on both
 *   tables, so direct SQL and a later assignment.update obey it too.
 */

-- Shared helpers used here and owned by other domains: internal.can_manage_course(uuid),
-- internal.my_course_ids(), internal.my_enrolled_course_ids(), internal.is_actively_enrolled(uuid, uuid)
-- (sql/functions/20_catalog.sql) and internal.refresh_progress(uuid, uuid) (50_learning.sql).

-- ---------------------------------------------------------------------------------------
-- Pure helpers
-- ---------------------------------------------------------------------------------------
create or replace function internal.normalize_answer(p_answer text)
returns text
language sql
immutable
parallel safe
as $$
  select lower(btrim(regexp_replace(p_answer, '\s+', ' ', 'g')))
$$;
comment on function internal.normalize_answer(text) is
  'Short answers are compared after trimming, collapsing runs of white space to one space and lower-casing.';

create or replace function internal.score_percentage(p_earned integer, p_total integer)
returns integer
language sql
immutable
parallel safe
as $$
  select case when coalesce(p_total, 0) <= 0 then 0
              else floor(p_earned * 100.0 / p_total + 0.5)::integer end
$$;
comment on function internal.score_percentage(integer, integer) is
  'Score 0..100: earned ÷ total as a percentage, rounded half up (2 of 3 → 67, 1 of 8 → 13).';

create or replace function internal.effective_grade(p_grade numeric, p_is_late boolean, p_late_penalty_percentage integer)
returns numeric
language sql
immutable
parallel safe
as $$
  select case when p_grade is null then null
              when p_is_late then round(p_grade * (100 - coalesce(p_late_penalty_percentage, 0)) / 100.0, 2)
              else p_grade end
$$;
comment on function internal.effective_grade(numeric, boolean, integer) is
  'Grade that counts: a late submission''s grade × (100 − late penalty) / 100, to 2 decimals.';

create or replace function internal.attempt_grace()
returns interval
language sql
immutable
as $$ select interval '30 seconds' $$;
comment on function internal.attempt_grace() is 'Grace period after an attempt''s deadline during which a submit is still graded.';

-- ---------------------------------------------------------------------------------------
-- Question validation (a trigger, so direct writes obey it too)
-- ---------------------------------------------------------------------------------------
create or replace function internal.tg_questions__validate()
returns trigger
language plpgsql
as $$
begin
  if new.question_type = 'multiple_choice' then
    if new.options is null or jsonb_typeof(new.options) <> 'array' then
      raise exception 'a multiple-choice question needs an array of options'
        using errcode = 'LM422', detail = 'invalid_options', hint = 'options';
    end if;
    if exists (select from jsonb_array_elements(new.options) o(v) where jsonb_typeof(o.v) <> 'string')
       or exists (select from jsonb_array_elements_text(new.options) o(v) where btrim(o.v) = '') then
      raise exception 'options must be non-empty strings' using errcode = 'LM422', detail = 'invalid_options', hint = 'options';
    end if;
    if (select count(distinct o.v) from jsonb_array_elements_text(new.options) o(v)) < 2
       or (select count(distinct o.v) from jsonb_array_elements_text(new.options) o(v)) <> jsonb_array_length(new.options) then
      raise exception 'a multiple-choice question needs at least two distinct options'
        using errcode = 'LM422', detail = 'invalid_options', hint = 'options';
    end if;
    if not new.options ? new.correct_answer then
      raise exception 'the correct answer must be one of the options'
        using errcode = 'LM422', detail = 'invalid_correct_answer', hint = 'correct_answer';
    end if;
  elsif new.question_type = 'true_false' then
    if new.correct_answer not in ('true', 'false') then
      raise exception 'a true/false question''s correct answer is "true" or "false"'
        using errcode = 'LM422', detail = 'invalid_correct_answer', hint = 'correct_answer';
    end if;
    if new.options is not null then
      raise exception 'only multiple-choice questions have options' using errcode = 'LM422', detail = 'invalid_options', hint = 'options';
    end if;
  elsif new.question_type = 'short_answer' then
    if new.options is not null then
      raise exception 'only multiple-choice questions have options' using errcode = 'LM422', detail = 'invalid_options', hint = 'options';
    end if;
    if internal.normalize_answer(new.correct_answer) = '' then
      raise exception 'the correct answer must not be blank' using errcode = 'LM422', detail = 'invalid_correct_answer', hint = 'correct_answer';
    end if;
  else
    raise exception 'question_type must be multiple_choice, true_false or short_answer'
      using errcode = 'LM422', detail = 'invalid_question_type', hint = 'question_type';
  end if;
  if new.points is null or new.points < 1 then
    raise exception 'points must be at least 1' using errcode = 'LM422', detail = 'invalid_points', hint = 'points';
  end if;
  return new;
end
$$;
comment on function internal.tg_questions__validate() is
  'BEFORE INSERT/UPDATE on app.questions: options are ≥ 2 distinct non-blank strings containing correct_answer (multiple choice), "true"/"false" (true/false); raises LM422.';

drop trigger if exists _010_validate on app.questions;
create trigger _010_validate before insert or update on app.questions
  for each row execute function internal.tg_questions__validate();

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
    'created_at', p_quiz.created_at, 'updated_at', p_quiz.updated_at)
$$;

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
  'Questions of a quiz without correct_answer, in order, as the caller may see them (RLS applies).';

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
  return (
    select coalesce(jsonb_agg(jsonb_build_object(
             'id', q.id, 'question_id', q.id, 'quiz_id', q.quiz_id, 'question_text', q.question_text,
             'question_type', q.question_type, 'options', q.options, 'correct_answer', q.correct_answer,
             'points', q.points, 'question_order', q.question_order,
             'created_at', q.created_at, 'updated_at', q.updated_at) order by q.question_order), '[]')
    from app.questions q where q.quiz_id = p_quiz_id);
end
$$;
comment on function internal.quiz_questions(uuid) is
  'Questions of a quiz WITH correct_answer, for the course''s instructor or an admin only (else LM404). SECURITY DEFINER because no client role may select correct_answer.';

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
    'points_earned', p_attempt.points_earned, 'points_total', p_attempt.points_total,
    'answers', p_attempt.answers)
$$;
comment on function internal.attempt_json(app.quiz_attempts) is
  'An attempt as students may see it: totals and the given answers, never the per-question grading.';

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
    'created_at', p_assignment.created_at, 'updated_at', p_assignment.updated_at)
$$;

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
    'effective_grade', internal.effective_grade(p_submission.grade, p_submission.is_late, p_late_penalty_percentage))
$$;

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

create or replace function internal.managed_quiz(p_quiz_id uuid, p_lock boolean default false)
returns app.quizzes
language plpgsql
volatile
as $$
declare
  v_quiz app.quizzes;
begin
  perform internal.require_user();
  -- Look first, lock after the check: FOR UPDATE also applies the update policy, which would make a
  -- quiz the caller can see (an enrolled student) look missing (404 instead of 403).
  select z.* into v_quiz from app.quizzes z where z.id = p_quiz_id;
  if v_quiz.id is null then
    raise exception 'quiz not found' using errcode = 'LM404', detail = 'not_found', hint = 'quiz_id';
  end if;
  if not internal.can_manage_course(v_quiz.course_id) then
    raise exception 'only the course''s instructor or an admin may change its quizzes'
      using errcode = 'LM403', detail = 'not_course_owner';
  end if;
  if p_lock then
    select z.* into v_quiz from app.quizzes z where z.id = p_quiz_id for update;
    if v_quiz.id is null then
      raise exception 'quiz not found' using errcode = 'LM404', detail = 'not_found', hint = 'quiz_id';
    end if;
  end if;
  return v_quiz;
end
$$;
comment on function internal.managed_quiz(uuid, boolean) is
  'The quiz (optionally locked FOR UPDATE) if the caller manages its course; LM404 if invisible, LM403 if visible but not theirs.';

create or replace function api.quiz_create(
  course_id uuid, title text, description text default null, lesson_id uuid default null,
  time_limit_minutes integer default null, passing_score_percentage integer default null,
  max_attempts integer default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_quiz app.quizzes;
begin
  perform internal.require_course_manager(quiz_create.course_id);
  insert into app.quizzes as z (course_id, lesson_id, title, description, time_limit_minutes,
                                passing_score_percentage, max_attempts)
  values (quiz_create.course_id, quiz_create.lesson_id, btrim(quiz_create.title), nullif(quiz_create.description, ''),
          quiz_create.time_limit_minutes, coalesce(quiz_create.passing_score_percentage, 70),
          coalesce(quiz_create.max_attempts, 3))
  returning z.* into v_quiz;
  return internal.quiz_json(v_quiz);
exception
  when foreign_key_violation then
    raise exception 'the lesson does not belong to this course'
      using errcode = 'LM422', detail = 'lesson_not_in_course', hint = 'lesson_id';
end
$$;
comment on function api.quiz_create(uuid, text, text, uuid, integer, integer, integer) is
$$Create a draft quiz in a course (its instructor or an admin).
lesson_id, if given, must be a lesson of the same course (422 lesson_not_in_course).
Defaults: passing_score_percentage 70, max_attempts 3, no time limit.
@param title minLength=1 maxLength=200
@param time_limit_minutes minimum=1
@param passing_score_percentage minimum=0 maximum=100
@param max_attempts minimum=1$$;

create or replace function api.quiz_update(
  quiz_id uuid, title text default null, description text default null, lesson_id uuid default null,
  time_limit_minutes integer default null, passing_score_percentage integer default null,
  max_attempts integer default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_quiz app.quizzes := internal.managed_quiz(quiz_update.quiz_id, true);
begin
  -- API.md "Updates": omitted → unchanged, explicit null → cleared (nullable fields, internal.given).
  update app.quizzes z set
    title = coalesce(btrim(quiz_update.title), z.title),
    description = case when internal.given('description', quiz_update.description)
                       then nullif(quiz_update.description, '') else z.description end,
    lesson_id = case when internal.given('lesson_id', quiz_update.lesson_id)
                     then quiz_update.lesson_id else z.lesson_id end,
    time_limit_minutes = case when internal.given('time_limit_minutes', quiz_update.time_limit_minutes)
                              then quiz_update.time_limit_minutes else z.time_limit_minutes end,
    passing_score_percentage = coalesce(quiz_update.passing_score_percentage, z.passing_score_percentage),
    max_attempts = case when internal.given('max_attempts', quiz_update.max_attempts)
                        then quiz_update.max_attempts else z.max_attempts end
  where z.id = v_quiz.id
  returning z.* into v_quiz;
  return internal.quiz_json(v_quiz);
exception
  when foreign_key_violation then
    raise exception 'the lesson does not belong to this course'
      using errcode = 'LM422', detail = 'lesson_not_in_course', hint = 'lesson_id';
end
$$;
comment on function api.quiz_update(uuid, text, text, uuid, integer, integer, integer) is
$$Change a quiz's settings (instructor of the course, admin). Omitted fields stay as they are; an
explicit null clears description (a blank one is stored as null too), lesson_id (detached from its
lesson), time_limit_minutes (no time limit) or max_attempts (unlimited attempts). title and
passing_score_percentage cannot be null. Open attempts keep the deadline they started with.
Recorded attempts keep their scores: they store what they were graded against.
@patch
@param title minLength=1 maxLength=200
@param description nullable
@param lesson_id nullable
@param time_limit_minutes nullable minimum=1
@param passing_score_percentage minimum=0 maximum=100
@param max_attempts nullable minimum=1$$;

create or replace function api.quiz_publish(quiz_id uuid)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_quiz app.quizzes := internal.managed_quiz(quiz_publish.quiz_id, true);
begin
  if not exists (select from app.questions q where q.quiz_id = v_quiz.id) then
    raise exception 'a quiz needs at least one question to be published'
      using errcode = 'LM422', detail = 'quiz_has_no_questions';
  end if;
  update app.quizzes z set is_published = true where z.id = v_quiz.id returning z.* into v_quiz;
  return internal.quiz_json(v_quiz);
end
$$;
comment on function api.quiz_publish(uuid) is
  'Publish a quiz so enrolled students can take it (needs ≥ 1 question: 422 quiz_has_no_questions).';

create or replace function api.quiz_unpublish(quiz_id uuid)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_quiz app.quizzes := internal.managed_quiz(quiz_unpublish.quiz_id, true);
begin
  update app.quizzes z set is_published = false where z.id = v_quiz.id returning z.* into v_quiz;
  return internal.quiz_json(v_quiz);
end
$$;
comment on function api.quiz_unpublish(uuid) is 'Hide a quiz from students again; recorded attempts stay.';

create or replace function api.quiz_add_question(
  quiz_id uuid, question_text text, question_type text, correct_answer text,
  options jsonb default null, points integer default 1, question_order integer default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_quiz  app.quizzes := internal.managed_quiz(quiz_add_question.quiz_id, true);
  v_count integer := (select count(*) from app.questions q where q.quiz_id = v_quiz.id);
  v_order integer := least(coalesce(quiz_add_question.question_order, v_count + 1), v_count + 1);
  v_id    uuid;
begin
  if v_order < 1 then
    raise exception 'question_order must be at least 1' using errcode = 'LM422', detail = 'invalid_order', hint = 'question_order';
  end if;
  -- Make room at v_order (deferrable unique: checked at the end of the statement).
  update app.questions q set question_order = q.question_order + 1
  where q.quiz_id = v_quiz.id and q.question_order >= v_order;
  insert into app.questions as q (quiz_id, question_text, question_type, options, correct_answer, points, question_order)
  values (v_quiz.id, btrim(quiz_add_question.question_text), quiz_add_question.question_type,
          quiz_add_question.options,
          case when quiz_add_question.question_type = 'true_false'
               then lower(btrim(quiz_add_question.correct_answer)) else quiz_add_question.correct_answer end,
          coalesce(quiz_add_question.points, 1), v_order)
  returning q.id into v_id;
  return (select e from jsonb_array_elements(internal.quiz_questions(v_quiz.id)) e where e ->> 'id' = v_id::text);
end
$$;
comment on function api.quiz_add_question(uuid, text, text, text, jsonb, integer, integer) is
$$Add a question to a quiz (instructor of the course, admin) → the question with correct_answer.
question_type: multiple_choice (options: ≥ 2 distinct strings, correct_answer one of them), true_false
(correct_answer "true"/"false") or short_answer (compared case-insensitively after trimming and collapsing
white space). points ≥ 1 (default 1). question_order: position 1..n+1; omitted = appended; later
questions move down. Invalid questions: 422 invalid_options / invalid_correct_answer / invalid_points.
@param question_text minLength=1 maxLength=5000
@param points minimum=1
@param question_order minimum=1
@param question_type maxLength=20
@param correct_answer maxLength=5000$$;

create or replace function api.quiz_update_question(
  question_id uuid, question_text text default null, question_type text default null,
  options jsonb default null, correct_answer text default null, points integer default null,
  question_order integer default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_quiz_id uuid := (select q.quiz_id from app.questions q where q.id = quiz_update_question.question_id);
  v_quiz    app.quizzes;
  v_old     integer;
  v_count   integer;
  v_new     integer;
begin
  perform internal.require_user();
  if v_quiz_id is null then
    raise exception 'question not found' using errcode = 'LM404', detail = 'not_found', hint = 'question_id';
  end if;
  v_quiz := internal.managed_quiz(v_quiz_id, true);
  select q.question_order into v_old from app.questions q where q.id = quiz_update_question.question_id;
  if quiz_update_question.question_order is not null and quiz_update_question.question_order <> v_old then
    v_count := (select count(*) from app.questions q where q.quiz_id = v_quiz.id);
    v_new := least(greatest(quiz_update_question.question_order, 1), v_count);
    update app.questions q set question_order = case
        when q.id = quiz_update_question.question_id then v_new
        when v_new < v_old then q.question_order + 1
        else q.question_order - 1 end
    where q.quiz_id = v_quiz.id
      and (q.id = quiz_update_question.question_id
           or q.question_order between least(v_old, v_new) and greatest(v_old, v_new));
  end if;
  -- correct_answer is written without being read (no client role may select it), in the same
  -- statement as the other fields so the validation trigger sees the final question.
  update app.questions q set
    question_text = coalesce(btrim(quiz_update_question.question_text), q.question_text),
    question_type = coalesce(quiz_update_question.question_type, q.question_type),
    options = case when coalesce(quiz_update_question.question_type, q.question_type) <> 'multiple_choice' then null
                   when internal.given('options', quiz_update_question.options) then quiz_update_question.options
                   else q.options end,
    points = coalesce(quiz_update_question.points, q.points)
  where q.id = quiz_update_question.question_id and quiz_update_question.correct_answer is null;
  update app.questions q set
    question_text = coalesce(btrim(quiz_update_question.question_text), q.question_text),
    question_type = coalesce(quiz_update_question.question_type, q.question_type),
    options = case when coalesce(quiz_update_question.question_type, q.question_type) <> 'multiple_choice' then null
                   when internal.given('options', quiz_update_question.options) then quiz_update_question.options
                   else q.options end,
    points = coalesce(quiz_update_question.points, q.points),
    correct_answer = case when coalesce(quiz_update_question.question_type, q.question_type) = 'true_false'
                          then lower(btrim(quiz_update_question.correct_answer))
                          else quiz_update_question.correct_answer end
  where q.id = quiz_update_question.question_id and quiz_update_question.correct_answer is not null;
  return (select e from jsonb_array_elements(internal.quiz_questions(v_quiz.id)) e
          where e ->> 'id' = quiz_update_question.question_id::text);
end
$$;
comment on function api.quiz_update_question(uuid, text, text, jsonb, text, integer, integer) is
$$Change a question (instructor of the course, admin); omitted fields stay. Same validation as
quiz.add_question; question_order moves it (others shift, order stays 1..n). Attempts already
graded keep their recorded points. Only options may be null (cleared): a question that is or becomes
true_false or short_answer has no options (they are dropped when the type changes), while a
multiple-choice question without options is 422 invalid_options.
@patch
@param options nullable
@param question_text minLength=1 maxLength=5000
@param points minimum=1
@param question_order minimum=1
@param question_type maxLength=20
@param correct_answer maxLength=5000$$;

create or replace function api.quiz_delete_question(question_id uuid)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_quiz_id uuid := (select q.quiz_id from app.questions q where q.id = quiz_delete_question.question_id);
  v_quiz    app.quizzes;
  v_order   integer;
begin
  perform internal.require_user();
  if v_quiz_id is null then
    raise exception 'question not found' using errcode = 'LM404', detail = 'not_found', hint = 'question_id';
  end if;
  v_quiz := internal.managed_quiz(v_quiz_id, true);
  if v_quiz.is_published and (select count(*) from app.questions q where q.quiz_id = v_quiz.id) <= 1 then
    raise exception 'a published quiz keeps at least one question (unpublish it first)'
      using errcode = 'LM422', detail = 'quiz_has_no_questions';
  end if;
  delete from app.questions q where q.id = quiz_delete_question.question_id returning q.question_order into v_order;
  update app.questions q set question_order = q.question_order - 1
  where q.quiz_id = v_quiz.id and q.question_order > v_order;
  return jsonb_build_object('deleted', true, 'question_id', quiz_delete_question.question_id,
                            'questions', internal.quiz_questions(v_quiz.id));
end
$$;
comment on function api.quiz_delete_question(uuid) is
  'Delete a question (instructor of the course, admin); later questions move up so the order stays 1..n. The last question of a published quiz cannot be deleted (422 quiz_has_no_questions).';

create or replace function api.quiz_get(quiz_id uuid)
returns jsonb
language plpgsql
stable
as $$
declare
  v_quiz app.quizzes;
begin
  perform internal.require_user();
  -- RLS: students see published quizzes of courses they are actively enrolled in.
  select z.* into v_quiz from app.quizzes z where z.id = quiz_get.quiz_id;
  if v_quiz.id is null then
    raise exception 'quiz not found' using errcode = 'LM404', detail = 'not_found', hint = 'quiz_id';
  end if;
  if internal.can_manage_course(v_quiz.course_id) then
    return internal.quiz_json(v_quiz) || jsonb_build_object('questions', internal.quiz_questions(v_quiz.id));
  end if;
  return internal.quiz_json(v_quiz) || jsonb_build_object('questions', internal.quiz_questions_public(v_quiz.id));
end
$$;
comment on function api.quiz_get(uuid) is
$$A quiz with its questions. Students (actively enrolled, published quizzes) never get correct_answer;
the course's instructor and admins do. Invisible quizzes: 404.$$;

create or replace function api.quiz_list(course_id uuid)
returns jsonb
language plpgsql
stable
as $$
begin
  if not internal.can_see_course(quiz_list.course_id) then
    raise exception 'course not found' using errcode = 'LM404', detail = 'not_found', hint = 'course_id';
  end if;
  return (select coalesce(jsonb_agg(internal.quiz_json(z) || jsonb_build_object(
                   'question_count', (select count(*) from app.questions q where q.quiz_id = z.id))
                 order by z.created_at, z.id), '[]')
          from app.quizzes z
          where z.course_id = quiz_list.course_id);
end
$$;
comment on function api.quiz_list(uuid) is
  'Quizzes of a course the caller may see (students: published ones of courses they are enrolled in; others of a visible course: none). A course the caller cannot see: 404.';

-- ---------------------------------------------------------------------------------------
-- Attempts (SECURITY DEFINER: students never write attempts directly)
-- ---------------------------------------------------------------------------------------
create or replace function internal.close_expired_attempt(p_attempt_id uuid, p_started_at timestamptz)
returns void
language sql
volatile
as $$
  update app.quiz_attempts a
  set status = 'expired', submitted_at = now(), score = 0, passed = false, points_earned = 0,
      points_total = (select coalesce(sum(q.points), 0)::integer from app.questions q where q.quiz_id = a.quiz_id),
      answers = '{}', grading = '{}'
  where a.id = p_attempt_id and a.started_at = p_started_at and a.status = 'in_progress'
$$;
comment on function internal.close_expired_attempt(uuid, timestamptz) is
  'Closes one unsubmitted attempt as expired with score 0. Called only from SECURITY DEFINER functions (no client role may execute it or update attempts).';

create or replace function api.attempt_start(quiz_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id uuid := internal.require_user();
  v_quiz    app.quizzes;
  v_used    integer;
  v_attempt app.quiz_attempts;
  v_resumed boolean := false;
begin
  select z.* into v_quiz from app.quizzes z where z.id = attempt_start.quiz_id;
  if v_quiz.id is null
     or not ((v_quiz.is_published and internal.can_see_course(v_quiz.course_id))
             or internal.can_manage_course(v_quiz.course_id)) then
    raise exception 'quiz not found' using errcode = 'LM404', detail = 'not_found', hint = 'quiz_id';
  end if;
  if not internal.is_actively_enrolled(v_user_id, v_quiz.course_id) then
    raise exception 'you are not enrolled in this course' using errcode = 'LM403', detail = 'not_enrolled';
  end if;
  if not v_quiz.is_published then
    raise exception 'the quiz is not published' using errcode = 'LM422', detail = 'quiz_not_published';
  end if;

  -- Serialise this student's starts for this quiz on the counter row.
  insert into app.quiz_attempt_counters as c (user_id, quiz_id, attempts_used)
  values (v_user_id, v_quiz.id, 0)
  on conflict on constraint pk_quiz_attempt_counters do update set attempts_used = c.attempts_used
  returning c.attempts_used into v_used;

  -- An open attempt is returned instead of a new one; an open one past its grace is closed.
  select a.* into v_attempt from app.quiz_attempts a
  where a.user_id = v_user_id and a.quiz_id = v_quiz.id and a.status = 'in_progress'
  order by a.started_at desc limit 1;
  if v_attempt.id is not null then
    if v_attempt.deadline_at is null or now() <= v_attempt.deadline_at + internal.attempt_grace() then
      v_resumed := true;
    else
      perform internal.close_expired_attempt(v_attempt.id, v_attempt.started_at);
      v_attempt := null;
    end if;
  end if;

  if not v_resumed then
    if v_quiz.max_attempts is not null and v_used >= v_quiz.max_attempts then
      -- Returned, not raised: an expired attempt closed just above stays closed.
      return jsonb_build_object('error', jsonb_build_object(
        'code', 422, 'reason', 'attempt_limit_reached',
        'message', format('no attempts left for this quiz (%s allowed)', v_quiz.max_attempts)));
    end if;
    update app.quiz_attempt_counters c set attempts_used = c.attempts_used + 1
    where c.user_id = v_user_id and c.quiz_id = v_quiz.id;
    insert into app.quiz_attempts as a (user_id, quiz_id, attempt_number, started_at, deadline_at)
    values (v_user_id, v_quiz.id, v_used + 1, now(),
            now() + make_interval(mins => v_quiz.time_limit_minutes))
    returning a.* into v_attempt;
  end if;

  return jsonb_build_object(
    'attempt_id', v_attempt.id, 'quiz_id', v_quiz.id, 'attempt_number', v_attempt.attempt_number,
    'started_at', v_attempt.started_at, 'deadline', v_attempt.deadline_at,
    'time_limit_minutes', v_quiz.time_limit_minutes, 'resumed', v_resumed,
    'attempts_used', greatest(v_used, v_attempt.attempt_number), 'max_attempts', v_quiz.max_attempts,
    'questions', (
      select coalesce(jsonb_agg(jsonb_build_object(
               'id', q.id, 'question_id', q.id, 'question_text', q.question_text,
               'question_type', q.question_type, 'options', q.options, 'points', q.points,
               'question_order', q.question_order) order by q.question_order), '[]')
      from app.questions q where q.quiz_id = v_quiz.id));
end
$$;
comment on function api.attempt_start(uuid) is
$$Start (or resume) an attempt at a published quiz (actively enrolled student; else 403 not_enrolled)
→ {attempt_id, started_at, deadline, questions} (never correct_answer).
An open attempt whose deadline + 30 s has not passed is returned instead of a new one (resumed: true).
At most max_attempts started attempts per student and quiz, also under concurrent calls
(422 attempt_limit_reached). deadline = started_at + time_limit_minutes (null without a limit).
SECURITY DEFINER: students may not write attempts directly; checks the caller itself.$$;

create or replace function api.attempt_submit(attempt_id uuid, answers jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id uuid := internal.require_user();
  v_attempt app.quiz_attempts;
  v_quiz    app.quizzes;
  v_key     text;
  v_value   jsonb;
  v_given   jsonb;
  v_results jsonb;
  v_earned  integer;
  v_total   integer;
  v_score   integer;
  v_passed  boolean;
begin
  -- Own attempt only; the row lock makes a concurrent second submit wait and then see it closed.
  select a.* into v_attempt from app.quiz_attempts a
  where a.id = attempt_submit.attempt_id and a.user_id = v_user_id
  for update;
  if v_attempt.id is null then
    raise exception 'attempt not found' using errcode = 'LM404', detail = 'not_found', hint = 'attempt_id';
  end if;
  if v_attempt.status = 'submitted' then
    raise exception 'this attempt was already submitted' using errcode = 'LM409', detail = 'already_submitted';
  end if;
  if v_attempt.status = 'expired' then
    raise exception 'the time for this attempt ran out' using errcode = 'LM422', detail = 'attempt_expired';
  end if;
  select z.* into v_quiz from app.quizzes z where z.id = v_attempt.quiz_id;
  -- Same conditions as attempt.start: a dropped student or an unpublished quiz takes no submits
  -- (the attempt stays open; re-enrolling / re-publishing makes it submittable again).
  if not internal.is_actively_enrolled(v_user_id, v_quiz.course_id) then
    raise exception 'you are not enrolled in this course' using errcode = 'LM403', detail = 'not_enrolled';
  end if;
  if not v_quiz.is_published then
    raise exception 'the quiz is not published' using errcode = 'LM422', detail = 'quiz_not_published';
  end if;

  if v_attempt.deadline_at is not null and now() > v_attempt.deadline_at + internal.attempt_grace() then
    -- Close it with score 0 and report the error without raising, so the closure commits.
    perform internal.close_expired_attempt(v_attempt.id, v_attempt.started_at);
    return jsonb_build_object('error', jsonb_build_object(
      'code', 422, 'reason', 'attempt_expired',
      'message', 'the time for this attempt ran out; it was closed with score 0'));
  end if;

  if attempt_submit.answers is null or jsonb_typeof(attempt_submit.answers) <> 'object' then
    raise exception 'answers must be an object {question_id: answer}'
      using errcode = 'LM422', detail = 'invalid_answer', hint = 'answers';
  end if;
  for v_key, v_value in select e.key, e.value from jsonb_each(attempt_submit.answers) e loop
    if v_key !~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$'
       or not exists (select from app.questions q where q.quiz_id = v_quiz.id and q.id = v_key::uuid) then
      raise exception 'answer for an unknown question: %', left(v_key, 64)
        using errcode = 'LM422', detail = 'invalid_answer', hint = 'answers';
    end if;
    if jsonb_typeof(v_value) not in ('string', 'boolean', 'number', 'null') then
      raise exception 'an answer must be a string' using errcode = 'LM422', detail = 'invalid_answer', hint = 'answers';
    end if;
  end loop;
  -- Keys are distinct as text, not as uuids: "ABC…" and "abc…" or a key without dashes name the
  -- same question. One answer per question, whatever the spelling.
  if (select count(*) <> count(distinct e.key::uuid) from jsonb_each(attempt_submit.answers) e) then
    raise exception 'a question was answered more than once (the same id spelled differently)'
      using errcode = 'LM422', detail = 'invalid_answer', hint = 'answers';
  end if;

  -- Grade every current question of the quiz, one row per question (never one per answer key);
  -- unanswered questions earn nothing.
  with graded as (
    select q.id, q.points, g.answer,
           coalesce(case q.question_type
             when 'short_answer' then internal.normalize_answer(g.answer) = internal.normalize_answer(q.correct_answer)
             when 'true_false' then lower(btrim(g.answer)) = q.correct_answer
             else g.answer = q.correct_answer end, false) as correct
    from app.questions q
    left join lateral (
      select e.value #>> '{}' as answer
      from jsonb_each(attempt_submit.answers) e
      where e.key::uuid = q.id and jsonb_typeof(e.value) <> 'null'
      limit 1) g on true
    where q.quiz_id = v_quiz.id
  )
  select coalesce(jsonb_object_agg(gr.id, gr.answer), '{}'),
         coalesce(jsonb_object_agg(gr.id, jsonb_build_object(
           'answer', gr.answer, 'correct', gr.correct,
           'points_earned', case when gr.correct then gr.points else 0 end, 'points', gr.points)), '{}'),
         coalesce(sum(case when gr.correct then gr.points else 0 end), 0)::integer,
         coalesce(sum(gr.points), 0)::integer
  into v_given, v_results, v_earned, v_total
  from graded gr;

  v_score := internal.score_percentage(v_earned, v_total);
  v_passed := v_score >= v_quiz.passing_score_percentage;
  update app.quiz_attempts a
  set status = 'submitted', submitted_at = now(), answers = v_given, grading = v_results,
      points_earned = v_earned, points_total = v_total, score = v_score, passed = v_passed
  where a.id = v_attempt.id and a.started_at = v_attempt.started_at;

  if v_passed then
    perform internal.refresh_progress(v_user_id, v_quiz.course_id);
  end if;

  return jsonb_build_object('attempt_id', v_attempt.id, 'score', v_score, 'passed', v_passed,
                            'points_earned', v_earned, 'points_total', v_total,
                            'passing_score_percentage', v_quiz.passing_score_percentage);
end
$$;
comment on function api.attempt_submit(uuid, jsonb) is
$$Submit own attempt once with answers {question_id: answer} → {score, passed, points_earned, points_total}.
Graded in the database: multiple choice and true/false exactly, short answer after trimming, collapsing
white space and ignoring case. score = points percentage rounded half up; passed = score ≥ passing score.
Others' attempts: 404; twice: 409 already_submitted; unknown question ids, or one question answered
under two spellings of its id: 422 invalid_answer. Not (or no longer) actively enrolled: 403 not_enrolled;
quiz unpublished meanwhile: 422 quiz_not_published (the attempt stays open in both cases).
After deadline + 30 s: 422 attempt_expired and the attempt is closed with score 0.
The result and the stored attempt carry no per-question correctness for the student.
SECURITY DEFINER: grading reads correct_answer, which no client role may select.$$;

create or replace function api.attempt_list_mine(quiz_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id uuid := internal.require_user();
begin
  -- 404 unless the caller can see the quiz (as quizzes RLS: its manager, or an active enrollee of a
  -- published one) or has attempts at it (a student who dropped the course keeps their history).
  if not exists (select from app.quizzes z
                 where z.id = attempt_list_mine.quiz_id
                   and (internal.can_manage_course(z.course_id)
                        or (z.is_published and z.course_id in (select internal.my_enrolled_course_ids()))))
     and not exists (select from app.quiz_attempts a
                     where a.quiz_id = attempt_list_mine.quiz_id and a.user_id = v_user_id) then
    raise exception 'quiz not found' using errcode = 'LM404', detail = 'not_found', hint = 'quiz_id';
  end if;
  return (select coalesce(jsonb_agg(internal.attempt_json(a) order by a.attempt_number), '[]')
          from app.quiz_attempts a
          where a.quiz_id = attempt_list_mine.quiz_id and a.user_id = v_user_id);
end
$$;
comment on function api.attempt_list_mine(uuid) is
$$The caller's attempts at a quiz, oldest first: score, passed, points_earned, points_total and the
answers they gave — no per-question correctness or points. A quiz the caller cannot see and never
attempted: 404.
SECURITY DEFINER: reads only the caller's own rows; the per-question grading column is not readable by clients.$$;

create or replace function internal.quiz_attempts_graded(p_quiz_id uuid)
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
  return (select coalesce(jsonb_agg(internal.attempt_json(a) || jsonb_build_object('grading', a.grading)
                                    order by a.started_at, a.id), '[]')
          from app.quiz_attempts a where a.quiz_id = p_quiz_id);
end
$$;
comment on function internal.quiz_attempts_graded(uuid) is
  'Every attempt at a quiz WITH the per-question grading, for the course''s instructor or an admin only (else LM404). SECURITY DEFINER because no client role may select quiz_attempts.grading.';

create or replace function api.attempt_list_for_quiz(quiz_id uuid)
returns jsonb
language plpgsql
stable
as $$
declare
  v_quiz app.quizzes := internal.managed_quiz(attempt_list_for_quiz.quiz_id);
begin
  return internal.quiz_attempts_graded(v_quiz.id);
end
$$;
comment on function api.attempt_list_for_quiz(uuid) is
  'Every attempt at a quiz with its per-question grading ({answer, correct, points_earned, points} per question id) (instructor of the course, admin).';

create or replace function internal.maintain_attempts()
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_closed integer;
begin
  update app.quiz_attempts a
  set status = 'expired', submitted_at = now(), score = 0, passed = false, points_earned = 0,
      points_total = (select coalesce(sum(q.points), 0)::integer from app.questions q where q.quiz_id = a.quiz_id),
      answers = '{}', grading = '{}'
  where a.status = 'in_progress' and a.deadline_at < now() - internal.attempt_grace();
  get diagnostics v_closed = row_count;
  return jsonb_build_object('attempts_expired', v_closed);
end
$$;
comment on function internal.maintain_attempts() is
  'Upkeep (lms db maintain): closes unsubmitted attempts past deadline + grace as expired with score 0. SECURITY DEFINER: runs for no particular user.';

-- ---------------------------------------------------------------------------------------
-- Assignments and submissions
-- ---------------------------------------------------------------------------------------
create or replace function api.assignment_create(
  course_id uuid, title text, description text default null, lesson_id uuid default null,
  due_date timestamptz default null, points integer default null, allow_late_submission boolean default null,
  late_penalty_percentage integer default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_assignment app.assignments;
begin
  perform internal.require_course_manager(assignment_create.course_id);
  insert into app.assignments as a (course_id, lesson_id, title, description, due_date, points,
                                    allow_late_submission, late_penalty_percentage)
  values (assignment_create.course_id, assignment_create.lesson_id, btrim(assignment_create.title),
          nullif(assignment_create.description, ''), assignment_create.due_date, coalesce(assignment_create.points, 100),
          coalesce(assignment_create.allow_late_submission, false),
          coalesce(assignment_create.late_penalty_percentage, 0))
  returning a.* into v_assignment;
  return internal.assignment_json(v_assignment);
exception
  when foreign_key_violation then
    raise exception 'the lesson does not belong to this course'
      using errcode = 'LM422', detail = 'lesson_not_in_course', hint = 'lesson_id';
end
$$;
comment on function api.assignment_create(uuid, text, text, uuid, timestamptz, integer, boolean, integer) is
$$Create an assignment in a course (its instructor or an admin). Defaults: 100 points, no late work,
penalty 0 %. lesson_id must be in the same course (422 lesson_not_in_course).
@param title minLength=1 maxLength=200
@param points minimum=1
@param late_penalty_percentage minimum=0 maximum=100$$;

create or replace function api.assignment_update(
  assignment_id uuid, title text default null, description text default null, lesson_id uuid default null,
  due_date timestamptz default null, points integer default null, allow_late_submission boolean default null,
  late_penalty_percentage integer default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_assignment app.assignments;
begin
  perform internal.require_user();
  -- Look, check, then lock (FOR UPDATE applies the update policy: a visible assignment must be 403, not 404).
  select a.* into v_assignment from app.assignments a where a.id = assignment_update.assignment_id;
  if v_assignment.id is null then
    raise exception 'assignment not found' using errcode = 'LM404', detail = 'not_found', hint = 'assignment_id';
  end if;
  perform internal.require_course_manager(v_assignment.course_id);
  perform from app.assignments a where a.id = v_assignment.id for update;
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
    late_penalty_percentage = coalesce(assignment_update.late_penalty_percentage, a.late_penalty_percentage)
  where a.id = v_assignment.id
  returning a.* into v_assignment;
  return internal.assignment_json(v_assignment);
exception
  when foreign_key_violation then
    raise exception 'the lesson does not belong to this course'
      using errcode = 'LM422', detail = 'lesson_not_in_course', hint = 'lesson_id';
end
$$;
comment on function api.assignment_update(uuid, text, text, uuid, timestamptz, integer, boolean, integer) is
$$Change an assignment (instructor of the course, admin); omitted fields stay as they are; an
explicit null clears description (a blank one is stored as null too), lesson_id or due_date (no
deadline). title, points, allow_late_submission and late_penalty_percentage cannot be null.
Submissions already made keep their is_late. points below a grade already given: 422 points_below_grade.
@patch
@param description nullable
@param lesson_id nullable
@param due_date nullable
@param title minLength=1 maxLength=200
@param points minimum=1
@param late_penalty_percentage minimum=0 maximum=100$$;

create or replace function api.assignment_list(course_id uuid)
returns jsonb
language plpgsql
stable
as $$
declare
  v_user_id uuid := internal.require_user();
begin
  if not internal.can_see_course(assignment_list.course_id) then
    raise exception 'course not found' using errcode = 'LM404', detail = 'not_found', hint = 'course_id';
  end if;
  if not (internal.can_manage_course(assignment_list.course_id)
          or internal.is_actively_enrolled(v_user_id, assignment_list.course_id)) then
    raise exception 'you are not enrolled in this course' using errcode = 'LM403', detail = 'not_enrolled';
  end if;
  return (select coalesce(jsonb_agg(internal.assignment_json(a) order by a.due_date nulls last, a.created_at, a.id), '[]')
          from app.assignments a where a.course_id = assignment_list.course_id);
end
$$;
comment on function api.assignment_list(uuid) is
  'Assignments of a course (actively enrolled students, the instructor, admins; others who can see the course 403 not_enrolled; a course the caller cannot see 404).';

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
begin
  select a.* into v_assignment from app.assignments a where a.id = submission_submit.assignment_id;
  if v_assignment.id is null or not internal.can_see_course(v_assignment.course_id) then
    raise exception 'assignment not found' using errcode = 'LM404', detail = 'not_found', hint = 'assignment_id';
  end if;
  if not internal.is_actively_enrolled(v_user_id, v_assignment.course_id) then
    raise exception 'you are not enrolled in this course' using errcode = 'LM403', detail = 'not_enrolled';
  end if;
  if nullif(btrim(submission_submit.content), '') is null and submission_submit.file_id is null then
    raise exception 'a submission needs content or a file' using errcode = 'LM422', detail = 'empty_submission';
  end if;
  if submission_submit.file_id is not null and not exists (
       select from app.files f where f.id = submission_submit.file_id and f.uploader_id = v_user_id) then
    raise exception 'file not found' using errcode = 'LM404', detail = 'not_found', hint = 'file_id';
  end if;
  v_late := v_assignment.due_date is not null and now() > v_assignment.due_date;
  if v_late and not v_assignment.allow_late_submission then
    raise exception 'the due date has passed' using errcode = 'LM422', detail = 'deadline_passed';
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
  return internal.submission_json(v_submission, v_assignment.late_penalty_percentage);
end
$$;
comment on function api.submission_submit(uuid, text, uuid) is
$$Submit (or, before grading, replace) own work for an assignment (actively enrolled student) → submission.
After grading: 409 already_graded. After due_date: 422 deadline_passed unless late work is allowed; then
is_late = true and the effective grade is reduced by late_penalty_percentage.
SECURITY DEFINER: students may not write submissions directly (is_late and grades cannot be forged).
@param content maxLength=500000$$;

create or replace function api.submission_grade(submission_id uuid, grade numeric, feedback text default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_user_id    uuid := internal.require_user();
  v_old        app.submissions;
  v_new        app.submissions;
  v_assignment app.assignments;
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
  if submission_grade.grade is null or submission_grade.grade < 0 or submission_grade.grade > v_assignment.points then
    raise exception 'grade must be between 0 and %', v_assignment.points
      using errcode = 'LM422', detail = 'invalid_grade', hint = 'grade';
  end if;
  update app.submissions s
  set grade = submission_grade.grade, feedback = coalesce(submission_grade.feedback, s.feedback),
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
comment on function api.submission_grade(uuid, numeric, text) is
$$Grade a submission 0..points (instructor of the course, admin; else 422 invalid_grade).
Regrading is allowed and audited ('submission.regraded' with old and new grade).
Nobody grades their own submission, not even an instructor or admin enrolled in the course: 403 forbidden.
@param grade maximum=999999.99
@param feedback maxLength=10000$$;

create or replace function api.submission_list_for_assignment(assignment_id uuid)
returns jsonb
language plpgsql
stable
as $$
declare
  v_assignment app.assignments;
begin
  perform internal.require_user();
  select a.* into v_assignment from app.assignments a where a.id = submission_list_for_assignment.assignment_id;
  if v_assignment.id is null then
    raise exception 'assignment not found' using errcode = 'LM404', detail = 'not_found', hint = 'assignment_id';
  end if;
  perform internal.require_course_manager(v_assignment.course_id);
  return (select coalesce(jsonb_agg(internal.submission_json(s, v_assignment.late_penalty_percentage)
                                    order by s.submitted_at, s.id), '[]')
          from app.submissions s where s.assignment_id = v_assignment.id);
end
$$;
comment on function api.submission_list_for_assignment(uuid) is 'Every submission for an assignment (instructor of the course, admin).';

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
  return internal.submission_json(v_submission, v_assignment.late_penalty_percentage);
end
$$;
comment on function api.submission_get_mine(uuid) is 'The caller''s submission for an assignment (404 when none).';

-- ---------------------------------------------------------------------------------------
-- grade <= assignment points, whoever writes (constraint triggers on both tables)
-- ---------------------------------------------------------------------------------------
create or replace function internal.tg_submissions__grade_within_points()
returns trigger
language plpgsql
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

-- ---------------------------------------------------------------------------------------
-- Gradebook: one set-based query per call
-- ---------------------------------------------------------------------------------------
create or replace function internal.gradebook(p_course_id uuid, p_user_id uuid default null)
returns jsonb
language sql
stable
as $$
  with students as (
    select e.user_id, e.is_active, e.progress_percentage, e.completed_at
    from app.enrollments e
    where e.course_id = p_course_id and (p_user_id is null or e.user_id = p_user_id)
  ), quizzes as (
    -- One student's own row (gradebook.mine) lists published quizzes only: drafts' titles are not theirs to see.
    select z.id, z.title, z.passing_score_percentage from app.quizzes z
    where z.course_id = p_course_id and (p_user_id is null or z.is_published)
  ), best as (
    select a.user_id, a.quiz_id, max(a.score) as best_score, bool_or(a.passed) as passed, count(*) as attempts
    from app.quiz_attempts a
    where a.quiz_id in (select q.id from quizzes q) and a.status <> 'in_progress'
      and (p_user_id is null or a.user_id = p_user_id)
    group by a.user_id, a.quiz_id
  ), quiz_cells as (
    select st.user_id,
           jsonb_agg(jsonb_build_object('quiz_id', q.id, 'title', q.title, 'best_score', b.best_score,
                                        'passed', coalesce(b.passed, false), 'attempts', coalesce(b.attempts, 0))
                     order by q.title, q.id) as cells
    from students st cross join quizzes q
    left join best b on b.user_id = st.user_id and b.quiz_id = q.id
    group by st.user_id
  ), assignments as (
    select a.id, a.title, a.points, a.late_penalty_percentage from app.assignments a where a.course_id = p_course_id
  ), assignment_cells as (
    select st.user_id,
           jsonb_agg(jsonb_build_object('assignment_id', a.id, 'title', a.title, 'points', a.points,
                                        'submitted', s.id is not null, 'is_late', s.is_late, 'grade', s.grade,
                                        'effective_grade', internal.effective_grade(s.grade, s.is_late, a.late_penalty_percentage))
                     order by a.title, a.id) as cells
    from students st cross join assignments a
    left join app.submissions s on s.assignment_id = a.id and s.user_id = st.user_id
    group by st.user_id
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'user_id', st.user_id, 'full_name', u.full_name, 'email', u.email, 'is_active', st.is_active,
           'progress_percentage', st.progress_percentage, 'completed_at', st.completed_at,
           'quizzes', coalesce(qc.cells, '[]'), 'assignments', coalesce(ac.cells, '[]'))
         order by u.full_name, st.user_id), '[]')
  from students st
  join app.users u on u.id = st.user_id
  left join quiz_cells qc on qc.user_id = st.user_id
  left join assignment_cells ac on ac.user_id = st.user_id
$$;
comment on function internal.gradebook(uuid, uuid) is
  'Gradebook rows of a course (all enrolled students, or one): best quiz score per quiz, effective assignment grades, progress. One statement. With p_user_id (a student''s own row) only published quizzes are listed.';

create or replace function api.gradebook_course(course_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform internal.require_course_manager(gradebook_course.course_id);
  return internal.gradebook(gradebook_course.course_id, null);
end
$$;
comment on function api.gradebook_course(uuid) is
$$Per enrolled student of a course: best score per quiz, effective assignment grades, progress
(instructor of the course, admin). SECURITY DEFINER: reads enrollments and names of the course's
students after checking the caller manages the course.$$;

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
(published quizzes only), effective assignment grades, progress. SECURITY DEFINER: reads only the caller's rows.$$;

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
