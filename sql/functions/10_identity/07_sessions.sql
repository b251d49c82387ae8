/*
 * Identity — sessions: refresh-token rotation with reuse detection, logout.
 */

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
@result token_pair
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
@result {revoked: bool}
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
  'End every session of the caller: revoke all their refresh tokens → {revoked: n}. SECURITY DEFINER: refresh tokens are not writable by clients.
@result {revoked: int}';
