/*
 * Platform functions: who is calling, what they are, and database upkeep.
 *
 * app.current_user_id() is the one source of "who is calling". The RPC server connects as
 * lms_authenticator and sets lms.user_id transaction-locally; only for that login is the
 * setting trusted. Any other login (an analyst's) is mapped through app.analyst_logins by
 * session_user, which SET ROLE cannot change, so `SET lms.user_id = …` gains an analyst nothing.
 *
 * The api schema is rebuilt on every repeatable run: its functions are dropped here and
 * recreated by the domain files, so a method removed from a file disappears, and a changed
 * signature needs no versioned migration. (Nothing may depend on an api function.)
 */
do $$
declare
  v_fn regprocedure;
begin
  for v_fn in select p.oid::regprocedure from pg_proc p where p.pronamespace = 'api'::regnamespace
  loop
    execute format('drop function %s', v_fn);
  end loop;
end
$$;

create or replace function app.current_user_id()
returns uuid
language plpgsql
stable
parallel safe
as $$
begin
  if session_user = 'lms_authenticator' then
    return nullif(current_setting('lms.user_id', true), '')::uuid;
  end if;
  return internal.analyst_user_id();
end
$$;
comment on function app.current_user_id() is
  'The LMS user on whose behalf this transaction runs, or null (anonymous). Trusts lms.user_id only for lms_authenticator sessions (the server sets it through internal.set_caller, which refuses inactive users); other logins get their analyst mapping, and none while the linked user is inactive.';

create or replace function internal.analyst_user_id()
returns uuid
language sql
stable
parallel safe
security definer
set search_path = pg_catalog, pg_temp
as $$
  select l.user_id from app.analyst_logins l join app.users u on u.id = l.user_id
  where l.login_name = session_user and u.is_active
$$;
comment on function internal.analyst_user_id() is
  'The active LMS user linked to this session''s login (app.analyst_logins), else null: an analyst linked to a deactivated user is anonymous and sees nothing. SECURITY DEFINER: reads is_active without going through the users policies (which call current_user_id).';

create or replace function internal.user_is_active(p_user_id uuid)
returns boolean
language plpgsql  -- not SQL: a SQL function that is not inlined is planned again at every call
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return (select coalesce((select u.is_active from app.users u where u.id = p_user_id), false));
end
$$;
comment on function internal.user_is_active(uuid) is
  'True when the user exists and is active. SECURITY DEFINER: set_caller runs it for every call before any policy lets the caller read app.users; it reveals one boolean about the id the caller''s own verified token names.';

create or replace function internal.client_addr()
returns inet
language sql
stable
as $$
  select nullif(current_setting('lms.client_addr', true), '')::inet
$$;
comment on function internal.client_addr() is
  'The client address of this call as the RPC server saw it (set by internal.set_caller), or null for direct SQL callers.';

create or replace function internal.set_caller(p_user_id uuid, p_client_addr inet, p_given text[])
returns void
language plpgsql
volatile
as $$
begin
  perform set_config('lms.user_id', coalesce(p_user_id::text, ''), true);
  perform set_config('lms.client_addr', coalesce(p_client_addr::text, ''), true);
  perform set_config('lms.given', ',' || array_to_string(coalesce(p_given, '{}'::text[]), ',') || ',', true);
  if p_user_id is not null and not internal.user_is_active(p_user_id) then
    raise exception 'this account is inactive' using errcode = 'LM401', detail = 'account_inactive';
  end if;
end
$$;
comment on function internal.set_caller(uuid, inet, text[]) is
  'Run by the RPC server at the start of every call, transaction-locally: who is calling (lms.user_id), from where (lms.client_addr) and which params the request contained (lms.given). A deactivated or deleted user''s still-valid access token gets 401 account_inactive here, on every method, from the commit of the deactivation on. Invoker (a definer function could not set transaction-local settings that outlive it).';
