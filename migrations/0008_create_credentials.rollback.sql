-- Undo 0008_create_credentials: drop the credentials table.

set local role lms_owner;
drop table app.certificates;
