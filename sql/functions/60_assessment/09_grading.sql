/*
 * Assessment — grading: the points an answer earns (one definition for attempt.submit and
 * quiz.regrade), essays graded by a person through a queue, regrading (issue 29 §1, §3).
 *
 * Two graders at once: grading.queue hands each caller a page of answers claimed for them for ten
 * minutes (FOR UPDATE SKIP LOCKED, then claimed_by/claimed_until), so graders working the queue at
 * the same time get different answers. attempt.grade_answer itself is allowed to anyone who manages
 * the course, claimed or not: the last grade wins and every grade (and change) is audited with the
 * points before and after.
 * A regrade that turns a passed attempt into a failed one does not revoke an issued certificate
 * (certificates say what was true when they were issued; certificate.revoke exists for that).
 */

create or replace function internal.auto_points(p_type text, p_key text, p_tolerance numeric, p_answer jsonb,
                                                p_points integer, p_partial boolean)
returns numeric
language plpgsql  -- not SQL: a SQL function that is not inlined is planned again at every call
immutable
as $$
begin
  return (select case
              when p_type = 'essay' then null
              when p_answer is null or jsonb_typeof(p_answer) = 'null' then 0
              when p_type = 'multiple_answer' then (
                select case
                         when p_partial then trim_scale(round(p_points * greatest(0, c.right_n - c.wrong_n) / c.key_n::numeric, 2))
                         when c.wrong_n = 0 and c.right_n = c.key_n then p_points
                         else 0 end
                from (select count(*) filter (where p_key::jsonb ? s.v) as right_n,
                             count(*) filter (where not p_key::jsonb ? s.v) as wrong_n,
                             jsonb_array_length(p_key::jsonb) as key_n
                      from (select distinct e.v from jsonb_array_elements_text(
                              case jsonb_typeof(p_answer) when 'array' then p_answer else jsonb_build_array(p_answer) end) e(v)) s) c)
              when p_type = 'numeric' then
                case when (p_answer #>> '{}') ~ '^\s*[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$'
                          and abs((p_answer #>> '{}')::numeric - p_key::numeric) <= coalesce(p_tolerance, 0)
                     then p_points else 0 end
              when jsonb_typeof(p_answer) = 'array' then 0
              when p_type = 'short_answer' then
                case when internal.normalize_answer(p_answer #>> '{}') = internal.normalize_answer(p_key) then p_points else 0 end
              when p_type = 'true_false' then case when lower(btrim(p_answer #>> '{}')) = p_key then p_points else 0 end
              else case when (p_answer #>> '{}') = p_key then p_points else 0 end
            end);
end
$$;
comment on function internal.auto_points(text, text, numeric, jsonb, integer, boolean) is
  'Points an answer earns, the one definition (attempt.submit, quiz.regrade): multiple_choice exactly; true_false ignoring case; short_answer trimmed, case-folded, white space collapsed; numeric within ± tolerance; multiple_answer all or nothing, or with partial credit points × (right − wrong) ÷ correct options floored at 0 (2 decimals); no answer 0; essay null (a person grades it).';

-- ---------------------------------------------------------------------------------------------
-- Finishing an attempt once every answer has points
-- ---------------------------------------------------------------------------------------------
create or replace function internal.settle_attempt(p_attempt_id uuid, p_started_at timestamptz)
returns app.quiz_attempts
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_attempt app.quiz_attempts;
  v_quiz    app.quizzes;
  v_earned  numeric;
  v_pending boolean;
  v_score   integer;
  v_was_passed boolean;
  v_module_was boolean;
begin
  select a.* into v_attempt from app.quiz_attempts a where a.id = p_attempt_id and a.started_at = p_started_at;
  select z.* into v_quiz from app.quizzes z where z.id = v_attempt.quiz_id;
  select coalesce(sum((g.value ->> 'points_earned')::numeric), 0),
         coalesce(bool_or(g.value -> 'points_earned' = 'null'::jsonb or not g.value ? 'points_earned'), false)
  into v_earned, v_pending
  from jsonb_each(v_attempt.grading) g;
  v_was_passed := coalesce(v_attempt.passed, false);
  if v_pending then
    update app.quiz_attempts a set points_earned = v_earned
    where a.id = p_attempt_id and a.started_at = p_started_at and a.points_earned is distinct from v_earned
    returning a.* into v_attempt;
    return coalesce(v_attempt, (select a from app.quiz_attempts a where a.id = p_attempt_id and a.started_at = p_started_at));
  end if;
  v_score := internal.score_percentage(v_earned, v_attempt.points_total);
  if v_score >= v_quiz.passing_score_percentage and not v_was_passed and v_quiz.module_id is not null then
    perform from app.enrollments e where e.user_id = v_attempt.user_id and e.course_id = v_quiz.course_id for update;
    v_module_was := internal.module_completed(v_attempt.user_id, v_quiz.course_id, v_quiz.module_id);
  end if;
  update app.quiz_attempts a
  set status = 'submitted', points_earned = v_earned, score = v_score,
      passed = v_score >= v_quiz.passing_score_percentage
  where a.id = p_attempt_id and a.started_at = p_started_at
  returning a.* into v_attempt;
  if v_attempt.passed and not v_was_passed then
    perform internal.note_module_completion(v_attempt.user_id, v_quiz.course_id, v_quiz.module_id, coalesce(v_module_was, true));
    perform internal.refresh_progress(v_attempt.user_id, v_quiz.course_id);
  end if;
  return v_attempt;
end
$$;
comment on function internal.settle_attempt(uuid, timestamptz) is
  'Add up an attempt''s grading: while an essay waits, points_earned is the graded part and the attempt stays needs_grading; once every answer has points, status submitted with score and passed — and, when it now passes, module and course completion and the certificate follow as for an auto-graded attempt. SECURITY DEFINER: writes attempts (no client role may).';

-- ---------------------------------------------------------------------------------------------
-- grading.queue
-- ---------------------------------------------------------------------------------------------
create or replace function internal.manual_grade_json(p_grade app.manual_grades)
returns jsonb
language sql
stable
as $$
  select jsonb_build_object(
    'attempt_id', p_grade.attempt_id, 'question_id', p_grade.question_id, 'quiz_id', p_grade.quiz_id,
    'course_id', p_grade.course_id, 'user_id', p_grade.user_id, 'submitted_at', p_grade.submitted_at,
    'answer', p_grade.answer, 'points', p_grade.points, 'points_awarded', trim_scale(p_grade.points_awarded),
    'feedback', p_grade.feedback, 'graded_by', p_grade.graded_by, 'graded_at', p_grade.graded_at,
    'claimed_by', p_grade.claimed_by, 'claimed_until', p_grade.claimed_until)
$$;
comment on function internal.manual_grade_json(app.manual_grades) is
$$An answer graded by a person (or waiting for one).
@shape manual_grade {attempt_id: uuid, question_id: uuid, quiz_id: uuid, course_id: uuid, user_id: uuid,
  submitted_at: timestamptz, answer: text?, points: int, points_awarded: number?, feedback: text?, graded_by: uuid?,
  graded_at: timestamptz?, claimed_by: uuid?, claimed_until: timestamptz?}$$;

create or replace function api.grading_queue(course_id uuid, quiz_id uuid default null, "limit" integer default 20,
                                             "offset" integer default 0)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_me   uuid := internal.require_user();
  v_page jsonb;
begin
  perform internal.check_page(grading_queue."limit", grading_queue."offset", 100);
  perform internal.require_course_manager(grading_queue.course_id);
  with page as (
    select g.attempt_id, g.question_id, g.submitted_at
    from app.manual_grades g
    where g.course_id = grading_queue.course_id and g.graded_at is null
      and (grading_queue.quiz_id is null or g.quiz_id = grading_queue.quiz_id)
      and (g.claimed_until is null or g.claimed_until < now() or g.claimed_by = v_me)
    order by g.submitted_at, g.attempt_id, g.question_id
    limit coalesce(grading_queue."limit", 20) offset coalesce(grading_queue."offset", 0)
    for update skip locked
  ), claimed as (
    update app.manual_grades g set claimed_by = v_me, claimed_until = now() + interval '10 minutes'
    from page p where g.attempt_id = p.attempt_id and g.question_id = p.question_id
    returning g.*
  )
  select coalesce(jsonb_agg(internal.manual_grade_json(c::app.manual_grades) || jsonb_build_object(
           'question_text', q.question_text, 'guidance', q.correct_answer)
           order by c.submitted_at, c.attempt_id, c.question_id), '[]')
  into v_page
  from claimed c join app.questions q on q.id = c.question_id;
  return v_page;
end
$$;
comment on function api.grading_queue(uuid, uuid, integer, integer) is
$$Essay answers of a course (or one quiz of it) waiting for a grade, oldest first (the course's instructor or an
admin), with the question and the grader's guidance. The page is claimed for the caller for ten minutes: a second
grader working the queue at the same time gets other answers (SKIP LOCKED), and the caller gets theirs again.
@result {attempt_id: uuid, question_id: uuid, quiz_id: uuid, course_id: uuid, user_id: uuid, submitted_at: timestamptz,
  answer: text?, points: int, points_awarded: number?, feedback: text?, graded_by: uuid?, graded_at: timestamptz?,
  claimed_by: uuid?, claimed_until: timestamptz?, question_text: text, guidance: text?}[]
@param limit minimum=1 maximum=100
@param offset minimum=0
limit: default 20, at most 100; offset: default 0.
SECURITY DEFINER: reads the questions' grading guidance (correct_answer), which no client role may select.$$;

-- ---------------------------------------------------------------------------------------------
-- attempt.grade_answer
-- ---------------------------------------------------------------------------------------------
create or replace function api.attempt_grade_answer(attempt_id uuid, question_id uuid, points numeric,
                                                    feedback text default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_me      uuid := internal.require_user();
  v_grade   app.manual_grades;
  v_before  numeric;
  v_attempt app.quiz_attempts;
begin
  select g.* into v_grade from app.manual_grades g
  where g.attempt_id = attempt_grade_answer.attempt_id and g.question_id = attempt_grade_answer.question_id;
  if v_grade.attempt_id is null or not internal.can_manage_course(v_grade.course_id) then
    if exists (select from app.quiz_attempts a where a.id = attempt_grade_answer.attempt_id)
       and internal.can_manage_course((select z.course_id from app.quizzes z join app.quiz_attempts a on a.quiz_id = z.id
                                       where a.id = attempt_grade_answer.attempt_id limit 1)) then
      raise exception 'this answer is graded automatically (only essay answers are graded by a person)'
        using errcode = 'LM422', detail = 'not_manually_graded', hint = 'question_id';
    end if;
    raise exception 'answer not found' using errcode = 'LM404', detail = 'not_found', hint = 'attempt_id';
  end if;
  if attempt_grade_answer.points is null or attempt_grade_answer.points < 0 or attempt_grade_answer.points > v_grade.points then
    raise exception 'points must be between 0 and %', v_grade.points
      using errcode = 'LM422', detail = 'invalid_points', hint = 'points';
  end if;
  -- The attempt row first (as attempt.submit and quiz.regrade lock it), then the answer.
  select a.* into v_attempt from app.quiz_attempts a
  where a.id = v_grade.attempt_id and a.started_at = v_grade.attempt_started_at for update;
  select g.points_awarded into v_before from app.manual_grades g
  where g.attempt_id = v_grade.attempt_id and g.question_id = v_grade.question_id for update;
  update app.manual_grades g
  set points_awarded = round(attempt_grade_answer.points, 2), feedback = nullif(attempt_grade_answer.feedback, ''),
      graded_by = v_me, graded_at = now(), claimed_by = null, claimed_until = null
  where g.attempt_id = v_grade.attempt_id and g.question_id = v_grade.question_id
  returning g.* into v_grade;
  update app.quiz_attempts a
  set grading = jsonb_set(a.grading, array[v_grade.question_id::text],
                          coalesce(a.grading -> v_grade.question_id::text, '{}')
                          || jsonb_build_object('points_earned', v_grade.points_awarded,
                                                'correct', v_grade.points_awarded = v_grade.points))
  where a.id = v_grade.attempt_id and a.started_at = v_grade.attempt_started_at;
  v_attempt := internal.settle_attempt(v_grade.attempt_id, v_grade.attempt_started_at);
  perform internal.audit(case when v_before is null then 'attempt.answer_graded' else 'attempt.answer_regraded' end,
                         'quiz_attempt', v_grade.attempt_id,
                         jsonb_build_object('question_id', v_grade.question_id, 'points_before', v_before,
                                            'points', v_grade.points_awarded));
  if v_attempt.status = 'submitted' then
    perform internal.emit_event('attempt.graded', v_attempt.user_id, v_grade.course_id,
      jsonb_build_object('attempt_id', v_attempt.id, 'quiz_id', v_attempt.quiz_id, 'course_id', v_grade.course_id,
                         'user_id', v_attempt.user_id, 'score', v_attempt.score, 'passed', v_attempt.passed,
                         'points_earned', trim_scale(v_attempt.points_earned), 'points_total', v_attempt.points_total));
  end if;
  return internal.manual_grade_json(v_grade) || jsonb_build_object(
    'attempt', internal.attempt_json(v_attempt));
end
$$;
comment on function api.attempt_grade_answer(uuid, uuid, numeric, text) is
$$Grade one essay answer of a submitted attempt: 0 ≤ points ≤ what the question is worth (422 invalid_points;
2 decimals), optional feedback the learner sees. The course's instructor or an admin, whether or not the
answer is claimed by another grader's queue page: the last grade wins, and every grade and change is audited
(attempt.answer_graded / attempt.answer_regraded with the points before). The last ungraded answer finishes
the attempt (status submitted, score, passed; completion and certificate follow); attempt.graded is emitted
each time a finished attempt's grade is set or changed. An auto-graded question: 422 not_manually_graded.
@result {attempt_id: uuid, question_id: uuid, quiz_id: uuid, course_id: uuid, user_id: uuid, submitted_at: timestamptz,
  answer: text?, points: int, points_awarded: number?, feedback: text?, graded_by: uuid?, graded_at: timestamptz?,
  claimed_by: uuid?, claimed_until: timestamptz?, attempt: attempt}
@param points minimum=0
@param feedback maxLength=10000
SECURITY DEFINER: writes attempts and their grading, which no client role may.$$;

-- ---------------------------------------------------------------------------------------------
-- quiz.regrade
-- ---------------------------------------------------------------------------------------------
create or replace function api.quiz_regrade(quiz_id uuid, question_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_quiz      app.quizzes;
  v_question  app.questions;
  v_regraded  integer;
  v_changed   integer;
  v_events    jsonb;
  v_newly_passed uuid[];
  v_user      uuid;
begin
  perform internal.require_user();
  select z.* into v_quiz from app.quizzes z where z.id = quiz_regrade.quiz_id;
  if v_quiz.id is null or not internal.can_manage_course(v_quiz.course_id) then
    raise exception 'quiz not found' using errcode = 'LM404', detail = 'not_found', hint = 'quiz_id';
  end if;
  select q.* into v_question from app.questions q
  where q.id = quiz_regrade.question_id
    and (q.quiz_id = v_quiz.id
         or q.bank_id in (select b.id from app.question_banks b where b.course_id = v_quiz.course_id));
  if v_question.id is null then
    raise exception 'question not found in this quiz' using errcode = 'LM404', detail = 'not_found', hint = 'question_id';
  end if;
  if v_question.question_type = 'essay' then
    raise exception 'essay answers are graded by a person (attempt.grade_answer)'
      using errcode = 'LM422', detail = 'not_auto_graded', hint = 'question_id';
  end if;
  -- One quiz's regrade at a time; attempts in the order their writers lock them.
  perform from app.quizzes z where z.id = v_quiz.id for no key update;
  with target as (
    select a.id, a.started_at, a.user_id, a.status, a.score, a.passed, a.points_total, a.points_earned,
           (a.grading -> v_question.id::text) as entry
    from app.quiz_attempts a
    where a.quiz_id = v_quiz.id and a.status in ('submitted', 'needs_grading') and a.grading ? v_question.id::text
    order by a.id
    for update
  ), regraded as materialized (  -- each answer graded once (inlined, auto_points ran per use of earned)
    select t.*, internal.auto_points(v_question.question_type, v_question.correct_answer, v_question.tolerance,
                                     t.entry -> 'answer', (t.entry ->> 'points')::integer, v_quiz.partial_credit) as earned,
           t.points_earned - coalesce((t.entry ->> 'points_earned')::numeric, 0) as others
    from target t
  ), updated as (
    update app.quiz_attempts a
    set grading = jsonb_set(a.grading, array[v_question.id::text],
                            r.entry || jsonb_build_object('points_earned', r.earned,
                                                          'correct', r.earned = (r.entry ->> 'points')::numeric)),
        points_earned = r.others + r.earned,
        score = case when r.status = 'submitted' then internal.score_percentage(r.others + r.earned, r.points_total) end,
        passed = case when r.status = 'submitted'
                      then internal.score_percentage(r.others + r.earned, r.points_total) >= v_quiz.passing_score_percentage end
    from regraded r
    where a.id = r.id and a.started_at = r.started_at
    returning a.id, a.user_id, a.status, r.score as old_score, a.score as new_score, r.passed as old_passed,
              a.passed as new_passed
  )
  select count(*)::integer, (count(*) filter (where u.old_score is distinct from u.new_score))::integer,
         coalesce(jsonb_agg(jsonb_build_object('attempt_id', u.id, 'user_id', u.user_id, 'score_before', u.old_score,
                                               'score', u.new_score, 'passed', u.new_passed))
                    filter (where u.old_score is distinct from u.new_score), '[]'),
         coalesce(array_agg(distinct u.user_id) filter (where u.new_passed and not coalesce(u.old_passed, false)), '{}')
  into v_regraded, v_changed, v_events, v_newly_passed
  from updated u;

  perform internal.emit_event('attempt.regraded', (e.x ->> 'user_id')::uuid, v_quiz.course_id,
            e.x || jsonb_build_object('quiz_id', v_quiz.id, 'course_id', v_quiz.course_id, 'question_id', v_question.id))
  from jsonb_array_elements(v_events) e(x);
  -- Completion follows a newly passed quiz (a passed → failed change revokes no certificate).
  foreach v_user in array v_newly_passed loop
    perform internal.refresh_progress(v_user, v_quiz.course_id);
  end loop;
  perform internal.audit('quiz.regraded', 'quiz', v_quiz.id,
                         jsonb_build_object('question_id', v_question.id, 'attempts_regraded', v_regraded,
                                            'scores_changed', v_changed));
  return jsonb_build_object('quiz_id', v_quiz.id, 'question_id', v_question.id,
                            'attempts_regraded', v_regraded, 'scores_changed', v_changed);
end
$$;
comment on function api.quiz_regrade(uuid, uuid) is
$$After correcting a question's key: regrade that question in every submitted attempt at the quiz that holds it
(fixed, or drawn from a bank), in one transaction, with the attempt's own recorded answer and points → scores
and passed flags follow (attempts waiting for an essay grade keep waiting, with their auto-graded part
updated); gradebook cells follow; a newly passed quiz can complete the course; a passed → failed change revokes
no issued certificate. attempt.regraded per attempt whose score changed; audited. The course's instructor or
an admin; an essay question: 422 not_auto_graded.
@result {quiz_id: uuid, question_id: uuid, attempts_regraded: int, scores_changed: int}
SECURITY DEFINER: reads keys and writes attempts, which no client role may.$$;
