/*
 * The `tests` helper schema for pgTAP files. Loaded as superuser into each pgTAP database
 * (never into a real one). pg_prove connects as lms_authenticator, so identity is switched
 * exactly as the RPC layer does it: role lms_api plus the transaction-local lms.user_id.
 * Setup helpers are SECURITY DEFINER (owned by the superuser) so fixtures bypass RLS.
 */
create schema tests;
grant usage on schema tests to public;

create table tests.labels (
  label   text primary key,
  user_id uuid not null
);
grant select on tests.labels to public;

-- (This file is a fixture loaded once into each throw-away pgTAP database, not a test file:
-- it has no plan of its own and needs no closing ROLLBACK.)
create function tests."plan" (p_count integer)
returns setof text
language plpgsql
as $$
begin
  return query select * from public."plan" (p_count);
  -- pgTAP keeps its state in temp tables owned by the login; let the switched roles use them.
  execute 'grant all on all tables in schema pg_temp to public';
  execute 'grant all on all sequences in schema pg_temp to public';
end
$$;

create function tests.create_user(p_label text, p_role text default 'student')
returns uuid
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_id uuid;
begin
  -- The one way users are made (role rows come from the users trigger).
  v_id := internal.create_user(p_label || '@example.test', 'correct horse battery', initcap(p_label), p_role);
  insert into tests.labels (label, user_id) values (p_label, v_id);
  return v_id;
end
$$;

create function tests.user_id(p_label text)
returns uuid
language sql
stable
as $$ select l.user_id from tests.labels l where l.label = p_label $$;

create function tests.authenticate_as(p_label text)
returns void
language plpgsql
as $$
declare
  v_id uuid := tests.user_id(p_label);
begin
  if v_id is null then
    raise exception 'no test user labelled %', p_label;
  end if;
  perform set_config('role', 'lms_api', true), set_config('lms.user_id', v_id::text, true);
end
$$;

create function tests.clear_authentication()
returns void
language sql
as $$ select set_config('role', 'lms_api', true), set_config('lms.user_id', '', true) $$;

create function tests.become_login()
returns void
language sql
as $$ select set_config('role', 'none', true), set_config('lms.user_id', '', true) $$;

create function tests.as_owner(p_sql text)
returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  execute p_sql;
end
$$;

create function tests.index_scans(p_index regclass)
returns bigint
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$ select pg_stat_get_xact_numscans(p_index) $$;
comment on function tests.index_scans(regclass) is
  'Scans of an index in this transaction so far, for tests running as lms_api (the statistics are closed to PUBLIC, migration 0022).';

create function tests.link_login_to(p_label text)
returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  -- session_user, not current_user: the mapping is keyed on the login.
  insert into app.analyst_logins (login_name, user_id) values (session_user, tests.user_id(p_label))
  on conflict (login_name) do update set user_id = excluded.user_id;
end
$$;

create function tests.owner_scalar(p_sql text)
returns text
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_result text;
begin
  execute p_sql into v_result;
  return v_result;
end
$$;

grant execute on all functions in schema tests to public;
