/*
 * Guessing: every failed password, one-time code or recovery code is a row of
 * app.login_attempts (email, client address). internal.auth_gate is asked before each try:
 *   - 5 failures for one account from one address (since that address's last success there)
 *     lock that address out of that account for 15 minutes (423 account_locked) — a stranger
 *     elsewhere cannot lock the owner out;
 *   - 50 failures for one account from all addresses: only addresses that logged in to it in
 *     the last 30 days may still try (429 rate_limited) — slows a distributed guess;
 *   - 300 failures from one address over all accounts: that address waits (429).
 * Limits live in app.rate_limits. The caller holds the user's row lock (FOR NO KEY UPDATE,
 * which needs UPDATE on app.users: no analyst can take it), so concurrent guesses are counted
 * exactly.
 */
create or replace function internal.auth_gate(p_email text)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_addr     inet := internal.client_addr();
  v_rule     app.rate_limits;
  v_count    bigint;
  v_oldest   timestamptz;
  v_since    bigint;
begin
  select r.* into v_rule from app.rate_limits r where r.name = 'login_failures_account_address';
  select max(s.id) into v_since from app.login_attempts s
  where s.email = p_email and s.client_addr is not distinct from v_addr and s.succeeded
    and s.attempted_at > now() - make_interval(secs => v_rule.window_seconds);
  select count(*), max(f.attempted_at) into v_count, v_oldest from (
    select a.attempted_at from app.login_attempts a
    where a.email = p_email and a.client_addr is not distinct from v_addr and not a.succeeded
      and a.attempted_at > now() - make_interval(secs => v_rule.window_seconds) and a.id > coalesce(v_since, 0)
    order by a.attempted_at desc limit v_rule.max_cost) f;
  if v_count >= v_rule.max_cost then
    return jsonb_set(internal.error(423, 'account_locked', 'Too many failed attempts from this address; try again later'), '{error,retry_after}',
                    to_jsonb(ceil(extract(epoch from v_oldest + make_interval(secs => v_rule.window_seconds) - now()))));
  end if;

  select r.* into v_rule from app.rate_limits r where r.name = 'login_failures_account';
  select count(*), min(f.attempted_at) into v_count, v_oldest from (
    select a.attempted_at from app.login_attempts a
    where a.email = p_email and not a.succeeded
      and a.attempted_at > now() - make_interval(secs => v_rule.window_seconds)
    order by a.attempted_at desc limit v_rule.max_cost) f;
  if v_count >= v_rule.max_cost and not exists (
       select from app.login_attempts s
       where s.email = p_email and s.succeeded and s.client_addr is not distinct from v_addr
         and s.attempted_at > now() - interval '30 days') then
    return jsonb_set(internal.error(429, 'rate_limited', 'Too many failed attempts for this account; try again later'), '{error,retry_after}',
                    to_jsonb(greatest(1, ceil(extract(epoch from v_oldest + make_interval(secs => v_rule.window_seconds) - now())))));
  end if;

  select r.* into v_rule from app.rate_limits r where r.name = 'login_failures_address';
  if v_addr is not null then
    select count(*), min(f.attempted_at) into v_count, v_oldest from (
      select a.attempted_at from app.login_attempts a
      where a.client_addr = v_addr and not a.succeeded
        and a.attempted_at > now() - make_interval(secs => v_rule.window_seconds)
      order by a.attempted_at desc limit v_rule.max_cost) f;
    if v_count >= v_rule.max_cost then
      return jsonb_set(internal.error(429, 'rate_limited', 'Too many failed attempts from this address; try again later'), '{error,retry_after}',
                    to_jsonb(greatest(1, ceil(extract(epoch from v_oldest + make_interval(secs => v_rule.window_seconds) - now())))));
    end if;
  end if;
  return null;
end
$$;
comment on function internal.auth_gate(text) is
  'Null when the caller (this client address) may try a secret for the account p_email now; else the returned error (423 account_locked for this address, or 429 rate_limited with retry_after). SECURITY DEFINER: app.login_attempts has no client privileges. Not granted to clients.';

create or replace function internal.auth_attempt(p_email text, p_user_id uuid, p_succeeded boolean)
returns void
language sql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
  insert into app.login_attempts (email, user_id, succeeded, client_addr)
  values (p_email, p_user_id, p_succeeded, internal.client_addr())
$$;
comment on function internal.auth_attempt(text, uuid, boolean) is
  'Records one try of a secret (password, one-time code, recovery code) for the account p_email from this client address. SECURITY DEFINER: app.login_attempts has no client privileges. Not granted to clients.';

create or replace function internal.check_user_secret(p_user_id uuid, p_kind text, p_secret text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user app.users;
  v_gate jsonb;
  v_ok   boolean;
begin
  select u.* into v_user from app.users u where u.id = p_user_id for no key update;
  v_gate := internal.auth_gate(lower(v_user.email));
  if v_gate is not null then
    return v_gate;
  end if;
  v_ok := case p_kind when 'password' then internal.password_matches(v_user.password_hash, p_secret)
                      else internal.mfa_check(p_user_id, p_secret) end;
  perform internal.auth_attempt(lower(v_user.email), p_user_id, v_ok);
  if v_ok then
    return null;
  end if;
  insert into app.audit_log (actor_id, action, subject_type, subject_id, details)
  values (p_user_id, 'auth.secret_failed', 'user', p_user_id, jsonb_build_object('kind', p_kind));
  if p_kind = 'password' then
    return internal.error(401, 'invalid_credentials', 'The current password is wrong');
  end if;
  return internal.error(401, 'invalid_mfa_code', 'The one-time code is not valid');
end
$$;
comment on function internal.check_user_secret(uuid, text, text) is
  'For a signed-in user''s password (p_kind password) or one-time/recovery code (p_kind mfa): null when it matches; else the error to return (401, or 423/429 from auth_gate). Every try is counted like a login. Callers return the error instead of raising, so the count commits. SECURITY DEFINER: reads password_hash (never granted), locks the user''s row and writes the attempt and the audit row. Not granted to clients.';

create or replace function api.auth_login(email text, password text, totp_code text default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_email   text := internal.normalize_email(coalesce(auth_login.email, ''));
  v_user    app.users;
  v_gate    jsonb;
  v_mfa_on  boolean;
  v_refresh record;
  v_reason  text;
begin
  -- One try at a time per account (the row lock), so concurrent guesses are counted exactly.
  select u.* into v_user from app.users u where lower(u.email) = v_email for no key update;
  v_gate := internal.auth_gate(v_email);
  if v_gate is not null then
    insert into app.audit_log (actor_id, action, subject_type, subject_id, details)
    values (v_user.id, case when v_gate -> 'error' ->> 'code' = '423' then 'auth.login_locked'
                            else 'auth.login_throttled' end, 'user', v_user.id,
            jsonb_build_object('email', v_email, 'reason', v_gate -> 'error' ->> 'reason',
                               'client_addr', internal.client_addr()));
    return v_gate;
  end if;

  if v_user.id is null then
    -- Same work as for a real account: one bcrypt at the current cost.
    perform public.crypt(coalesce(auth_login.password, ''), public.gen_salt('bf', internal.bcrypt_cost()));
    v_reason := 'unknown_email';
  elsif not internal.password_matches(v_user.password_hash, auth_login.password) then
    v_reason := 'wrong_password';
  elsif not v_user.is_active then
    v_reason := 'inactive';
  end if;

  if v_reason is null then
    v_mfa_on := exists (select from app.user_mfa m where m.user_id = v_user.id and m.enabled_at is not null);
    if v_mfa_on and nullif(btrim(coalesce(auth_login.totp_code, '')), '') is null then
      insert into app.audit_log (actor_id, action, subject_type, subject_id)
      values (v_user.id, 'auth.login_mfa_required', 'user', v_user.id);
      return internal.error(401, 'mfa_required', 'A one-time code (totp_code) is required');
    end if;
    if v_mfa_on and not internal.mfa_check(v_user.id, auth_login.totp_code) then
      v_reason := 'invalid_mfa_code';
    end if;
  end if;

  if v_reason is not null then
    perform internal.auth_attempt(v_email, v_user.id, false);
    insert into app.audit_log (actor_id, action, subject_type, subject_id, details)
    values (v_user.id, 'auth.login_failed', 'user', v_user.id,
            jsonb_build_object('email', v_email, 'reason', v_reason, 'client_addr', internal.client_addr()));
    if v_reason = 'invalid_mfa_code' then
      return internal.error(401, 'invalid_mfa_code', 'The one-time code is not valid');
    end if;
    return internal.error(401, 'invalid_credentials', 'Invalid email or password');
  end if;

  perform internal.auth_attempt(v_email, v_user.id, true);
  update app.users u set last_login_at = now(),
         -- The cost was raised since this hash was made: rehash now that the password is known.
         password_hash = case when substr(u.password_hash, 5, 2) ~ '^[0-9]{2}$'
                                   and substr(u.password_hash, 5, 2)::integer < internal.bcrypt_cost()
                              then internal.hash_password(auth_login.password) else u.password_hash end
  where u.id = v_user.id;
  select * into v_refresh from internal.issue_refresh_token(v_user.id, null);
  insert into app.audit_log (actor_id, action, subject_type, subject_id, details)
  values (v_user.id, 'auth.login', 'user', v_user.id, jsonb_build_object('mfa', v_mfa_on));
  return jsonb_build_object(
    'access_token_claims', jsonb_build_object('sub', v_user.id, 'role', v_user.role),
    'refresh_token', v_refresh.token,
    'user', internal.user_json(v_user));
end
$$;
comment on function api.auth_login(text, text, text) is
  'Log in with email and password (and totp_code when MFA is on) → access token, refresh token, user.
@shape token_pair {access_token: text, token_type: text, expires_in: int, refresh_token: text, user: user_summary}
@result token_pair
@public
@cost 20
Unknown email, wrong password and inactive account all give 401 invalid_credentials. Guessing is throttled per account and client address (app.rate_limits): 5 failures for an account from one address within 15 minutes lock that address out of it for 15 minutes (423 account_locked with retry_after, even with the right password) while the owner elsewhere can still log in; 50 failures for an account from anywhere leave only addresses that logged in to it before (429 rate_limited); 300 failures from one address over any accounts → 429. Failed one-time codes count the same. With MFA on: no code → 401 mfa_required, wrong code → 401 invalid_mfa_code; a recovery code is accepted in place of the TOTP code. SECURITY DEFINER: compares password hashes and records attempts (errors are returned, so the attempt commits).
@param email maxLength=254
@param password maxLength=1000
@param totp_code maxLength=64';
