-- Files for real (issue 17): the seed's column names on app.files (original_filename, storage_path,
-- uploaded_by, storage_provider) and app.storage_pending, the objects awaiting upkeep.
-- squawk-ignore-file renaming-column, renaming-object, adding-required-field, adding-not-nullable-field, require-concurrent-index-creation, require-lock-timeout, require-statement-timeout, constraint-missing-not-valid, adding-foreign-key-constraint, adding-field-with-default
-- (app.files was an empty shell until this release — no endpoint could write it — so no reader of
--  the old names exists, no row is scanned or rewritten and no lock is contended)
-- depends: 0010_add_submissions_not_self_graded

set local role lms_owner;

alter table app.files rename column uploader_id to uploaded_by;
alter table app.files rename column filename to original_filename;
alter table app.files rename column stored_name to storage_path;
alter table app.files rename constraint fk_files_uploader_id_users to fk_files_uploaded_by_users;
alter table app.files rename constraint uq_files_stored_name to uq_files_storage_path;
alter table app.files rename constraint ck_files_filename_length to ck_files_original_filename_length;
alter index app.ix_files_uploader_id rename to ix_files_uploaded_by;
alter table app.files add column storage_provider text not null default 'local';
alter table app.files add constraint ck_files_storage_provider check (storage_provider in ('local', 's3'));
comment on table app.files is 'Uploaded files: original filename, random storage path, size, type and SHA-256.';
comment on column app.files.uploaded_by is 'The user who uploaded the file; a submission may attach only the student''s own uploads for that assignment.';
comment on column app.files.original_filename is 'The original file name as uploaded (1..255 characters), offered (sanitised) on download; never used as a path.';
comment on column app.files.storage_path is 'Random object name in the storage (a file under LMS_HOME/files, or an S3 key); never derived from the user''s filename.';
comment on column app.files.content_type is 'MIME type of the stored bytes, judged from their leading bytes at upload (not only from the client''s header); sent as Content-Type on download.';
comment on column app.files.sha256 is 'SHA-256 of the stored bytes, computed while the upload streamed in (the download''s ETag); null only for rows older than migration 0013.';
comment on column app.files.storage_provider is 'Where the bytes are: local (LMS_HOME/files) or s3 (LMS_S3_BUCKET).';

create table app.storage_pending (
  id               uuid not null default gen_random_uuid(),
  kind             text not null,
  storage_provider text not null,
  storage_path     text not null,
  user_id          uuid,
  created_at       timestamptz not null default now(),
  constraint pk_storage_pending primary key (id),
  constraint fk_storage_pending_user_id_users foreign key (user_id) references app.users (id) on delete set null,
  constraint uq_storage_pending_storage_path unique (storage_path),
  constraint ck_storage_pending_kind check (kind in ('upload', 'delete')),
  constraint ck_storage_pending_provider check (storage_provider in ('local', 's3'))
);
create index ix_storage_pending_user_id on app.storage_pending (user_id) where user_id is not null;
comment on table app.storage_pending is 'Stored objects that may have no app.files row: uploads under way and bytes of deleted files. `lms db maintain` removes the bytes and the row.';
comment on column app.storage_pending.kind is 'upload = bytes being stored, the files row not written yet (a stray once older than the upload grace, LMS_UPLOAD_GRACE_SECONDS); delete = the files row is gone (file.delete, or a course/assignment/user deleted), the bytes are to be removed.';
comment on column app.storage_pending.storage_provider is 'Where the bytes are: local (LMS_HOME/files) or s3.';
comment on column app.storage_pending.storage_path is 'The object''s random name in its storage (app.files.storage_path).';
comment on column app.storage_pending.user_id is 'The uploader of an upload under way (its row is theirs under RLS); null for deletions, or once the user is gone.';
