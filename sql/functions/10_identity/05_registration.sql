/*
 * Identity — auth.register and auth.verify_email.
 */

-- ---------------------------------------------------------------------------------------------
-- auth.*
-- ---------------------------------------------------------------------------------------------

create or replace function api.auth_register(email text, password text, full_name text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_id uuid;
begin
  v_id := internal.create_user(auth_register.email, auth_register.password, auth_register.full_name, 'student');
  perform internal.queue_verification_email(v_id);
  insert into app.audit_log (actor_id, action, subject_type, subject_id)
  values (v_id, 'auth.registered', 'user', v_id);
  return jsonb_build_object('user_id', v_id);
end
$$;
comment on function api.auth_register(text, text, text) is
  'Register a new student account → {user_id}.
@result {user_id: uuid}
@public
@cost 20
The email is trimmed and unique case-insensitively (409 email_taken). The password needs at least 10 characters, must differ from the email and its local part and must not be a very common password (422 weak_password). A verification message is queued. SECURITY DEFINER: hashes the password and writes the outbox.
@param email maxLength=254
@param password maxLength=1000
@param full_name maxLength=200';

create or replace function api.auth_verify_email(token text)
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
  where t.token_hash = internal.sha256(auth_verify_email.token) and t.purpose = 'email_verification'
  for update;
  if v_row.id is null or v_row.used_at is not null or v_row.expires_at <= now() then
    raise exception 'the verification token is invalid, used or expired' using errcode = 'LM422',
      detail = 'invalid_token', hint = 'token';
  end if;
  update app.user_tokens t set used_at = now() where t.id = v_row.id;
  update app.users u set email_verified_at = coalesce(u.email_verified_at, now()) where u.id = v_row.user_id;
  insert into app.audit_log (actor_id, action, subject_type, subject_id)
  values (v_row.user_id, 'auth.email_verified', 'user', v_row.user_id);
  return jsonb_build_object('verified', true);
end
$$;
comment on function api.auth_verify_email(text) is
  'Confirm an email address with the token from the verification message → {verified: true}.
@result {verified: bool}
@public
Single use, valid 24 hours; otherwise 422 invalid_token. SECURITY DEFINER: token hashes are not readable by clients.
@param token maxLength=200';
