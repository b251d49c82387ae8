-- Sign-in with an institution's OpenID provider (issue 32): providers (the client secret readable only by
-- lms_definer), sign-ins under way (state, nonce, PKCE verifier: single use, 10 minutes), linked
-- identities by (issuer, subject), and the one-time codes the callback hands to the browser.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, prefer-text-field, require-concurrent-index-creation
-- (new tables only, their indexes built with them in the migration's transaction; migrate sets a lock_timeout
--  per statement itself and retries, rpc/db/migrate.py)
-- depends: 0033_event_sequencer_waits

set local role lms_owner;
create table app.sso_providers (
  id                   uuid not null default gen_random_uuid(),
  name                 text not null,
  issuer               text not null,
  client_id            text not null,
  client_secret        text not null,
  return_url           text not null,
  scopes               text[] not null default array['openid', 'email', 'profile'],
  email_domains        text[] not null default '{}',
  email_authoritative  boolean not null default false,
  role_claim           text,
  default_role         text not null default 'student',
  allow_admin          boolean not null default false,
  is_active            boolean not null default true,
  created_at           timestamptz not null default now(),
  updated_at           timestamptz not null default now(),
  constraint pk_sso_providers primary key (id),
  constraint uq_sso_providers_name unique (name),
  constraint ck_sso_providers_name check (name ~ '^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$'),
  constraint ck_sso_providers_issuer check (issuer ~ '^https?://[^\s?#]+$' and length(issuer) <= 500),
  constraint ck_sso_providers_client_id check (length(client_id) between 1 and 500),
  constraint ck_sso_providers_client_secret check (length(client_secret) between 1 and 1000),
  constraint ck_sso_providers_return_url check (return_url ~ '^https?://[^\s#]+$' and length(return_url) <= 1000),
  constraint ck_sso_providers_scopes check ('openid' = any (scopes) and cardinality(scopes) <= 20
                                           and array_position(scopes, null) is null),
  constraint ck_sso_providers_email_domains check (cardinality(email_domains) <= 50
                                                  and array_position(email_domains, null) is null),
  constraint ck_sso_providers_authoritative check (not email_authoritative or cardinality(email_domains) > 0),
  constraint ck_sso_providers_role_claim check (role_claim is null or length(role_claim) between 1 and 200),
  constraint ck_sso_providers_default_role check (default_role in ('student', 'instructor'))
);
comment on table app.sso_providers is 'OpenID Connect providers users may sign in with (sso.provider_create, admins). The client secret is readable only by lms_definer: it leaves the database only in the answer of internal.sso_state_take, for the code exchange it is needed for.';
comment on column app.sso_providers.name is 'Slug naming the provider in /sso/{name}/login and /callback.';
comment on column app.sso_providers.issuer is 'The provider''s issuer URL: discovery at {issuer}/.well-known/openid-configuration, and the iss every ID token must carry.';
comment on column app.sso_providers.client_secret is 'The client secret given by the provider. Secret: readable only by lms_definer.';
comment on column app.sso_providers.return_url is 'Where the browser is sent after the callback, with ?code= (a one-time code for auth.sso_exchange) or ?error=.';
comment on column app.sso_providers.scopes is 'Scopes asked for; openid always among them.';
comment on column app.sso_providers.email_domains is 'When not empty: only addresses of these domains may sign in through this provider.';
comment on column app.sso_providers.email_authoritative is 'The provider owns the addresses of email_domains: an existing account with the same (verified) email is linked automatically. Otherwise only that account itself may link (sso.link_start).';
comment on column app.sso_providers.role_claim is 'The ID token claim whose value (student, instructor; admin only with allow_admin) gives a new account its role; null: default_role.';
comment on column app.sso_providers.default_role is 'The role of accounts created at first sign-in when role_claim gives none (never admin).';
comment on column app.sso_providers.allow_admin is 'Whether role_claim may make a new account an admin.';

create table app.sso_states (
  state          text not null,
  provider_id    uuid not null,
  nonce          text not null,
  code_verifier  text not null,
  link_user_id   uuid,
  link_token_hash bytea,
  created_at     timestamptz not null default now(),
  expires_at     timestamptz not null default now() + interval '10 minutes',
  constraint pk_sso_states primary key (state),
  constraint fk_sso_states_provider_id_sso_providers foreign key (provider_id) references app.sso_providers (id) on delete cascade,
  constraint fk_sso_states_link_user_id_users foreign key (link_user_id) references app.users (id) on delete cascade,
  constraint uq_sso_states_link_token_hash unique (link_token_hash),
  constraint ck_sso_states_link check (link_token_hash is null or link_user_id is not null),
  constraint ck_sso_states_expiry check (expires_at > created_at)
);
create index ix_sso_states_provider_id on app.sso_states (provider_id);
create index ix_sso_states_link_user_id on app.sso_states (link_user_id) where link_user_id is not null;
create index ix_sso_states_expires_at on app.sso_states (expires_at);
comment on table app.sso_states is 'Sign-ins under way: the state, nonce and PKCE verifier of an authorization request, single use (the callback deletes the row), 10 minutes. No client privileges.';
comment on column app.sso_states.state is 'The OAuth state parameter (random): the callback finds the sign-in by it.';
comment on column app.sso_states.nonce is 'The nonce the ID token must carry.';
comment on column app.sso_states.code_verifier is 'The PKCE code verifier (RFC 7636) sent with the code exchange.';
comment on column app.sso_states.link_user_id is 'Set by sso.link_start: the signed-in account the identity is linked to.';
comment on column app.sso_states.link_token_hash is 'SHA-256 of the one-time token in the login URL sso.link_start returns; cleared when the login starts.';

create table app.sso_identities (
  id             uuid not null default gen_random_uuid(),
  user_id        uuid not null,
  provider_id    uuid,
  issuer         text not null,
  subject        text not null,
  email          text,
  created_at     timestamptz not null default now(),
  last_login_at  timestamptz,
  constraint pk_sso_identities primary key (id),
  constraint fk_sso_identities_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint fk_sso_identities_provider_id_sso_providers foreign key (provider_id) references app.sso_providers (id) on delete set null,
  constraint uq_sso_identities_issuer_subject unique (issuer, subject),
  constraint ck_sso_identities_subject check (length(subject) between 1 and 255)
);
create index ix_sso_identities_user_id on app.sso_identities (user_id);
create index ix_sso_identities_provider_id on app.sso_identities (provider_id) where provider_id is not null;
comment on table app.sso_identities is 'An account at an OpenID provider linked to a user: (issuer, subject) is the identity, whatever the email says later.';
comment on column app.sso_identities.provider_id is 'The provider it signed in through; null after the provider was deleted (the identity then signs in no more until a provider with its issuer exists again).';
comment on column app.sso_identities.email is 'The email the provider gave at the last sign-in.';

create table app.sso_codes (
  code_hash      bytea not null,
  user_id        uuid not null,
  identity_id    uuid not null,
  mfa_asserted   boolean not null default false,
  created_at     timestamptz not null default now(),
  expires_at     timestamptz not null default now() + interval '60 seconds',
  constraint pk_sso_codes primary key (code_hash),
  constraint fk_sso_codes_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint fk_sso_codes_identity_id_sso_identities foreign key (identity_id) references app.sso_identities (id) on delete cascade,
  constraint ck_sso_codes_expiry check (expires_at > created_at)
);
create index ix_sso_codes_user_id on app.sso_codes (user_id);
create index ix_sso_codes_identity_id on app.sso_codes (identity_id);
create index ix_sso_codes_expires_at on app.sso_codes (expires_at);
comment on table app.sso_codes is 'One-time codes the callback hands to the browser (in the return URL) for auth.sso_exchange: 60 seconds, single use, only their SHA-256 stored. No client privileges.';
comment on column app.sso_codes.mfa_asserted is 'The provider said (amr) the person passed multi-factor authentication: stands in for the account''s own MFA.';
comment on column app.sso_providers.client_id is 'The client id the provider gave this server.';
comment on column app.sso_providers.is_active is 'False: no sign-in through it (sso.provider_update); its identities stay linked.';
comment on column app.sso_states.expires_at is 'Ten minutes after the login began: the callback refuses the state after it.';
comment on column app.sso_identities.issuer is 'The provider''s issuer (iss): with subject, who this is, also across providers renamed or re-created.';
comment on column app.sso_identities.last_login_at is 'Set at each sign-in through this identity (and when it was linked).';
comment on column app.sso_codes.code_hash is 'SHA-256 of the one-time code (the code itself is only in the return URL).';
comment on column app.sso_codes.expires_at is 'Sixty seconds after the callback: auth.sso_exchange refuses the code after it.';
