/*
 * Platform — access helpers every domain uses: which params a call gave (internal.given), the
 * caller's role, require_user/require_role, and the audit log.
 * Shared with every domain: all of this file.
 */

create or replace function internal.given(p_name text, p_value anyelement)
returns boolean
language sql
stable
as $$
  select case when nullif(current_setting('lms.given', true), '') is null then p_value is not null
              else position(',' || p_name || ',' in current_setting('lms.given', true)) > 0 end
$$;
comment on function internal.given(text, anyelement) is
  'Was the param p_name given in this call? The RPC server sets lms.given to the names present in the request (",a,b,"), so an update can tell an omitted field (unchanged) from an explicit null (cleared). Without it (a direct SQL caller): true when p_value is not null.';

create or replace function internal.current_user_role()
returns text
language plpgsql
stable
parallel safe
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return (select u.role from app.users u where u.id = app.current_user_id() and u.is_active);
end
$$;
comment on function internal.current_user_role() is
  'Role of the calling user if active, else null. SECURITY DEFINER because policies on app.users call it (no recursion through RLS); reveals only the caller''s own role.';

create or replace function internal.is_admin()
returns boolean
language sql
stable
parallel safe
as $$
  select coalesce(internal.current_user_role() = 'admin', false)
$$;
comment on function internal.is_admin() is 'True when the calling user is an active admin.';

create or replace function internal.require_user()
returns uuid
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id uuid := app.current_user_id();
begin
  if v_user_id is null then
    raise exception 'authentication required' using errcode = 'LM401', detail = 'not_authenticated';
  end if;
  if not exists (select from app.users u where u.id = v_user_id and u.is_active) then
    raise exception 'the account is unknown or inactive' using errcode = 'LM401', detail = 'token_invalid';
  end if;
  return v_user_id;
end
$$;
comment on function internal.require_user() is
  'The calling user''s id; raises LM401 for anonymous callers and unknown or inactive accounts. SECURITY DEFINER to look up is_active whatever the users policies say.';

create or replace function internal.require_role(variadic p_roles text[])
returns uuid
language plpgsql
stable
as $$
declare
  v_user_id uuid := internal.require_user();
begin
  if not internal.current_user_role() = any (p_roles) then
    raise exception 'this needs one of the roles %', array_to_string(p_roles, ', ')
      using errcode = 'LM403', detail = 'forbidden';
  end if;
  return v_user_id;
end
$$;
comment on function internal.require_role(text[]) is 'The calling user''s id if their role is one of p_roles; else LM401/LM403.';

create or replace function internal.audit(p_action text, p_subject_type text, p_subject_id uuid, p_details jsonb default '{}')
returns void
language plpgsql  -- not SQL: a SQL function that is not inlined is planned again at every call
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into app.audit_log (actor_id, action, subject_type, subject_id, details)
  values (app.current_user_id(), p_action, p_subject_type, p_subject_id, coalesce(p_details, '{}'));
end
$$;
comment on function internal.audit(text, text, uuid, jsonb) is
  'Appends to app.audit_log as the calling user. SECURITY DEFINER: callers may write the log through it but never read or change it.';

create or replace function internal.check_page(p_limit integer, p_offset integer, p_max integer)
returns void
language plpgsql
immutable
as $$
begin
  if p_limit is not null and p_limit not between 1 and p_max then
    raise exception 'limit must be between 1 and %', p_max using errcode = 'LM422', detail = 'invalid_limit', hint = 'limit';
  end if;
  if p_offset is not null and p_offset < 0 then
    raise exception 'offset must not be negative' using errcode = 'LM422', detail = 'invalid_offset', hint = 'offset';
  end if;
end
$$;
comment on function internal.check_page(integer, integer, integer) is
  'The one paging rule of every list method (API.md "Lists"): limit between 1 and p_max, offset not negative (null = the method''s default); LM422 invalid_limit / invalid_offset naming the param. The RPC layer refuses the same values earlier with -32602 from the @param bounds; this is for direct SQL callers.';
