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
