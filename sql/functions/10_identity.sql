/*
 * Identity: registration, passwords, sessions (refresh tokens), one-time email tokens, TOTP MFA,
 * lockout, profiles and user administration.
 *
 * Everything that touches a secret (password_hash, token hashes, the MFA secret, recovery
 * codes, the outbox body) is a SECURITY DEFINER function owned by lms_definer; lms_api and
 * lms_analyst have no column privilege on those columns at all. Passwords are hashed here with
 * pgcrypto bcrypt, never in Python. The bcrypt cost is the setting `lms.bcrypt_cost`
 * (ALTER DATABASE … SET lms.bcrypt_cost = '12'); default 10. The test suite lowers it to 4.
 *
 * Failed logins and refresh-token reuse must keep their effects (the attempt row, the
 * revocation), so those functions *return* {"error": {...}} instead of raising; the RPC layer
 * turns it into a JSON-RPC error after the commit (docs/CONVENTIONS.md, "Errors").
 */

-- ---------------------------------------------------------------------------------------------
-- Small helpers
-- ---------------------------------------------------------------------------------------------

create or replace function internal.bcrypt_cost()
returns integer
language sql
stable
as $$
  select least(greatest(coalesce(nullif(current_setting('lms.bcrypt_cost', true), '')::integer, 10), 4), 31)
$$;
comment on function internal.bcrypt_cost() is
  'bcrypt cost for new password hashes: setting lms.bcrypt_cost (set per database), default 10, clamped to 4..31. Values below 10 are for test suites only.';

create or replace function internal.hash_password(p_password text)
returns text
language sql
volatile
set search_path = pg_catalog, pg_temp
as $$
  select public.crypt(p_password, public.gen_salt('bf', internal.bcrypt_cost()))
$$;
comment on function internal.hash_password(text) is 'bcrypt hash (pgcrypto) of a password at internal.bcrypt_cost().';

create or replace function internal.password_matches(p_hash text, p_password text)
returns boolean
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  return p_hash is not null and p_hash = public.crypt(coalesce(p_password, ''), p_hash);
exception when others then
  -- Not a crypt() hash (e.g. a row inserted by hand): never a match, never an internal error.
  return false;
end
$$;
comment on function internal.password_matches(text, text) is
  'True when p_password matches the bcrypt hash p_hash; false for a malformed hash.';

create or replace function internal.sha256(p_value text)
returns bytea
language sql
immutable
strict
set search_path = pg_catalog, pg_temp
as $$
  select public.digest(convert_to(p_value, 'UTF8'), 'sha256')
$$;
comment on function internal.sha256(text) is 'SHA-256 of the UTF-8 bytes of a token: how tokens and codes are stored.';

create or replace function internal.random_token(p_bytes integer default 32)
returns text
language sql
volatile
set search_path = pg_catalog, pg_temp
as $$
  select rtrim(translate(encode(public.gen_random_bytes(p_bytes), 'base64'), E'+/\n', '-_'), '=')
$$;
comment on function internal.random_token(integer) is 'An opaque url-safe random token (base64url of p_bytes random bytes, no padding).';

create or replace function internal.normalize_email(p_email text)
returns text
language sql
immutable
strict
as $$
  select lower(btrim(p_email))
$$;
comment on function internal.normalize_email(text) is 'Email as compared: trimmed and lower-cased (matches uq_users_email_lower).';

create or replace function internal.check_password_policy(p_password text, p_email text)
returns void
language plpgsql
immutable
as $$
declare
  v_pw    text := lower(coalesce(p_password, ''));
  v_email text := internal.normalize_email(coalesce(p_email, ''));
begin
  if length(coalesce(p_password, '')) < 10 then
    raise exception 'the password must have at least 10 characters'
      using errcode = 'LM422', detail = 'weak_password', hint = 'password';
  end if;
  if length(p_password) > 1000 then
    raise exception 'the password must have at most 1000 characters'
      using errcode = 'LM422', detail = 'weak_password', hint = 'password';
  end if;
  if v_pw = v_email or v_pw = split_part(v_email, '@', 1) then
    raise exception 'the password must not be the email address'
      using errcode = 'LM422', detail = 'weak_password', hint = 'password';
  end if;
  if v_pw = any (array[
      '1234567890', '12345678910', '0123456789', '1q2w3e4r5t', 'qwertyuiop', 'password123', 'password12',
      'password1234', 'passw0rd123', 'iloveyou123', 'abcdefghij', 'qwerty1234', 'qwerty12345', 'letmein123',
      'welcome123', 'admin12345', 'administrator', 'changeme123', '1111111111', '0000000000', 'aaaaaaaaaa',
      'abc1234567', 'football123', 'baseball123', 'sunshine123', 'princess123', 'trustno1234', 'monkey12345',
      'dragon12345', 'superman123', 'passwordpassword', 'qazwsxedcrfv', '1qaz2wsx3edc', 'zaq12wsxcde3',
      'asdfghjkl1', 'zxcvbnm123', '9876543210', '123123123123', '1234512345', '1234567890a']) then
    raise exception 'the password is too common'
      using errcode = 'LM422', detail = 'weak_password', hint = 'password';
  end if;
end
$$;
comment on function internal.check_password_policy(text, text) is
  'Raises LM422 weak_password unless the password has 10..1000 characters, differs from the email and its local part, and is not a very common password.';

create or replace function internal.user_json(p_user app.users)
returns jsonb
language sql
stable
as $$
  select jsonb_build_object('id', p_user.id, 'email', p_user.email, 'full_name', p_user.full_name,
                            'role', p_user.role)
$$;
comment on function internal.user_json(app.users) is 'The public shape of a user in token results: id, email, full_name, role.';

create or replace function internal.error(p_code integer, p_reason text, p_message text)
returns jsonb
language sql
immutable
as $$
  select jsonb_build_object('error', jsonb_build_object('code', p_code, 'reason', p_reason, 'message', p_message))
$$;
comment on function internal.error(integer, text, text) is
  'A returned error: the RPC layer raises it as a JSON-RPC error after the transaction commits.';

create or replace function internal.queue_email(p_recipient text, p_subject text, p_body text)
returns bigint
language sql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
  insert into app.outbox (kind, recipient, subject, body) values ('email', p_recipient, p_subject, p_body)
  returning id
$$;
comment on function internal.queue_email(text, text, text) is
  'Queues an email in app.outbox (same transaction as the change). SECURITY DEFINER: the outbox is lms_definer''s only; not granted to clients.';

-- ---------------------------------------------------------------------------------------------
-- TOTP (RFC 6238 / RFC 4226): SHA-1, 30-second steps, 6 digits
-- ---------------------------------------------------------------------------------------------

create or replace function internal.base32_encode(p_data bytea)
returns text
language plpgsql
immutable
strict
as $$
declare
  c_alphabet constant text := 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  v_out   text := '';
  v_value bigint := 0;
  v_bits  integer := 0;
begin
  for i in 0 .. length(p_data) - 1 loop
    v_value := (v_value << 8) | get_byte(p_data, i);
    v_bits := v_bits + 8;
    while v_bits >= 5 loop
      v_out := v_out || substr(c_alphabet, ((v_value >> (v_bits - 5)) & 31)::integer + 1, 1);
      v_bits := v_bits - 5;
    end loop;
    v_value := v_value & ((1::bigint << v_bits) - 1);
  end loop;
  if v_bits > 0 then
    v_out := v_out || substr(c_alphabet, ((v_value << (5 - v_bits)) & 31)::integer + 1, 1);
  end if;
  return v_out;
end
$$;
comment on function internal.base32_encode(bytea) is 'RFC 4648 base32 without padding.';

create or replace function internal.base32_decode(p_text text)
returns bytea
language plpgsql
immutable
strict
as $$
declare
  c_alphabet constant text := 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  v_clean text := upper(regexp_replace(p_text, '[\s=-]', '', 'g'));
  v_hex   text := '';
  v_value bigint := 0;
  v_bits  integer := 0;
  v_index integer;
begin
  for i in 1 .. length(v_clean) loop
    v_index := strpos(c_alphabet, substr(v_clean, i, 1)) - 1;
    if v_index < 0 then
      raise exception 'not base32: %', substr(v_clean, i, 1) using errcode = '22023';
    end if;
    v_value := (v_value << 5) | v_index;
    v_bits := v_bits + 5;
    if v_bits >= 8 then
      v_hex := v_hex || lpad(to_hex((v_value >> (v_bits - 8)) & 255), 2, '0');
      v_bits := v_bits - 8;
      v_value := v_value & ((1::bigint << v_bits) - 1);
    end if;
  end loop;
  return decode(v_hex, 'hex');
end
$$;
comment on function internal.base32_decode(text) is 'RFC 4648 base32 decoding (case-insensitive; spaces, dashes and padding ignored).';

create or replace function internal.totp_code(p_key bytea, p_step bigint)
returns text
language plpgsql
immutable
strict
set search_path = pg_catalog, pg_temp
as $$
declare
  v_hmac   bytea := public.hmac(int8send(p_step), p_key, 'sha1');
  v_offset integer := get_byte(v_hmac, 19) & 15;
  v_binary bigint;
begin
  v_binary := ((get_byte(v_hmac, v_offset) & 127)::bigint << 24)
            | (get_byte(v_hmac, v_offset + 1)::bigint << 16)
            | (get_byte(v_hmac, v_offset + 2)::bigint << 8)
            | get_byte(v_hmac, v_offset + 3)::bigint;
  return lpad((v_binary % 1000000)::text, 6, '0');
end
$$;
comment on function internal.totp_code(bytea, bigint) is
  'HOTP value (RFC 4226, HMAC-SHA-1, 6 digits) of key p_key for counter p_step; TOTP uses step = unix time / 30.';

create or replace function internal.totp_step(p_at timestamptz default now())
returns bigint
language sql
stable
as $$
  select floor(extract(epoch from p_at) / 30)::bigint
$$;
comment on function internal.totp_step(timestamptz) is 'The RFC 6238 time step (30 s) of a moment.';

create or replace function internal.totp_match(p_secret text, p_code text, p_after_step bigint, p_at timestamptz default now())
returns bigint
language plpgsql
stable
as $$
declare
  v_key  bytea;
  v_now  bigint := internal.totp_step(p_at);
  v_code text := regexp_replace(coalesce(p_code, ''), '\s', '', 'g');
begin
  if v_code !~ '^[0-9]{6}$' then
    return null;
  end if;
  v_key := internal.base32_decode(p_secret);
  for v_step in v_now - 1 .. v_now + 1 loop
    if v_step > coalesce(p_after_step, -1) and internal.totp_code(v_key, v_step) = v_code then
      return v_step;
    end if;
  end loop;
  return null;
end
$$;
comment on function internal.totp_match(text, text, bigint, timestamptz) is
  'The step (now ±1) at which p_code is the TOTP of the base32 secret, only steps after p_after_step (no reuse); null when it does not match.';

create or replace function internal.mfa_check(p_user_id uuid, p_code text)
returns boolean
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_mfa  app.user_mfa;
  v_step bigint;
  v_rc   uuid;
begin
  select m.* into v_mfa from app.user_mfa m where m.user_id = p_user_id for update;
  if v_mfa.user_id is null or p_code is null then
    return false;
  end if;
  v_step := internal.totp_match(v_mfa.secret, p_code, v_mfa.last_used_step);
  if v_step is not null then
    update app.user_mfa m set last_used_step = v_step where m.user_id = p_user_id;
    return true;
  end if;
  if v_mfa.enabled_at is not null then
    update app.mfa_recovery_codes r set used_at = now()
    where r.user_id = p_user_id and r.used_at is null
      and r.code_hash = internal.sha256(upper(regexp_replace(p_code, '[\s-]', '', 'g')))
    returning r.id into v_rc;
    if v_rc is not null then
      perform internal.audit('auth.mfa_recovery_code_used', 'user', p_user_id);
      return true;
    end if;
  end if;
  return false;
end
$$;
comment on function internal.mfa_check(uuid, text) is
  'True when p_code is a fresh TOTP code (now ±1 step, never a step used before) or an unused recovery code (MFA enabled) of the user; consumes it. SECURITY DEFINER: reads the secret; not granted to clients.';

-- ---------------------------------------------------------------------------------------------
-- Tokens
-- ---------------------------------------------------------------------------------------------

create or replace function internal.issue_refresh_token(p_user_id uuid, p_family_id uuid default null)
returns table (token text, token_id uuid)
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_token text := internal.random_token(32);
  v_id    uuid;
begin
  insert into app.refresh_tokens (user_id, family_id, token_hash, expires_at)
  values (p_user_id, coalesce(p_family_id, gen_random_uuid()), internal.sha256(v_token), now() + interval '30 days')
  returning id into v_id;
  return query select v_token, v_id;
end
$$;
comment on function internal.issue_refresh_token(uuid, uuid) is
  'A new refresh token (valid 30 days) for the user in the given family (new family when null); only its SHA-256 is stored. Not granted to clients.';

create or replace function internal.revoke_refresh_tokens(p_user_id uuid, p_reason text)
returns integer
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count integer;
begin
  update app.refresh_tokens t set revoked_at = now(), revoked_reason = p_reason
  where t.user_id = p_user_id and t.revoked_at is null;
  get diagnostics v_count = row_count;
  return v_count;
end
$$;
comment on function internal.revoke_refresh_tokens(uuid, text) is
  'Revokes every live refresh token of a user with the given reason; returns how many. Not granted to clients.';

create or replace function internal.issue_user_token(p_user_id uuid, p_purpose text, p_ttl interval)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_token text := internal.random_token(32);
begin
  insert into app.user_tokens (user_id, purpose, token_hash, expires_at)
  values (p_user_id, p_purpose, internal.sha256(v_token), now() + p_ttl);
  return v_token;
end
$$;
comment on function internal.issue_user_token(uuid, text, interval) is
  'A single-use token for email verification or password reset; stores only its SHA-256, returns the raw token (for the outbox message).';

create or replace function internal.queue_verification_email(p_user_id uuid)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user  app.users;
  v_token text;
begin
  select u.* into v_user from app.users u where u.id = p_user_id;
  v_token := internal.issue_user_token(p_user_id, 'email_verification', interval '24 hours');
  perform internal.queue_email(v_user.email, 'Confirm your email address',
    format(E'Hello %s,\n\nplease confirm your email address. Your verification token (valid for 24 hours, usable once):\n\n'
           'token: %s\n\nSubmit it with the JSON-RPC method auth.verify_email {"token": "..."}.\n'
           'If you did not create an account, ignore this message.\n', v_user.full_name, v_token));
end
$$;
comment on function internal.queue_verification_email(uuid) is
  'Issues an email-verification token and queues the message carrying it. Not granted to clients.';

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
  'Creates a user: validates the email, enforces the password policy, hashes with bcrypt (LM409 email_taken, LM422 weak_password). Callers check permissions; used by auth.register, admin.create_user and `lms user create`. Not granted to clients.';

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
  'Sets a new password (policy, bcrypt), voids open reset tokens, revokes every refresh token with p_reason (password_change | password_reset) and audits it. Not granted to clients.';

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
  'For `lms user set-password`: sets the password of the user with this email (policy, bcrypt, sessions revoked). Not granted to clients.';

create or replace function internal.tg_users__sync_role_rows()
returns trigger
language plpgsql
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
  'Register a new student account.
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
  'Confirm an email address with the token from the verification message.
@public
Single use, valid 24 hours; otherwise 422 invalid_token. SECURITY DEFINER: token hashes are not readable by clients.
@param token maxLength=200';

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
  'Null when the caller (this client address) may try a secret for the account p_email now; else the returned error (423 account_locked for this address, or 429 rate_limited with retry_after). Not granted to clients.';

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
  'Records one try of a secret (password, one-time code, recovery code) for the account p_email from this client address. Not granted to clients.';

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
  'For a signed-in user''s password (p_kind password) or one-time/recovery code (p_kind mfa): null when it matches; else the error to return (401, or 423/429 from auth_gate). Every try is counted like a login. Callers return the error instead of raising, so the count commits. Not granted to clients.';

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
@public
@cost 20
Unknown email, wrong password and inactive account all give 401 invalid_credentials. Guessing is throttled per account and client address (app.rate_limits): 5 failures for an account from one address within 15 minutes lock that address out of it for 15 minutes (423 account_locked with retry_after, even with the right password) while the owner elsewhere can still log in; 50 failures for an account from anywhere leave only addresses that logged in to it before (429 rate_limited); 300 failures from one address over any accounts → 429. Failed one-time codes count the same. With MFA on: no code → 401 mfa_required, wrong code → 401 invalid_mfa_code; a recovery code is accepted in place of the TOTP code. SECURITY DEFINER: compares password hashes and records attempts (errors are returned, so the attempt commits).
@param email maxLength=254
@param password maxLength=1000
@param totp_code maxLength=64';

create or replace function api.auth_refresh(refresh_token text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_row     app.refresh_tokens;
  v_user    app.users;
  v_new     record;
  v_revoked integer;
begin
  select t.* into v_row from app.refresh_tokens t
  where t.token_hash = internal.sha256(coalesce(auth_refresh.refresh_token, ''))
  for update;
  if v_row.id is null then
    raise exception 'unknown refresh token' using errcode = 'LM401', detail = 'token_invalid';
  end if;
  if v_row.revoked_reason = 'rotated' and v_row.revoked_at > now() then
    -- Rotated after this transaction began: a concurrent refresh of the same token won the row
    -- lock while this one waited (a retry, two tabs). Refuse it, but it is a race, not a reuse:
    -- do not end the winner's session. (Rotation stamps revoked_at with clock_timestamp().)
    raise exception 'this refresh token was just rotated by another request'
      using errcode = 'LM401', detail = 'token_invalid';
  end if;
  if v_row.revoked_at is not null then
    v_revoked := internal.revoke_refresh_tokens(v_row.user_id, 'reuse_detected');
    insert into app.audit_log (actor_id, action, subject_type, subject_id, details)
    values (v_row.user_id, 'auth.refresh_token_reused', 'user', v_row.user_id,
            jsonb_build_object('family_id', v_row.family_id, 'token_id', v_row.id, 'sessions_revoked', v_revoked));
    return internal.error(401, 'refresh_token_reused', 'This refresh token was already used; all sessions were revoked');
  end if;
  if v_row.expires_at <= now() then
    raise exception 'the refresh token has expired' using errcode = 'LM401', detail = 'token_expired';
  end if;
  select u.* into v_user from app.users u where u.id = v_row.user_id;
  if not v_user.is_active then
    raise exception 'the account is inactive' using errcode = 'LM401', detail = 'token_invalid';
  end if;
  select * into v_new from internal.issue_refresh_token(v_row.user_id, v_row.family_id);
  update app.refresh_tokens t set revoked_at = clock_timestamp(), revoked_reason = 'rotated', replaced_by = v_new.token_id
  where t.id = v_row.id;
  return jsonb_build_object(
    'access_token_claims', jsonb_build_object('sub', v_user.id, 'role', v_user.role),
    'refresh_token', v_new.token,
    'user', internal.user_json(v_user));
end
$$;
comment on function api.auth_refresh(text) is
  'Exchange a refresh token for a new token pair; the old refresh token is revoked (rotation).
@public
Presenting a revoked refresh token revokes every refresh token of its user (401 refresh_token_reused). Unknown: 401 token_invalid; expired: 401 token_expired. Concurrent refreshes of one token: exactly one succeeds; one that began before the rotation was written gets 401 token_invalid without revoking the winner''s session, any later presentation is reuse. SECURITY DEFINER: token hashes are not readable by clients.
@param refresh_token maxLength=200';

create or replace function api.auth_logout(refresh_token text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_row    app.refresh_tokens;
  v_caller uuid := app.current_user_id();
begin
  select t.* into v_row from app.refresh_tokens t
  where t.token_hash = internal.sha256(coalesce(auth_logout.refresh_token, ''))
  for update;
  if v_row.id is null or (v_caller is not null and v_row.user_id <> v_caller) then
    raise exception 'unknown refresh token' using errcode = 'LM401', detail = 'token_invalid', hint = 'refresh_token';
  end if;
  if v_row.revoked_at is null then
    update app.refresh_tokens t set revoked_at = now(), revoked_reason = 'logout' where t.id = v_row.id;
    insert into app.audit_log (actor_id, action, subject_type, subject_id)
    values (v_row.user_id, 'auth.logout', 'user', v_row.user_id);
  end if;
  return jsonb_build_object('revoked', true);
end
$$;
comment on function api.auth_logout(text) is
  'End one session: revoke the given refresh token → {revoked: true}.
The refresh token is the proof, so an expired access token does not matter; with an access token it must be the caller''s own. Unknown token: 401 token_invalid. SECURITY DEFINER: token hashes are not readable by clients.
@param refresh_token maxLength=200';

create or replace function api.auth_logout_all()
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id uuid := internal.require_user();
  v_count   integer;
begin
  v_count := internal.revoke_refresh_tokens(v_user_id, 'logout_all');
  perform internal.audit('auth.logout_all', 'user', v_user_id, jsonb_build_object('sessions_revoked', v_count));
  return jsonb_build_object('revoked', v_count);
end
$$;
comment on function api.auth_logout_all() is
  'End every session of the caller: revoke all their refresh tokens → {revoked: n}. SECURITY DEFINER: refresh tokens are not writable by clients.';

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
@cost 20
Needs the current password (401 invalid_credentials; wrong ones count like failed logins, 423/429 as for auth.login); policy as for registration (422 weak_password). Every refresh token of the caller is revoked: log in again. SECURITY DEFINER: reads and writes the password hash.
@param current_password maxLength=1000
@param new_password maxLength=1000';

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
Wrong code: 401 invalid_mfa_code, counted like a failed login (423/429 as for auth.login). SECURITY DEFINER: reads the secret.
@param code maxLength=64';

-- ---------------------------------------------------------------------------------------------
-- user.* / instructor.* / admin.*
-- ---------------------------------------------------------------------------------------------

create or replace function internal.mfa_enabled(p_user_id uuid)
returns boolean
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select exists (select from app.user_mfa m where m.user_id = p_user_id and m.enabled_at is not null)
     and (p_user_id = app.current_user_id() or internal.is_admin())
$$;
comment on function internal.mfa_enabled(uuid) is
  'Whether the user has MFA on; answers only for the caller themself or an admin. SECURITY DEFINER: app.user_mfa is not readable by clients.';

create or replace function internal.profile_json(p_user app.users)
returns jsonb
language sql
stable
as $$
  select jsonb_build_object('id', p_user.id, 'email', p_user.email, 'full_name', p_user.full_name,
                            'role', p_user.role, 'is_active', p_user.is_active,
                            'mfa_enabled', internal.mfa_enabled(p_user.id),
                            'email_verified_at', p_user.email_verified_at, 'metadata', p_user.metadata,
                            'last_login_at', p_user.last_login_at, 'created_at', p_user.created_at,
                            'updated_at', p_user.updated_at)
$$;
comment on function internal.profile_json(app.users) is 'A user as user.me / admin.list_users show it (never the password hash).';

create or replace function api.user_me()
returns jsonb
language plpgsql
stable
as $$
declare
  v_user_id uuid := internal.require_user();
  v_user    app.users;
begin
  select u.id, u.email, null::text, u.full_name, u.role, u.is_active, u.email_verified_at, u.metadata,
         u.last_login_at, u.created_at, u.updated_at
    into v_user
  from app.users u where u.id = v_user_id;
  return internal.profile_json(v_user);
end
$$;
comment on function api.user_me() is
  'The caller''s own account → {id, email, full_name, role, is_active, mfa_enabled, email_verified_at, metadata, last_login_at, created_at, updated_at}.';

create or replace function api.user_update_profile(full_name text default null, metadata jsonb default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_user_id uuid := internal.require_user();
  v_user    app.users;
begin
  if user_update_profile.metadata is not null and jsonb_typeof(user_update_profile.metadata) <> 'object' then
    raise exception 'metadata must be a JSON object' using errcode = 'LM422', detail = 'invalid_metadata',
      hint = 'metadata';
  end if;
  if user_update_profile.full_name is not null and length(btrim(user_update_profile.full_name)) not between 1 and 200 then
    raise exception 'full_name must have 1 to 200 characters' using errcode = 'LM422', detail = 'invalid_full_name',
      hint = 'full_name';
  end if;
  update app.users u
  set full_name = coalesce(btrim(user_update_profile.full_name), u.full_name),
      metadata = coalesce(user_update_profile.metadata, u.metadata)
  where u.id = v_user_id;
  select u.id, u.email, null::text, u.full_name, u.role, u.is_active, u.email_verified_at, u.metadata,
         u.last_login_at, u.created_at, u.updated_at
    into v_user
  from app.users u where u.id = v_user_id;
  return internal.profile_json(v_user);
end
$$;
comment on function api.user_update_profile(text, jsonb) is
  'Change the caller''s full_name and/or metadata (a JSON object that replaces the old one) → the account as user.me shows it.
Omitted fields stay unchanged; neither may be null.
@patch
@param full_name maxLength=200';

create or replace function api.instructor_update_profile(title text default null, bio text default null,
                                                         expertise text[] default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_user_id uuid := internal.require_role('instructor');
  v_row     app.instructors;
begin
  -- API.md "Updates": omitted → unchanged, explicit null (or a blank string) → cleared (internal.given).
  update app.instructors i
  set title = case when internal.given('title', instructor_update_profile.title)
                   then nullif(btrim(instructor_update_profile.title), '') else i.title end,
      bio = case when internal.given('bio', instructor_update_profile.bio)
                 then nullif(instructor_update_profile.bio, '') else i.bio end,
      expertise = coalesce(instructor_update_profile.expertise, i.expertise)
  where i.user_id = v_user_id
  returning i.* into v_row;
  if v_row.user_id is null then
    raise exception 'no instructor profile' using errcode = 'LM404', detail = 'not_found';
  end if;
  return jsonb_build_object('user_id', v_row.user_id, 'title', v_row.title, 'bio', v_row.bio,
                            'expertise', to_jsonb(v_row.expertise), 'updated_at', v_row.updated_at);
end
$$;
comment on function api.instructor_update_profile(text, text, text[]) is
  'Change the caller''s instructor profile (title, bio, expertise) → the profile. Instructors only.
Omitted fields stay unchanged; an explicit null clears title or bio (a blank string is stored as null too); expertise cannot be null (send [] to empty it).
@patch
@param title nullable maxLength=200
@param bio nullable maxLength=10000
@param expertise maxItems=50 itemMaxLength=100';

create or replace function api.admin_create_user(email text, password text, full_name text, role text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_id uuid;
begin
  perform internal.require_role('admin');
  v_id := internal.create_user(admin_create_user.email, admin_create_user.password, admin_create_user.full_name,
                               admin_create_user.role);
  perform internal.audit('admin.user_created', 'user', v_id, jsonb_build_object('role', admin_create_user.role));
  return jsonb_build_object('user_id', v_id);
end
$$;
comment on function api.admin_create_user(text, text, text, text) is
  'Create an account with any role → {user_id}.
@cost 20
Admins only; rules as for auth.register (email_taken, weak_password). SECURITY DEFINER: hashes the password.
@param email maxLength=254
@param password maxLength=1000
@param full_name maxLength=200
@param role maxLength=20';

create or replace function api.admin_set_role(user_id uuid, role text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_admin uuid := internal.require_role('admin');
  v_old   text;
begin
  if admin_set_role.role is null or admin_set_role.role not in ('student', 'instructor', 'admin') then
    raise exception 'unknown role' using errcode = 'LM422', detail = 'invalid_role', hint = 'role';
  end if;
  select u.role into v_old from app.users u where u.id = admin_set_role.user_id for update;
  if v_old is null then
    raise exception 'no such user' using errcode = 'LM404', detail = 'not_found', hint = 'user_id';
  end if;
  if admin_set_role.user_id = v_admin and admin_set_role.role <> 'admin' then
    raise exception 'admins cannot demote themselves' using errcode = 'LM422', detail = 'cannot_change_self';
  end if;
  if v_old <> admin_set_role.role then
    update app.users u set role = admin_set_role.role where u.id = admin_set_role.user_id;
    perform internal.audit('admin.role_changed', 'user', admin_set_role.user_id,
                           jsonb_build_object('from', v_old, 'to', admin_set_role.role));
  end if;
  return jsonb_build_object('user_id', admin_set_role.user_id, 'role', admin_set_role.role);
end
$$;
comment on function api.admin_set_role(uuid, text) is
  'Change a user''s role (student | instructor | admin) → {user_id, role}. Admins only; not their own. Instructor and admin rows follow (trigger). The user''s next access token carries the role; the database checks it on every call anyway. SECURITY DEFINER: writes role rows.
@param role maxLength=20';

create or replace function api.admin_set_active(user_id uuid, is_active boolean)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_admin uuid := internal.require_role('admin');
  v_old   boolean;
  v_count integer := 0;
begin
  select u.is_active into v_old from app.users u where u.id = admin_set_active.user_id for update;
  if v_old is null then
    raise exception 'no such user' using errcode = 'LM404', detail = 'not_found', hint = 'user_id';
  end if;
  if admin_set_active.user_id = v_admin and not admin_set_active.is_active then
    raise exception 'admins cannot deactivate themselves' using errcode = 'LM422', detail = 'cannot_change_self';
  end if;
  if v_old <> admin_set_active.is_active then
    update app.users u set is_active = admin_set_active.is_active where u.id = admin_set_active.user_id;
    if not admin_set_active.is_active then
      v_count := internal.revoke_refresh_tokens(admin_set_active.user_id, 'deactivated');
    end if;
    perform internal.audit(case when admin_set_active.is_active then 'admin.user_activated'
                                else 'admin.user_deactivated' end,
                           'user', admin_set_active.user_id, jsonb_build_object('sessions_revoked', v_count));
  end if;
  return jsonb_build_object('user_id', admin_set_active.user_id, 'is_active', admin_set_active.is_active);
end
$$;
comment on function api.admin_set_active(uuid, boolean) is
  'Activate or deactivate an account → {user_id, is_active}. Admins only; not themselves. Deactivation revokes every refresh token, and inactive users can neither log in nor call methods. SECURITY DEFINER: revokes sessions.';

create or replace function api.admin_list_users(role text default null, search text default null,
                                                "limit" integer default 50, "offset" integer default 0)
returns jsonb
language plpgsql
stable
as $$
declare
  v_result jsonb;
begin
  perform internal.require_role('admin');
  if coalesce(admin_list_users."limit", 50) not between 1 and 500 then
    raise exception 'limit must be between 1 and 500' using errcode = 'LM422', detail = 'invalid_limit', hint = 'limit';
  end if;
  if coalesce(admin_list_users."offset", 0) < 0 then
    raise exception 'offset must not be negative' using errcode = 'LM422', detail = 'invalid_offset', hint = 'offset';
  end if;
  select coalesce(jsonb_agg(x.j order by x.created_at, x.id), '[]') into v_result
  from (
    select internal.profile_json(row(u.id, u.email, null::text, u.full_name, u.role, u.is_active, u.email_verified_at,
                                     u.metadata, u.last_login_at, u.created_at, u.updated_at)::app.users) as j,
           u.created_at, u.id
    from app.users u
    where (admin_list_users.role is null or u.role = admin_list_users.role)
      and (admin_list_users.search is null
           or strpos(lower(u.email), lower(admin_list_users.search)) > 0
           or strpos(lower(u.full_name), lower(admin_list_users.search)) > 0)
    order by u.created_at, u.id
    limit coalesce(admin_list_users."limit", 50) offset coalesce(admin_list_users."offset", 0)
  ) x;
  return v_result;
end
$$;
comment on function api.admin_list_users(text, text, integer, integer) is
  'List accounts (admins only) → array of users as user.me shows them, oldest first. Filters: role; search (substring of email or full name, case-insensitive); limit 1..500 (default 50), offset.
@param limit minimum=1 maximum=500
@param offset minimum=0
@param role maxLength=20
@param search maxLength=254';

-- ---------------------------------------------------------------------------------------------
-- Outbox delivery (run by `lms outbox` over the DATABASE_URL connection) and upkeep
-- ---------------------------------------------------------------------------------------------

create or replace function internal.outbox_claim(p_limit integer default 10)
returns table (id bigint, recipient text, subject text, body text, attempts integer)
language sql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
  select o.id, o.recipient, o.subject, o.body, o.attempts
  from app.outbox o
  where o.sent_at is null and o.available_at <= now() and o.attempts < 10
  order by o.available_at, o.id
  limit p_limit
  for update skip locked
$$;
comment on function internal.outbox_claim(integer) is
  'Locks and returns up to p_limit deliverable messages (skip locked: concurrent workers never get the same row). Mark each with outbox_sent/outbox_failed in the same transaction. Not granted to clients.';

create or replace function internal.outbox_sent(p_id bigint)
returns void
language sql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
  update app.outbox o set sent_at = now(), attempts = o.attempts + 1, last_error = null where o.id = p_id
$$;
comment on function internal.outbox_sent(bigint) is 'Marks a claimed message as delivered. Not granted to clients.';

create or replace function internal.outbox_failed(p_id bigint, p_error text)
returns void
language sql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
  update app.outbox o
  set attempts = o.attempts + 1,
      last_error = left(p_error, 2000),
      available_at = now() + least(interval '1 minute' * power(2, o.attempts), interval '6 hours')
  where o.id = p_id
$$;
comment on function internal.outbox_failed(bigint, text) is
  'Records a failed delivery: attempts + 1, last_error, retry after 1, 2, 4 … minutes (at most 6 hours); given up after 10 attempts. Not granted to clients.';

create or replace function internal.maintain_tokens()
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_refresh  integer;
  v_user     integer;
  v_attempts integer;
  v_outbox   integer;
begin
  delete from app.refresh_tokens t where t.expires_at < now() - interval '1 day';
  get diagnostics v_refresh = row_count;
  delete from app.user_tokens t where t.expires_at < now() - interval '1 day';
  get diagnostics v_user = row_count;
  delete from app.login_attempts a where a.attempted_at < now() - interval '30 days';
  get diagnostics v_attempts = row_count;
  delete from app.outbox o where o.sent_at < now() - interval '30 days';
  get diagnostics v_outbox = row_count;
  return jsonb_build_object('refresh_tokens_purged', v_refresh, 'user_tokens_purged', v_user,
                            'login_attempts_purged', v_attempts, 'outbox_sent_purged', v_outbox);
end
$$;
comment on function internal.maintain_tokens() is
  'Upkeep (`lms db maintain`): deletes refresh and one-time tokens expired over a day ago, login attempts older than 30 days and outbox messages sent over 30 days ago. SECURITY DEFINER: these tables are lms_definer''s only.';
