-- Undo 0020_users_metadata_size.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, ban-drop-constraint

set local role lms_owner;
alter table app.users drop constraint ck_users_metadata_size;
comment on column app.users.metadata is 'Free-form profile data the client keeps (a JSON object).';
