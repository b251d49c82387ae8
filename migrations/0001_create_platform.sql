-- Create the roles, schemas and extensions (baseline of sql/schema/00_platform.sql).
-- squawk-ignore-file require-concurrent-index-creation, require-lock-timeout, require-statement-timeout, constraint-missing-not-valid, adding-foreign-key-constraint
-- (baseline: every table here is new and empty, so no lock is contended and no row is scanned)

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
