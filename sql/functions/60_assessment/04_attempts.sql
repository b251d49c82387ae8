/*
 * Assessment — attempt.* (SECURITY DEFINER: students never write attempts directly).
 */

-- ---------------------------------------------------------------------------------------
-- Attempts (SECURITY DEFINER: students never write attempts directly)
-- ---------------------------------------------------------------------------------------
create or replace function internal.attempt_points_total(p_attempt app.quiz_attempts)
returns integer
language plpgsql  -- not SQL: a SQL function that is not inlined is planned again at every call
stable
as $$
begin
  return (select case when p_attempt.draw is not null
                        then (select coalesce(sum((d.item ->> 'points')::integer), 0)::integer
                              from jsonb_array_elements(p_attempt.draw) d(item))
                        else (select coalesce(sum(q.points), 0)::integer from app.questions q where q.quiz_id = p_attempt.quiz_id) end);
end
$$;
comment on function internal.attempt_points_total(app.quiz_attempts) is
  'What an attempt is worth: the points of its draw, else of the quiz''s fixed questions now. Called by definer functions (expiry, grading).';

create or replace function internal.close_expired_attempt(p_attempt_id uuid, p_started_at timestamptz)
returns void
language sql
volatile
as $$
  update app.quiz_attempts a
  set status = 'expired', submitted_at = now(), score = 0, passed = false, points_earned = 0,
      points_total = internal.attempt_points_total(a),
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
  v_last    timestamptz;
  v_attempt app.quiz_attempts;
  v_resumed boolean := false;
  v_until   timestamptz;
  v_draw    jsonb;
  v_questions jsonb;
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
  perform internal.require_item_unlocked(v_quiz.course_id, v_quiz.module_id);
  v_quiz := internal.effective_quiz(v_user_id, v_quiz);  -- the learner's attempts and time (overrides)
  v_until := internal.quiz_available_until(v_user_id, v_quiz.id);

  -- Serialise this student's starts for this quiz on the counter row.
  insert into app.quiz_attempt_counters as c (user_id, quiz_id, attempts_used)
  values (v_user_id, v_quiz.id, 0)
  on conflict on constraint pk_quiz_attempt_counters do update set attempts_used = c.attempts_used
  returning c.attempts_used, c.last_started_at into v_used, v_last;

  -- An open attempt is returned instead of a new one; an open one past its grace is closed. Only the
  -- latest attempt can be open (a new one is started only when none is), and the counter row knows
  -- its started_at: the lookup prunes to that one partition.
  if v_last is not null then
    select a.* into v_attempt from app.quiz_attempts a
    where a.user_id = v_user_id and a.quiz_id = v_quiz.id and a.started_at = v_last
      and a.status = 'in_progress'
    order by a.attempt_number desc limit 1;
  end if;
  if v_attempt.id is not null then
    if v_attempt.deadline_at is null or now() <= v_attempt.deadline_at + internal.attempt_grace() then
      v_resumed := true;
    else
      perform internal.close_expired_attempt(v_attempt.id, v_attempt.started_at);
      v_attempt := null;
    end if;
  end if;

  if not v_resumed then
    if v_until is not null and now() >= v_until then
      return internal.error(422, 'quiz_closed', 'the quiz closed for you at ' || v_until);
    end if;
    if v_quiz.max_attempts is not null and v_used >= v_quiz.max_attempts then
      -- Returned, not raised: an expired attempt closed just above stays closed.
      return internal.error(422, 'attempt_limit_reached',
                            format('no attempts left for this quiz (%s allowed)', v_quiz.max_attempts));
    end if;
    update app.quiz_attempt_counters c set attempts_used = c.attempts_used + 1, last_started_at = now()
    where c.user_id = v_user_id and c.quiz_id = v_quiz.id;
    select d.draw, d.questions into v_draw, v_questions from internal.attempt_draw(v_quiz) d;  -- pools, shuffling
    insert into app.quiz_attempts as a (user_id, quiz_id, attempt_number, started_at, deadline_at, draw)
    values (v_user_id, v_quiz.id, v_used + 1, now(),
            least(now() + make_interval(mins => v_quiz.time_limit_minutes), v_until), v_draw)
    returning a.* into v_attempt;
  end if;

  return jsonb_build_object(
    'attempt_id', v_attempt.id, 'quiz_id', v_quiz.id, 'attempt_number', v_attempt.attempt_number,
    'started_at', v_attempt.started_at, 'deadline', v_attempt.deadline_at,
    'time_limit_minutes', v_quiz.time_limit_minutes, 'resumed', v_resumed,
    'attempts_used', greatest(v_used, v_attempt.attempt_number), 'max_attempts', v_quiz.max_attempts,
    'questions', coalesce(v_questions, internal.attempt_questions_json(v_attempt)));
end
$$;
comment on function api.attempt_start(uuid) is
$$Start (or resume) an attempt at a published quiz (actively enrolled student; else 403 not_enrolled)
→ {attempt_id, started_at, deadline, questions} (never correct_answer).
An open attempt whose deadline + 30 s has not passed is returned instead of a new one (resumed: true).
At most max_attempts started attempts per student and quiz, also under concurrent calls
(422 attempt_limit_reached). deadline = started_at + time_limit_minutes (null without a limit).
A quiz with pools draws draw_count distinct questions of each pool's bank into the new attempt (after its
fixed questions), shuffled when the quiz asks, and keeps the draw: the same attempt always returns the same
questions and options in the same order, and is graded on them (422 pool_too_large if a bank has fewer
questions than its pools ask for).
Both are the learner's own: max_attempts + their extra_attempts, their time limit (override, or the
quiz's × their course time_multiplier); after their available_until no attempt starts (422 quiz_closed)
and none runs past it.
@result {attempt_id: uuid, quiz_id: uuid, attempt_number: int, started_at: timestamptz, deadline: timestamptz?,
  time_limit_minutes: int?, resumed: bool, attempts_used: int, max_attempts: int?,
  questions: {id: uuid, question_id: uuid, question_text: text, question_type: text, options: text[]?,
    points: int, question_order: int}[]}
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
  v_items   jsonb;
  v_pending boolean;
  v_earned  numeric;
  v_total   integer;
  v_score   integer;
  v_passed  boolean;
  v_module_was boolean;
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
  -- No module lock here, by decision: an attempt started while its module was open may be submitted
  -- after the module locked again (a new prerequisite, a later unlock date); its deadline still holds.
  -- The work a learner began under an open module is not lost; a new attempt needs the module open.

  if v_attempt.deadline_at is not null and now() > v_attempt.deadline_at + internal.attempt_grace() then
    -- Close it with score 0 and report the error without raising, so the closure commits.
    perform internal.close_expired_attempt(v_attempt.id, v_attempt.started_at);
    return internal.error(422, 'attempt_expired', 'the time for this attempt ran out; it was closed with score 0');
  end if;

  if attempt_submit.answers is null or jsonb_typeof(attempt_submit.answers) <> 'object' then
    raise exception 'answers must be an object {question_id: answer}'
      using errcode = 'LM422', detail = 'invalid_answer', hint = 'answers';
  end if;
  -- The attempt's questions: its draw (ids and points as drawn), else the quiz's fixed questions.
  v_items := coalesce((select jsonb_agg(d.item order by d.n) from jsonb_array_elements(v_attempt.draw) with ordinality d(item, n)),
                      (select jsonb_agg(jsonb_build_object('id', q.id, 'points', q.points) order by q.question_order)
                       from app.questions q where q.quiz_id = v_quiz.id), '[]');
  for v_key, v_value in select e.key, e.value from jsonb_each(attempt_submit.answers) e loop
    if v_key !~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$'
       or not v_items @> jsonb_build_array(jsonb_build_object('id', v_key::uuid)) then
      raise exception 'answer for an unknown question: %', left(v_key, 64)
        using errcode = 'LM422', detail = 'invalid_answer', hint = 'answers';
    end if;
    if jsonb_typeof(v_value) not in ('string', 'boolean', 'number', 'null', 'array')
       or (jsonb_typeof(v_value) = 'array'
           and (jsonb_array_length(v_value) > 100
                or exists (select from jsonb_array_elements(v_value) x(v) where jsonb_typeof(x.v) <> 'string')
                or not exists (select from app.questions q
                               where q.id = v_key::uuid and q.question_type = 'multiple_answer'))) then
      raise exception 'an answer must be a string (or, for a multiple-answer question, an array of options)'
        using errcode = 'LM422', detail = 'invalid_answer', hint = 'answers';
    end if;
  end loop;
  -- Keys are distinct as text, not as uuids: "ABC…" and "abc…" or a key without dashes name the
  -- same question. One answer per question, whatever the spelling.
  if (select count(*) <> count(distinct e.key::uuid) from jsonb_each(attempt_submit.answers) e) then
    raise exception 'a question was answered more than once (the same id spelled differently)'
      using errcode = 'LM422', detail = 'invalid_answer', hint = 'answers';
  end if;

  -- Grade every question of the attempt, one row per question (never one per answer key); unanswered
  -- questions earn nothing; essays wait for a person (points_earned null).
  with item as (
    select (i.item ->> 'id')::uuid as id, (i.item ->> 'points')::integer as points
    from jsonb_array_elements(v_items) i(item)
  ), graded as materialized (  -- graded once per question (inlined, auto_points ran once per use of earned)
    select i.id, i.points, q.question_type, g.answer,
           internal.auto_points(q.question_type, q.correct_answer, q.tolerance, g.answer, i.points,
                                v_quiz.partial_credit) as earned
    from item i
    -- One primary-key lookup per question (OFFSET 0: flattened, the LATERAL is planned as a join with a
    -- scan of every question)
    cross join lateral (select q0.* from app.questions q0 where q0.id = i.id offset 0) q
    left join lateral (
      select case when jsonb_typeof(e.value) in ('array', 'string') then e.value else to_jsonb(e.value #>> '{}') end as answer
      from jsonb_each(attempt_submit.answers) e
      where e.key::uuid = i.id and jsonb_typeof(e.value) <> 'null'
      limit 1) g on true
  )
  select coalesce(jsonb_object_agg(gr.id, gr.answer), '{}'),
         coalesce(jsonb_object_agg(gr.id, jsonb_build_object(
           'answer', gr.answer, 'correct', case when gr.earned is not null then gr.earned = gr.points end,
           'points_earned', gr.earned, 'points', gr.points)), '{}'),
         coalesce(sum(gr.earned), 0),
         coalesce(sum(gr.points), 0)::integer,
         coalesce(bool_or(gr.question_type = 'essay'), false)
  into v_given, v_results, v_earned, v_total, v_pending
  from graded gr;

  if v_pending then  -- essays: a person grades them (grading.queue); score and passed wait
    update app.quiz_attempts a
    set status = 'needs_grading', submitted_at = now(), answers = v_given, grading = v_results,
        points_earned = v_earned, points_total = v_total
    where a.id = v_attempt.id and a.started_at = v_attempt.started_at;
    insert into app.manual_grades (attempt_id, attempt_started_at, question_id, quiz_id, course_id, user_id,
                                   submitted_at, answer, points)
    select v_attempt.id, v_attempt.started_at, g.key::uuid, v_quiz.id, v_quiz.course_id, v_user_id, now(),
           g.value ->> 'answer', (g.value ->> 'points')::integer
    from jsonb_each(v_results) g
    where g.value -> 'points_earned' = 'null'::jsonb;
    return internal.hide_grade(
      jsonb_build_object('attempt_id', v_attempt.id, 'status', 'needs_grading', 'score', null, 'passed', null,
                         'points_earned', trim_scale(v_earned), 'points_total', v_total,
                         'passing_score_percentage', v_quiz.passing_score_percentage),
      internal.grade_hidden(v_quiz.grade_posting, v_quiz.grades_posted_at));
  end if;

  v_score := internal.score_percentage(v_earned, v_total);
  v_passed := v_score >= v_quiz.passing_score_percentage;
  if v_passed and v_quiz.module_id is not null then  -- module.completed, once: the learner's calls serialise here
    perform from app.enrollments e where e.user_id = v_user_id and e.course_id = v_quiz.course_id for update;
    v_module_was := internal.module_completed(v_user_id, v_quiz.course_id, v_quiz.module_id);
  end if;
  update app.quiz_attempts a
  set status = 'submitted', submitted_at = now(), answers = v_given, grading = v_results,
      points_earned = v_earned, points_total = v_total, score = v_score, passed = v_passed
  where a.id = v_attempt.id and a.started_at = v_attempt.started_at;

  if v_passed then
    perform internal.note_module_completion(v_user_id, v_quiz.course_id, v_quiz.module_id, coalesce(v_module_was, true));
    perform internal.refresh_progress(v_user_id, v_quiz.course_id);
  end if;

  return internal.hide_grade(  -- held back (grade_posting manual): the learner learns it at grade.post
    jsonb_build_object('attempt_id', v_attempt.id, 'status', 'submitted', 'score', v_score, 'passed', v_passed,
                       'points_earned', trim_scale(v_earned), 'points_total', v_total,
                       'passing_score_percentage', v_quiz.passing_score_percentage),
    internal.grade_hidden(v_quiz.grade_posting, v_quiz.grades_posted_at));
end
$$;
comment on function api.attempt_submit(uuid, jsonb) is
$$Submit own attempt once with answers {question_id: answer} → {score, passed, points_earned, points_total, status}.
Graded in the database (internal.auto_points): multiple choice and true/false exactly, short answer after
trimming, collapsing white space and ignoring case, numeric within the tolerance, multiple answer (an array
of options) all or nothing or with partial credit; the questions are the attempt's own draw. score = points
percentage rounded half up; passed = score ≥ passing score. With essay answers the attempt is
needs_grading: score and passed are null until a person grades each essay (grading.queue,
attempt.grade_answer); points_earned is the auto-graded part meanwhile.
Others' attempts: 404; twice: 409 already_submitted; unknown question ids, or one question answered
under two spellings of its id: 422 invalid_answer. Not (or no longer) actively enrolled: 403 not_enrolled;
quiz unpublished meanwhile: 422 quiz_not_published (the attempt stays open in both cases).
An attempt started while its module was open is accepted even if the module has locked again since (its deadline still holds).
After deadline + 30 s: 422 attempt_expired and the attempt is closed with score 0.
The result and the stored attempt carry no per-question correctness for the student.
With grade_posting manual the result holds no score, passed or points_earned (null, grade_posted: false)
until grade.post.
@result {attempt_id: uuid, status: text, score: int?, passed: bool?, points_earned: number?, points_total: int,
  passing_score_percentage: int, grade_posted?: bool}
SECURITY DEFINER: grading reads correct_answer, which no client role may select.$$;

create or replace function api.attempt_list_mine(quiz_id uuid, "limit" integer default 50, "offset" integer default 0)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id uuid := internal.require_user();
  v_hidden  boolean;
begin
  perform internal.check_page(attempt_list_mine."limit", attempt_list_mine."offset", 100);
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
  -- Held back (grade_posting manual, not posted): the learner's own scores too, until grade.post.
  v_hidden := (select internal.grade_hidden(z.grade_posting, z.grades_posted_at) from app.quizzes z
               where z.id = attempt_list_mine.quiz_id);
  return (select coalesce(jsonb_agg(internal.hide_grade(internal.attempt_json(x.a), v_hidden)
                                     order by (x.a).attempt_number, (x.a).id), '[]')
          from (select a0 as a from app.quiz_attempts a0
                where a0.quiz_id = attempt_list_mine.quiz_id and a0.user_id = v_user_id
                order by a0.attempt_number, a0.id
                limit coalesce(attempt_list_mine."limit", 50) offset coalesce(attempt_list_mine."offset", 0)) x);
end
$$;
comment on function api.attempt_list_mine(uuid, integer, integer) is
$$The caller's attempts at a quiz, oldest first: score, passed, points_earned, points_total and the
answers they gave — no per-question correctness or points. A quiz the caller cannot see and never
attempted: 404.
@result attempt[]
@param limit minimum=1 maximum=100
@param offset minimum=0
Ordered by attempt_number, then id. limit: default 50, at most 100; offset: default 0.
SECURITY DEFINER: reads only the caller's own rows; the per-question grading column is not readable by clients.$$;

drop function if exists internal.quiz_attempts_graded(uuid);  -- before paging (limit/offset) was added
create or replace function internal.quiz_attempts_graded(p_quiz_id uuid, p_limit integer default null,
                                                         p_offset integer default 0)
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
  -- One statement: the page by ix_quiz_attempts_quiz_id_started_at (merged across partitions), the
  -- JSON built from the page's rows themselves (no second lookup by id, which would probe every partition).
  return (select coalesce(jsonb_agg(internal.attempt_json(x.a) || jsonb_build_object('grading', (x.a).grading)
                                    order by (x.a).started_at, (x.a).id), '[]')
          from (select a0 as a from app.quiz_attempts a0 where a0.quiz_id = p_quiz_id
                order by a0.started_at, a0.id
                limit p_limit offset coalesce(p_offset, 0)) x);
end
$$;
comment on function internal.quiz_attempts_graded(uuid, integer, integer) is
  'Attempts at a quiz (oldest first, one page: p_limit null = all) WITH the per-question grading, for the course''s instructor or an admin only (else LM404). SECURITY DEFINER because no client role may select quiz_attempts.grading.';

create or replace function api.attempt_list_for_quiz(quiz_id uuid, "limit" integer default 50, "offset" integer default 0)
returns jsonb
language plpgsql
stable cost 1000  -- reads across a whole course (or the site): never in a shared pipeline (rpc/db/calls.py)
as $$
declare
  v_quiz app.quizzes := internal.managed_quiz(attempt_list_for_quiz.quiz_id);
begin
  perform internal.check_page(attempt_list_for_quiz."limit", attempt_list_for_quiz."offset", 500);
  return internal.quiz_attempts_graded(v_quiz.id, coalesce(attempt_list_for_quiz."limit", 50),
                                       coalesce(attempt_list_for_quiz."offset", 0));
end
$$;
comment on function api.attempt_list_for_quiz(uuid, integer, integer) is
  'Every attempt at a quiz with its per-question grading ({answer, correct, points_earned, points} per question id) (instructor of the course, admin).
@result {id: uuid, attempt_id: uuid, quiz_id: uuid, user_id: uuid, attempt_number: int, status: text,
  started_at: timestamptz, deadline: timestamptz?, submitted_at: timestamptz?, score: int?, passed: bool?,
  points_earned: number?, points_total: int?, answers: object?, grading: object?}[]
@param limit minimum=1 maximum=500
@param offset minimum=0
Oldest first (started_at, then id). limit: default 50, at most 500; offset: default 0.';

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
      points_total = internal.attempt_points_total(a),
      answers = '{}', grading = '{}'
  where a.status = 'in_progress' and a.deadline_at < now() - internal.attempt_grace();
  get diagnostics v_closed = row_count;
  return jsonb_build_object('attempts_expired', v_closed);
end
$$;
comment on function internal.maintain_attempts() is
  'Upkeep (lms db maintain): closes unsubmitted attempts past deadline + grace as expired with score 0. SECURITY DEFINER: runs for no particular user.';

/*
 * quiz_attempt_counters.last_started_at follows the latest attempt (attempt_number = attempts_used):
 * attempt.start sets it with the insert; should an attempt's started_at ever be rewritten (a data fix,
 * an import, tests travelling in time) this trigger moves the counter along, so attempt.start still
 * finds the open attempt. A rewrite that moves the row to another partition arrives as an insert into
 * that partition (PostgreSQL 15 fires no UPDATE row trigger for it), hence INSERT as well.
 */
create or replace function internal.tg_quiz_attempts__follow_started_at()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  update app.quiz_attempt_counters c set last_started_at = new.started_at
  where c.user_id = new.user_id and c.quiz_id = new.quiz_id and c.attempts_used = new.attempt_number
    and c.last_started_at is distinct from new.started_at;
  return null;
end
$$;
comment on function internal.tg_quiz_attempts__follow_started_at() is
  'AFTER INSERT / UPDATE OF started_at on quiz_attempts: keeps quiz_attempt_counters.last_started_at on the latest attempt''s started_at. SECURITY DEFINER: counters are written by definer functions only (RLS).';
drop trigger if exists _100_follow_started_at on app.quiz_attempts;
create trigger _100_follow_started_at after insert or update of started_at on app.quiz_attempts
  for each row execute function internal.tg_quiz_attempts__follow_started_at();

/*
 * The gradebook's cells on the counter row (closed_attempts, best_score, passed), recomputed from the
 * student's attempts at that quiz whenever one of them is closed, changed or deleted. Recomputing (not
 * adding up) makes it idempotent: whatever order row triggers fire in (a cross-partition move is a
 * delete plus an insert), the last one leaves the truth.
 */
create or replace function internal.refresh_attempt_summary(p_user_id uuid, p_quiz_id uuid)
returns void
language plpgsql  -- not SQL: a SQL function's body is planned again at every call (one per closed attempt)
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  update app.quiz_attempt_counters c
  set closed_attempts = s.closed, best_score = s.best, passed = s.passed
  from (select count(*)::integer as closed, max(a.score) as best, coalesce(bool_or(a.passed), false) as passed
        from app.quiz_attempts a
        where a.user_id = p_user_id and a.quiz_id = p_quiz_id and a.status <> 'in_progress') s
  where c.user_id = p_user_id and c.quiz_id = p_quiz_id
    and (c.closed_attempts, c.best_score, c.passed) is distinct from (s.closed, s.best, s.passed);
end
$$;
comment on function internal.refresh_attempt_summary(uuid, uuid) is
  'Recomputes closed_attempts, best_score and passed of one counter row from the attempts. SECURITY DEFINER: counters are written by definer functions only (RLS); called by the trigger below.';

create or replace function internal.tg_quiz_attempts__summary()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if tg_op in ('UPDATE', 'DELETE') then
    perform internal.refresh_attempt_summary(old.user_id, old.quiz_id);
  end if;
  if tg_op in ('UPDATE', 'INSERT') and (tg_op = 'INSERT' or (new.user_id, new.quiz_id) <> (old.user_id, old.quiz_id)) then
    perform internal.refresh_attempt_summary(new.user_id, new.quiz_id);
  end if;
  return null;
end
$$;
comment on function internal.tg_quiz_attempts__summary() is
  'AFTER INSERT/UPDATE/DELETE of closed attempts: keeps the counter row''s gradebook cells (internal.refresh_attempt_summary). SECURITY DEFINER like the function it calls.';
drop trigger if exists _110_summary_insert on app.quiz_attempts;
create trigger _110_summary_insert after insert on app.quiz_attempts
  for each row when (new.status <> 'in_progress') execute function internal.tg_quiz_attempts__summary();
drop trigger if exists _110_summary_update on app.quiz_attempts;
create trigger _110_summary_update after update of status, score, passed, user_id, quiz_id on app.quiz_attempts
  for each row when ((old.status, old.score, old.passed, old.user_id, old.quiz_id)
                     is distinct from (new.status, new.score, new.passed, new.user_id, new.quiz_id))
  execute function internal.tg_quiz_attempts__summary();
drop trigger if exists _110_summary_delete on app.quiz_attempts;
create trigger _110_summary_delete after delete on app.quiz_attempts
  for each row when (old.status <> 'in_progress') execute function internal.tg_quiz_attempts__summary();
