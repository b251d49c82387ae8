/*
 * Identity — refresh tokens and single-use user tokens (email verification, password reset).
 * Only SHA-256 hashes are stored. Shared with other domains: nothing.
 */

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
  'A new refresh token (valid 30 days) for the user in the given family (new family when null); only its SHA-256 is stored. SECURITY DEFINER: clients may read their own refresh tokens but never insert them. Not granted to clients.';

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
  'Revokes every live refresh token of a user with the given reason; returns how many. SECURITY DEFINER: clients may read their own refresh tokens but never update them. Not granted to clients.';

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
  'A single-use token for email verification or password reset; stores only its SHA-256, returns the raw token (for the outbox message). SECURITY DEFINER: app.user_tokens has no client privileges. Not granted to clients.';

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
  'Issues an email-verification token and queues the message carrying it. SECURITY DEFINER: reads the user''s email whatever users RLS shows and writes app.user_tokens and app.outbox, which have no client privileges. Not granted to clients.';
