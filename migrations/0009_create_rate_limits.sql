-- Rate limits, login throttling by client address, and the server login's logging settings.
-- squawk-ignore-file require-concurrent-index-creation, require-lock-timeout, require-statement-timeout, adding-field-with-default, prefer-robust-stmts, prefer-bigint-over-smallint
-- (login_attempts is an append-only log pruned to 30 days and read only by auth.login; the index
--  builds on it take seconds at most; the new tables are empty; rate_counters.shard holds 0..15)
-- depends: 0008_create_credentials

/*
 * The server's own login must never write a statement or its parameters to the log: values of
 * auth.* calls (passwords, tokens, one-time codes) would land there. These are superuser-only
 * settings; a migrating role that is not a superuser gets a NOTICE and the DBA runs the same
 * ALTER ROLE once as a superuser (README, "Secrets and the server log").
 * Large objects are not for clients or analysts: their writing functions are revoked from PUBLIC
 * in this database (also superuser-only; same NOTICE otherwise).
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
    raise notice 'not a superuser: run the ALTER ROLE lms_authenticator SET log_* statements of migration 0009 as one (README)';
  end if;
end
$$;

set local role lms_owner;

alter table app.login_attempts add column client_addr inet;
create index ix_login_attempts_client_addr_attempted_at on app.login_attempts (client_addr, attempted_at);
comment on table app.login_attempts is 'Every login attempt (and every failed one-time code or current password) by normalised email and client address: the throttles of app.rate_limits count these rows.';
comment on column app.login_attempts.client_addr is 'Client address as the RPC server saw it (behind a trusted proxy: the forwarded one); null for direct SQL callers.';

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
