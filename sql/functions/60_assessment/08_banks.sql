/*
 * Assessment — question banks, quiz pools and the draw (issue 29 §1–2).
 *
 * A bank is a course's set of questions (app.questions with bank_id); a quiz's pools draw
 * draw_count of them into every attempt. attempt.start keeps the draw with the attempt
 * (quiz_attempts.draw: ids, points and option order — never copies of the text), so the same attempt
 * always shows the same questions and grading uses them even if the bank changes later:
 * - a bank question some attempt drew is "in use": its text, type, options and points cannot change
 *   (409 question_in_use: add a new question instead); its key (correct_answer, tolerance) can be
 *   corrected, and quiz.regrade applies the correction to the attempts that drew it;
 * - deleting a question in use retires it (retired_at): kept for those attempts, never drawn again.
 * Banks are seen by the course's instructor and admins only; a learner sees exactly the bank questions
 * of their own draws (the questions policy, internal.my_drawn_question_ids).
 */

-- ---------------------------------------------------------------------------------------------
-- JSON
-- ---------------------------------------------------------------------------------------------
create or replace function internal.bank_json(p_bank app.question_banks)
returns jsonb
language sql
stable
as $$
  select jsonb_build_object(
    'id', p_bank.id, 'bank_id', p_bank.id, 'course_id', p_bank.course_id, 'title', p_bank.title,
    'question_count', (select count(*) from app.questions q where q.bank_id = p_bank.id and q.retired_at is null),
    'created_at', p_bank.created_at, 'updated_at', p_bank.updated_at)
$$;
comment on function internal.bank_json(app.question_banks) is
$$A question bank (question_count: its questions that can be drawn).
@shape bank {id: uuid, bank_id: uuid, course_id: uuid, title: text, question_count: int, created_at: timestamptz,
  updated_at: timestamptz}$$;

create or replace function internal.question_json(p_question app.questions)
returns jsonb
language sql
stable
as $$
  select jsonb_build_object(
    'id', p_question.id, 'question_id', p_question.id, 'quiz_id', p_question.quiz_id, 'bank_id', p_question.bank_id,
    'question_text', p_question.question_text, 'question_type', p_question.question_type,
    'options', p_question.options,
    'correct_answer', case when p_question.question_type = 'multiple_answer' then p_question.correct_answer::jsonb
                           when p_question.question_type = 'numeric' then p_question.correct_answer::numeric::text::jsonb
                           else to_jsonb(p_question.correct_answer) end,
    'tolerance', p_question.tolerance, 'points', p_question.points, 'question_order', p_question.question_order,
    'retired', p_question.retired_at is not null,
    'created_at', p_question.created_at, 'updated_at', p_question.updated_at)
$$;
comment on function internal.question_json(app.questions) is
$$A question WITH its key, for the course's instructor and admins only (callers are SECURITY DEFINER functions that
check): correct_answer as the client gave it (a string, a number, an array of options for multiple_answer; null
or guidance for an essay).
@shape question {id: uuid, question_id: uuid, quiz_id: uuid?, bank_id: uuid?, question_text: text, question_type: text,
  options: text[]?, correct_answer: json, tolerance: number?, points: int, question_order: int, retired: bool,
  created_at: timestamptz, updated_at: timestamptz}$$;

create or replace function internal.pool_json(p_pool app.quiz_pools)
returns jsonb
language sql
stable
as $$
  select jsonb_build_object(
    'id', p_pool.id, 'pool_id', p_pool.id, 'quiz_id', p_pool.quiz_id, 'bank_id', p_pool.bank_id,
    'draw_count', p_pool.draw_count, 'points_each', p_pool.points_each, 'position', p_pool.position,
    'created_at', p_pool.created_at)
$$;
comment on function internal.pool_json(app.quiz_pools) is
$$A quiz's pool: draw_count questions of bank_id per attempt, each worth points_each (null: its own points).
@shape pool {id: uuid, pool_id: uuid, quiz_id: uuid, bank_id: uuid, draw_count: int, points_each: int?, position: int,
  created_at: timestamptz}$$;

create or replace function internal.bank_questions(p_bank_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_course_id uuid := (select b.course_id from app.question_banks b where b.id = p_bank_id);
begin
  if v_course_id is null or not internal.can_manage_course(v_course_id) then
    raise exception 'bank not found' using errcode = 'LM404', detail = 'not_found', hint = 'bank_id';
  end if;
  return (select coalesce(jsonb_agg(internal.question_json(q) order by q.question_order, q.id), '[]')
          from app.questions q where q.bank_id = p_bank_id);
end
$$;
comment on function internal.bank_questions(uuid) is
  'The questions of a bank WITH their keys, retired ones included (retired: true), for the course''s instructor or an admin (else LM404). SECURITY DEFINER because no client role may select correct_answer.';

create or replace function internal.question_with_key(p_question_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_question app.questions;
  v_course   uuid;
begin
  select q.* into v_question from app.questions q where q.id = p_question_id;
  v_course := coalesce((select z.course_id from app.quizzes z where z.id = v_question.quiz_id),
                       (select b.course_id from app.question_banks b where b.id = v_question.bank_id));
  if v_course is null or not internal.can_manage_course(v_course) then
    raise exception 'question not found' using errcode = 'LM404', detail = 'not_found', hint = 'question_id';
  end if;
  return internal.question_json(v_question);
end
$$;
comment on function internal.question_with_key(uuid) is
  'One question WITH its key (the question shape), for the instructor of its course or an admin (else LM404). SECURITY DEFINER: reads correct_answer.';

-- ---------------------------------------------------------------------------------------------
-- Guards
-- ---------------------------------------------------------------------------------------------
create or replace function internal.managed_bank(p_bank_id uuid, p_lock boolean default false)
returns app.question_banks
language sql
volatile
as $$
  select internal.managed_row(null::app.question_banks, p_bank_id, 'bank', p_lock)
$$;
comment on function internal.managed_bank(uuid, boolean) is
  'The bank (optionally locked FOR UPDATE) if the caller manages its course; LM404 if invisible, LM403 if visible but not theirs (internal.managed_row).';

create or replace function internal.question_in_use(p_question_id uuid)
returns boolean
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_course_id uuid := (select b.course_id from app.question_banks b join app.questions q on q.bank_id = b.id
                       where q.id = p_question_id);
begin
  -- The attempts of the quizzes of the bank's course (a pool removed since still counts).
  return v_course_id is not null and exists (
    select from app.quizzes z join app.quiz_attempts a on a.quiz_id = z.id
    where z.course_id = v_course_id and a.draw is not null
      and a.draw @> jsonb_build_array(jsonb_build_object('id', p_question_id)));
end
$$;
comment on function internal.question_in_use(uuid) is
  'Whether some attempt drew this bank question (its draw holds it). SECURITY DEFINER: reads every attempt of the course, for its instructor''s edit.';

drop function if exists internal.bank_question_row(uuid);
create or replace function internal.require_bank_question(p_question_id uuid)
returns void
language plpgsql
volatile
as $$
declare
  v_bank_id uuid;
begin
  perform internal.require_user();
  select q.bank_id into v_bank_id from app.questions q where q.id = p_question_id and q.bank_id is not null;
  if v_bank_id is null then
    raise exception 'question not found' using errcode = 'LM404', detail = 'not_found', hint = 'question_id';
  end if;
  perform internal.managed_bank(v_bank_id, true);  -- serialises the bank's writers
end
$$;
comment on function internal.require_bank_question(uuid) is
  'Raise unless the caller may change this bank question (they manage its course; its bank is then locked FOR UPDATE): LM404 unless visible, LM403 unless theirs.';

-- ---------------------------------------------------------------------------------------------
-- bank.*
-- ---------------------------------------------------------------------------------------------
create or replace function api.bank_create(course_id uuid, title text)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_bank app.question_banks;
begin
  perform internal.require_course_manager(bank_create.course_id);
  insert into app.question_banks as b (course_id, title) values (bank_create.course_id, btrim(bank_create.title))
  returning b.* into v_bank;
  return internal.bank_json(v_bank);
end
$$;
comment on function api.bank_create(uuid, text) is
$$Create a question bank in a course (its instructor or an admin).
@result bank
@param title minLength=1 maxLength=200$$;

create or replace function api.bank_list(course_id uuid)
returns jsonb
language plpgsql
stable
as $$
begin
  perform internal.require_course_manager(bank_list.course_id);
  return (select coalesce(jsonb_agg(internal.bank_json(b) order by b.created_at, b.id), '[]')
          from app.question_banks b where b.course_id = bank_list.course_id);
end
$$;
comment on function api.bank_list(uuid) is
  'The question banks of a course, oldest first (its instructor or an admin).
@result bank[]';

create or replace function api.bank_get(bank_id uuid)
returns jsonb
language plpgsql
stable
as $$
declare
  v_bank app.question_banks;
begin
  perform internal.require_user();
  select b.* into v_bank from app.question_banks b where b.id = bank_get.bank_id;
  if v_bank.id is null then
    raise exception 'bank not found' using errcode = 'LM404', detail = 'not_found', hint = 'bank_id';
  end if;
  return internal.bank_json(v_bank) || jsonb_build_object('questions', internal.bank_questions(v_bank.id));
end
$$;
comment on function api.bank_get(uuid) is
$$A bank with its questions and their keys (the course's instructor or an admin; anyone else 404). Retired
questions (deleted after an attempt drew them) are listed with retired: true.
@result {id: uuid, bank_id: uuid, course_id: uuid, title: text, question_count: int, created_at: timestamptz,
  updated_at: timestamptz, questions: question[]}$$;

create or replace function api.bank_add_question(
  bank_id uuid, question_text text, question_type text, correct_answer jsonb default null,
  options jsonb default null, points integer default 1, tolerance numeric default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_bank app.question_banks := internal.managed_bank(bank_add_question.bank_id, true);
  v_id   uuid;
begin
  insert into app.questions as q (bank_id, question_text, question_type, options, correct_answer, points,
                                  question_order, tolerance)
  values (v_bank.id, btrim(bank_add_question.question_text), bank_add_question.question_type, bank_add_question.options,
          internal.answer_key(bank_add_question.question_type, bank_add_question.correct_answer),
          coalesce(bank_add_question.points, 1),
          coalesce((select max(x.question_order) from app.questions x where x.bank_id = v_bank.id), 0) + 1,
          bank_add_question.tolerance)
  returning q.id into v_id;
  update app.question_banks b set updated_at = now() where b.id = v_bank.id;
  return internal.question_with_key(v_id);
end
$$;
comment on function api.bank_add_question(uuid, text, text, jsonb, jsonb, integer, numeric) is
$$Add a question to a bank (the course's instructor or an admin) → the question with its key. The types and
their validation are quiz.add_question's: multiple_choice, true_false, short_answer, multiple_answer
(correct_answer an array of options), numeric (a number, tolerance ≥ 0), essay (correct_answer: optional
guidance for the grader, never shown to learners).
@result question
@param question_text minLength=1 maxLength=5000
@param question_type maxLength=20
@param points minimum=1
@param tolerance minimum=0$$;

create or replace function api.bank_update_question(
  question_id uuid, question_text text default null, question_type text default null, options jsonb default null,
  correct_answer jsonb default null, points integer default null, tolerance numeric default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_question record;
  v_type     text;
begin
  perform internal.require_bank_question(bank_update_question.question_id);
  -- Every column but correct_answer, which no client role may read.
  select q.id, q.question_text, q.question_type, q.options, q.points, q.retired_at into v_question
  from app.questions q where q.id = bank_update_question.question_id;
  v_type := coalesce(bank_update_question.question_type, v_question.question_type);
  if v_question.retired_at is not null then
    raise exception 'this question was deleted' using errcode = 'LM404', detail = 'not_found', hint = 'question_id';
  end if;
  if (bank_update_question.question_text is not null and btrim(bank_update_question.question_text) <> v_question.question_text)
     or v_type <> v_question.question_type
     or (internal.given('options', bank_update_question.options) and bank_update_question.options is distinct from v_question.options)
     or (bank_update_question.points is not null and bank_update_question.points <> v_question.points) then
    if internal.question_in_use(v_question.id) then
      raise exception 'attempts drew this question: only its answer key can change (add a new question instead)'
        using errcode = 'LM409', detail = 'question_in_use', hint = 'question_id';
    end if;
  end if;
  perform internal.write_question(v_question.id, bank_update_question.question_text, v_type, bank_update_question.options,
                                  internal.given('options', bank_update_question.options), bank_update_question.points,
                                  bank_update_question.tolerance, internal.given('tolerance', bank_update_question.tolerance),
                                  bank_update_question.correct_answer,
                                  internal.given('correct_answer', bank_update_question.correct_answer));
  return internal.question_with_key(v_question.id);
end
$$;
comment on function api.bank_update_question(uuid, text, text, jsonb, jsonb, integer, numeric) is
$$Change a bank question (the course's instructor or an admin); omitted fields stay. Once an attempt has drawn
it, only its key (correct_answer, tolerance) may change — 409 question_in_use for text, type, options or
points (add a new question instead); then quiz.regrade applies a corrected key to those attempts.
@result question
@patch
@param options nullable
@param tolerance nullable minimum=0
@param question_text minLength=1 maxLength=5000
@param question_type maxLength=20
@param points minimum=1$$;

create or replace function api.bank_delete_question(question_id uuid)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_retired boolean;
begin
  perform internal.require_bank_question(bank_delete_question.question_id);
  v_retired := internal.question_in_use(bank_delete_question.question_id);
  if v_retired then
    update app.questions q set retired_at = coalesce(q.retired_at, now()) where q.id = bank_delete_question.question_id;
  else
    delete from app.questions q where q.id = bank_delete_question.question_id;
  end if;
  return jsonb_build_object('deleted', true, 'question_id', bank_delete_question.question_id, 'retired', v_retired);
end
$$;
comment on function api.bank_delete_question(uuid) is
  'Delete a bank question (the course''s instructor or an admin). A question some attempt drew is retired instead (retired: true): those attempts keep it, no attempt draws it again.
@result {deleted: bool, question_id: uuid, retired: bool}';

-- ---------------------------------------------------------------------------------------------
-- quiz pools
-- ---------------------------------------------------------------------------------------------
create or replace function internal.check_pool_sizes(p_quiz_id uuid)
returns void
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_short record;
begin
  -- Pools of one bank draw distinct questions together.
  select w.bank_id, w.wanted, a.available into v_short
  from (select p.bank_id, sum(p.draw_count) as wanted from app.quiz_pools p where p.quiz_id = p_quiz_id
        group by p.bank_id) w
  cross join lateral (select count(*) as available from app.questions q
                      where q.bank_id = w.bank_id and q.retired_at is null) a
  where w.wanted > a.available
  limit 1;
  if v_short.bank_id is not null then
    raise exception 'the quiz draws % questions from a bank that has %', v_short.wanted, v_short.available
      using errcode = 'LM422', detail = 'pool_too_large', hint = 'draw_count';
  end if;
end
$$;
comment on function internal.check_pool_sizes(uuid) is
  'LM422 pool_too_large when a quiz''s pools ask a bank for more questions than it has (retired ones do not count; pools of the same bank together). At quiz.publish and attempt.start. SECURITY DEFINER: counts bank questions for a learner''s attempt.start too.';

create or replace function api.quiz_add_pool(quiz_id uuid, bank_id uuid, draw_count integer, points_each integer default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_quiz app.quizzes := internal.managed_quiz(quiz_add_pool.quiz_id, true);
  v_pool app.quiz_pools;
begin
  if not exists (select from app.question_banks b where b.id = quiz_add_pool.bank_id and b.course_id = v_quiz.course_id) then
    raise exception 'bank not found in this course' using errcode = 'LM404', detail = 'not_found', hint = 'bank_id';
  end if;
  insert into app.quiz_pools as p (quiz_id, bank_id, course_id, draw_count, points_each, position)
  values (v_quiz.id, quiz_add_pool.bank_id, v_quiz.course_id, quiz_add_pool.draw_count, quiz_add_pool.points_each,
          coalesce((select max(x.position) from app.quiz_pools x where x.quiz_id = v_quiz.id), 0) + 1)
  returning p.* into v_pool;
  if v_quiz.is_published then
    perform internal.check_pool_sizes(v_quiz.id);
  end if;
  return internal.pool_json(v_pool);
end
$$;
comment on function api.quiz_add_pool(uuid, uuid, integer, integer) is
$$Draw draw_count questions of a bank of the same course into every attempt at the quiz, each worth points_each
(default: the question's points). Instructor of the course, admin. A bank of another course: 404. On a published
quiz, more than the bank holds: 422 pool_too_large (checked again at quiz.publish and attempt.start).
@result pool
@param draw_count minimum=1 maximum=1000
@param points_each minimum=1 maximum=1000$$;

create or replace function api.quiz_remove_pool(pool_id uuid default null, quiz_id uuid default null, bank_id uuid default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_pool app.quiz_pools;
  v_quiz app.quizzes;
begin
  perform internal.require_user();
  select p.* into v_pool from app.quiz_pools p
  where (quiz_remove_pool.pool_id is not null and p.id = quiz_remove_pool.pool_id)
     or (quiz_remove_pool.pool_id is null and p.quiz_id = quiz_remove_pool.quiz_id and p.bank_id = quiz_remove_pool.bank_id)
  order by p.position limit 1;
  if v_pool.id is null then
    raise exception 'pool not found' using errcode = 'LM404', detail = 'not_found',
      hint = case when quiz_remove_pool.pool_id is null then 'quiz_id' else 'pool_id' end;
  end if;
  v_quiz := internal.managed_quiz(v_pool.quiz_id, true);
  if v_quiz.is_published and not exists (select from app.questions q where q.quiz_id = v_quiz.id)
     and not exists (select from app.quiz_pools p where p.quiz_id = v_quiz.id and p.id <> v_pool.id) then
    raise exception 'a published quiz keeps at least one question or pool (unpublish it first)'
      using errcode = 'LM422', detail = 'quiz_has_no_questions';
  end if;
  delete from app.quiz_pools p where p.id = v_pool.id;
  return jsonb_build_object('deleted', true, 'pool_id', v_pool.id, 'quiz_id', v_pool.quiz_id);
end
$$;
comment on function api.quiz_remove_pool(uuid, uuid, uuid) is
  'Stop drawing from a pool (by pool_id, or by quiz_id and bank_id); started and submitted attempts keep what they drew. Instructor of the course, admin.
@result {deleted: bool, pool_id: uuid, quiz_id: uuid}';

create or replace function internal.quiz_pools_json(p_quiz_id uuid)
returns jsonb
language sql
stable
as $$
  select coalesce(jsonb_agg(internal.pool_json(p) order by p.position), '[]')
  from app.quiz_pools p where p.quiz_id = p_quiz_id
$$;
comment on function internal.quiz_pools_json(uuid) is 'The pools of a quiz, in order (as the caller may see them: managers).';

-- ---------------------------------------------------------------------------------------------
-- Places in a bank: every drawable question has one, 1..n without gaps (the draw picks random places)
-- ---------------------------------------------------------------------------------------------
create or replace function internal.tg_questions__bank_position()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  -- Whatever changes a bank's places waits for the others on the bank's row (concurrent additions and
  -- deletions queue here, before any row changes, so that two of them never wait on each other).
  if tg_op = 'DELETE' then
    perform from app.question_banks b where b.id = old.bank_id for no key update;
    return old;
  end if;
  if new.bank_id is null or new.retired_at is not null then
    if tg_op = 'UPDATE' and old.bank_position is not null then
      perform from app.question_banks b where b.id = old.bank_id for no key update;
    end if;
    new.bank_position := null;  -- not drawable (its place is filled after the change, below)
  elsif tg_op = 'UPDATE' and old.bank_id = new.bank_id and old.bank_position is not null then
    if pg_trigger_depth() = 1 then
      new.bank_position := old.bank_position;  -- a place is moved only to fill another (below), never by hand
    end if;
  else
    perform from app.question_banks b where b.id = new.bank_id for no key update;
    if tg_op = 'UPDATE' and old.bank_position is not null then
      perform from app.question_banks b where b.id = old.bank_id for no key update;
    end if;
    new.bank_position := coalesce((select max(q.bank_position) from app.questions q
                                   where q.bank_id = new.bank_id and q.bank_position is not null), 0) + 1;
  end if;
  return new;
end
$$;
comment on function internal.tg_questions__bank_position() is
  'BEFORE INSERT/UPDATE/DELETE of a bank question: a question that becomes drawable takes its bank''s next place (n + 1); one that stops being drawable (retired, moved) gives its place up; places are not changed by hand. Takes the bank''s row lock first. SECURITY DEFINER: reads and locks the bank whatever the writer may see.';
drop trigger if exists _020_bank_position on app.questions;
create trigger _020_bank_position before insert or update of bank_id, retired_at, bank_position on app.questions
  for each row when (new.bank_id is not null or new.bank_position is not null)
  execute function internal.tg_questions__bank_position();
drop trigger if exists _020_bank_position_delete on app.questions;
create trigger _020_bank_position_delete before delete on app.questions
  for each row when (old.bank_position is not null) execute function internal.tg_questions__bank_position();

create or replace function internal.tg_questions__fill_bank_place()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  -- The bank's last question takes the freed place (the bank's row is locked: see above).
  update app.questions q set bank_position = old.bank_position
  where q.bank_id = old.bank_id and q.bank_position > old.bank_position
    and q.bank_position = (select max(x.bank_position) from app.questions x
                           where x.bank_id = old.bank_id and x.bank_position is not null);
  return null;
end
$$;
comment on function internal.tg_questions__fill_bank_place() is
  'AFTER a drawable bank question is retired, moved or deleted: the bank''s last question takes its place, so the places stay 1..n. SECURITY DEFINER: moves a question the writer may not see.';
drop trigger if exists _020_fill_bank_place on app.questions;
create trigger _020_fill_bank_place after update of bank_id, retired_at, bank_position on app.questions
  for each row when (old.bank_position is not null and (new.bank_position is null or new.bank_id is distinct from old.bank_id))
  execute function internal.tg_questions__fill_bank_place();
drop trigger if exists _020_fill_bank_place_delete on app.questions;
create trigger _020_fill_bank_place_delete after delete on app.questions
  for each row when (old.bank_position is not null) execute function internal.tg_questions__fill_bank_place();

-- ---------------------------------------------------------------------------------------------
-- The draw
-- ---------------------------------------------------------------------------------------------
drop function if exists internal.attempt_draw(app.quizzes);  -- now with the questions as shown, in one pass
create or replace function internal.attempt_draw(p_quiz app.quizzes, out draw jsonb, out questions jsonb)
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan  -- one plan for every quiz (a custom plan per call costs more)
as $$
declare
  v_rows   app.questions[];  -- the attempt's questions, in their order (read once: no second lookup)
  v_points integer[];
  v_got    app.questions[];
  v_pool   app.quiz_pools;
  v_n      integer;
  v_places integer[];
  v_place  integer;
begin
  if not p_quiz.shuffle_questions and not p_quiz.shuffle_options
     and not exists (select from app.quiz_pools p where p.quiz_id = p_quiz.id) then
    return;  -- the quiz's fixed questions, in their order: nothing to keep
  end if;
  -- The fixed questions first, in their order (their own points); then each pool's draw, distinct
  -- across pools, worth points_each (null: the question's own points).
  select coalesce(array_agg(q order by q.question_order), '{}'), coalesce(array_agg(null::integer), '{}')
  into v_rows, v_points
  from app.questions q where q.quiz_id = p_quiz.id;
  for v_pool in select p.* from app.quiz_pools p where p.quiz_id = p_quiz.id order by p.position loop
    v_got := null;
    v_n := (select max(q.bank_position) from app.questions q
            where q.bank_id = v_pool.bank_id and q.bank_position is not null);  -- places are 1..n: n drawable
    if v_n >= 4 * v_pool.draw_count then
      -- draw_count distinct random places (a repeat is rare with a bank 4× the draw), each looked up by
      -- key: the cost is the draw's, not the bank's.
      v_places := '{}';
      while cardinality(v_places) < v_pool.draw_count loop
        v_place := 1 + floor(random() * v_n)::integer;
        if v_place <> all (v_places) then
          v_places := v_places || v_place;
        end if;
      end loop;
      v_got := array(select x.q from unnest(v_places) with ordinality p(place, k)
                     cross join lateral (select q0 as q from app.questions q0
                                         where q0.bank_id = v_pool.bank_id and q0.bank_position = p.place
                                           and q0.id <> all (select (r).id from unnest(v_rows) r) offset 0) x
                     order by p.k);
    end if;
    if coalesce(cardinality(v_got), 0) < v_pool.draw_count then
      -- A bank not much larger than the draw, a second pool of the same bank that drew a question twice,
      -- or a place that moved since n was read: draw from all the bank's questions (as uniform).
      v_got := array(select q from app.questions q
                     where q.bank_id = v_pool.bank_id and q.retired_at is null
                       and q.id <> all (select (r).id from unnest(v_rows) r)
                     order by random() limit v_pool.draw_count);
    end if;
    if cardinality(v_got) < v_pool.draw_count then  -- the bank shrank since the quiz was published
      raise exception 'a pool of this quiz asks for more questions than its bank has'
        using errcode = 'LM422', detail = 'pool_too_large', hint = 'quiz_id';
    end if;
    v_rows := v_rows || v_got;
    v_points := v_points || array_fill(v_pool.points_each, array[v_pool.draw_count]);
  end loop;
  if p_quiz.shuffle_questions then
    select array_agg(v_rows[x.k] order by x.r), array_agg(v_points[x.k] order by x.r) into v_rows, v_points
    from (select k, random() as r from generate_series(1, cardinality(v_rows)) k) x;
  end if;
  -- What is kept (ids, points, option order) and what the learner is shown, in one pass.
  if not p_quiz.shuffle_options then
    select jsonb_agg(jsonb_build_object('id', q.id, 'points', coalesce(v_points[q.ordinality], q.points)) order by q.ordinality),
           jsonb_agg(jsonb_build_object('id', q.id, 'question_id', q.id, 'question_text', q.question_text,
                                        'question_type', q.question_type, 'options', q.options,
                                        'points', coalesce(v_points[q.ordinality], q.points), 'question_order', q.ordinality) order by q.ordinality)
    into draw, questions
    from unnest(v_rows) with ordinality q;
    return;
  end if;
  with item as (
    select q.id, q.question_text, q.question_type, q.options, coalesce(v_points[q.ordinality], q.points) as points, q.ordinality as n
    from unnest(v_rows) with ordinality q
  ), option_order as (
    select i.id, jsonb_agg(o.k - 1 order by o.r) as kept, jsonb_agg(o.v order by o.r) as shown
    from item i cross join lateral (select o0.v, o0.k, random() as r from jsonb_array_elements(i.options) with ordinality o0(v, k)) o
    where i.question_type in ('multiple_choice', 'multiple_answer')
    group by i.id
  )
  select jsonb_agg(jsonb_build_object('id', i.id, 'points', i.points)
                   || case when o.kept is not null then jsonb_build_object('options', o.kept) else '{}' end order by i.n),
         jsonb_agg(jsonb_build_object('id', i.id, 'question_id', i.id, 'question_text', i.question_text,
                                      'question_type', i.question_type, 'options', coalesce(o.shown, i.options),
                                      'points', i.points, 'question_order', i.n) order by i.n)
  into draw, questions
  from item i left join option_order o on o.id = i.id;
end
$$;
comment on function internal.attempt_draw(app.quizzes) is
  'What a new attempt shows and is graded on: the quiz''s fixed questions, then draw_count distinct random questions of each pool''s bank (not retired; 422 pool_too_large if a bank is short), shuffled and with their options shuffled when the quiz asks → draw [{id, points, options?}] (kept with the attempt; options: the order of the question''s option indexes) and questions (as the learner sees them, as internal.attempt_questions_json shows them again). Both null for a quiz without pools or shuffling. SECURITY DEFINER: reads bank questions learners cannot see before they are drawn.';

create or replace function internal.attempt_questions_json(p_attempt app.quiz_attempts)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if p_attempt.draw is null then
    return (select coalesce(jsonb_agg(jsonb_build_object(
                     'id', q.id, 'question_id', q.id, 'question_text', q.question_text,
                     'question_type', q.question_type, 'options', q.options, 'points', q.points,
                     'question_order', q.question_order) order by q.question_order), '[]')
            from app.questions q where q.quiz_id = p_attempt.quiz_id);
  end if;
  return (select coalesce(jsonb_agg(jsonb_build_object(
                   'id', q.id, 'question_id', q.id, 'question_text', q.question_text,
                   'question_type', q.question_type,
                   'options', case when d.item ? 'options'
                                   then (select jsonb_agg(q.options -> (o.i #>> '{}')::integer order by o.n)
                                         from jsonb_array_elements(d.item -> 'options') with ordinality o(i, n))
                                   else q.options end,
                   'points', (d.item ->> 'points')::integer, 'question_order', d.n) order by d.n), '[]')
          from jsonb_array_elements(p_attempt.draw) with ordinality d(item, n)
          cross join lateral (select q0.* from app.questions q0 where q0.id = (d.item ->> 'id')::uuid offset 0) q);  -- by key
end
$$;
comment on function internal.attempt_questions_json(app.quiz_attempts) is
  'The questions of an attempt as its learner sees them (never a key): its draw in its order with its option order, or the quiz''s fixed questions. SECURITY DEFINER: drawn bank questions are read for the attempt''s owner (callers check it).';

create or replace function internal.my_drawn_question_ids()
returns uuid[]
language plpgsql
stable
parallel safe
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return coalesce((select array_agg(distinct (d.item ->> 'id')::uuid)
                   from app.quiz_attempts a cross join jsonb_array_elements(a.draw) d(item)
                   where a.user_id = app.current_user_id() and a.draw is not null), '{}');
end
$$;
comment on function internal.my_drawn_question_ids() is
  'Ids of the questions the caller''s own attempts drew (the questions policy: a learner sees exactly the bank questions of their draws). SECURITY DEFINER: reads only the caller''s attempts.';
