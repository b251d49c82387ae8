-- Undo 0031_grade_posting: every grade is shown at once again (held-back grades become visible); the
-- grade.posted events are deleted (the narrower event-type check cannot hold them) and webhooks lose
-- that type. The api functions with a grade_posting parameter are dropped here; migrate's repeatable
-- step (or the previous release's) recreates the ones without it.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, ban-drop-column, ban-drop-function, ban-drop-constraint, constraint-missing-not-valid

set local role lms_owner;
drop function if exists api.quiz_create(uuid, text, text, uuid, integer, integer, integer, uuid, uuid, text);
drop function if exists api.quiz_update(uuid, text, text, uuid, integer, integer, integer, uuid, boolean, boolean, boolean, uuid, text);
drop function if exists api.assignment_create(uuid, text, text, uuid, timestamptz, integer, boolean, integer, uuid, uuid, text);
drop function if exists api.assignment_update(uuid, text, text, uuid, timestamptz, integer, boolean, integer, uuid, uuid, text);
delete from app.events where type = 'grade.posted';
update app.webhooks set events = array_remove(events, 'grade.posted') where 'grade.posted' = any (events) and cardinality(events) > 1;
delete from app.webhooks where events = array['grade.posted'];
alter table app.webhooks drop constraint ck_webhooks_events;
alter table app.webhooks add constraint ck_webhooks_events check (cardinality(events) between 1 and 17
    and array_position(events, null) is null
    and events <@ array['enrollment.created', 'enrollment.dropped', 'lesson.completed', 'course.completed',
      'certificate.issued', 'certificate.revoked', 'attempt.submitted', 'submission.submitted',
      'submission.graded', 'order.completed', 'order.refunded', 'user.created', 'user.deactivated',
      'module.completed', 'override.changed', 'attempt.graded', 'attempt.regraded']);
alter table app.events drop constraint ck_events_type;
alter table app.events add constraint ck_events_type check (type in (
    'enrollment.created', 'enrollment.dropped', 'lesson.completed', 'course.completed',
    'certificate.issued', 'certificate.revoked', 'attempt.submitted', 'submission.submitted',
    'submission.graded', 'order.completed', 'order.refunded', 'user.created', 'user.deactivated',
    'module.completed', 'override.changed', 'attempt.graded', 'attempt.regraded'));
comment on column app.events.type is 'What happened: enrollment.created, enrollment.dropped, lesson.completed, course.completed, certificate.issued, certificate.revoked, attempt.submitted, submission.submitted, submission.graded, order.completed, order.refunded, user.created, user.deactivated, module.completed, override.changed, attempt.graded, attempt.regraded.';
alter table app.assignments drop column grades_posted_at;
alter table app.assignments drop column grade_posting;
alter table app.quizzes drop column grades_posted_at;
alter table app.quizzes drop column grade_posting;
