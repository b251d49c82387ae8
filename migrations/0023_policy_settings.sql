-- Policy in one place (issue 35 §1): limits the rules enforce live in app.settings, read by the
-- functions that enforce them, instead of parameters each process passes from its environment.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, ban-drop-function
-- (a new table; the dropped functions are internal — only our own SQL calls them — and come back with
--  their new signatures from the repeatable SQL in the same migrate)
-- depends: 0022_statistics_closed_to_public

set local role lms_owner;
drop function if exists internal.file_upload_begin(uuid, uuid, text, text, bigint, bigint);
drop function if exists internal.file_upload_finish(uuid, uuid, uuid, text, text, bigint, text, bigint);
drop function if exists internal.storage_pending_due(interval);
drop function if exists internal.webhook_attempt(uuid, boolean, integer, text, interval, interval, boolean);
drop function if exists internal.end_runaway_analyst_sessions(interval);

create table app.settings (
  name       text not null,
  value      bigint not null,
  meaning    text not null,
  updated_at timestamptz not null default now(),
  constraint pk_settings primary key (name),
  constraint ck_settings_name check (name in ('file_quota_bytes', 'max_upload_bytes', 'upload_grace_seconds',
    'webhook_retry_hours', 'webhook_disable_after_hours', 'event_retention_days', 'analyst_max_transaction_seconds')),
  constraint ck_settings_value_positive check (value > 0)
);
comment on table app.settings is 'Policy settings the database enforces, one row per name (seeded from the environment by the migrate that creates the table; changed by a DBA with UPDATE).';
comment on column app.settings.name is 'Which limit: file_quota_bytes, max_upload_bytes, upload_grace_seconds, webhook_retry_hours, webhook_disable_after_hours, event_retention_days, analyst_max_transaction_seconds.';
comment on column app.settings.value is 'The limit, in the unit its name says (bytes, seconds, hours, days); positive.';
comment on column app.settings.meaning is 'What the limit does, for a DBA reading the table.';
comment on column app.settings.updated_at is 'When the value last changed.';
insert into app.settings (name, value, meaning) values
  ('file_quota_bytes', 1073741824, 'one user''s files in all, counting uploads under way and deleted bytes not yet removed (POST /files 422 quota_exceeded)'),
  ('max_upload_bytes', 52428800, 'one file (POST /files 413 file_too_large)'),
  ('upload_grace_seconds', 3600, 'an upload must arrive within this (408 upload_too_slow); older uploads without their row are strays for lms db maintain'),
  ('webhook_retry_hours', 24, 'how long a webhook delivery is retried after it was queued'),
  ('webhook_disable_after_hours', 120, 'how long a webhook subscription may fail before it is disabled'),
  ('event_retention_days', 90, 'lms db maintain deletes older events and their deliveries'),
  ('analyst_max_transaction_seconds', 900, 'analyst sessions whose transaction is older are ended by the server''s watchdog and lms db maintain');
