/*
 * Identity — TOTP (RFC 6238/4226) in SQL: base32, codes, matching, and the MFA check.
 * Shared with other domains: nothing.
 */

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
