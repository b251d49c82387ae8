-- Undo 0016_events_sequenced_after_commit: ids from the identity again (events not yet numbered
-- are numbered first, in write order, so no id a reader has seen changes).
-- squawk-ignore-file require-concurrent-index-creation, require-lock-timeout, require-statement-timeout, require-concurrent-index-deletion, ban-drop-column, ban-drop-table, ban-drop-constraint, constraint-missing-not-valid, renaming-column, changing-column-type, adding-not-nullable-field, ban-alter-domain-with-add-constraint, adding-foreign-key-constraint, renaming-object, adding-serial-primary-key-field, ban-alter-identity

set local role lms_owner;

update app.events e set id = n.last_id + r.rn
from (select x.seq, row_number() over (order by x.seq) as rn from app.events x where x.id is null) r,
     app.event_sequencer n
where e.seq = r.seq;
drop table app.event_sequencer;
alter table app.webhook_deliveries drop constraint fk_webhook_deliveries_event_id_events;
drop index app.ix_events_unsequenced;
drop index app.ix_events_user_id;
drop index app.ix_events_course_id;
alter table app.events drop constraint pk_events;
alter table app.events drop column seq;
alter table app.events drop constraint uq_events_id;
alter table app.events alter column id set not null;
alter table app.events add constraint pk_events primary key (id);
alter table app.events alter column id add generated always as identity;
select setval(pg_get_serial_sequence('app.events', 'id'), coalesce(max(id), 0) + 1, false) from app.events;
create index ix_events_user_id on app.events (user_id, id) where user_id is not null;
create index ix_events_course_id on app.events (course_id, id) where course_id is not null;
alter table app.webhook_deliveries add constraint fk_webhook_deliveries_event_id_events
  foreign key (event_id) references app.events (id) on delete cascade;
comment on table app.events is 'What happened, written by triggers in the same transaction as the change that causes it (it exists exactly when the change does). Append-only; pruned after LMS_EVENT_RETENTION_DAYS by lms db maintain.';
comment on column app.events.id is 'Increasing event id: the replay cursor of event.list/event.subscribe and the webhook-id of its deliveries. Readers see ids only up to the point every lower id is settled (internal.events_horizon).';
