/*
 * Identity — MFA set-up, enabling and disabling (every failed code counted like a login).
 */

create or replace function api.auth_mfa_setup()
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id uuid := internal.require_user();
  v_email   text;
  v_secret  text := internal.base32_encode(public.gen_random_bytes(20));
begin
  if exists (select from app.user_mfa m where m.user_id = v_user_id and m.enabled_at is not null) then
    raise exception 'MFA is already enabled; disable it first' using errcode = 'LM409', detail = 'mfa_already_enabled';
  end if;
  select u.email into v_email from app.users u where u.id = v_user_id;
  insert into app.user_mfa (user_id, secret) values (v_user_id, v_secret)
  on conflict (user_id) do update set secret = excluded.secret, last_used_step = null, created_at = now();
  perform internal.audit('auth.mfa_setup', 'user', v_user_id);
  return jsonb_build_object(
    'secret', v_secret,
    'otpauth_uri', format('otpauth://totp/LMS:%s?secret=%s&issuer=LMS&algorithm=SHA1&digits=6&period=30',
                          replace(replace(replace(replace(v_email, '%', '%25'), '&', '%26'), '?', '%3F'), '#', '%23'),
                          v_secret));
end
$$;
comment on function api.auth_mfa_setup() is
  'Start TOTP MFA setup → {secret, otpauth_uri} (base32 secret; SHA-1, 6 digits, 30 s).
@result {secret: text, otpauth_uri: text}
MFA is on only after auth.mfa_enable with a valid code. A new setup replaces a pending one; 409 mfa_already_enabled when on. SECURITY DEFINER: writes the secret, which clients can never read back.';

create or replace function api.auth_mfa_enable(code text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id uuid := internal.require_user();
  v_mfa     app.user_mfa;
  v_codes   text[] := '{}'::text[];
  v_code    text;
  v_error   jsonb;
begin
  select m.* into v_mfa from app.user_mfa m where m.user_id = v_user_id;
  if v_mfa.user_id is null then
    raise exception 'call auth.mfa_setup first' using errcode = 'LM409', detail = 'mfa_not_set_up';
  end if;
  if v_mfa.enabled_at is not null then
    raise exception 'MFA is already enabled' using errcode = 'LM409', detail = 'mfa_already_enabled';
  end if;
  v_error := internal.check_user_secret(v_user_id, 'mfa', auth_mfa_enable.code);
  if v_error is not null then
    return v_error;
  end if;
  update app.user_mfa m set enabled_at = now() where m.user_id = v_user_id;
  delete from app.mfa_recovery_codes r where r.user_id = v_user_id;
  for i in 1 .. 8 loop
    v_code := upper(encode(public.gen_random_bytes(5), 'hex'));
    insert into app.mfa_recovery_codes (user_id, code_hash) values (v_user_id, internal.sha256(v_code));
    v_codes := v_codes || (substr(v_code, 1, 5) || '-' || substr(v_code, 6, 5));
  end loop;
  perform internal.audit('auth.mfa_enabled', 'user', v_user_id);
  return jsonb_build_object('enabled', true, 'recovery_codes', to_jsonb(v_codes));
end
$$;
comment on function api.auth_mfa_enable(text) is
  'Turn MFA on with a current code from the authenticator app → {enabled: true, recovery_codes}.
@result {enabled: bool, recovery_codes: text[]}
The 8 one-time recovery codes are shown only here; each may replace totp_code at login once. Wrong code: 401 invalid_mfa_code (counted like a failed login: 423/429 as for auth.login). SECURITY DEFINER: reads the secret, stores recovery codes hashed.
@param code maxLength=64';

create or replace function api.auth_mfa_disable(code text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id uuid := internal.require_user();
  v_error   jsonb;
begin
  if not exists (select from app.user_mfa m where m.user_id = v_user_id and m.enabled_at is not null) then
    raise exception 'MFA is not enabled' using errcode = 'LM409', detail = 'mfa_not_enabled';
  end if;
  v_error := internal.check_user_secret(v_user_id, 'mfa', auth_mfa_disable.code);
  if v_error is not null then
    return v_error;
  end if;
  delete from app.user_mfa m where m.user_id = v_user_id;
  delete from app.mfa_recovery_codes r where r.user_id = v_user_id;
  perform internal.audit('auth.mfa_disabled', 'user', v_user_id);
  return jsonb_build_object('disabled', true);
end
$$;
comment on function api.auth_mfa_disable(text) is
  'Turn MFA off with a current TOTP code or a recovery code → {disabled: true}. Deletes the secret and the recovery codes.
@result {disabled: bool}
Wrong code: 401 invalid_mfa_code, counted like a failed login (423/429 as for auth.login). SECURITY DEFINER: reads the secret.
@param code maxLength=64';
