/*
 * Platform grants. Loaded after every sql/functions file, before the domain policy files.
 * lms_api (the RPC role) and lms_analyst get USAGE on the schemas they need; table
 * privileges and RLS policies are granted table by table in the domain files.
 * lms_definer (BYPASSRLS) owns every SECURITY DEFINER function and may use every table.
 *
 * The policy files are the whole truth: this file first drops every policy and revokes every
 * client privilege on app tables, so a policy or grant deleted from a file is gone after the
 * next migrate.
 */
do $$
declare
  v_policy record;
begin
  for v_policy in select p.policyname, p.schemaname, p.tablename from pg_policies p where p.schemaname = 'app'
  loop
    execute format('drop policy %I on %I.%I', v_policy.policyname, v_policy.schemaname, v_policy.tablename);
  end loop;
end
$$;
revoke all on all tables in schema app from lms_api, lms_analyst, lms_authenticator;
revoke all on all tables in schema analytics from lms_api, lms_analyst;
revoke all on all functions in schema app, internal from lms_api, lms_analyst, lms_authenticator;

grant usage on schema app, api, internal to lms_api;
grant usage on schema app, analytics, internal to lms_analyst;
grant usage on schema app, internal, partitions to lms_definer;
grant select, insert, update, delete on all tables in schema app to lms_definer;
grant usage, select on all sequences in schema app to lms_definer;

-- Every SECURITY DEFINER function is owned by lms_definer, never by the table owner.
-- (ALTER … OWNER needs CREATE on the schema for the new owner; it is granted only meanwhile.)
grant create on schema app, api, internal to lms_definer;
do $$
declare
  v_fn regprocedure;
begin
  for v_fn in
    select p.oid::regprocedure from pg_proc p
    where p.prosecdef and p.pronamespace in ('app'::regnamespace, 'api'::regnamespace, 'internal'::regnamespace)
  loop
    execute format('alter function %s owner to lms_definer', v_fn);
  end loop;
end
$$;
revoke create on schema app, api, internal from lms_definer;

grant execute on function app.current_user_id() to lms_api, lms_analyst, lms_definer;
grant execute on function internal.analyst_user_id() to lms_api, lms_analyst, lms_definer;
grant execute on function internal.user_is_active(uuid) to lms_api, lms_definer;
grant execute on function internal.client_addr() to lms_api, lms_definer;
-- The server's login runs these two before it becomes lms_api (EXECUTE is checked then).
grant usage on schema internal to lms_authenticator;
grant execute on function internal.set_caller(uuid, inet, text[]) to lms_authenticator, lms_api;
grant execute on function internal.rate_take(text, integer, text) to lms_authenticator, lms_definer;
grant execute on function internal.current_user_role() to lms_api, lms_analyst, lms_definer;
grant execute on function internal.is_admin() to lms_api, lms_analyst, lms_definer;
grant execute on function internal.require_user() to lms_api, lms_definer;
grant execute on function internal.require_role(text[]) to lms_api, lms_definer;
grant execute on function internal.audit(text, text, uuid, jsonb) to lms_api, lms_definer;
grant execute on function internal.given(text, anyelement) to lms_api, lms_definer;
grant execute on function internal.check_page(integer, integer, integer) to lms_api, lms_definer;
grant execute on function internal.error(integer, text, text) to lms_api, lms_definer;
-- The error catalogue is public knowledge: the server reads it at start-up to publish it.
grant execute on function internal.error_catalogue() to lms_authenticator, lms_api, lms_analyst, lms_definer;

-- Partitions are reached through their parent only; RLS is enabled on each as a second fence.
do $$
declare
  v_part regclass;
begin
  for v_part in select c.oid::regclass from pg_class c where c.relnamespace = 'partitions'::regnamespace and c.relkind = 'r'
  loop
    execute format('alter table %s enable row level security', v_part);
  end loop;
end
$$;

-- Rate limits and their counters: no client privileges; internal.rate_take (definer) and the
-- auth functions read them. A DBA changes limits by updating app.rate_limits.
alter table app.rate_limits enable row level security;
alter table app.rate_limits force row level security;
alter table app.rate_counters enable row level security;
alter table app.rate_counters force row level security;

-- Policy settings: no client privileges; internal.setting (definer) reads them for every function
-- that enforces one. A DBA changes a limit by updating app.settings.
alter table app.settings enable row level security;
alter table app.settings force row level security;
grant execute on function internal.setting(text) to lms_api, lms_definer;
