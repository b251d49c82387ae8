-- Undo 0002_create_identity: drop the identity tables.
-- squawk-ignore-file ban-drop-table, ban-drop-schema, ban-drop-extension, ban-drop-constraint, require-lock-timeout, require-statement-timeout
-- (undoing a baseline drops exactly what it created)

set local role lms_owner;
drop table app.outbox, app.audit_log, app.analyst_logins, app.login_attempts, app.mfa_recovery_codes,
  app.user_mfa, app.user_tokens, app.refresh_tokens, app.instructors, app.admins, app.users;
