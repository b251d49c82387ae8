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

create or replace function internal.score_percentage(p_earned numeric, p_total integer)
returns integer
language sql
immutable
parallel safe
as $$
  select case when coalesce(p_total, 0) <= 0 then 0
              else floor(p_earned * 100.0 / p_total + 0.5)::integer end
$$;
comment on function internal.score_percentage(numeric, integer) is
  'Score 0..100 of fractional points (partial credit, a person''s grade): earned ÷ total as a percentage, rounded half up.';

-- Overrides (07_overrides.sql) read here: defined first, the JSON helpers below use them.
create or replace function internal.effective_late_penalty(p_user_id uuid, p_assignment_id uuid, p_penalty integer)
returns integer
language plpgsql  -- not SQL: a SQL function that is not inlined is planned again at every call
stable
as $$
begin
  return (select case when exists (select from app.learner_overrides o
                                     where o.user_id = p_user_id and o.assignment_id = p_assignment_id and o.waive_late_penalty)
                        then 0 else p_penalty end);
end
$$;
comment on function internal.effective_late_penalty(uuid, uuid, integer) is
  'The late penalty (percent) of an assignment for one learner: 0 when their override waives it, else the assignment''s. The one place (submissions, gradebook, exports, analytics). Reads overrides under RLS.';

create or replace function internal.quiz_available_until(p_user_id uuid, p_quiz_id uuid)
returns timestamptz
language plpgsql
stable
as $$
begin
  return (select o.available_until from app.learner_overrides o where o.user_id = p_user_id and o.quiz_id = p_quiz_id);
end
$$;
comment on function internal.quiz_available_until(uuid, uuid) is
  'When the quiz closes for this learner (their override''s available_until), or null: open. No attempt starts after it (422 quiz_closed) and none runs past it.';

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
create or replace function internal.answer_key(p_question_type text, p_correct_answer jsonb)
returns text
language plpgsql
immutable
as $$
begin
  if p_correct_answer is null or jsonb_typeof(p_correct_answer) = 'null' then
    return null;
  end if;
  if jsonb_typeof(p_correct_answer) = 'object' then
    raise exception 'correct_answer is a string, a number, true/false or (multiple_answer) an array of options'
      using errcode = 'LM422', detail = 'invalid_correct_answer', hint = 'correct_answer';
  end if;
  if jsonb_typeof(p_correct_answer) = 'array' then
    return p_correct_answer::text;  -- checked against the options by the trigger below
  end if;
  if jsonb_typeof(p_correct_answer) <> 'string' then
    return p_correct_answer::text;  -- a number, true or false, as text
  end if;
  if p_question_type = 'true_false' then
    return lower(btrim(p_correct_answer #>> '{}'));
  end if;
  return p_correct_answer #>> '{}';
end
$$;
comment on function internal.answer_key(text, jsonb) is
  'The correct_answer as stored (text) from what a client sent (any JSON): a string as it is (true/false lower-cased and trimmed), a number or true/false as its text, an array (multiple_answer) as its JSON text; an object is 422 invalid_correct_answer.';

create or replace function internal.write_question(
  p_question_id uuid, p_text text, p_type text, p_options jsonb, p_options_given boolean, p_points integer,
  p_tolerance numeric, p_tolerance_given boolean, p_key jsonb, p_key_given boolean)
returns void
language plpgsql
volatile
as $$
begin
  -- correct_answer is written without being read (no client role may select it): one of the two
  -- statements runs, each in one statement so that the validation trigger sees the final question.
  update app.questions q set
    question_text = coalesce(btrim(p_text), q.question_text),
    question_type = p_type,
    options = case when p_type not in ('multiple_choice', 'multiple_answer') then null
                   when p_options_given then p_options else q.options end,
    points = coalesce(p_points, q.points),
    tolerance = case when p_type <> 'numeric' then null when p_tolerance_given then p_tolerance else q.tolerance end,
    updated_at = now()
  where q.id = p_question_id and not p_key_given;
  update app.questions q set
    question_text = coalesce(btrim(p_text), q.question_text),
    question_type = p_type,
    options = case when p_type not in ('multiple_choice', 'multiple_answer') then null
                   when p_options_given then p_options else q.options end,
    points = coalesce(p_points, q.points),
    tolerance = case when p_type <> 'numeric' then null when p_tolerance_given then p_tolerance else q.tolerance end,
    correct_answer = internal.answer_key(p_type, p_key),
    updated_at = now()
  where q.id = p_question_id and p_key_given;
end
$$;
comment on function internal.write_question(uuid, text, text, jsonb, boolean, integer, numeric, boolean, jsonb, boolean) is
  'Change a question (quiz.update_question, bank.update_question, after their checks): omitted fields (null, or *_given false) stay; a type without options or tolerance drops them; the key is set only when given. SECURITY INVOKER: under the caller''s RLS.';

create or replace function internal.choice_options_valid(p_options jsonb)
returns boolean
language plpgsql  -- not SQL: a SQL function that is not inlined is planned again at every call
immutable
as $$
begin
  return (select p_options is not null and jsonb_typeof(p_options) = 'array' and jsonb_array_length(p_options) >= 2
               and not exists (select from jsonb_array_elements(p_options) o(v)
                               where jsonb_typeof(o.v) <> 'string' or btrim(o.v #>> '{}') = '')
               and (select count(distinct o.v) from jsonb_array_elements(p_options) o(v)) = jsonb_array_length(p_options));
end
$$;
comment on function internal.choice_options_valid(jsonb) is
  'Options of a choice question: an array of at least two distinct, non-blank strings.';

create or replace function internal.tg_questions__validate()
returns trigger
language plpgsql
volatile
as $$
declare
  v_key jsonb;
begin
  if new.question_type in ('multiple_choice', 'multiple_answer') then
    if new.options is null or jsonb_typeof(new.options) <> 'array' then
      raise exception 'a choice question needs an array of options'
        using errcode = 'LM422', detail = 'invalid_options', hint = 'options';
    end if;
    if exists (select from jsonb_array_elements(new.options) o(v) where jsonb_typeof(o.v) <> 'string')
       or exists (select from jsonb_array_elements_text(new.options) o(v) where btrim(o.v) = '') then
      raise exception 'options must be non-empty strings' using errcode = 'LM422', detail = 'invalid_options', hint = 'options';
    end if;
    if not internal.choice_options_valid(new.options) then
      raise exception 'a choice question needs at least two distinct options'
        using errcode = 'LM422', detail = 'invalid_options', hint = 'options';
    end if;
  elsif new.options is not null then
    raise exception 'only choice questions (multiple_choice, multiple_answer) have options'
      using errcode = 'LM422', detail = 'invalid_options', hint = 'options';
  end if;
  if new.question_type not in ('multiple_choice', 'true_false', 'short_answer', 'multiple_answer', 'numeric', 'essay') then
    raise exception 'question_type must be multiple_choice, true_false, short_answer, multiple_answer, numeric or essay'
      using errcode = 'LM422', detail = 'invalid_question_type', hint = 'question_type';
  end if;
  if new.tolerance is not null and (new.question_type <> 'numeric' or new.tolerance < 0) then
    raise exception 'tolerance is for numeric questions and at least 0'
      using errcode = 'LM422', detail = 'invalid_tolerance', hint = 'tolerance';
  end if;
  if new.question_type <> 'essay' and (new.correct_answer is null or btrim(new.correct_answer) = '') then
    raise exception 'a % question needs a correct answer', new.question_type
      using errcode = 'LM422', detail = 'invalid_correct_answer', hint = 'correct_answer';
  end if;
  if new.question_type = 'essay' and new.correct_answer is not null and btrim(new.correct_answer) = '' then
    new.correct_answer := null;  -- no guidance
  end if;
  case new.question_type
  when 'multiple_choice' then
    if not new.options ? new.correct_answer then
      raise exception 'the correct answer must be one of the options'
        using errcode = 'LM422', detail = 'invalid_correct_answer', hint = 'correct_answer';
    end if;
  when 'true_false' then
    if new.correct_answer not in ('true', 'false') then
      raise exception 'a true/false question''s correct answer is "true" or "false"'
        using errcode = 'LM422', detail = 'invalid_correct_answer', hint = 'correct_answer';
    end if;
  when 'short_answer' then
    if internal.normalize_answer(new.correct_answer) = '' then
      raise exception 'the correct answer must not be blank' using errcode = 'LM422', detail = 'invalid_correct_answer', hint = 'correct_answer';
    end if;
  when 'multiple_answer' then
    begin
      v_key := new.correct_answer::jsonb;
    exception when invalid_text_representation then
      v_key := null;
    end;
    if v_key is null or jsonb_typeof(v_key) <> 'array' or jsonb_array_length(v_key) = 0
       or exists (select from jsonb_array_elements(v_key) k(v) where jsonb_typeof(k.v) <> 'string' or not new.options @> jsonb_build_array(k.v))
       or (select count(distinct k.v) from jsonb_array_elements(v_key) k(v)) <> jsonb_array_length(v_key) then
      raise exception 'the correct answer of a multiple-answer question is an array of distinct options (at least one)'
        using errcode = 'LM422', detail = 'invalid_correct_answer', hint = 'correct_answer';
    end if;
    new.correct_answer := v_key::text;
  when 'numeric' then
    if new.correct_answer !~ '^\s*[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$' then
      raise exception 'the correct answer of a numeric question is a number'
        using errcode = 'LM422', detail = 'invalid_correct_answer', hint = 'correct_answer';
    end if;
    new.correct_answer := btrim(new.correct_answer);
  else
    null;  -- essay: correct_answer is optional guidance for the grader
  end case;
  if new.points is null or new.points < 1 then
    raise exception 'points must be at least 1' using errcode = 'LM422', detail = 'invalid_points', hint = 'points';
  end if;
  return new;
end
$$;
comment on function internal.tg_questions__validate() is
  'BEFORE INSERT/UPDATE on app.questions: options are ≥ 2 distinct non-blank strings (choice types only) containing correct_answer (multiple_choice) or a non-empty array of distinct ones of them (multiple_answer); "true"/"false" (true_false); a number with a tolerance ≥ 0 (numeric); optional guidance (essay); raises LM422.';

drop trigger if exists _010_validate on app.questions;
create trigger _010_validate  -- (not when only an owner, an order or a bank place changes)
  before insert or update of question_type, options, correct_answer, tolerance, points on app.questions
  for each row execute function internal.tg_questions__validate();

-- ---------------------------------------------------------------------------------------
-- Policy helpers: computed once per query (an InitPlan), not once per row or per partition scan
-- ---------------------------------------------------------------------------------------
create or replace function internal.my_managed_quiz_ids()
returns uuid[]
language sql
stable
parallel safe
security definer
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(array_agg(z.id), '{}') from app.quizzes z where z.course_id in (select internal.my_course_ids())
$$;
comment on function internal.my_managed_quiz_ids() is
  'Ids of the quizzes of the courses the caller teaches (internal.my_course_ids), as one array: the attempts policy reads it as `quiz_id = any ((select …)::uuid[])`, one small lookup per query instead of the quizzes table under its own policy for every attempt partition. SECURITY DEFINER: reveals only the caller''s own courses'' quizzes; parallel safe (reads tables, writes nothing).';

create or replace function internal.my_managed_assignment_ids()
returns uuid[]
language sql
stable
parallel safe
security definer
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(array_agg(a.id), '{}') from app.assignments a where a.course_id in (select internal.my_course_ids())
$$;
comment on function internal.my_managed_assignment_ids() is
  'Ids of the assignments of the courses the caller teaches, as one array, for the submissions policy (like internal.my_managed_quiz_ids). SECURITY DEFINER; parallel safe.';
