-- Assessment depth (issue 29): question banks drawn into quizzes (pools), three more question types
-- (multiple_answer, numeric, essay), shuffling, partial credit, essays graded by a person through a
-- queue, regrading. An attempt keeps its draw (question ids, points, option order), so a bank edited
-- later changes no started or submitted attempt.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, ban-drop-constraint, changing-column-type, constraint-missing-not-valid, adding-foreign-key-constraint, require-concurrent-index-creation, adding-not-nullable-field, adding-field-with-default, disallowed-unique-constraint, ban-drop-function, ban-drop-not-null
-- (new tables and nullable columns, constant defaults (no rewrite since PostgreSQL 11); questions.quiz_id
--  and correct_answer become nullable (a bank question has no quiz, an essay no key): clients of the
--  api functions are unaffected, a direct reader sees nulls only on the new kinds of question; the replaced
--  checks of questions and the new foreign key are added NOT VALID and validated apart. One rewrite:
--  quiz_attempts.points_earned integer → numeric(10,2) (partial credit and essays earn fractions of a
--  point) rewrites the attempts table under ACCESS EXCLUSIVE — plan it for a quiet hour on a big
--  database (docs/operations: measured with the note of issue 29); its two checks are re-added on the
--  rewritten table, which CHECK … NOT VALID cannot be on a partitioned one. Indexes are on the new
--  tables and on questions (a catalog table), built in the migration's transaction; migrate sets a
--  lock_timeout per statement itself and retries, rpc/db/migrate.py)
-- depends: 0027_shared_file_bytes

set local role lms_owner;

-- Quizzes: how an attempt is put together and graded ---------------------------------------
alter table app.quizzes
  add column shuffle_questions boolean not null default false,
  add column shuffle_options boolean not null default false,
  add column partial_credit boolean not null default false;
comment on column app.quizzes.shuffle_questions is 'Each attempt shows its questions (fixed and drawn) in its own random order, kept with the attempt.';
comment on column app.quizzes.shuffle_options is 'Each attempt shows the options of choice questions in its own random order, kept with the attempt.';
comment on column app.quizzes.partial_credit is 'multiple_answer questions earn points × (right − wrong) ÷ correct options, floored at 0, instead of all or nothing.';

-- Banks ------------------------------------------------------------------------------------
create table app.question_banks (
  id          uuid not null default gen_random_uuid(),
  course_id   uuid not null,
  title       text not null,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now(),
  constraint pk_question_banks primary key (id),
  constraint fk_question_banks_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint uq_question_banks_id_course_id unique (id, course_id),
  constraint ck_question_banks_title_length check (length(btrim(title)) between 1 and 200)
);
create index ix_question_banks_course_id on app.question_banks (course_id);
comment on table app.question_banks is 'Questions of a course that quizzes draw from (app.quiz_pools); seen and written by the course''s instructor and admins only.';

-- Questions: of a quiz (fixed) or of a bank; three more types -------------------------------
alter table app.questions alter column quiz_id drop not null;
alter table app.questions alter column correct_answer drop not null;
alter table app.questions
  add column bank_id uuid,
  add column tolerance numeric,
  add column retired_at timestamptz;
alter table app.questions add constraint fk_questions_bank_id_question_banks
  foreign key (bank_id) references app.question_banks (id) on delete cascade not valid;
alter table app.questions validate constraint fk_questions_bank_id_question_banks;
alter table app.questions add constraint ck_questions_one_owner check (num_nonnulls(quiz_id, bank_id) = 1) not valid;
alter table app.questions validate constraint ck_questions_one_owner;
alter table app.questions drop constraint ck_questions_type;
alter table app.questions add constraint ck_questions_type check (question_type in (
  'multiple_choice', 'true_false', 'short_answer', 'multiple_answer', 'numeric', 'essay')) not valid;
alter table app.questions validate constraint ck_questions_type;
alter table app.questions drop constraint ck_questions_options_only_for_choice;
alter table app.questions add constraint ck_questions_options_only_for_choice
  check (question_type in ('multiple_choice', 'multiple_answer') or options is null) not valid;
alter table app.questions validate constraint ck_questions_options_only_for_choice;
alter table app.questions drop constraint ck_questions_correct_answer_nonblank;
alter table app.questions add constraint ck_questions_correct_answer_nonblank
  check (correct_answer is null or length(btrim(correct_answer)) >= 1) not valid;
alter table app.questions validate constraint ck_questions_correct_answer_nonblank;
alter table app.questions add constraint ck_questions_correct_answer_required
  check (question_type = 'essay' or correct_answer is not null) not valid;
alter table app.questions validate constraint ck_questions_correct_answer_required;
alter table app.questions add constraint ck_questions_tolerance
  check (tolerance is null or (question_type = 'numeric' and tolerance >= 0)) not valid;
alter table app.questions validate constraint ck_questions_tolerance;
alter table app.questions add constraint ck_questions_retired_in_bank check (retired_at is null or bank_id is not null) not valid;
alter table app.questions validate constraint ck_questions_retired_in_bank;
create index ix_questions_bank_id on app.questions (bank_id, id) include (retired_at) where bank_id is not null;
comment on table app.questions is 'A question of a quiz (fixed) or of a bank (drawn into attempts). correct_answer is never readable by students (column privileges).';
comment on column app.questions.question_type is 'multiple_choice | true_false | short_answer | multiple_answer (several options right) | numeric (a number, within tolerance) | essay (graded by a person).';
comment on column app.questions.options is 'multiple_choice and multiple_answer only: a JSON array of at least two distinct strings.';
comment on column app.questions.quiz_id is 'The quiz of a fixed question; null for a bank question (exactly one of quiz_id, bank_id).';
comment on column app.questions.bank_id is 'The bank of a bank question, drawn into attempts through quiz pools; null for a fixed question.';
comment on column app.questions.tolerance is 'numeric only: an answer within correct_answer ± tolerance is right (null: exactly).';
comment on column app.questions.retired_at is 'A bank question deleted after an attempt drew it: kept for those attempts (their grading and regrading), never drawn again.';
comment on column app.questions.correct_answer is 'The expected answer (never readable by students): an option (multiple_choice), "true"/"false", the text (short_answer, compared trimmed, case-folded, white space collapsed), a JSON array of options (multiple_answer), a number (numeric); for an essay optional guidance for the grader.';

-- Pools: a quiz draws draw_count questions of a bank per attempt ----------------------------
create table app.quiz_pools (
  id          uuid not null default gen_random_uuid(),
  quiz_id     uuid not null,
  bank_id     uuid not null,
  course_id   uuid not null,
  draw_count  integer not null,
  points_each integer,
  position    integer not null,
  created_at  timestamptz not null default now(),
  constraint pk_quiz_pools primary key (id),
  constraint fk_quiz_pools_quiz_in_course foreign key (quiz_id, course_id)
    references app.quizzes (id, course_id) on delete cascade,
  constraint fk_quiz_pools_bank_in_course foreign key (bank_id, course_id)
    references app.question_banks (id, course_id) on delete cascade,
  constraint uq_quiz_pools_quiz_id_position unique (quiz_id, position),
  constraint ck_quiz_pools_draw_count check (draw_count between 1 and 1000),
  constraint ck_quiz_pools_points_each check (points_each between 1 and 1000)
);
create index ix_quiz_pools_bank_id on app.quiz_pools (bank_id, course_id);
comment on table app.quiz_pools is 'A quiz draws draw_count distinct questions of a bank of its course into every attempt (fk_quiz_pools_bank_in_course), each worth points_each (null: the question''s points).';
comment on column app.quiz_pools.quiz_id is 'The quiz that draws (of course_id: fk_quiz_pools_quiz_in_course).';
comment on column app.quiz_pools.bank_id is 'The bank it draws from (of the same course_id: fk_quiz_pools_bank_in_course).';
comment on column app.quiz_pools.course_id is 'The course of both the quiz and the bank: the two foreign keys through it keep a pool inside its course.';
comment on column app.quiz_pools.draw_count is 'Distinct questions drawn into each attempt (pools of one bank draw distinct questions together); more than the bank''s drawable questions: 422 pool_too_large.';
comment on column app.quiz_pools.points_each is 'What each drawn question is worth in the attempt; null: the question''s own points.';
comment on column app.quiz_pools.position is 'Order of the pools in the quiz, from 1: drawn questions follow the fixed ones, pool by pool (unless the quiz shuffles).';

-- Attempts: the draw, fractions of a point, waiting for a person ----------------------------
alter table app.quiz_attempts add column draw jsonb;
alter table app.quiz_attempts alter column draw set compression lz4;
comment on column app.quiz_attempts.draw is 'What this attempt shows and is graded on, when the quiz has pools or shuffles: [{id, points, options?}] in display order (options: the order of the question''s options). Null: the quiz''s fixed questions in their order.';
alter table app.quiz_attempts drop constraint ck_quiz_attempts_points;
alter table app.quiz_attempts drop constraint ck_quiz_attempts_status;
alter table app.quiz_attempts drop constraint ck_quiz_attempts_closed;
alter table app.quiz_attempts alter column points_earned type numeric(10, 2);
alter table app.quiz_attempts add constraint ck_quiz_attempts_points check (points_earned between 0 and points_total);
alter table app.quiz_attempts add constraint ck_quiz_attempts_status
  check (status in ('in_progress', 'needs_grading', 'submitted', 'expired'));
alter table app.quiz_attempts add constraint ck_quiz_attempts_closed
  check ((status = 'in_progress') = (submitted_at is null)
         and (status in ('in_progress', 'needs_grading')) = (score is null));
comment on column app.quiz_attempts.status is 'in_progress → submitted (attempt.submit) | needs_grading (submitted with essay answers: score and passed wait for attempt.grade_answer) → submitted | expired (closed with score 0 after deadline_at + 30 s grace).';
comment on column app.quiz_attempts.points_earned is 'Points earned (fractions with partial credit or a person''s grade); while needs_grading the auto-graded part; null while in progress.';

-- Answers a person grades --------------------------------------------------------------------
create table app.manual_grades (
  attempt_id         uuid not null,
  attempt_started_at timestamptz not null,
  question_id        uuid not null,
  quiz_id            uuid not null,
  course_id          uuid not null,
  user_id            uuid not null,
  submitted_at       timestamptz not null,
  answer             text,
  points             integer not null,
  points_awarded     numeric(10, 2),
  feedback           text,
  graded_by          uuid,
  graded_at          timestamptz,
  claimed_by         uuid,
  claimed_until      timestamptz,
  constraint pk_manual_grades primary key (attempt_id, question_id),
  constraint fk_manual_grades_attempt foreign key (attempt_id, attempt_started_at)
    references app.quiz_attempts (id, started_at) on delete cascade,
  constraint fk_manual_grades_question_id_questions foreign key (question_id) references app.questions (id),
  constraint fk_manual_grades_quiz_id_quizzes foreign key (quiz_id) references app.quizzes (id) on delete cascade,
  constraint fk_manual_grades_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint fk_manual_grades_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint fk_manual_grades_graded_by_users foreign key (graded_by) references app.users (id) on delete set null,
  constraint fk_manual_grades_claimed_by_users foreign key (claimed_by) references app.users (id) on delete set null,
  constraint ck_manual_grades_points check (points >= 1),
  constraint ck_manual_grades_points_awarded check (points_awarded between 0 and points),
  constraint ck_manual_grades_graded check ((points_awarded is null) = (graded_at is null)),
  constraint ck_manual_grades_feedback_length check (length(feedback) <= 10000)
);
create index ix_manual_grades_queue on app.manual_grades (course_id, submitted_at, attempt_id, question_id)
  where graded_at is null;
create index ix_manual_grades_quiz_queue on app.manual_grades (quiz_id, submitted_at, attempt_id, question_id)
  where graded_at is null;
create index ix_manual_grades_attempt on app.manual_grades (attempt_id, attempt_started_at);
create index ix_manual_grades_question_id on app.manual_grades (question_id);
create index ix_manual_grades_user_id on app.manual_grades (user_id);
create index ix_manual_grades_graded_by on app.manual_grades (graded_by) where graded_by is not null;
create index ix_manual_grades_claimed_by on app.manual_grades (claimed_by) where claimed_by is not null;
comment on table app.manual_grades is 'One essay answer of a submitted attempt, graded by a person (attempt.grade_answer): the grading queue is its ungraded rows, oldest first. The attempt is needs_grading until every row of it has points_awarded.';
comment on column app.manual_grades.points is 'What the answer is worth (the question''s points, or its pool''s points_each, as drawn).';
comment on column app.manual_grades.points_awarded is 'The grader''s points, 0..points; null while waiting.';
comment on column app.manual_grades.claimed_by is 'The grader whose grading.queue page holds this answer until claimed_until: another grader''s queue skips it meanwhile (grading it anyway is allowed, and audited).';
comment on column app.manual_grades.attempt_id is 'The attempt (with attempt_started_at: the attempts'' primary key, their partition key included).';
comment on column app.manual_grades.attempt_started_at is 'started_at of the attempt: part of the foreign key to the partitioned quiz_attempts.';
comment on column app.manual_grades.submitted_at is 'When the attempt was submitted (set by attempt.submit): the queue''s order, oldest first.';
comment on column app.manual_grades.answer is 'The learner''s essay, as given.';
comment on column app.manual_grades.feedback is 'The grader''s feedback, shown to the learner with points_awarded.';
comment on column app.manual_grades.graded_by is 'Who gave points_awarded last (every grade and change is also in the audit log).';
comment on column app.manual_grades.graded_at is 'When points_awarded was last set (attempt.grade_answer); null while waiting.';
comment on column app.manual_grades.claimed_until is 'When claimed_by''s claim (set by grading.queue, ten minutes) lapses.';

-- Two more event types -------------------------------------------------------------------------
alter table app.events drop constraint ck_events_type;
alter table app.events add constraint ck_events_type check (type in (
    'enrollment.created', 'enrollment.dropped', 'lesson.completed', 'course.completed',
    'certificate.issued', 'certificate.revoked', 'attempt.submitted', 'submission.submitted',
    'submission.graded', 'order.completed', 'order.refunded', 'user.created', 'user.deactivated',
    'module.completed', 'override.changed', 'attempt.graded', 'attempt.regraded')) not valid;
alter table app.events validate constraint ck_events_type;
alter table app.webhooks drop constraint ck_webhooks_events;
alter table app.webhooks add constraint ck_webhooks_events check (cardinality(events) between 1 and 17
    and array_position(events, null) is null
    and events <@ array['enrollment.created', 'enrollment.dropped', 'lesson.completed', 'course.completed',
      'certificate.issued', 'certificate.revoked', 'attempt.submitted', 'submission.submitted',
      'submission.graded', 'order.completed', 'order.refunded', 'user.created', 'user.deactivated',
      'module.completed', 'override.changed', 'attempt.graded', 'attempt.regraded']) not valid;
alter table app.webhooks validate constraint ck_webhooks_events;
comment on column app.events.type is 'What happened: enrollment.created, enrollment.dropped, lesson.completed, course.completed, certificate.issued, certificate.revoked, attempt.submitted, submission.submitted, submission.graded, order.completed, order.refunded, user.created, user.deactivated, module.completed, override.changed, attempt.graded, attempt.regraded.';

-- The api functions that gained parameters come back from the repeatable SQL of the same migrate.
drop function if exists api.quiz_update(uuid, text, text, uuid, integer, integer, integer, uuid);
drop function if exists api.quiz_add_question(uuid, text, text, text, jsonb, integer, integer);
drop function if exists api.quiz_update_question(uuid, text, text, jsonb, text, integer, integer);
