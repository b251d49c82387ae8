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
  id                uuid primary key default gen_random_uuid(),
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
  constraint ck_users_email_format check (email = btrim(email) and length(email) <= 254
                                          and email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  constraint ck_users_full_name_length check (length(btrim(full_name)) between 1 and 200),
  constraint ck_users_role check (role in ('student', 'instructor', 'admin')),
  constraint ck_users_metadata_object check (jsonb_typeof(metadata) = 'object')
);
create unique index uq_users_email_lower on app.users (lower(email));
comment on table app.users is 'Every person who uses the LMS: students, instructors and admins (role).';
comment on column app.users.email is 'Trimmed as given; unique case-insensitively (uq_users_email_lower).';
comment on column app.users.password_hash is 'pgcrypto bcrypt hash. Secret: readable only by lms_definer.';
comment on column app.users.role is 'student | instructor | admin; app.instructors / app.admins rows follow it (trigger).';
comment on column app.users.metadata is 'Free-form profile data the client keeps (a JSON object).';

create table app.admins (
  user_id     uuid primary key references app.users (id) on delete cascade,
  permissions text[] not null default '{users,courses,payments,certificates}',
  created_at  timestamptz not null default now(),
  constraint ck_admins_permissions check (permissions <@ '{users,courses,payments,certificates}'::text[])
);
comment on table app.admins is 'One row per user whose role is admin; kept in step with users.role by a trigger.';
comment on column app.admins.permissions is 'Areas this admin may manage.';

create table app.instructors (
  user_id    uuid primary key references app.users (id) on delete cascade,
  title      text,
  bio        text,
  expertise  text[] not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint ck_instructors_title_length check (length(title) <= 200),
  constraint ck_instructors_bio_length check (length(bio) <= 10000)
);
comment on table app.instructors is 'Instructor profile; exists for every user who is or was an instructor (courses keep pointing at it).';

create table app.refresh_tokens (
  id             uuid primary key default gen_random_uuid(),
  user_id        uuid not null references app.users (id) on delete cascade,
  family_id      uuid not null,
  token_hash     bytea not null,
  issued_at      timestamptz not null default now(),
  expires_at     timestamptz not null,
  revoked_at     timestamptz,
  revoked_reason text,
  replaced_by    uuid references app.refresh_tokens (id) on delete set null,
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
comment on column app.refresh_tokens.family_id is 'All tokens rotated from one login share a family; reuse of a revoked one revokes the user''s tokens.';
comment on column app.refresh_tokens.token_hash is 'SHA-256 of the opaque token. Secret: readable only by lms_definer.';

create table app.user_tokens (
  id         uuid primary key default gen_random_uuid(),
  user_id    uuid not null references app.users (id) on delete cascade,
  purpose    text not null,
  token_hash bytea not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at    timestamptz,
  constraint uq_user_tokens_token_hash unique (token_hash),
  constraint ck_user_tokens_purpose check (purpose in ('email_verification', 'password_reset')),
  constraint ck_user_tokens_expiry check (expires_at > created_at)
);
create index ix_user_tokens_user_id on app.user_tokens (user_id, purpose);
comment on table app.user_tokens is 'Single-use, expiring tokens for email verification and password reset, stored as SHA-256 only.';

create table app.user_mfa (
  user_id        uuid primary key references app.users (id) on delete cascade,
  secret         text not null,
  enabled_at     timestamptz,
  last_used_step bigint,
  created_at     timestamptz not null default now(),
  constraint ck_user_mfa_secret_base32 check (secret ~ '^[A-Z2-7]{16,}$')
);
comment on table app.user_mfa is 'TOTP (RFC 6238) secret per user; MFA is on when enabled_at is set. Secret: lms_definer only.';
comment on column app.user_mfa.last_used_step is 'The 30-second step of the last accepted code, so a code is never accepted twice.';

create table app.mfa_recovery_codes (
  id         uuid primary key default gen_random_uuid(),
  user_id    uuid not null references app.users (id) on delete cascade,
  code_hash  bytea not null,
  used_at    timestamptz,
  created_at timestamptz not null default now(),
  constraint uq_mfa_recovery_codes_user_code unique (user_id, code_hash)
);
comment on table app.mfa_recovery_codes is 'One-time MFA recovery codes, stored as SHA-256 only.';

create table app.login_attempts (
  id           bigint generated always as identity primary key,
  email        text not null,
  user_id      uuid references app.users (id) on delete cascade,
  succeeded    boolean not null,
  attempted_at timestamptz not null default now(),
  client_addr  inet,
  constraint ck_login_attempts_email_normalized check (email = lower(btrim(email)))
);
create index ix_login_attempts_email_attempted_at on app.login_attempts (email, attempted_at);
create index ix_login_attempts_user_id on app.login_attempts (user_id);
create index ix_login_attempts_client_addr_attempted_at on app.login_attempts (client_addr, attempted_at);
comment on column app.login_attempts.client_addr is 'Client address as the RPC server saw it (behind a trusted proxy: the forwarded one); null for direct SQL callers.';
comment on table app.login_attempts is 'Every login attempt (and every failed one-time code or current password) by normalised email and client address: the throttles of app.rate_limits count these rows.';

create table app.analyst_logins (
  login_name name primary key,
  user_id    uuid not null references app.users (id) on delete cascade,
  created_at timestamptz not null default now()
);
create index ix_analyst_logins_user_id on app.analyst_logins (user_id);
comment on table app.analyst_logins is 'Links an analyst''s PostgreSQL login role to the LMS user whose RLS view they get.';

create table app.audit_log (
  id           bigint generated always as identity primary key,
  occurred_at  timestamptz not null default now(),
  actor_id     uuid references app.users (id) on delete set null,
  action       text not null,
  subject_type text,
  subject_id   uuid,
  details      jsonb not null default '{}',
  constraint ck_audit_log_action_format check (action ~ '^[a-z_]+\.[a-z_]+$'),
  constraint ck_audit_log_details_object check (jsonb_typeof(details) = 'object')
);
create index ix_audit_log_subject on app.audit_log (subject_type, subject_id);
create index ix_audit_log_actor_id on app.audit_log (actor_id);
create index ix_audit_log_occurred_at on app.audit_log (occurred_at);
comment on table app.audit_log is 'Append-only record of security and grading events (login, lockout, role change, regrade…).';
comment on column app.audit_log.action is 'domain.event, e.g. auth.login_failed, submission.regraded.';

create table app.outbox (
  id           bigint generated always as identity primary key,
  kind         text not null default 'email',
  recipient    text not null,
  subject      text not null,
  body         text not null,
  created_at   timestamptz not null default now(),
  available_at timestamptz not null default now(),
  attempts     integer not null default 0,
  last_error   text,
  sent_at      timestamptz,
  constraint ck_outbox_kind check (kind in ('email')),
  constraint ck_outbox_attempts check (attempts >= 0)
);
create index ix_outbox_pending on app.outbox (available_at) where sent_at is null;
comment on table app.outbox is 'Messages to deliver, written in the same transaction as the change that causes them.';
comment on column app.outbox.body is 'May carry a one-time link token: readable only by lms_definer and the delivery worker.';
