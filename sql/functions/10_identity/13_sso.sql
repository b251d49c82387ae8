/*
 * Sign-in with an institution's OpenID provider (issue 32).
 *
 * The browser flow runs in rpc/http/sso.py (authlib: discovery, PKCE, the code exchange, ID-token
 * verification); every decision is here: which provider, the single-use state, who the identity is
 * (just-in-time account, link, refusal), the one-time code and its exchange for the usual tokens.
 *
 * Linking: an identity (issuer, subject) is the account. A first sign-in whose email already belongs to
 * an account links to it only when the provider is authoritative for that email's domain (an admin said
 * so) — otherwise 409 account_exists, and the owner links from inside their account (sso.link_start). A
 * provider could otherwise take over any local account by asserting its address.
 * MFA: an account that turned MFA on still needs its one-time code (auth.sso_exchange totp_code) unless the
 * provider says in amr that the person passed multi-factor authentication (mfa, otp, hwk, swk, sc, fpt,
 * face, iris, retina, vbm: RFC 8176). That claim comes signed from a provider an admin chose to trust.
 */

create or replace function internal.sso_provider_json(p_provider app.sso_providers)
returns jsonb
language plpgsql
stable
as $$
begin
  return jsonb_build_object(
    'provider_id', p_provider.id, 'name', p_provider.name, 'issuer', p_provider.issuer,
    'client_id', p_provider.client_id, 'has_client_secret', true, 'return_url', p_provider.return_url,
    'scopes', to_jsonb(p_provider.scopes), 'email_domains', to_jsonb(p_provider.email_domains),
    'email_authoritative', p_provider.email_authoritative, 'role_claim', p_provider.role_claim,
    'default_role', p_provider.default_role, 'allow_admin', p_provider.allow_admin,
    'is_active', p_provider.is_active, 'login_path', '/sso/' || p_provider.name || '/login',
    'callback_path', '/sso/' || p_provider.name || '/callback',
    'created_at', p_provider.created_at, 'updated_at', p_provider.updated_at);
end
$$;
comment on function internal.sso_provider_json(app.sso_providers) is
$$An OpenID provider as admins see it: never its client secret.
@shape sso_provider {provider_id: uuid, name: text, issuer: text, client_id: text, has_client_secret: bool, return_url: text,
  scopes: text[], email_domains: text[], email_authoritative: bool, role_claim: text?, default_role: text, allow_admin: bool,
  is_active: bool, login_path: text, callback_path: text, created_at: timestamptz, updated_at: timestamptz}$$;

create or replace function internal.sso_clean_domains(p_domains text[])
returns text[]
language plpgsql
immutable
as $$
begin
  if p_domains is null then
    return '{}';
  end if;
  if exists (select from unnest(p_domains) d where d is null or lower(btrim(d)) !~ '^[a-z0-9]([a-z0-9.-]*[a-z0-9])?\.[a-z]{2,}$') then
    raise exception 'email_domains are domain names such as example.edu' using errcode = 'LM422',
      detail = 'invalid_argument', hint = 'email_domains';
  end if;
  return array(select distinct lower(btrim(d)) from unnest(p_domains) d order by 1);
end
$$;
comment on function internal.sso_clean_domains(text[]) is 'email_domains lower-cased, trimmed, distinct and sorted (LM422 invalid_argument when one is not a domain name).';

create or replace function api.sso_provider_create(name text, issuer text, client_id text, client_secret text, return_url text,
                                                   scopes text[] default null, email_domains text[] default null,
                                                   email_authoritative boolean default false, role_claim text default null,
                                                   default_role text default 'student', allow_admin boolean default false)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_provider app.sso_providers;
begin
  perform internal.require_role('admin');
  insert into app.sso_providers (name, issuer, client_id, client_secret, return_url, scopes, email_domains,
                                 email_authoritative, role_claim, default_role, allow_admin)
  values (sso_provider_create.name, rtrim(sso_provider_create.issuer, '/'), sso_provider_create.client_id,
          sso_provider_create.client_secret, sso_provider_create.return_url,
          coalesce(sso_provider_create.scopes, array['openid', 'email', 'profile']),
          internal.sso_clean_domains(sso_provider_create.email_domains),
          coalesce(sso_provider_create.email_authoritative, false), nullif(btrim(sso_provider_create.role_claim), ''),
          coalesce(sso_provider_create.default_role, 'student'), coalesce(sso_provider_create.allow_admin, false))
  returning * into v_provider;
  perform internal.audit('sso.provider_create', 'sso_provider', v_provider.id,
                         jsonb_build_object('name', v_provider.name, 'issuer', v_provider.issuer));
  return internal.sso_provider_json(v_provider);
exception when unique_violation then
  raise exception 'a provider with this name exists' using errcode = 'LM409', detail = 'conflict', hint = 'name';
end
$$;
comment on function api.sso_provider_create(text, text, text, text, text, text[], text[], boolean, text, text, boolean) is
$$Register an OpenID provider (admin). name: a slug (lower-case letters, digits, hyphens) naming it in
GET /sso/{name}/login and /sso/{name}/callback — the redirect URI to register at the provider is
{public URL}/sso/{name}/callback. issuer: discovery reads {issuer}/.well-known/openid-configuration. The client
secret is kept where only the sign-in reads it; no answer shows it again. return_url: the client page the
browser lands on with ?code= (for auth.sso_exchange) or ?error=. scopes: default openid email profile.
email_domains: only these domains may sign in; email_authoritative: an existing account with the same email is
linked automatically (else only by itself, sso.link_start). role_claim: the claim giving new accounts their role
(student, instructor; admin only with allow_admin), else default_role (student or instructor).
@result sso_provider
@param name minLength=1 maxLength=40
@param issuer minLength=8 maxLength=500
@param client_id minLength=1 maxLength=500
@param client_secret minLength=1 maxLength=1000
@param return_url minLength=8 maxLength=1000
@param scopes maxItems=20 itemMaxLength=100
@param email_domains maxItems=50 itemMaxLength=253
@param role_claim maxLength=200
@param default_role maxLength=20
SECURITY DEFINER: checks the caller is an admin; writes the secret no client may read.$$;

create or replace function api.sso_provider_update(provider_id uuid, issuer text default null, client_id text default null,
                                                   client_secret text default null, return_url text default null,
                                                   scopes text[] default null, email_domains text[] default null,
                                                   email_authoritative boolean default null, role_claim text default null,
                                                   default_role text default null, allow_admin boolean default null,
                                                   is_active boolean default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_provider app.sso_providers;
begin
  perform internal.require_role('admin');
  update app.sso_providers p set
    issuer = coalesce(rtrim(sso_provider_update.issuer, '/'), p.issuer),
    client_id = coalesce(sso_provider_update.client_id, p.client_id),
    client_secret = coalesce(sso_provider_update.client_secret, p.client_secret),
    return_url = coalesce(sso_provider_update.return_url, p.return_url),
    scopes = coalesce(sso_provider_update.scopes, p.scopes),
    email_domains = case when sso_provider_update.email_domains is null then p.email_domains
                         else internal.sso_clean_domains(sso_provider_update.email_domains) end,
    email_authoritative = coalesce(sso_provider_update.email_authoritative, p.email_authoritative),
    role_claim = case when sso_provider_update.role_claim is null then p.role_claim
                      else nullif(btrim(sso_provider_update.role_claim), '') end,
    default_role = coalesce(sso_provider_update.default_role, p.default_role),
    allow_admin = coalesce(sso_provider_update.allow_admin, p.allow_admin),
    is_active = coalesce(sso_provider_update.is_active, p.is_active),
    updated_at = now()
  where p.id = sso_provider_update.provider_id
  returning * into v_provider;
  if not found then
    raise exception 'provider not found' using errcode = 'LM404', detail = 'not_found', hint = 'provider_id';
  end if;
  perform internal.audit('sso.provider_update', 'sso_provider', v_provider.id,
                         jsonb_build_object('secret_changed', sso_provider_update.client_secret is not null));
  return internal.sso_provider_json(v_provider);
end
$$;
comment on function api.sso_provider_update(uuid, text, text, text, text, text[], text[], boolean, text, text, boolean, boolean) is
$$Change an OpenID provider (admin): what is given changes, the rest stays (role_claim '' clears it). is_active
false stops sign-ins through it (linked identities stay).
@result sso_provider
@param issuer minLength=8 maxLength=500
@param client_id minLength=1 maxLength=500
@param client_secret minLength=1 maxLength=1000
@param return_url minLength=8 maxLength=1000
@param scopes maxItems=20 itemMaxLength=100
@param email_domains maxItems=50 itemMaxLength=253
@param role_claim maxLength=200
@param default_role maxLength=20
SECURITY DEFINER: checks the caller is an admin.$$;

create or replace function api.sso_provider_delete(provider_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_name text;
begin
  perform internal.require_role('admin');
  delete from app.sso_providers p where p.id = sso_provider_delete.provider_id returning p.name into v_name;
  if not found then
    raise exception 'provider not found' using errcode = 'LM404', detail = 'not_found', hint = 'provider_id';
  end if;
  perform internal.audit('sso.provider_delete', 'sso_provider', sso_provider_delete.provider_id, jsonb_build_object('name', v_name));
  return jsonb_build_object('provider_id', sso_provider_delete.provider_id, 'deleted', true);
end
$$;
comment on function api.sso_provider_delete(uuid) is
$$Remove an OpenID provider (admin). Sign-ins under way through it end; linked identities stay (without a
provider they sign in no more) and their accounts keep every other way in.
@result {provider_id: uuid, deleted: bool}
SECURITY DEFINER: checks the caller is an admin.$$;

create or replace function api.sso_provider_list("limit" integer default 50, "offset" integer default 0)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform internal.require_role('admin');
  perform internal.check_page(sso_provider_list."limit", sso_provider_list."offset", 200);
  return coalesce((select jsonb_agg(internal.sso_provider_json(p) order by p.name)
                   from (select * from app.sso_providers p0 order by p0.name
                         limit coalesce(sso_provider_list."limit", 50) offset coalesce(sso_provider_list."offset", 0)) p), '[]');
end
$$;
comment on function api.sso_provider_list(integer, integer) is
$$The OpenID providers, by name (admin); never their secrets.
@result sso_provider[]
@param limit minimum=1 maximum=200
@param offset minimum=0
SECURITY DEFINER: checks the caller is an admin.$$;

-- ---------------------------------------------------------------------------------------------
-- The flow: begin (state), take (the callback), sign in (who), exchange (tokens)
-- ---------------------------------------------------------------------------------------------
create or replace function internal.sso_login_begin(p_provider_name text, p_link_token text default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_provider app.sso_providers;
  v_state    app.sso_states;
begin
  select * into v_provider from app.sso_providers p where p.name = p_provider_name and p.is_active;
  if not found then
    raise exception 'no such provider' using errcode = 'LM404', detail = 'not_found', hint = 'provider';
  end if;
  delete from app.sso_states s where s.expires_at < now() - interval '1 hour';  -- what nobody came back for
  if p_link_token is not null then  -- the login URL sso.link_start gave: its state, once
    update app.sso_states s set link_token_hash = null
    where s.link_token_hash = internal.sha256(p_link_token) and s.provider_id = v_provider.id and s.expires_at > now()
    returning * into v_state;
    if not found then
      raise exception 'this link is unknown, used or expired: start again with sso.link_start' using errcode = 'LM400',
        detail = 'invalid_state', hint = 'link';
    end if;
  else
    insert into app.sso_states (state, provider_id, nonce, code_verifier)
    values (internal.random_token(32), v_provider.id, internal.random_token(32),
            internal.random_token(48))
    returning * into v_state;
  end if;
  return jsonb_build_object('issuer', v_provider.issuer, 'client_id', v_provider.client_id,
                            'scopes', to_jsonb(v_provider.scopes), 'state', v_state.state, 'nonce', v_state.nonce,
                            'code_verifier', v_state.code_verifier);
end
$$;
comment on function internal.sso_login_begin(text, text) is
  'GET /sso/{provider}/login: a new sign-in (state, nonce, PKCE verifier, 10 minutes) for an active provider, or with p_link_token the one sso.link_start prepared (single use). LM404 not_found for an unknown or inactive provider. SECURITY DEFINER: app.sso_states has no client privileges.';

create or replace function internal.sso_provider_issuer(p_provider_name text)
returns text
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_issuer text;
begin
  select p.issuer into v_issuer from app.sso_providers p where p.name = p_provider_name and p.is_active;
  if not found then
    raise exception 'no such provider' using errcode = 'LM404', detail = 'not_found', hint = 'provider';
  end if;
  return v_issuer;
end
$$;
comment on function internal.sso_provider_issuer(text) is 'The issuer of an active provider (LM404 not_found): the login endpoint discovers it before a sign-in is recorded. SECURITY DEFINER: reads app.sso_providers.';

create or replace function internal.sso_state_take(p_provider_name text, p_state text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_state    app.sso_states;
  v_provider app.sso_providers;
begin
  delete from app.sso_states s
  using app.sso_providers p
  where s.state = p_state and p.id = s.provider_id and p.name = p_provider_name and p.is_active
    and s.link_token_hash is null  -- a link start whose login never began is not a sign-in
  returning s.* into v_state;
  if not found or v_state.expires_at <= now() then
    raise exception 'this sign-in is unknown, used or older than 10 minutes' using errcode = 'LM400',
      detail = 'invalid_state', hint = 'state';
  end if;
  select * into v_provider from app.sso_providers p where p.id = v_state.provider_id;
  return jsonb_build_object('provider_id', v_provider.id, 'issuer', v_provider.issuer, 'client_id', v_provider.client_id,
                            'client_secret', v_provider.client_secret, 'return_url', v_provider.return_url,
                            'role_claim', v_provider.role_claim, 'nonce', v_state.nonce,
                            'code_verifier', v_state.code_verifier, 'link_user_id', v_state.link_user_id);
end
$$;
comment on function internal.sso_state_take(text, text) is
  'GET /sso/{provider}/callback: consumes the sign-in its state names (single use: a replayed callback finds nothing; LM400 invalid_state also when unknown or expired) and returns what the code exchange needs — the only place the client secret leaves the database. SECURITY DEFINER: reads the secret no client may.';

create or replace function internal.sso_sign_in(p_provider_id uuid, p_subject text, p_email text, p_email_verified boolean,
                                                p_full_name text, p_role text, p_link_user_id uuid, p_mfa boolean)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_provider app.sso_providers;
  v_email    text := internal.normalize_email(coalesce(p_email, ''));
  v_identity app.sso_identities;
  v_user     app.users;
  v_code     text := internal.random_token(32);
  v_role     text;
  v_created  boolean := false;
begin
  select * into strict v_provider from app.sso_providers p where p.id = p_provider_id;
  if length(coalesce(p_subject, '')) not between 1 and 255 then
    raise exception 'the ID token has no usable subject' using errcode = 'LM401', detail = 'invalid_id_token', hint = 'sub';
  end if;
  -- Verified: as the provider says; a provider that does not say (Entra ID sends no email_verified) is
  -- believed only for the domains an admin marked it authoritative for.
  if v_email = '' or not coalesce(p_email_verified, v_provider.email_authoritative
                                                    and split_part(v_email, '@', 2) = any (v_provider.email_domains)) then
    raise exception 'the provider does not say this email address is verified' using errcode = 'LM403',
      detail = 'email_not_verified', hint = 'email';
  end if;
  if cardinality(v_provider.email_domains) > 0 and split_part(v_email, '@', 2) <> all (v_provider.email_domains) then
    raise exception 'this provider may not sign in addresses of that domain' using errcode = 'LM403',
      detail = 'email_domain_not_allowed', hint = 'email';
  end if;

  for v_attempt in 1..2 loop  -- a concurrent first sign-in of the same subject: the second finds the first's
    select * into v_identity from app.sso_identities i where i.issuer = v_provider.issuer and i.subject = p_subject
    for update;
    exit when found;
    begin
      if p_link_user_id is not null then  -- sso.link_start: the signed-in account asked for it
        select * into v_user from app.users u where u.id = p_link_user_id;
      else
        select * into v_user from app.users u where lower(u.email) = v_email;
        if found and not (v_provider.email_authoritative and split_part(v_email, '@', 2) = any (v_provider.email_domains)) then
          raise exception 'an account with this email exists: sign in to it and link this provider (sso.link_start)'
            using errcode = 'LM409', detail = 'account_exists', hint = 'email';
        end if;
        if not found then  -- just in time: a new account without a password
          v_role := case when p_role in ('student', 'instructor') then p_role
                         when p_role = 'admin' and v_provider.allow_admin then p_role
                         else v_provider.default_role end;
          insert into app.users (email, password_hash, full_name, role, email_verified_at)
          values (v_email, '!sso', coalesce(nullif(left(btrim(coalesce(p_full_name, '')), 200), ''), split_part(v_email, '@', 1)),
                  v_role, now())
          returning * into v_user;  -- (a trigger adds the role's row: app.instructors, app.admins)
          v_created := true;
        end if;
      end if;
      insert into app.sso_identities (user_id, provider_id, issuer, subject, email)
      values (v_user.id, v_provider.id, v_provider.issuer, p_subject, v_email)
      returning * into v_identity;
      exit;
    exception when unique_violation then
      if v_attempt = 2 then
        raise;
      end if;  -- the other sign-in committed first: take its identity
    end;
  end loop;

  if p_link_user_id is not null and v_identity.user_id <> p_link_user_id then
    raise exception 'this provider account is linked to another user' using errcode = 'LM409',
      detail = 'identity_in_use', hint = 'sub';
  end if;
  select * into v_user from app.users u where u.id = v_identity.user_id;
  if not v_user.is_active then
    raise exception 'this account is deactivated' using errcode = 'LM401', detail = 'account_inactive', hint = 'email';
  end if;
  update app.sso_identities i set email = v_email, last_login_at = now(), provider_id = v_provider.id
  where i.id = v_identity.id;
  delete from app.sso_codes c where c.expires_at < now() - interval '1 hour';
  insert into app.sso_codes (code_hash, user_id, identity_id, mfa_asserted)
  values (internal.sha256(v_code), v_user.id, v_identity.id, coalesce(p_mfa, false));
  perform internal.audit(case when p_link_user_id is not null then 'sso.link' else 'sso.sign_in' end, 'user', v_user.id,
                         jsonb_build_object('provider', v_provider.name, 'created', v_created, 'mfa', coalesce(p_mfa, false),
                                            'client_addr', internal.client_addr()));
  return jsonb_build_object('code', v_code, 'user_id', v_user.id, 'created', v_created);
end
$$;
comment on function internal.sso_sign_in(uuid, text, text, boolean, text, text, uuid, boolean) is
  'The callback, after the ID token verified: the account of (issuer, subject) — found, linked (sso.link_start''s account, or an existing account with the same email when the provider is authoritative for its domain), or created just in time (role from the claim when configured, never admin unless allowed) — and a one-time code for auth.sso_exchange (60 s, its hash stored). Refuses unverified email (403 email_not_verified; p_email_verified null — the provider did not say — counts as verified only for its authoritative domains), other domains (403 email_domain_not_allowed), an existing account the provider may not claim (409 account_exists), a deactivated account (401 account_inactive). Two concurrent first sign-ins of one subject make one account (the unique identity; the second takes the first''s). SECURITY DEFINER: creates users and identities.';

create or replace function api.auth_sso_exchange(code text, totp_code text default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_code    app.sso_codes;
  v_user    app.users;
  v_mfa_on  boolean;
  v_refresh record;
begin
  select * into v_code from app.sso_codes c where c.code_hash = internal.sha256(coalesce(auth_sso_exchange.code, ''))
  for update;
  if not found or v_code.expires_at <= now() then
    return internal.error(401, 'invalid_sso_code', 'The sign-in code is unknown, used or expired');
  end if;
  select * into v_user from app.users u where u.id = v_code.user_id;
  if not v_user.is_active then
    delete from app.sso_codes c where c.code_hash = v_code.code_hash;
    return internal.error(401, 'account_inactive', 'This account is deactivated');
  end if;
  v_mfa_on := exists (select from app.user_mfa m where m.user_id = v_user.id and m.enabled_at is not null);
  if v_mfa_on and not v_code.mfa_asserted then
    if nullif(btrim(coalesce(auth_sso_exchange.totp_code, '')), '') is null then
      return internal.error(401, 'mfa_required', 'A one-time code (totp_code) is required');  -- the code stays, for the retry
    end if;
    if not internal.mfa_check(v_user.id, auth_sso_exchange.totp_code) then
      delete from app.sso_codes c where c.code_hash = v_code.code_hash;
      perform internal.audit('auth.sso_exchange_failed', 'user', v_user.id, jsonb_build_object('reason', 'invalid_mfa_code'));
      return internal.error(401, 'invalid_mfa_code', 'The one-time code is not valid');
    end if;
  end if;
  delete from app.sso_codes c where c.code_hash = v_code.code_hash;
  update app.users u set last_login_at = now() where u.id = v_user.id;
  select * into v_refresh from internal.issue_refresh_token(v_user.id, null);
  perform internal.audit('auth.sso_exchange', 'user', v_user.id, jsonb_build_object('mfa', v_mfa_on or v_code.mfa_asserted));
  return jsonb_build_object(
    'access_token_claims', jsonb_build_object('sub', v_user.id, 'role', v_user.role),
    'refresh_token', v_refresh.token,
    'user', internal.user_json(v_user));
end
$$;
comment on function api.auth_sso_exchange(text, text) is
$$Exchange the one-time code the SSO callback put in the return URL (60 seconds, single use) for the same token
pair as auth.login. An account with MFA on also needs totp_code unless the provider asserted multi-factor
authentication (amr): 401 mfa_required keeps the code for the retry, a wrong code spends it.
@result token_pair
@public
@param code minLength=1 maxLength=200
@param totp_code maxLength=64
SECURITY DEFINER: reads and spends codes no client may see.$$;

create or replace function api.sso_link_start(provider text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id  uuid := internal.require_user();
  v_provider app.sso_providers;
  v_token    text := internal.random_token(32);
begin
  select * into v_provider from app.sso_providers p where p.name = sso_link_start.provider and p.is_active;
  if not found then
    raise exception 'no such provider' using errcode = 'LM404', detail = 'not_found', hint = 'provider';
  end if;
  insert into app.sso_states (state, provider_id, nonce, code_verifier, link_user_id, link_token_hash)
  values (internal.random_token(32), v_provider.id, internal.random_token(32),
          internal.random_token(48), v_user_id, internal.sha256(v_token));
  return jsonb_build_object('login_url', '/sso/' || v_provider.name || '/login?link=' || v_token,
                            'expires_in', 600);
end
$$;
comment on function api.sso_link_start(text) is
$$Link an OpenID provider's account to yours (signed in): open login_url (relative to the server, single use,
10 minutes) in the browser; after the provider's sign-in, that identity signs in to this account. 409
identity_in_use when it is linked to someone else.
@result {login_url: text, expires_in: int}
@param provider minLength=1 maxLength=40
SECURITY DEFINER: records the sign-in under way for the caller.$$;

create or replace function api.sso_identities_mine()
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id uuid := internal.require_user();
begin
  return coalesce((select jsonb_agg(jsonb_build_object(
                     'identity_id', i.id, 'provider', p.name, 'issuer', i.issuer, 'subject', i.subject, 'email', i.email,
                     'created_at', i.created_at, 'last_login_at', i.last_login_at) order by i.created_at, i.id)
                   from app.sso_identities i left join app.sso_providers p on p.id = i.provider_id
                   where i.user_id = v_user_id), '[]');
end
$$;
comment on function api.sso_identities_mine() is
$$The OpenID identities linked to your account.
@result {identity_id: uuid, provider: text?, issuer: text, subject: text, email: text?, created_at: timestamptz, last_login_at: timestamptz?}[]
SECURITY DEFINER: reads the caller's identities.$$;

create or replace function api.sso_unlink(identity_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id uuid := internal.require_user();
begin
  -- The account row first: two unlinks at once are serialised, so they cannot both leave none.
  perform from app.users u where u.id = v_user_id for no key update;
  if not exists (select from app.sso_identities i where i.id = sso_unlink.identity_id and i.user_id = v_user_id) then
    raise exception 'identity not found' using errcode = 'LM404', detail = 'not_found', hint = 'identity_id';
  end if;
  if not exists (select from app.users u where u.id = v_user_id and u.password_hash like '$2%')
     and not exists (select from app.sso_identities i where i.user_id = v_user_id and i.id <> sso_unlink.identity_id) then
    raise exception 'this is the only way to sign in to the account: set a password or link another provider first'
      using errcode = 'LM409', detail = 'last_login_method', hint = 'identity_id';
  end if;
  delete from app.sso_identities i where i.id = sso_unlink.identity_id;
  perform internal.audit('sso.unlink', 'user', v_user_id, jsonb_build_object('identity_id', sso_unlink.identity_id));
  return jsonb_build_object('identity_id', sso_unlink.identity_id, 'unlinked', true);
end
$$;
comment on function api.sso_unlink(uuid) is
$$Remove a linked OpenID identity from your account — not the last way to sign in (409 last_login_method when
the account has no password and no other identity).
@result {identity_id: uuid, unlinked: bool}
SECURITY DEFINER: changes the caller's identities.$$;
