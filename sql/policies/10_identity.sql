/*
 * Identity: grants and RLS for users, role rows, sessions, tokens, MFA, login attempts, analyst mapping, audit log, outbox.
 */
alter table app.users enable row level security;
alter table app.users force row level security;
alter table app.admins enable row level security;
alter table app.admins force row level security;
alter table app.instructors enable row level security;
alter table app.instructors force row level security;
alter table app.refresh_tokens enable row level security;
alter table app.refresh_tokens force row level security;
alter table app.user_tokens enable row level security;
alter table app.user_tokens force row level security;
alter table app.user_mfa enable row level security;
alter table app.user_mfa force row level security;
alter table app.mfa_recovery_codes enable row level security;
alter table app.mfa_recovery_codes force row level security;
alter table app.login_attempts enable row level security;
alter table app.login_attempts force row level security;
alter table app.analyst_logins enable row level security;
alter table app.analyst_logins force row level security;
alter table app.audit_log enable row level security;
alter table app.audit_log force row level security;
alter table app.outbox enable row level security;
alter table app.outbox force row level security;

-- An analyst (or any login) may read its own mapping: app.current_user_id() needs it.
grant select (login_name, user_id) on app.analyst_logins to lms_analyst;
create policy select_own_login on app.analyst_logins for select to lms_analyst
  using (login_name = session_user);

-- Users: everyone sees their own row; admins see all. Secrets are never granted.
grant select (id, email, full_name, role, is_active, email_verified_at, metadata, last_login_at, created_at, updated_at)
  on app.users to lms_api, lms_analyst;
create policy select_self_or_admin on app.users for select to lms_api, lms_analyst
  using (id = (select app.current_user_id()) or (select internal.is_admin()));
-- Users change their own profile columns only (role, is_active, email and the hash go through
-- definer functions).
grant update (full_name, metadata) on app.users to lms_api;
create policy update_self on app.users for update to lms_api
  using (id = (select app.current_user_id()))
  with check (id = (select app.current_user_id()));

-- Instructor profiles are public (course pages show them); instructors edit their own.
grant select (user_id, title, bio, expertise, created_at, updated_at) on app.instructors to lms_api, lms_analyst;
create policy select_all on app.instructors for select to lms_api, lms_analyst
  using (true);
grant update (title, bio, expertise) on app.instructors to lms_api;
create policy update_self on app.instructors for update to lms_api
  using (user_id = (select app.current_user_id()))
  with check (user_id = (select app.current_user_id()));

-- Admin rows: an admin sees their own row (and every admin sees all).
grant select (user_id, permissions, created_at) on app.admins to lms_api, lms_analyst;
create policy select_self_or_admin on app.admins for select to lms_api, lms_analyst
  using (user_id = (select app.current_user_id()) or (select internal.is_admin()));

-- MFA: whether it is on is visible to the user (never the secret). Analysts: no access (issue 18).
grant select (user_id, enabled_at, created_at) on app.user_mfa to lms_api;
create policy select_self on app.user_mfa for select to lms_api
  using (user_id = (select app.current_user_id()));

-- Sessions: a user may list their own refresh tokens' metadata (never the hash). Analysts get
-- no access at all: token and family ids are bearer values, and a leakproof comparison on an
-- indexed column runs below the RLS filter (EXPLAIN ANALYZE prefix walk, issue 18).
grant select (id, user_id, family_id, issued_at, expires_at, revoked_at, revoked_reason, replaced_by)
  on app.refresh_tokens to lms_api;
create policy select_self on app.refresh_tokens for select to lms_api
  using (user_id = (select app.current_user_id()));

-- The audit log: admins (and admin-linked analysts) read it; it is written through
-- internal.audit() and definer functions only.
grant select on app.audit_log to lms_api, lms_analyst;
create policy select_admin on app.audit_log for select to lms_api, lms_analyst
  using ((select internal.is_admin()));

-- No client privileges at all: app.user_tokens, app.mfa_recovery_codes, app.login_attempts,
-- app.outbox (its body carries raw one-time tokens). lms_definer reaches them through the
-- identity functions (sql/functions/10_identity.sql); `lms outbox` runs as the DBA connection.

-- Methods.
grant execute on function api.auth_register(text, text, text) to lms_api;
grant execute on function api.auth_verify_email(text) to lms_api;
grant execute on function api.auth_login(text, text, text) to lms_api;
grant execute on function api.auth_refresh(text) to lms_api;
grant execute on function api.auth_logout(text) to lms_api;
grant execute on function api.auth_logout_all() to lms_api;
grant execute on function api.auth_request_password_reset(text) to lms_api;
grant execute on function api.auth_reset_password(text, text) to lms_api;
grant execute on function api.auth_change_password(text, text) to lms_api;
grant execute on function api.auth_mfa_setup() to lms_api;
grant execute on function api.auth_mfa_enable(text) to lms_api;
grant execute on function api.auth_mfa_disable(text) to lms_api;
grant execute on function api.user_me() to lms_api;
grant execute on function api.user_update_profile(text, jsonb) to lms_api;
grant execute on function api.instructor_update_profile(text, text, text[]) to lms_api;
grant execute on function api.admin_create_user(text, text, text, text) to lms_api;
grant execute on function api.admin_set_role(uuid, text) to lms_api;
grant execute on function api.admin_set_active(uuid, boolean) to lms_api;
grant execute on function api.admin_list_users(text, text, integer, integer) to lms_api;

-- Helpers the invoker methods above call as lms_api.
grant execute on function internal.profile_json(app.users) to lms_api;
grant execute on function internal.mfa_enabled(uuid) to lms_api;

-- Invoker helpers that the identity definer functions (owned by lms_definer) call.
grant execute on function
  internal.bcrypt_cost(), internal.hash_password(text), internal.password_matches(text, text), internal.sha256(text), internal.random_token(integer),
  internal.normalize_email(text), internal.check_password_policy(text, text), internal.user_json(app.users),
  internal.base32_encode(bytea), internal.base32_decode(text),
  internal.totp_code(bytea, bigint), internal.totp_step(timestamptz), internal.totp_match(text, text, bigint, timestamptz),
  internal.profile_json(app.users)
  to lms_definer;

-- Sign-in with OpenID providers (issue 32): no client privileges on app.sso_providers (its secret),
-- app.sso_states, app.sso_identities, app.sso_codes — everything goes through the functions below.
alter table app.sso_providers enable row level security;
alter table app.sso_providers force row level security;
alter table app.sso_states enable row level security;
alter table app.sso_states force row level security;
alter table app.sso_identities enable row level security;
alter table app.sso_identities force row level security;
alter table app.sso_codes enable row level security;
alter table app.sso_codes force row level security;
grant execute on function api.sso_provider_create(text, text, text, text, text, text[], text[], boolean, text, text, boolean) to lms_api;
grant execute on function api.sso_provider_update(uuid, text, text, text, text, text[], text[], boolean, text, text, boolean, boolean) to lms_api;
grant execute on function api.sso_provider_delete(uuid) to lms_api;
grant execute on function api.sso_provider_list(integer, integer) to lms_api;
grant execute on function api.sso_link_start(text) to lms_api;
grant execute on function api.sso_identities_mine() to lms_api;
grant execute on function api.sso_unlink(uuid) to lms_api;
grant execute on function api.auth_sso_exchange(text, text) to lms_api;
-- The browser flow's steps (rpc/http/sso.py), called as lms_api by the server for an anonymous caller.
grant execute on function internal.sso_provider_issuer(text), internal.sso_login_begin(text, text),
  internal.sso_state_take(text, text),
  internal.sso_sign_in(uuid, text, text, boolean, text, text, uuid, boolean)
  to lms_api;
grant execute on function internal.sso_provider_json(app.sso_providers), internal.sso_clean_domains(text[]) to lms_definer;
