-- Undo 0036_lti_services: no LTI services and no deep linking. Line items and the scores tools posted
-- go (their gradebook columns with them), as do the tools' access tokens; the lti.* events are deleted
-- (the narrower event-type check cannot hold them) and webhooks lose those types.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, ban-drop-table, ban-drop-column, ban-drop-constraint, constraint-missing-not-valid

set local role lms_owner;
delete from app.events where type in ('lti.launched', 'lti.score_received');
update app.webhooks set events = array(select e from unnest(events) e where e not in ('lti.launched', 'lti.score_received'))
where events && array['lti.launched', 'lti.score_received'];
delete from app.webhooks where events = '{}';
alter table app.webhooks drop constraint ck_webhooks_events;
alter table app.webhooks add constraint ck_webhooks_events check (cardinality(events) between 1 and 18
    and array_position(events, null) is null
    and events <@ array['enrollment.created', 'enrollment.dropped', 'lesson.completed', 'course.completed',
      'certificate.issued', 'certificate.revoked', 'attempt.submitted', 'submission.submitted',
      'submission.graded', 'order.completed', 'order.refunded', 'user.created', 'user.deactivated',
      'module.completed', 'override.changed', 'attempt.graded', 'attempt.regraded', 'grade.posted']);
alter table app.events drop constraint ck_events_type;
alter table app.events add constraint ck_events_type check (type in (
    'enrollment.created', 'enrollment.dropped', 'lesson.completed', 'course.completed',
    'certificate.issued', 'certificate.revoked', 'attempt.submitted', 'submission.submitted',
    'submission.graded', 'order.completed', 'order.refunded', 'user.created', 'user.deactivated',
    'module.completed', 'override.changed', 'attempt.graded', 'attempt.regraded', 'grade.posted'));
comment on column app.events.type is 'What happened: enrollment.created, enrollment.dropped, lesson.completed, course.completed, certificate.issued, certificate.revoked, attempt.submitted, submission.submitted, submission.graded, order.completed, order.refunded, user.created, user.deactivated, module.completed, override.changed, attempt.graded, attempt.regraded, grade.posted.';
drop table app.lti_results;
drop table app.lti_line_items;
drop table app.lti_assertions;
drop table app.lti_access_tokens;
delete from app.lti_launches where message_type <> 'LtiResourceLinkRequest';
alter table app.lti_launches drop column returned_at;
alter table app.lti_launches drop column return_hash;
alter table app.lti_launches drop column module_id;
alter table app.lti_launches drop column message_type;
