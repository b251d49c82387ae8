-- Undo 0023_policy_settings (the functions of the release before are re-applied by the rollback).
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, ban-drop-table

set local role lms_owner;
drop table app.settings;
