-- Undo 0027_shared_file_bytes: storage_path unique again. Refused (nothing rolled back) while copied
-- courses share bytes — delete the copies' files rows first.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, disallowed-unique-constraint, require-concurrent-index-deletion, constraint-missing-not-valid

set local role lms_owner;
alter table app.files add constraint uq_files_storage_path unique (storage_path);
drop index app.ix_files_storage_path;
comment on column app.files.storage_path is 'Random object name in the storage (a file under LMS_HOME/files, or an S3 key); never derived from the user''s filename.';
