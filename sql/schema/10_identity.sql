/*
 * Identity: users and their role rows, sessions (refresh tokens), one-time tokens for email
 * verification and password reset, MFA secrets, login attempts (for lockout), the mapping of
 * analysts' database logins to LMS users, the audit log and the outbox of messages to send.
 *
 * Secrets (password_hash, token hashes, MFA secret, recovery codes) are readable only by
 * lms_definer, which owns the identity functions; column privileges keep them from lms_api
 * and lms_analyst (sql/policies/10_identity.sql).
 */
set local role lms_owner;

create table app.users (
  id                uuid not null default gen_random_uuid(),
  email             text not null,
  password_hash     text not null,
  full_name         text not null,
  role              text not null default 'student',
  is_active         boolean not null default true,
  email_verified_at timestamptz,
  metadata          jsonb not null default '{}',
  last_login_at     timestamptz,
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now(),
  constraint pk_users primary key (id),
  constraint ck_users_email_format check (email = btrim(email) and length(email) <= 254
                                          and email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  constraint ck_users_full_name_length check (length(btrim(full_name)) between 1 and 200),
  constraint ck_users_role check (role in ('student', 'instructor', 'admin')),
  constraint ck_users_metadata_object check (jsonb_typeof(metadata) = 'object'),
  constraint ck_users_metadata_size check (octet_length(metadata::text) <= 16384)
);
create unique index uq_users_email_lower on app.users (lower(email));
comment on table app.users is 'Every person who uses the LMS: students, instructors and admins (role).';
comment on column app.users.email is 'Trimmed as given; unique case-insensitively (uq_users_email_lower).';
comment on column app.users.password_hash is 'pgcrypto bcrypt hash. Secret: readable only by lms_definer.';
comment on column app.users.role is 'student | instructor | admin; app.instructors / app.admins rows follow it (trigger).';
comment on column app.users.is_active is 'False once an admin deactivates the account (admin.set_active): it can neither log in nor refresh, and its refresh tokens are revoked.';
comment on column app.users.email_verified_at is 'When the address was first confirmed (auth.verify_email, or a completed password reset); null = unverified.';
comment on column app.users.metadata is 'Free-form profile data the client keeps (a JSON object of at most 16 KiB as JSON text).';
comment on column app.users.last_login_at is 'When auth.login last succeeded (auth.refresh does not change it); null = never.';

create table app.admins (
  user_id     uuid not null,
  permissions text[] not null default '{users,courses,payments,certificates}',
  created_at  timestamptz not null default now(),
  constraint pk_admins primary key (user_id),
  constraint fk_admins_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint ck_admins_permissions check (permissions <@ '{users,courses,payments,certificates}'::text[])
);
comment on table app.admins is 'One row per user whose role is admin; kept in step with users.role by a trigger.';
comment on column app.admins.permissions is 'Areas this admin may manage.';

create table app.instructors (
  user_id    uuid not null,
  title      text,
  bio        text,
  expertise  text[] not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint pk_instructors primary key (user_id),
  constraint fk_instructors_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint ck_instructors_title_length check (length(title) <= 200),
  constraint ck_instructors_bio_length check (length(bio) <= 10000)
);
comment on table app.instructors is 'Instructor profile; exists for every user who is or was an instructor (courses keep pointing at it).';
comment on column app.instructors.title is 'Professional title shown on the profile (e.g. Associate Professor), at most 200 characters; null = none.';
comment on column app.instructors.expertise is 'Subject areas listed on the profile (free text; the API allows 50 items of 100 characters); empty = none.';

create table app.refresh_tokens (
  id             uuid not null default gen_random_uuid(),
  user_id        uuid not null,
  family_id      uuid not null,
  token_hash     bytea not null,
  issued_at      timestamptz not null default now(),
  expires_at     timestamptz not null,
  revoked_at     timestamptz,
  revoked_reason text,
  replaced_by    uuid,
  constraint pk_refresh_tokens primary key (id),
  constraint fk_refresh_tokens_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint fk_refresh_tokens_replaced_by_refresh_tokens foreign key (replaced_by) references app.refresh_tokens (id) on delete set null,
  constraint uq_refresh_tokens_token_hash unique (token_hash),
  constraint ck_refresh_tokens_expiry check (expires_at > issued_at),
  constraint ck_refresh_tokens_revocation check ((revoked_at is null) = (revoked_reason is null)),
  constraint ck_refresh_tokens_revoked_reason check (revoked_reason in
    ('rotated', 'logout', 'logout_all', 'password_change', 'password_reset', 'deactivated', 'reuse_detected'))
);
create index ix_refresh_tokens_user_id on app.refresh_tokens (user_id) where revoked_at is null;
create index ix_refresh_tokens_family_id on app.refresh_tokens (family_id);
create index ix_refresh_tokens_replaced_by on app.refresh_tokens (replaced_by) where replaced_by is not null;
create index ix_refresh_tokens_expires_at on app.refresh_tokens (expires_at);
comment on table app.refresh_tokens is 'Refresh tokens (sessions). id is the jti; the token itself is never stored, only its SHA-256.';
comment on column app.refresh_tokens.id is 'The token''s id (the jti claim); replaced_by of the token it was rotated from points here.';
comment on column app.refresh_tokens.family_id is 'All tokens rotated from one login share a family; reuse of a revoked one revokes the user''s tokens.';
comment on column app.refresh_tokens.token_hash is 'SHA-256 of the opaque token. Secret: readable only by lms_definer.';
comment on column app.refresh_tokens.issued_at is 'When the token was issued (a login or a rotation).';
comment on column app.refresh_tokens.expires_at is 'issued_at + 30 days; refused after it (token_expired). Rows expired over a day ago are deleted by lms db maintain.';
comment on column app.refresh_tokens.revoked_at is 'When the token stopped being usable; null while live. Rotation stamps clock_timestamp(), so a concurrent refresh is told apart from a reuse.';
comment on column app.refresh_tokens.revoked_reason is 'rotated | logout | logout_all | password_change | password_reset | deactivated | reuse_detected; set together with revoked_at.';
comment on column app.refresh_tokens.replaced_by is 'For a rotated token: the token issued in its place (same family); null otherwise.';

create table app.user_tokens (
  id         uuid not null default gen_random_uuid(),
  user_id    uuid not null,
  purpose    text not null,
  token_hash bytea not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at    timestamptz,
  constraint pk_user_tokens primary key (id),
  constraint fk_user_tokens_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint uq_user_tokens_token_hash unique (token_hash),
  constraint ck_user_tokens_purpose check (purpose in ('email_verification', 'password_reset')),
  constraint ck_user_tokens_expiry check (expires_at > created_at)
);
create index ix_user_tokens_user_id on app.user_tokens (user_id, purpose);
comment on table app.user_tokens is 'Single-use, expiring tokens for email verification and password reset, stored as SHA-256 only.';
comment on column app.user_tokens.purpose is 'email_verification (valid 24 hours) | password_reset (valid 1 hour).';
comment on column app.user_tokens.token_hash is 'SHA-256 of the raw token mailed through the outbox; the token itself is never stored.';
comment on column app.user_tokens.expires_at is 'created_at + the purpose''s lifetime; refused after it. Rows expired over a day ago are deleted by lms db maintain.';
comment on column app.user_tokens.used_at is 'When the token was redeemed, or voided (open password_reset tokens die with a password change); set = spent.';

create table app.user_mfa (
  user_id        uuid not null,
  secret         text not null,
  enabled_at     timestamptz,
  last_used_step bigint,
  created_at     timestamptz not null default now(),
  constraint pk_user_mfa primary key (user_id),
  constraint fk_user_mfa_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint ck_user_mfa_secret_base32 check (secret ~ '^[A-Z2-7]{16,}$')
);
comment on table app.user_mfa is 'TOTP (RFC 6238) secret per user; MFA is on when enabled_at is set. Secret: lms_definer only.';
comment on column app.user_mfa.secret is 'Base32 TOTP secret (160 random bits); a new auth.mfa_setup replaces it until MFA is enabled. Secret: readable only by lms_definer.';
comment on column app.user_mfa.enabled_at is 'When auth.mfa_enable accepted the first code; null = set up but not enabled (MFA off).';
comment on column app.user_mfa.last_used_step is 'The 30-second step of the last accepted code, so a code is never accepted twice.';
comment on column app.user_mfa.created_at is 'When the current secret was generated (a repeated auth.mfa_setup resets it).';

create table app.mfa_recovery_codes (
  id         uuid not null default gen_random_uuid(),
  user_id    uuid not null,
  code_hash  bytea not null,
  used_at    timestamptz,
  created_at timestamptz not null default now(),
  constraint pk_mfa_recovery_codes primary key (id),
  constraint fk_mfa_recovery_codes_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint uq_mfa_recovery_codes_user_code unique (user_id, code_hash)
);
comment on table app.mfa_recovery_codes is 'One-time MFA recovery codes, stored as SHA-256 only.';
comment on column app.mfa_recovery_codes.code_hash is 'SHA-256 of the code in upper case without spaces or dashes. auth.mfa_enable issues 8 and deletes older ones.';
comment on column app.mfa_recovery_codes.used_at is 'When the code was accepted in place of a TOTP code; null = still usable (each code works once).';

create table app.login_attempts (
  id           bigint generated always as identity,
  email        text not null,
  user_id      uuid,
  succeeded    boolean not null,
  attempted_at timestamptz not null default now(),
  client_addr  inet,
  constraint pk_login_attempts primary key (id),
  constraint fk_login_attempts_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint ck_login_attempts_email_normalized check (email = lower(btrim(email)))
);
create index ix_login_attempts_email_attempted_at on app.login_attempts (email, attempted_at);
create index ix_login_attempts_user_id on app.login_attempts (user_id);
create index ix_login_attempts_client_addr_attempted_at on app.login_attempts (client_addr, attempted_at);
comment on table app.login_attempts is 'Every login attempt (and every failed one-time code or current password) by normalised email and client address: the throttles of app.rate_limits count these rows.';
comment on column app.login_attempts.email is 'The email tried, trimmed and lower-cased; recorded for unknown accounts too.';
comment on column app.login_attempts.user_id is 'The account of that email at the time; null when no account had it.';
comment on column app.login_attempts.succeeded is 'True for an accepted password, one-time code or recovery code; a success clears the failures of its account and address.';
comment on column app.login_attempts.attempted_at is 'When the try was made; the throttles count failures inside their window. Rows older than 30 days are deleted by lms db maintain.';
comment on column app.login_attempts.client_addr is 'Client address as the RPC server saw it (behind a trusted proxy: the forwarded one); null for direct SQL callers.';

create table app.analyst_logins (
  login_name name not null,
  user_id    uuid not null,
  created_at timestamptz not null default now(),
  constraint pk_analyst_logins primary key (login_name),
  constraint fk_analyst_logins_user_id_users foreign key (user_id) references app.users (id) on delete cascade
);
create index ix_analyst_logins_user_id on app.analyst_logins (user_id);
comment on table app.analyst_logins is 'Links an analyst''s PostgreSQL login role to the LMS user whose RLS view they get.';
comment on column app.analyst_logins.login_name is 'An analyst''s PostgreSQL login (member of lms_analyst); app.current_user_id() looks up session_user here.';

create table app.audit_log (
  id           bigint generated always as identity,
  occurred_at  timestamptz not null default now(),
  actor_id     uuid,
  action       text not null,
  subject_type text,
  subject_id   uuid,
  details      jsonb not null default '{}',
  constraint pk_audit_log primary key (id),
  constraint fk_audit_log_actor_id_users foreign key (actor_id) references app.users (id) on delete set null,
  constraint ck_audit_log_action_format check (action ~ '^[a-z_]+\.[a-z_]+$'),
  constraint ck_audit_log_details_object check (jsonb_typeof(details) = 'object')
);
create index ix_audit_log_subject on app.audit_log (subject_type, subject_id);
create index ix_audit_log_actor_id on app.audit_log (actor_id);
create index ix_audit_log_occurred_at on app.audit_log (occurred_at);
comment on table app.audit_log is 'Append-only record of security and grading events (login, lockout, role change, regrade…).';
comment on column app.audit_log.occurred_at is 'When the event was recorded (time of its transaction).';
comment on column app.audit_log.actor_id is 'The user who caused the event (the caller); null for anonymous callers, upkeep and migrations, or once the user is deleted.';
comment on column app.audit_log.action is 'domain.event, e.g. auth.login_failed, submission.regraded.';
comment on column app.audit_log.subject_type is 'Kind of thing the event is about, e.g. user, course, enrollment, submission, certificate; null when none.';
comment on column app.audit_log.subject_id is 'Id of the subject (a row of the table subject_type names). No foreign key: the entry outlives the row.';
comment on column app.audit_log.details is 'JSON object with the event''s particulars, e.g. {email, reason, client_addr} for auth.login_failed, {sessions_revoked} for auth.logout_all; {} when none.';

create table app.outbox (
  id           bigint generated always as identity,
  kind         text not null default 'email',
  recipient    text not null,
  subject      text not null,
  body         text not null,
  created_at   timestamptz not null default now(),
  available_at timestamptz not null default now(),
  attempts     integer not null default 0,
  last_error   text,
  sent_at      timestamptz,
  constraint pk_outbox primary key (id),
  constraint ck_outbox_kind check (kind in ('email')),
  constraint ck_outbox_attempts check (attempts >= 0)
);
create index ix_outbox_pending on app.outbox (available_at) where sent_at is null;
comment on table app.outbox is 'Messages to deliver, written in the same transaction as the change that causes them.';
comment on column app.outbox.kind is 'Delivery channel: email (the only one so far).';
comment on column app.outbox.recipient is 'Where to deliver: an email address for kind email.';
comment on column app.outbox.body is 'May carry a one-time link token: readable only by lms_definer and the delivery worker.';
comment on column app.outbox.available_at is 'Not delivered before this time; each failed delivery pushes it back 1, 2, 4 … minutes (at most 6 hours).';
comment on column app.outbox.attempts is 'Deliveries tried so far (successful or not); the worker gives a message up after 10.';
comment on column app.outbox.last_error is 'Error of the last failed delivery (at most 2000 characters); cleared when sent.';
comment on column app.outbox.sent_at is 'When delivery succeeded; null = pending. Sent messages are deleted after 30 days by lms db maintain.';
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
