/*
 * Analytics — analyst logins (`lms analyst grant|revoke`). The rules live here, not in the CLI: a
 * login is a member of lms_analyst, linked to exactly one LMS user in app.analyst_logins, with the
 * limits every analyst login has (connection limit, statement and idle-in-transaction timeouts,
 * temp_file_limit); an existing role that is not an analyst login is never taken over or dropped.
 * SECURITY INVOKER on purpose: creating roles needs CREATEROLE and temp_file_limit a superuser, so
 * these run with the DBA's own rights — a client or analyst calling them fails at the first step.
 * The password never reaches SQL: the CLI sends a SCRAM verifier computed by libpq.
 * Shared with other domains: nothing.
 */

create or replace function internal.analyst_grant(p_login text, p_email text, p_verifier text,
                                                  p_connection_limit integer default 5,
                                                  p_statement_timeout text default '30s',
                                                  p_temp_file_limit text default '1GB')
returns jsonb
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user   app.users;
  v_exists boolean := exists (select from pg_roles r where r.rolname = p_login);
begin
  select u.* into v_user from app.users u where lower(u.email) = lower(btrim(p_email));
  if not found then
    raise exception 'no LMS user with the email %', p_email using errcode = 'LM404', detail = 'not_found', hint = 'user';
  end if;
  if v_exists and not pg_has_role(p_login, 'lms_analyst', 'member') then
    raise exception '% exists and is not an analyst login; choose another name', p_login
      using errcode = 'LM409', detail = 'conflict', hint = 'login';
  end if;
  if p_verifier !~ '^SCRAM-SHA-256\$' then
    raise exception 'the password must be given as a SCRAM-SHA-256 verifier' using errcode = '22023';
  end if;
  execute format('%s role %I login inherit password %L connection limit %s',
                 case when v_exists then 'alter' else 'create' end, p_login, p_verifier, p_connection_limit);
  execute format('grant lms_analyst to %I', p_login);
  execute format('alter role %I set statement_timeout = %L', p_login, p_statement_timeout);
  execute format('alter role %I set idle_in_transaction_session_timeout = %L', p_login, '10min');
  execute format('alter role %I set temp_file_limit = %L', p_login, p_temp_file_limit);  -- superuser-only: cannot be lifted
  insert into app.analyst_logins (login_name, user_id) values (p_login, v_user.id)
  on conflict (login_name) do update set user_id = excluded.user_id;
  return jsonb_build_object('login', p_login, 'created', not v_exists, 'user_id', v_user.id, 'email', v_user.email,
    'role', v_user.role, 'connection_limit', p_connection_limit, 'statement_timeout', p_statement_timeout,
    'temp_file_limit', p_temp_file_limit,
    'max_transaction_seconds', internal.setting('analyst_max_transaction_seconds'));
end
$$;
comment on function internal.analyst_grant(text, text, text, integer, text, text) is
  'Creates (or updates) the PostgreSQL login p_login as an analyst linked to the LMS user with p_email: member of lms_analyst, password from a SCRAM verifier, connection limit, statement_timeout, a 10 min idle-in-transaction timeout and temp_file_limit (which only a superuser can lift); refuses a role that exists and is no analyst login (LM409) and an unknown email (LM404). `lms analyst grant`. SECURITY INVOKER: needs the DBA''s CREATEROLE (and superuser for temp_file_limit). Not granted to clients.';

create or replace function internal.analyst_revoke(p_login text)
returns text
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  delete from app.analyst_logins l where l.login_name = p_login;
  if not exists (select from pg_roles r where r.rolname = p_login) then
    return 'absent';
  end if;
  if not pg_has_role(p_login, 'lms_analyst', 'member') then
    raise exception '% is not an analyst login; not dropped', p_login using errcode = 'LM409', detail = 'conflict',
      hint = 'login';
  end if;
  execute format('drop role %I', p_login);
  return 'dropped';
end
$$;
comment on function internal.analyst_revoke(text) is
  'Unlinks and drops the analyst login p_login (''dropped''; ''absent'' when there is no such role); refuses a role that is no analyst login (LM409). A login that still owns objects fails with 2BP01 (REASSIGN/DROP OWNED first). `lms analyst revoke`. SECURITY INVOKER: needs the DBA''s CREATEROLE. Not granted to clients.';
