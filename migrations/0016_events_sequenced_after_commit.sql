-- Events get their public id after they commit (issue 26 §1, issue 34 §1). A writer only inserts
-- its event (id null, seq from the identity: write order); a sequencer (internal.events_sequence,
-- called by readers) numbers committed events 1, 2, 3 … in one locked row, so ids are gapless, a
-- reader resuming from the last id it saw misses nothing, and no writer takes a lock that another
-- role's session can hold (the advisory-lock fence and the per-commit NOTIFY go away).
-- squawk-ignore-file require-concurrent-index-creation, require-lock-timeout, require-statement-timeout, require-concurrent-index-deletion, constraint-missing-not-valid, disallowed-unique-constraint, renaming-column, adding-foreign-key-constraint, renaming-object, ban-drop-constraint
-- (one release step in one transaction: app.events is rewritten once to copy its ids and locked
--  against writes meanwhile — seconds per million events; run it in a maintenance window)
-- depends: 0015_scale_indexes_and_compaction

set local role lms_owner;

alter table app.webhook_deliveries drop constraint fk_webhook_deliveries_event_id_events;
alter table app.events rename column id to seq;
alter sequence app.events_id_seq rename to events_seq_seq;
alter table app.events add column id bigint;
update app.events set id = seq;
alter table app.events add constraint uq_events_id unique (id);
alter table app.webhook_deliveries add constraint fk_webhook_deliveries_event_id_events
  foreign key (event_id) references app.events (id) on delete cascade;
drop index app.ix_events_user_id;
create index ix_events_user_id on app.events (user_id, id) where user_id is not null;
drop index app.ix_events_course_id;
create index ix_events_course_id on app.events (course_id, id) where course_id is not null;
create index ix_events_unsequenced on app.events (seq) where id is null;
comment on table app.events is 'What happened, written by triggers in the same transaction as the change that causes it (it exists exactly when the change does). Append-only but for the id the sequencer gives it after commit; pruned after LMS_EVENT_RETENTION_DAYS by lms db maintain.';
comment on column app.events.seq is 'Write order (identity): the row''s key from the moment it is written. Not shown to clients; ids are given in commit order by the sequencer.';
comment on column app.events.id is 'The event id: 1, 2, 3 … without gaps, given after the event''s transaction committed (internal.events_sequence), so ids follow commit order. The replay cursor of event.list/event.subscribe and the webhook-id of its deliveries. Null for a moment after commit, until a reader or the server''s event hub sequences it.';

create table app.event_sequencer (
  singleton    boolean not null default true,
  last_id      bigint not null,
  sequenced_at timestamptz not null default now(),
  constraint pk_event_sequencer primary key (singleton),
  constraint ck_event_sequencer_singleton check (singleton),
  constraint ck_event_sequencer_last_id check (last_id >= 0)
);
comment on table app.event_sequencer is 'One row: the last event id given. Its row lock serialises the sequencer (taken with SKIP LOCKED: a reader never waits for another); only lms_definer may read or lock it, so no client''s or analyst''s session can hold it.';
comment on column app.event_sequencer.singleton is 'Always true: the primary key that keeps the table at one row.';
comment on column app.event_sequencer.last_id is 'The highest event id given so far (every id up to it is taken, none above).';
comment on column app.event_sequencer.sequenced_at is 'When the sequencer last numbered events.';
insert into app.event_sequencer (last_id) select coalesce(max(e.id), 0) from app.events e;
