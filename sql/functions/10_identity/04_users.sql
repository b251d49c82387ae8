/*
 * Identity — creating users, setting passwords, keeping role rows in step with users.role.
 * Shared with other domains: nothing (the CLI and the demo seed call internal.create_user).
 */

-- ---------------------------------------------------------------------------------------------
-- Users: creation, passwords, role rows
-- ---------------------------------------------------------------------------------------------

create or replace function internal.create_user(p_email text, p_password text, p_full_name text, p_role text default 'student')
returns uuid
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_email text := btrim(p_email);
  v_id    uuid;
begin
  if v_email is null or v_email !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' or length(v_email) > 254 then
    raise exception 'not a valid email address' using errcode = 'LM422', detail = 'invalid_email', hint = 'email';
  end if;
  if p_role is null or p_role not in ('student', 'instructor', 'admin') then
    raise exception 'unknown role' using errcode = 'LM422', detail = 'invalid_role', hint = 'role';
  end if;
  if length(btrim(coalesce(p_full_name, ''))) not between 1 and 200 then
    raise exception 'full_name must have 1 to 200 characters' using errcode = 'LM422', detail = 'invalid_full_name',
      hint = 'full_name';
  end if;
  perform internal.check_password_policy(p_password, v_email);
  if exists (select from app.users u where lower(u.email) = lower(v_email)) then
    raise exception 'this email address is already registered' using errcode = 'LM409', detail = 'email_taken',
      hint = 'email';
  end if;
  begin
    insert into app.users (email, password_hash, full_name, role)
    values (v_email, internal.hash_password(p_password), btrim(p_full_name), p_role)
    returning id into v_id;
  exception when unique_violation then
    raise exception 'this email address is already registered' using errcode = 'LM409', detail = 'email_taken',
      hint = 'email';
  end;
  return v_id;
end
$$;
comment on function internal.create_user(text, text, text, text) is
  'Creates a user: validates the email, enforces the password policy, hashes with bcrypt (LM409 email_taken, LM422 weak_password). Callers check permissions; used by auth.register, admin.create_user and `lms user create`. SECURITY DEFINER: no client may insert app.users. Not granted to clients.';

create or replace function internal.set_password(p_user_id uuid, p_password text, p_reason text)
returns integer
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_email text;
  v_count integer;
begin
  select u.email into v_email from app.users u where u.id = p_user_id for update;
  if v_email is null then
    raise exception 'no such user' using errcode = 'LM404', detail = 'not_found';
  end if;
  perform internal.check_password_policy(p_password, v_email);
  update app.users u set password_hash = internal.hash_password(p_password) where u.id = p_user_id;
  -- Outstanding reset links die with the old password.
  update app.user_tokens t set used_at = now()
  where t.user_id = p_user_id and t.purpose = 'password_reset' and t.used_at is null;
  v_count := internal.revoke_refresh_tokens(p_user_id, p_reason);
  perform internal.audit('auth.' || p_reason, 'user', p_user_id, jsonb_build_object('sessions_revoked', v_count));
  return v_count;
end
$$;
comment on function internal.set_password(uuid, text, text) is
  'Sets a new password (policy, bcrypt), voids open reset tokens, revokes every refresh token with p_reason (password_change | password_reset) and audits it. SECURITY DEFINER: password_hash, app.user_tokens and refresh tokens are not writable by clients. Not granted to clients.';

create or replace function internal.set_password_by_email(p_email text, p_password text)
returns uuid
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_id uuid;
begin
  select u.id into v_id from app.users u where lower(u.email) = internal.normalize_email(p_email);
  if v_id is null then
    raise exception 'no user with this email' using errcode = 'LM404', detail = 'not_found', hint = 'email';
  end if;
  perform internal.set_password(v_id, p_password, 'password_reset');
  return v_id;
end
$$;
comment on function internal.set_password_by_email(text, text) is
  'For `lms user set-password`: sets the password of the user with this email (policy, bcrypt, sessions revoked). SECURITY DEFINER: finds any user by email, whatever users RLS shows. Not granted to clients.';

create or replace function internal.tg_users__sync_role_rows()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if new.role = 'instructor' then
    insert into app.instructors (user_id) values (new.id) on conflict (user_id) do nothing;
  end if;
  if new.role = 'admin' then
    insert into app.admins (user_id) values (new.id) on conflict (user_id) do nothing;
  elsif tg_op = 'UPDATE' then
    -- Demotion removes admin rights; an instructors row stays (courses reference it).
    delete from app.admins a where a.user_id = new.id;
  end if;
  return null;
end
$$;
comment on function internal.tg_users__sync_role_rows() is
  'AFTER INSERT/UPDATE OF role on app.users: instructor → app.instructors row; admin → app.admins row; leaving admin deletes the admins row. SECURITY DEFINER: writes role rows whatever the caller may.';

drop trigger if exists _200_sync_role_rows on app.users;
create trigger _200_sync_role_rows after insert or update of role on app.users
  for each row execute function internal.tg_users__sync_role_rows();
