-- Undo 0008_create_credentials: drop the credentials table.
-- squawk-ignore-file ban-drop-table, ban-drop-schema, ban-drop-extension, ban-drop-constraint, require-lock-timeout, require-statement-timeout
-- (undoing a baseline drops exactly what it created)

set local role lms_owner;
drop table app.certificates;
