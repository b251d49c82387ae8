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
 * turns it into a JSON-RPC error after the commit (docs/design/conventions.md, "Errors").
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
language plpgsql  -- not SQL: a SQL function that is not inlined is planned again at every call
immutable
strict
set search_path = pg_catalog, pg_temp
as $$
begin
  return (select public.digest(convert_to(p_value, 'UTF8'), 'sha256'));
end
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
comment on function internal.user_json(app.users) is 'The public shape of a user in token results: id, email, full_name, role.
@shape user_summary {id: uuid, email: text, full_name: text, role: text}';

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
