-- What repeatable SQL is applied (issue 26 §2): `lms db migrate` — also run by every `lms serve`
-- start — re-applies sql/functions and sql/policies only when they changed, so starting a server
-- takes no lock the API needs.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
-- (a new, empty table: no existing table is locked)
-- depends: 0016_events_sequenced_after_commit

set local role lms_owner;

create table internal.repeatable_sql (
  singleton  boolean not null default true,
  sha256     text not null,
  applied_at timestamptz not null default now(),
  constraint pk_repeatable_sql primary key (singleton),
  constraint ck_repeatable_sql_singleton check (singleton),
  constraint ck_repeatable_sql_sha256 check (sha256 ~ '^[0-9a-f]{64}$')
);
comment on table internal.repeatable_sql is 'One row: the SHA-256 of the repeatable SQL (sql/functions, sql/policies: paths and contents) last applied by lms db migrate, which skips re-applying it while unchanged (lms db migrate --repeatable forces it). Emptied by a rollback.';
comment on column internal.repeatable_sql.singleton is 'Always true: the primary key that keeps the table at one row.';
comment on column internal.repeatable_sql.sha256 is 'Hex SHA-256 over the repeatable files, in the order they are applied.';
comment on column internal.repeatable_sql.applied_at is 'When they were last applied.';
