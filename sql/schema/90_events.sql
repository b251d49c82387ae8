/*
 * Events: what happened, written by triggers in the same transaction as the change, and the
 * outgoing webhooks that tell other systems (sql/functions/90_events/).
 */
set local role lms_owner;

create table app.events (
  seq         bigint generated always as identity,
  type        text not null,
  occurred_at timestamptz not null default now(),
  user_id     uuid,
  course_id   uuid,
  data        jsonb not null default '{}',
  id          bigint,
  constraint pk_events primary key (seq),
  constraint uq_events_id unique (id),
  constraint ck_events_type check (type in (
    'enrollment.created', 'enrollment.dropped', 'lesson.completed', 'course.completed',
    'certificate.issued', 'certificate.revoked', 'attempt.submitted', 'submission.submitted',
    'submission.graded', 'order.completed', 'order.refunded', 'user.created', 'user.deactivated',
    'module.completed', 'override.changed', 'attempt.graded', 'attempt.regraded', 'grade.posted',
    'lti.launched', 'lti.score_received')),
  constraint ck_events_data_object check (jsonb_typeof(data) = 'object')
);
create index ix_events_user_id on app.events (user_id, id) where user_id is not null;
create index ix_events_course_id on app.events (course_id, id) where course_id is not null;
create index ix_events_occurred_at on app.events using brin (occurred_at);
create index ix_events_unsequenced on app.events (seq) where id is null;
comment on table app.events is 'What happened, written by triggers in the same transaction as the change that causes it (it exists exactly when the change does). Append-only but for the id the sequencer gives it after commit; pruned after LMS_EVENT_RETENTION_DAYS by lms db maintain.';
comment on column app.events.seq is 'Write order (identity): the row''s key from the moment it is written. Not shown to clients; ids are given in commit order by the sequencer.';
comment on column app.events.id is 'The event id: 1, 2, 3 … without gaps, given after the event''s transaction committed (internal.events_sequence), so ids follow commit order. The replay cursor of event.list/event.subscribe and the webhook-id of its deliveries. Null for a moment after commit, until a reader or the server''s event hub sequences it.';
comment on column app.events.type is 'What happened: enrollment.created, enrollment.dropped, lesson.completed, course.completed, certificate.issued, certificate.revoked, attempt.submitted, submission.submitted, submission.graded, order.completed, order.refunded, user.created, user.deactivated, module.completed, override.changed, attempt.graded, attempt.regraded, grade.posted, lti.launched, lti.score_received.';
comment on column app.events.occurred_at is 'When the change was made (the time of its transaction).';
comment on column app.events.user_id is 'The user the event is about (the learner, buyer or account): they may see it. No foreign key: an event outlives the rows it names.';
comment on column app.events.course_id is 'The course the event concerns, if any: its instructor may see it.';
comment on column app.events.data is 'Event payload: the subject''s ids and a small summary (never a secret, a token or a certificate number).';

create table app.event_sequencer (
  singleton    boolean not null default true,
  last_id      bigint not null,
  sequenced_at timestamptz not null default now(),
  constraint pk_event_sequencer primary key (singleton),
  constraint ck_event_sequencer_singleton check (singleton),
  constraint ck_event_sequencer_last_id check (last_id >= 0)
);
comment on table app.event_sequencer is 'One row: the last event id given. Its row lock serialises the sequencer (a reader that finds another numbering waits for it, at most 200 ms, so it reads its own writes); only lms_definer may read or lock it, so no client''s or analyst''s session can hold it.';
comment on column app.event_sequencer.singleton is 'Always true: the primary key that keeps the table at one row.';
comment on column app.event_sequencer.last_id is 'The highest event id given so far (every id up to it is taken, none above).';
comment on column app.event_sequencer.sequenced_at is 'When the sequencer last numbered events.';
insert into app.event_sequencer (last_id) values (0);

create table app.webhooks (
  id              uuid not null default gen_random_uuid(),
  url             text not null,
  events          text[] not null,
  description     text,
  secret          text not null,
  is_active       boolean not null default true,
  failing_since   timestamptz,
  disabled_at     timestamptz,
  disabled_reason text,
  created_by      uuid,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  claim_token     uuid,
  claimed_until   timestamptz,
  format          text not null default 'standard_webhooks',
  basic_auth      text,
  constraint pk_webhooks primary key (id),
  constraint fk_webhooks_created_by_users foreign key (created_by) references app.users (id) on delete set null,
  constraint ck_webhooks_url check (length(url) <= 2000 and url ~ '^https?://[^/?#@\s]+(/[^\s]*)?$'),
  constraint ck_webhooks_events check (cardinality(events) between 1 and 20 and array_position(events, null) is null
    and events <@ array['enrollment.created', 'enrollment.dropped', 'lesson.completed', 'course.completed',
      'certificate.issued', 'certificate.revoked', 'attempt.submitted', 'submission.submitted',
      'submission.graded', 'order.completed', 'order.refunded', 'user.created', 'user.deactivated',
      'module.completed', 'override.changed', 'attempt.graded', 'attempt.regraded', 'grade.posted',
      'lti.launched', 'lti.score_received']),
  constraint ck_webhooks_description_length check (length(description) <= 1000),
  constraint ck_webhooks_secret_format check (secret ~ '^whsec_[A-Za-z0-9+/]{43}=$'),
  constraint ck_webhooks_disabled check ((disabled_at is null) = (disabled_reason is null) and (disabled_at is null or not is_active)),
  constraint ck_webhooks_claim check ((claim_token is null) = (claimed_until is null)),
  constraint ck_webhooks_format check (format in ('standard_webhooks', 'xapi')
    and (basic_auth is null or format = 'xapi') and length(basic_auth) <= 1000)
);
create index ix_webhooks_created_by on app.webhooks (created_by) where created_by is not null;
comment on table app.webhooks is 'Outgoing webhook subscriptions (admins): events of the listed types are POSTed, signed per the Standard Webhooks specification, to url.';
comment on column app.webhooks.format is 'standard_webhooks: the event JSON, signed (webhook.create); xapi: the event as an xAPI statement to a Learning Record Store (lms xapi deliver, LMS_XAPI_ENDPOINT).';
comment on column app.webhooks.basic_auth is 'xapi: the LRS''s HTTP Basic credentials (user:password). Secret: readable only by lms_definer, handed to the worker by internal.webhook_claim.';
comment on column app.webhooks.claim_token is 'The worker lease on this subscription (internal.webhook_claim): only the holder of this token records attempts until claimed_until.';
comment on column app.webhooks.claimed_until is 'When the current worker lease runs out; after it another worker may claim the subscription (a worker that died leaves nothing locked).';
comment on column app.webhooks.url is 'http(s) URL that receives the deliveries (at most 2000 characters, no user:password part). Loopback, link-local and private targets are refused at delivery unless LMS_WEBHOOKS_ALLOW_PRIVATE_URLS=true.';
comment on column app.webhooks.events is 'The event types delivered to this subscription (1..13 distinct known types).';
comment on column app.webhooks.secret is 'Signing secret, Standard Webhooks format (whsec_ + base64 of 32 random bytes). Secret: shown once by webhook.create / webhook.rotate_secret, readable only by lms_definer and the delivery worker.';
comment on column app.webhooks.is_active is 'False = no new deliveries are queued or attempted (set by webhook.update, or by the worker after failing for LMS_WEBHOOK_DISABLE_AFTER_HOURS).';
comment on column app.webhooks.failing_since is 'Time of the first failed attempt since the last success; null = healthy.';
comment on column app.webhooks.disabled_at is 'When the delivery worker disabled the subscription for failing too long (the creator is told by email); null = not disabled by the worker.';
comment on column app.webhooks.disabled_reason is 'Why the worker disabled it, e.g. failing_since_…; cleared when an admin re-activates.';
comment on column app.webhooks.created_by is 'The admin who created it (told by email if it is disabled).';

create table app.webhook_deliveries (
  id                 uuid not null default gen_random_uuid(),
  webhook_id         uuid not null,
  event_id           bigint not null,
  status             text not null default 'pending',
  attempts           integer not null default 0,
  next_attempt_at    timestamptz not null default now(),
  last_attempt_at    timestamptz,
  last_response_code integer,
  last_error         text,
  created_at         timestamptz not null default now(),
  delivered_at       timestamptz,
  constraint pk_webhook_deliveries primary key (id),
  constraint fk_webhook_deliveries_webhook_id_webhooks foreign key (webhook_id) references app.webhooks (id) on delete cascade,
  constraint fk_webhook_deliveries_event_id_events foreign key (event_id) references app.events (id) on delete cascade,
  constraint ck_webhook_deliveries_status check (status in ('pending', 'succeeded', 'failed')),
  constraint ck_webhook_deliveries_attempts check (attempts >= 0),
  constraint ck_webhook_deliveries_delivered check ((status = 'succeeded') = (delivered_at is not null)),
  constraint ck_webhook_deliveries_last_error_length check (length(last_error) <= 2000)
);
create index ix_webhook_deliveries_pending on app.webhook_deliveries (webhook_id, event_id, created_at) where status = 'pending';
create index ix_webhook_deliveries_webhook_id on app.webhook_deliveries (webhook_id, created_at);
create index ix_webhook_deliveries_event_id on app.webhook_deliveries (event_id);
comment on table app.webhook_deliveries is 'One row per event and subscription to deliver, written in the same transaction as the event; webhook.redeliver adds another for the same event (same webhook-id).';
comment on column app.webhook_deliveries.status is 'pending (to be tried at next_attempt_at), succeeded (a 2xx answer) or failed (given up after LMS_WEBHOOK_RETRY_HOURS, or the target is not allowed).';
comment on column app.webhook_deliveries.attempts is 'POSTs tried so far.';
comment on column app.webhook_deliveries.next_attempt_at is 'Not tried before this time: each failure waits 5 s × 2^(attempts−1), at most 1 hour. Deliveries of one subscription go in event order: a later one waits for the earlier pending one.';
comment on column app.webhook_deliveries.last_attempt_at is 'When the last POST was tried; null = never.';
comment on column app.webhook_deliveries.last_response_code is 'HTTP status of the last answer; null = no answer (connection error, timeout, refused target).';
comment on column app.webhook_deliveries.last_error is 'What went wrong the last time (at most 2000 characters); null after a success.';
comment on column app.webhook_deliveries.delivered_at is 'When a 2xx answer arrived; null = not (yet) delivered.';
