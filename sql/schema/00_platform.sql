/*
 * Platform: the cluster roles, the schemas and the extensions every domain uses.
 *
 * Roles are cluster-wide, so they are created idempotently. lms_owner owns every object;
 * lms_authenticator is the only login the RPC server uses and can do nothing but become
 * lms_api; lms_definer owns the few SECURITY DEFINER functions (BYPASSRLS, NOLOGIN);
 * lms_analyst is the group role of analysts' logins. Creating lms_definer needs a superuser
 * (BYPASSRLS); a DBA without one creates the roles once by hand (README, "For DBAs").
 */
do $$
begin
  if not exists (select from pg_roles where rolname = 'lms_owner') then
    create role lms_owner nologin;
  end if;
  if not exists (select from pg_roles where rolname = 'lms_definer') then
    create role lms_definer nologin bypassrls;
  end if;
  if not exists (select from pg_roles where rolname = 'lms_api') then
    create role lms_api nologin;
  end if;
  if not exists (select from pg_roles where rolname = 'lms_analyst') then
    create role lms_analyst nologin;
  end if;
  if not exists (select from pg_roles where rolname = 'lms_authenticator') then
    create role lms_authenticator login noinherit;
  end if;
end
$$;

grant lms_api to lms_authenticator;
grant lms_definer to lms_owner;
grant lms_owner to current_user;

do $$
begin
  execute format('grant create, connect on database %I to lms_owner', current_database());
  execute format('grant connect on database %I to lms_authenticator, lms_analyst', current_database());
  execute format('revoke create, temporary on database %I from public', current_database());
end
$$;

revoke create on schema public from public;

create extension if not exists pgcrypto with schema public;

/*
 * The server's login never logs statements or their parameters (auth.* calls carry passwords,
 * tokens and one-time codes), and large objects are closed to clients and analysts. Both need a
 * superuser; without one, a DBA runs these once as a superuser (README).
 */
do $$
begin
  if (select r.rolsuper from pg_roles r where r.rolname = current_user) then
    alter role lms_authenticator set log_statement = 'none';
    alter role lms_authenticator set log_min_error_statement = 'panic';
    alter role lms_authenticator set log_min_duration_statement = -1;
    alter role lms_authenticator set log_parameter_max_length = 0;
    alter role lms_authenticator set log_parameter_max_length_on_error = 0;
    revoke execute on function pg_catalog.lo_from_bytea(oid, bytea), pg_catalog.lo_create(oid),
      pg_catalog.lo_creat(integer), pg_catalog.lo_put(oid, bigint, bytea), pg_catalog.lowrite(integer, bytea) from public;
  else
    raise notice 'not a superuser: run the ALTER ROLE lms_authenticator SET log_* statements as one (README)';
  end if;
end
$$;

set local role lms_owner;

create schema app;
comment on schema app is 'Tables of the LMS. Every table holding user data has RLS enabled and forced.';
create schema api;
comment on schema api is 'One function per JSON-RPC method (method domain.verb = function api.domain_verb). Nothing else.';
create schema internal;
comment on schema internal is 'Helpers and trigger functions no client may call directly.';
create schema analytics;
comment on schema analytics is 'Views for analysts; RLS of the underlying tables applies to them.';
create schema partitions;
comment on schema partitions is 'Partitions of partitioned tables. No client role has USAGE: query the parent in app.';

-- Functions are not executable by PUBLIC unless a policies file grants them.
alter default privileges for role lms_owner revoke execute on functions from public;

/*
 * Rate limits: configurable limits and their sliding-window counters (internal.rate_take).
 */
create table app.rate_limits (
  name           text not null,
  max_cost       integer not null,
  window_seconds integer not null,
  description    text not null,
  constraint pk_rate_limits primary key (name),
  constraint ck_rate_limits_max_cost_positive check (max_cost > 0),
  constraint ck_rate_limits_window_positive check (window_seconds between 1 and 86400)
);
comment on table app.rate_limits is 'Configurable limits (a DBA updates rows; read on every call). Costs per method are declared by @cost lines in the api functions'' comments.';
comment on column app.rate_limits.name is 'The limit''s name as the code uses it: address | login_failures_address | login_failures_account_address | login_failures_account.';
comment on column app.rate_limits.max_cost is 'Units allowed per sliding window (for the login_failures_* limits: failed attempts).';
comment on column app.rate_limits.window_seconds is 'Length of the window in seconds (1..86400).';

insert into app.rate_limits (name, max_cost, window_seconds, description) values
  ('address', 20000, 60, 'cost units (@cost of each method, default 1; password hashing 20) of all calls from one client address per window'),
  ('login_failures_address', 300, 900, 'failed logins from one client address (any account) per window'),
  ('login_failures_account_address', 5, 900, 'failed logins for one account from one address; then that address is locked out (423) for the window'),
  ('login_failures_account', 50, 900, 'failed logins for one account from all addresses; then only addresses that logged in to it before may try (429)');

create unlogged table app.rate_counters (
  bucket       text not null,
  shard        smallint not null,
  window_start timestamptz not null,
  used         integer not null,
  prev_used    integer not null default 0,
  constraint pk_rate_counters primary key (bucket, shard)
);
comment on table app.rate_counters is 'Sliding-window counters (this window and the previous one) per bucket, e.g. address:203.0.113.7. UNLOGGED: lost on a crash, which only forgives.';
comment on column app.rate_counters.bucket is 'What is counted: the limit''s subject, e.g. address:203.0.113.7.';
comment on column app.rate_counters.shard is 'Which of 16 rows of the bucket this backend counts in (pg_backend_pid() % 16): concurrent calls from one address do not queue on one row; the limit is the sum over the shards.';
comment on column app.rate_counters.window_start is 'Start of the current fixed window (a multiple of window_seconds since the epoch). Counters idle for two days are deleted by lms db maintain.';
comment on column app.rate_counters.used is 'Units spent in the current window.';
comment on column app.rate_counters.prev_used is 'Units spent in the previous window; weighted by how much of it the sliding window still covers.';

/*
 * What repeatable SQL is applied: lms db migrate skips re-applying sql/functions and sql/policies
 * while unchanged.
 */
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

/*
 * The statistics views and functions that count rows and activity per table, index, function and
 * database (pg_stat_user_tables.n_live_tup, n_tup_ins, idx_scan, pg_stat_database.xact_commit, …)
 * are PUBLIC in PostgreSQL: any analyst would read global row counts and activity that RLS hides
 * row by row. Closed to PUBLIC in this database, open to pg_read_all_stats (pg_monitor, DBAs'
 * monitoring); superusers are unaffected. What stays visible to every role, as in any PostgreSQL:
 * the planner's estimates (pg_class.reltuples, relpages, EXPLAIN row estimates) — see the README.
 * As the migrating role (a superuser; lms_owner may not change the catalog's privileges).
 */
reset role;
do $$
declare
  v_view text;
  v_fn   regprocedure;
begin
  foreach v_view in array array[
    'pg_stat_all_tables', 'pg_stat_user_tables', 'pg_stat_sys_tables',
    'pg_stat_xact_all_tables', 'pg_stat_xact_user_tables', 'pg_stat_xact_sys_tables',
    'pg_statio_all_tables', 'pg_statio_user_tables', 'pg_statio_sys_tables',
    'pg_stat_all_indexes', 'pg_stat_user_indexes', 'pg_stat_sys_indexes',
    'pg_statio_all_indexes', 'pg_statio_user_indexes', 'pg_statio_sys_indexes',
    'pg_statio_all_sequences', 'pg_statio_user_sequences', 'pg_statio_sys_sequences',
    'pg_stat_user_functions', 'pg_stat_xact_user_functions', 'pg_stat_database', 'pg_stat_database_conflicts']
  loop
    execute format('revoke select on pg_catalog.%I from public', v_view);
    execute format('grant select on pg_catalog.%I to pg_read_all_stats', v_view);
  end loop;
  for v_fn in select p.oid::regprocedure from pg_catalog.pg_proc p
              where p.pronamespace = 'pg_catalog'::regnamespace and p.proname like 'pg\_stat\_get\_%'
                and p.pronargs = 1 and p.proargtypes[0] = 'oid'::regtype
              order by p.oid
  loop
    execute format('revoke execute on function %s from public', v_fn);
    execute format('grant execute on function %s to pg_read_all_stats', v_fn);
  end loop;
exception when insufficient_privilege then  -- a managed service's DBA may not change the catalog's privileges
  raise warning 'statistics privileges left as they are: %', sqlerrm;
end
$$;

/*
 * Policy settings: the limits the rules enforce (file quota, upload size and grace, webhook retry
 * and disable, event retention, the analyst transaction bound), one row each, read by the functions
 * that enforce them (internal.setting) and by `lms db maintain` — so every server process and every
 * worker enforces the same value. The environment (LMS_FILE_QUOTA_BYTES, …) seeds a row when the
 * table is first created by `lms db migrate`; afterwards a DBA changes it here
 * (`update app.settings set value = … where name = …`), never per process.
 */
set local role lms_owner;
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
