-- Undo 0028_question_banks: quizzes are fixed lists of the three auto-graded types again.
-- The release before knows none of what this one added, so rolling back loses it: bank questions,
-- pools and banks, questions of the types multiple_answer, numeric and essay (with their manual
-- grades) are deleted; an attempt still waiting for a person is closed with its auto-graded points
-- (status submitted, score from them); fractions of a point are rounded; the events of the two new
-- types are deleted. Attempts keep their recorded grading. The api functions with the new parameters
-- are dropped here; migrate's repeatable step (or the previous release's) recreates the old ones.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, ban-drop-column, ban-drop-table, ban-drop-function, ban-drop-constraint, constraint-missing-not-valid, changing-column-type, adding-not-nullable-field
-- (NOT NULL back on questions.quiz_id and correct_answer: a catalog table, scanned in milliseconds; the
--  rows that would break it are deleted just before)

set local role lms_owner;
drop function if exists api.quiz_update(uuid, text, text, uuid, integer, integer, integer, uuid, boolean, boolean, boolean);
drop function if exists api.quiz_add_question(uuid, text, text, text, jsonb, integer, integer, numeric);
drop function if exists api.quiz_update_question(uuid, text, text, jsonb, text, integer, integer, numeric);

alter table app.quiz_attempts disable trigger user;  -- no events or summaries for the clean-up below
update app.quiz_attempts a
set status = 'submitted',
    score = case when coalesce(a.points_total, 0) <= 0 then 0
                 else floor(a.points_earned * 100.0 / a.points_total + 0.5)::integer end,
    passed = false
where a.status = 'needs_grading';
alter table app.quiz_attempts enable trigger user;
drop table app.manual_grades;
alter table app.quiz_attempts drop constraint ck_quiz_attempts_points;
alter table app.quiz_attempts drop constraint ck_quiz_attempts_status;
alter table app.quiz_attempts drop constraint ck_quiz_attempts_closed;
alter table app.quiz_attempts alter column points_earned type integer using round(points_earned)::integer;
alter table app.quiz_attempts add constraint ck_quiz_attempts_status check (status in ('in_progress', 'submitted', 'expired'));
alter table app.quiz_attempts add constraint ck_quiz_attempts_points check (points_earned between 0 and points_total);
alter table app.quiz_attempts add constraint ck_quiz_attempts_closed check ((status = 'in_progress') = (submitted_at is null)
                                            and (status = 'in_progress') = (score is null));
alter table app.quiz_attempts drop column draw;
comment on column app.quiz_attempts.status is 'in_progress → submitted (attempt.submit) | expired (closed with score 0 after deadline_at + 30 s grace).';
comment on column app.quiz_attempts.points_earned is 'Sum of the points of the correctly answered questions; null while in progress.';

drop table app.quiz_pools;
delete from app.questions where bank_id is not null or question_type in ('multiple_answer', 'numeric', 'essay');
alter table app.questions drop constraint ck_questions_retired_in_bank;
alter table app.questions drop constraint ck_questions_tolerance;
alter table app.questions drop constraint ck_questions_correct_answer_required;
alter table app.questions drop constraint ck_questions_correct_answer_nonblank;
alter table app.questions add constraint ck_questions_correct_answer_nonblank check (length(btrim(correct_answer)) >= 1);
alter table app.questions drop constraint ck_questions_options_only_for_choice;
alter table app.questions add constraint ck_questions_options_only_for_choice check (question_type = 'multiple_choice' or options is null);
alter table app.questions drop constraint ck_questions_type;
alter table app.questions add constraint ck_questions_type check (question_type in ('multiple_choice', 'true_false', 'short_answer'));
alter table app.questions drop constraint ck_questions_one_owner;
alter table app.questions drop column retired_at;
alter table app.questions drop column tolerance;
alter table app.questions drop column bank_id;
alter table app.questions alter column correct_answer set not null;
alter table app.questions alter column quiz_id set not null;
comment on column app.questions.correct_answer is 'The expected answer; short_answer compares trimmed, case-folded, white space collapsed.';
comment on table app.questions is 'A question of a quiz. correct_answer is never readable by students (column privileges).';
comment on column app.questions.quiz_id is null;
comment on column app.questions.question_type is 'multiple_choice (correct_answer is one of options) | true_false (correct_answer true or false) | short_answer (free text).';
comment on column app.questions.options is 'multiple_choice only: a JSON array of at least two distinct strings containing correct_answer.';
drop table app.question_banks;

alter table app.quizzes drop column partial_credit;
alter table app.quizzes drop column shuffle_options;
alter table app.quizzes drop column shuffle_questions;

delete from app.events where type in ('attempt.graded', 'attempt.regraded');
update app.webhooks set events = array_remove(array_remove(events, 'attempt.graded'), 'attempt.regraded')
where events && array['attempt.graded', 'attempt.regraded'];
delete from app.webhooks where cardinality(events) = 0;
alter table app.events drop constraint ck_events_type;
alter table app.events add constraint ck_events_type check (type in (
    'enrollment.created', 'enrollment.dropped', 'lesson.completed', 'course.completed',
    'certificate.issued', 'certificate.revoked', 'attempt.submitted', 'submission.submitted',
    'submission.graded', 'order.completed', 'order.refunded', 'user.created', 'user.deactivated',
    'module.completed', 'override.changed'));
alter table app.webhooks drop constraint ck_webhooks_events;
alter table app.webhooks add constraint ck_webhooks_events check (cardinality(events) between 1 and 15
    and array_position(events, null) is null
    and events <@ array['enrollment.created', 'enrollment.dropped', 'lesson.completed', 'course.completed',
      'certificate.issued', 'certificate.revoked', 'attempt.submitted', 'submission.submitted',
      'submission.graded', 'order.completed', 'order.refunded', 'user.created', 'user.deactivated',
      'module.completed', 'override.changed']);
comment on column app.events.type is 'What happened: enrollment.created, enrollment.dropped, lesson.completed, course.completed, certificate.issued, certificate.revoked, attempt.submitted, submission.submitted, submission.graded, order.completed, order.refunded, user.created, user.deactivated, module.completed, override.changed.';
