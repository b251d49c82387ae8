-- What repeatable SQL is applied, per migration head (issue 26 §2, issue 27 §1): `lms db migrate`
-- — also run by every `lms serve` start — re-applies sql/functions and sql/policies only when they
-- changed, so starting a server takes no lock the API needs; `lms db rollback` re-applies the
-- functions recorded for the migration it returns to.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
-- (a new, empty table: no existing table is locked)
-- depends: 0016_events_sequenced_after_commit

set local role lms_owner;

create table internal.repeatable_sql (
  migration_id text not null,
  sha256       text not null,
  bundle       jsonb not null,
  applied_at   timestamptz not null default now(),
  constraint pk_repeatable_sql primary key (migration_id),
  constraint ck_repeatable_sql_sha256 check (sha256 ~ '^[0-9a-f]{64}$'),
  constraint ck_repeatable_sql_bundle check (jsonb_typeof(bundle) = 'array')
);
comment on table internal.repeatable_sql is 'The repeatable SQL (sql/functions, sql/policies) last applied by lms db migrate while migration_id was the newest migration: lms db migrate skips re-applying it while unchanged (--repeatable forces it), and lms db rollback to that migration re-applies exactly this bundle in its transaction — the functions of that schema''s own time.';
comment on column internal.repeatable_sql.migration_id is 'The newest applied migration (yoyo id) when the bundle was applied.';
comment on column internal.repeatable_sql.sha256 is 'Hex SHA-256 over the bundle''s paths and contents, in order.';
comment on column internal.repeatable_sql.bundle is 'The files as applied: a JSON array of [path, SQL text] in the order they run.';
comment on column internal.repeatable_sql.applied_at is 'When they were last applied.';
