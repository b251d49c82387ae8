/*
 * Assessment — quiz.* (instructor writes: SECURITY INVOKER under RLS).
 */

create or replace function api.quiz_create(
  course_id uuid, title text, description text default null, lesson_id uuid default null,
  time_limit_minutes integer default null, passing_score_percentage integer default null,
  max_attempts integer default null, module_id uuid default null, grade_category_id uuid default null,
  grade_posting text default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_quiz app.quizzes;
begin
  perform internal.require_course_manager(quiz_create.course_id);
  perform internal.require_grade_category(quiz_create.course_id, quiz_create.grade_category_id);
  perform internal.check_grade_posting(quiz_create.grade_posting);
  insert into app.quizzes as z (course_id, lesson_id, title, description, time_limit_minutes,
                                passing_score_percentage, max_attempts, grade_category_id, grade_posting)
  values (quiz_create.course_id, quiz_create.lesson_id, btrim(quiz_create.title), nullif(quiz_create.description, ''),
          quiz_create.time_limit_minutes, coalesce(quiz_create.passing_score_percentage, 70),
          coalesce(quiz_create.max_attempts, 3), quiz_create.grade_category_id,
          coalesce(quiz_create.grade_posting, 'automatic'))
  returning z.* into v_quiz;
  if quiz_create.module_id is not null then
    perform internal.place_item('quiz', v_quiz.id, v_quiz.course_id, quiz_create.module_id);
    select z.* into v_quiz from app.quizzes z where z.id = v_quiz.id;
  end if;
  return internal.quiz_json(v_quiz);
exception
  when foreign_key_violation then
    raise exception 'the lesson does not belong to this course'
      using errcode = 'LM422', detail = 'lesson_not_in_course', hint = 'lesson_id';
end
$$;
comment on function api.quiz_create(uuid, text, text, uuid, integer, integer, integer, uuid, uuid, text) is
$$Create a draft quiz in a course (its instructor or an admin).
lesson_id, if given, must be a lesson of the same course (422 lesson_not_in_course); module_id a module
of it (422 module_not_in_course), where the quiz goes last; grade_category_id a grade category of it
(422 category_not_in_course; none: the course's implicit one). grade_posting manual holds the learners'
scores back until grade.post.
Defaults: passing_score_percentage 70, max_attempts 3, no time limit, grade_posting automatic.
@param grade_posting minLength=6 maxLength=9
@result quiz
@param title minLength=1 maxLength=200
@param time_limit_minutes minimum=1
@param passing_score_percentage minimum=0 maximum=100
@param max_attempts minimum=1$$;

create or replace function api.quiz_update(
  quiz_id uuid, title text default null, description text default null, lesson_id uuid default null,
  time_limit_minutes integer default null, passing_score_percentage integer default null,
  max_attempts integer default null, module_id uuid default null, shuffle_questions boolean default null,
  shuffle_options boolean default null, partial_credit boolean default null, grade_category_id uuid default null,
  grade_posting text default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_quiz app.quizzes := internal.managed_quiz(quiz_update.quiz_id, true);
begin
  perform internal.require_grade_category(v_quiz.course_id, quiz_update.grade_category_id);
  perform internal.check_grade_posting(quiz_update.grade_posting);
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
                        then quiz_update.max_attempts else z.max_attempts end,
    shuffle_questions = coalesce(quiz_update.shuffle_questions, z.shuffle_questions),
    shuffle_options = coalesce(quiz_update.shuffle_options, z.shuffle_options),
    partial_credit = coalesce(quiz_update.partial_credit, z.partial_credit),
    grade_category_id = case when internal.given('grade_category_id', quiz_update.grade_category_id)
                             then quiz_update.grade_category_id else z.grade_category_id end,
    grade_posting = coalesce(quiz_update.grade_posting, z.grade_posting),
    -- (set to manual again: held back again until the next grade.post)
    grades_posted_at = case when quiz_update.grade_posting = 'manual' and z.grade_posting <> 'manual' then null
                            else z.grades_posted_at end
  where z.id = v_quiz.id
  returning z.* into v_quiz;
  if internal.given('module_id', quiz_update.module_id) and quiz_update.module_id is distinct from v_quiz.module_id then
    perform internal.place_item('quiz', v_quiz.id, v_quiz.course_id, quiz_update.module_id);
    select z.* into v_quiz from app.quizzes z where z.id = v_quiz.id;
  end if;
  return internal.quiz_json(v_quiz);
exception
  when foreign_key_violation then
    raise exception 'the lesson does not belong to this course'
      using errcode = 'LM422', detail = 'lesson_not_in_course', hint = 'lesson_id';
end
$$;
comment on function api.quiz_update(uuid, text, text, uuid, integer, integer, integer, uuid, boolean, boolean, boolean, uuid, text) is
$$Change a quiz's settings (instructor of the course, admin). Omitted fields stay as they are; an
explicit null clears description (a blank one is stored as null too), lesson_id (detached from its
lesson), time_limit_minutes (no time limit) or max_attempts (unlimited attempts). title and
passing_score_percentage cannot be null. Open attempts keep the deadline they started with.
Recorded attempts keep their scores: they store what they were graded against.
shuffle_questions / shuffle_options: each new attempt gets its own order of questions / of the options of
choice questions, kept with it. partial_credit: multiple_answer questions earn points × (right − wrong) ÷
correct options, floored at 0, instead of all or nothing (for attempts submitted from then on).
@result quiz
@patch
@param title minLength=1 maxLength=200
@param description nullable
@param lesson_id nullable
@param module_id nullable
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
  if not exists (select from app.questions q where q.quiz_id = v_quiz.id)
     and not exists (select from app.quiz_pools p where p.quiz_id = v_quiz.id) then
    raise exception 'a quiz needs at least one question to be published'
      using errcode = 'LM422', detail = 'quiz_has_no_questions';
  end if;
  perform internal.check_pool_sizes(v_quiz.id);
  update app.quizzes z set is_published = true where z.id = v_quiz.id returning z.* into v_quiz;
  return internal.quiz_json(v_quiz);
end
$$;
comment on function api.quiz_publish(uuid) is
  'Publish a quiz so enrolled students can take it (needs ≥ 1 question or pool: 422 quiz_has_no_questions; a pool asking its bank for more questions than it has: 422 pool_too_large).
@result quiz';

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
comment on function api.quiz_unpublish(uuid) is 'Hide a quiz from students again; recorded attempts stay.
@result quiz';

create or replace function api.quiz_add_question(
  quiz_id uuid, question_text text, question_type text, correct_answer jsonb default null,
  options jsonb default null, points integer default 1, question_order integer default null,
  tolerance numeric default null)
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
  insert into app.questions as q (quiz_id, question_text, question_type, options, correct_answer, points, question_order,
                                  tolerance)
  values (v_quiz.id, btrim(quiz_add_question.question_text), quiz_add_question.question_type,
          quiz_add_question.options,
          internal.answer_key(quiz_add_question.question_type, quiz_add_question.correct_answer),
          coalesce(quiz_add_question.points, 1), v_order, quiz_add_question.tolerance)
  returning q.id into v_id;
  return internal.question_with_key(v_id);
end
$$;
comment on function api.quiz_add_question(uuid, text, text, jsonb, jsonb, integer, integer, numeric) is
$$Add a question to a quiz (instructor of the course, admin) → the question with correct_answer.
question_type: multiple_choice (options: ≥ 2 distinct strings, correct_answer one of them), true_false
(correct_answer "true"/"false"), short_answer (compared case-insensitively after trimming and collapsing
white space), multiple_answer (options; correct_answer a JSON array of the right ones — all or nothing,
or partial credit when the quiz says so), numeric (correct_answer a number; an answer within ± tolerance,
default 0, is right) or essay (graded by a person; correct_answer optional guidance for the grader, never
shown to learners). points ≥ 1 (default 1). question_order: position 1..n+1; omitted = appended; later
questions move down. Invalid questions: 422 invalid_options / invalid_correct_answer / invalid_points /
invalid_tolerance / invalid_question_type.
@result question
@param question_text minLength=1 maxLength=5000
@param points minimum=1
@param question_order minimum=1
@param question_type maxLength=20
@param tolerance minimum=0$$;

create or replace function api.quiz_update_question(
  question_id uuid, question_text text default null, question_type text default null,
  options jsonb default null, correct_answer jsonb default null, points integer default null,
  question_order integer default null, tolerance numeric default null)
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
  v_type    text;
  v_key_given boolean := quiz_update_question.correct_answer is not null
                         or internal.given('correct_answer', quiz_update_question.correct_answer);
begin
  perform internal.require_user();
  if v_quiz_id is null then
    raise exception 'question not found' using errcode = 'LM404', detail = 'not_found', hint = 'question_id';
  end if;
  v_quiz := internal.managed_quiz(v_quiz_id, true);
  select q.question_order, coalesce(quiz_update_question.question_type, q.question_type) into v_old, v_type
  from app.questions q where q.id = quiz_update_question.question_id;
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
  perform internal.write_question(quiz_update_question.question_id, quiz_update_question.question_text, v_type,
                                  quiz_update_question.options, internal.given('options', quiz_update_question.options),
                                  quiz_update_question.points, quiz_update_question.tolerance,
                                  internal.given('tolerance', quiz_update_question.tolerance),
                                  quiz_update_question.correct_answer, v_key_given);
  return internal.question_with_key(quiz_update_question.question_id);
end
$$;
comment on function api.quiz_update_question(uuid, text, text, jsonb, jsonb, integer, integer, numeric) is
$$Change a question (instructor of the course, admin); omitted fields stay. Same validation as
quiz.add_question; question_order moves it (others shift, order stays 1..n). Attempts already
graded keep their recorded points (quiz.regrade applies a corrected key to them). Only options,
tolerance and an essay's guidance may be null (cleared): a question that is or becomes of a type
without options has none (they are dropped when the type changes), while a choice question without
options is 422 invalid_options.
@result question
@patch
@param options nullable
@param tolerance nullable minimum=0
@param question_text minLength=1 maxLength=5000
@param points minimum=1
@param question_order minimum=1
@param question_type maxLength=20$$;

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
  if v_quiz.is_published and (select count(*) from app.questions q where q.quiz_id = v_quiz.id) <= 1
     and not exists (select from app.quiz_pools p where p.quiz_id = v_quiz.id) then
    raise exception 'a published quiz keeps at least one question (unpublish it first)'
      using errcode = 'LM422', detail = 'quiz_has_no_questions';
  end if;
  if exists (select from app.manual_grades g where g.question_id = quiz_delete_question.question_id) then
    raise exception 'answers to this essay question were graded or wait for a grade'
      using errcode = 'LM409', detail = 'question_in_use', hint = 'question_id';
  end if;
  delete from app.questions q where q.id = quiz_delete_question.question_id returning q.question_order into v_order;
  update app.questions q set question_order = q.question_order - 1
  where q.quiz_id = v_quiz.id and q.question_order > v_order;
  return jsonb_build_object('deleted', true, 'question_id', quiz_delete_question.question_id,
                            'questions', internal.quiz_questions(v_quiz.id));
end
$$;
comment on function api.quiz_delete_question(uuid) is
  'Delete a question (instructor of the course, admin); later questions move up so the order stays 1..n. The last question of a published quiz without pools cannot be deleted (422 quiz_has_no_questions); an essay question with answers graded or waiting: 409 question_in_use.
@result {deleted: bool, question_id: uuid, questions: question[]}';

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
    return internal.quiz_json(v_quiz) || jsonb_build_object('questions', internal.quiz_questions(v_quiz.id),
                                                            'pools', internal.quiz_pools_json(v_quiz.id));
  end if;
  -- A learner sees their own effective settings (attempts, time limit) and their close date, if any.
  return internal.quiz_json(internal.effective_quiz(app.current_user_id(), v_quiz))
         || jsonb_build_object('available_until', internal.quiz_available_until(app.current_user_id(), v_quiz.id),
                               'questions', internal.quiz_questions_public(v_quiz.id));
end
$$;
comment on function api.quiz_get(uuid) is
$$A quiz with its questions. Students (actively enrolled, published quizzes) never get correct_answer;
the course's instructor and admins do (with the quiz's pools). Invisible quizzes: 404. A learner's
drawn questions come with their attempt (attempt.start), not here.
Questions carry correct_answer, created_at and updated_at only for the instructor and admins. A learner
sees their own max_attempts and time_limit_minutes (overrides, accommodation) and available_until.
@result {id: uuid, quiz_id: uuid, course_id: uuid, lesson_id: uuid?, title: text, description: text?,
  time_limit_minutes: int?, passing_score_percentage: int, max_attempts: int?, is_published: bool,
  created_at: timestamptz, updated_at: timestamptz, module_id: uuid?, module_position: int?,
  shuffle_questions: bool, shuffle_options: bool, partial_credit: bool, grade_category_id: uuid?, grade_posting: text, grades_posted_at: timestamptz?,
  available_until?: timestamptz?,
  questions: {id: uuid, question_id: uuid, quiz_id: uuid?, bank_id?: uuid?, question_text: text, question_type: text,
    options: text[]?, points: int, question_order: int, correct_answer?: json, tolerance?: number?, retired?: bool,
    created_at?: timestamptz, updated_at?: timestamptz}[], pools?: pool[]}$$;

create or replace function api.quiz_list(course_id uuid, "limit" integer default 50, "offset" integer default 0)
returns jsonb
language plpgsql
stable
as $$
begin
  perform internal.check_page(quiz_list."limit", quiz_list."offset", 100);
  if not internal.can_see_course(quiz_list.course_id) then
    raise exception 'course not found' using errcode = 'LM404', detail = 'not_found', hint = 'course_id';
  end if;
  return (select coalesce(jsonb_agg(internal.quiz_json(z) || jsonb_build_object(
                   'question_count', (select count(*) from app.questions q where q.quiz_id = z.id))
                 order by z.created_at, z.id), '[]')
          from (select z0.id from app.quizzes z0
                where z0.course_id = quiz_list.course_id
                order by z0.created_at, z0.id
                limit coalesce(quiz_list."limit", 50) offset coalesce(quiz_list."offset", 0)) x
          join app.quizzes z on z.id = x.id);
end
$$;
comment on function api.quiz_list(uuid, integer, integer) is
  'Quizzes of a course the caller may see (students: published ones of courses they are enrolled in; others of a visible course: none). A course the caller cannot see: 404.
@result {id: uuid, quiz_id: uuid, course_id: uuid, lesson_id: uuid?, title: text, description: text?,
  time_limit_minutes: int?, passing_score_percentage: int, max_attempts: int?, is_published: bool,
  created_at: timestamptz, updated_at: timestamptz, module_id: uuid?, module_position: int?,
  shuffle_questions: bool, shuffle_options: bool, partial_credit: bool, grade_category_id: uuid?, grade_posting: text, grades_posted_at: timestamptz?,
  question_count: int}[]
@param limit minimum=1 maximum=100
@param offset minimum=0
Oldest first (created_at, then id). limit: default 50, at most 100; offset: default 0.';
