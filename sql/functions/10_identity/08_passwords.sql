/*
 * Identity — password reset by email token, and password change (counted like a login).
 */

create or replace function api.auth_request_password_reset(email text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user  app.users;
  v_token text;
begin
  select u.* into v_user from app.users u
  where lower(u.email) = internal.normalize_email(coalesce(auth_request_password_reset.email, '')) and u.is_active;
  -- At most 5 reset messages per account and hour; the answer never tells.
  if v_user.id is not null and (select count(*) from app.user_tokens t
                                 where t.user_id = v_user.id and t.purpose = 'password_reset'
                                   and t.created_at > now() - interval '1 hour') < 5 then
    v_token := internal.issue_user_token(v_user.id, 'password_reset', interval '1 hour');
    perform internal.queue_email(v_user.email, 'Reset your password',
      format(E'Hello %s,\n\nsomeone asked to reset the password of your account. Your reset token (valid for 1 hour, usable once):\n\n'
             'token: %s\n\nSubmit it with the JSON-RPC method auth.reset_password {"token": "...", "new_password": "..."}.\n'
             'If you did not ask for this, ignore this message; your password stays as it is.\n',
             v_user.full_name, v_token));
    insert into app.audit_log (actor_id, action, subject_type, subject_id)
    values (v_user.id, 'auth.password_reset_requested', 'user', v_user.id);
  end if;
  return jsonb_build_object('queued', true);
end
$$;
comment on function api.auth_request_password_reset(text) is
  'Ask for a password-reset message → always {queued: true}, also for unknown emails.
@result {queued: bool}
@public
@cost 5
When the email belongs to an active account, a single-use token valid for 1 hour is sent (at most 5 per hour). SECURITY DEFINER: writes tokens and the outbox.
@param email maxLength=254';

create or replace function api.auth_reset_password(token text, new_password text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_row app.user_tokens;
begin
  select t.* into v_row from app.user_tokens t
  where t.token_hash = internal.sha256(coalesce(auth_reset_password.token, '')) and t.purpose = 'password_reset'
  for update;
  if v_row.id is null or v_row.used_at is not null or v_row.expires_at <= now() then
    raise exception 'the reset token is invalid, used or expired' using errcode = 'LM422',
      detail = 'invalid_token', hint = 'token';
  end if;
  perform internal.set_password(v_row.user_id, auth_reset_password.new_password, 'password_reset');
  update app.user_tokens t set used_at = now() where t.id = v_row.id;
  -- The message reached the mailbox: the address is verified.
  update app.users u set email_verified_at = coalesce(u.email_verified_at, now()) where u.id = v_row.user_id;
  return jsonb_build_object('reset', true);
end
$$;
comment on function api.auth_reset_password(text, text) is
  'Set a new password with the token from the reset message → {reset: true}.
@result {reset: bool}
@public
@cost 20
Token single use, valid 1 hour (422 invalid_token); password policy as for registration (422 weak_password). Every refresh token of the account is revoked. SECURITY DEFINER: writes the password hash.
@param token maxLength=200
@param new_password maxLength=1000';

create or replace function api.auth_change_password(current_password text, new_password text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id uuid := internal.require_user();
  v_error   jsonb;
  v_count   integer;
begin
  v_error := internal.check_user_secret(v_user_id, 'password', auth_change_password.current_password);
  if v_error is not null then
    return v_error;
  end if;
  v_count := internal.set_password(v_user_id, auth_change_password.new_password, 'password_change');
  return jsonb_build_object('changed', true, 'sessions_revoked', v_count);
end
$$;
comment on function api.auth_change_password(text, text) is
  'Change the caller''s password → {changed: true, sessions_revoked}.
@result {changed: bool, sessions_revoked: int}
@cost 20
Needs the current password (401 invalid_credentials; wrong ones count like failed logins, 423/429 as for auth.login); policy as for registration (422 weak_password). Every refresh token of the caller is revoked: log in again. SECURITY DEFINER: reads and writes the password hash.
@param current_password maxLength=1000
@param new_password maxLength=1000';
