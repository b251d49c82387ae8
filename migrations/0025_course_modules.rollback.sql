-- Undo 0025_course_modules: the course is flat again (dropping the columns drops their foreign keys
-- and indexes with them). The api functions with a module_id parameter are dropped here; migrate's
-- repeatable step (or the previous release's) recreates the ones without it.
-- The events of the two types this release added (module.completed, override.changed) are deleted:
-- the narrower event-type check of 0014 cannot hold them.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, ban-drop-column, ban-drop-table, ban-drop-function, ban-drop-constraint, constraint-missing-not-valid

set local role lms_owner;
drop function if exists api.lesson_create(uuid, text, text, text, integer, integer, uuid);
drop function if exists api.lesson_update(uuid, text, text, text, integer, uuid);
drop function if exists api.quiz_create(uuid, text, text, uuid, integer, integer, integer, uuid);
drop function if exists api.quiz_update(uuid, text, text, uuid, integer, integer, integer, uuid);
drop function if exists api.assignment_create(uuid, text, text, uuid, timestamptz, integer, boolean, integer, uuid);
drop function if exists api.assignment_update(uuid, text, text, uuid, timestamptz, integer, boolean, integer, uuid);
alter table app.assignments drop column module_position;
alter table app.assignments drop column module_id;
alter table app.quizzes drop column module_position;
alter table app.quizzes drop column module_id;
alter table app.lessons drop column module_position;
alter table app.lessons drop column module_id;
drop table app.module_prerequisites;
drop table app.modules;
delete from app.events where type in ('module.completed', 'override.changed');
update app.webhooks set events = array_remove(array_remove(events, 'module.completed'), 'override.changed')
where events && array['module.completed', 'override.changed'];
delete from app.webhooks where cardinality(events) = 0;
alter table app.events drop constraint ck_events_type;
alter table app.events add constraint ck_events_type check (type in (
    'enrollment.created', 'enrollment.dropped', 'lesson.completed', 'course.completed',
    'certificate.issued', 'certificate.revoked', 'attempt.submitted', 'submission.submitted',
    'submission.graded', 'order.completed', 'order.refunded', 'user.created', 'user.deactivated'));
alter table app.webhooks drop constraint ck_webhooks_events;
alter table app.webhooks add constraint ck_webhooks_events check (cardinality(events) between 1 and 13 and array_position(events, null) is null
    and events <@ array['enrollment.created', 'enrollment.dropped', 'lesson.completed', 'course.completed',
      'certificate.issued', 'certificate.revoked', 'attempt.submitted', 'submission.submitted',
      'submission.graded', 'order.completed', 'order.refunded', 'user.created', 'user.deactivated']);
comment on column app.events.type is 'What happened: enrollment.created, enrollment.dropped, lesson.completed, course.completed, certificate.issued, certificate.revoked, attempt.submitted, submission.submitted, submission.graded, order.completed, order.refunded, user.created, user.deactivated.';
