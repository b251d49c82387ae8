-- course.copy (issue 28 §3): a copied course's material files are new rows that share the stored
-- bytes of the original, so storage_path is no longer unique per row; the bytes are removed only once
-- no row refers to them (internal.tg_files_queue_removal and the upkeep functions check).
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, ban-drop-constraint, require-concurrent-index-creation
-- (the unique constraint gives way to a plain index on the same column, built inside the migration's
--  transaction — files is one row per upload; migrate sets a lock_timeout per statement itself and
--  retries, rpc/db/migrate.py)
-- depends: 0026_learner_overrides

set local role lms_owner;
create index ix_files_storage_path on app.files (storage_path);
alter table app.files drop constraint uq_files_storage_path;
comment on column app.files.storage_path is 'Random object name in the storage (a file under LMS_HOME/files, or an S3 key); never derived from the user''s filename. Shared by the copies of a course''s material (course.copy): the bytes are removed when the last row referring to them is deleted.';
