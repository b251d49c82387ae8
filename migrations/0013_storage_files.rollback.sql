-- Undo 0013_storage_files: drop app.storage_pending and give app.files its baseline names back.
-- squawk-ignore-file ban-drop-table, ban-drop-column, ban-drop-constraint, renaming-column, renaming-object, require-lock-timeout, require-statement-timeout
-- (undoing the release drops exactly what it added; bytes of files stay in storage)

set local role lms_owner;
drop table app.storage_pending;
alter table app.files drop constraint ck_files_storage_provider;
alter table app.files drop column storage_provider;
alter index app.ix_files_uploaded_by rename to ix_files_uploader_id;
alter table app.files rename constraint ck_files_original_filename_length to ck_files_filename_length;
alter table app.files rename constraint uq_files_storage_path to uq_files_stored_name;
alter table app.files rename constraint fk_files_uploaded_by_users to fk_files_uploader_id_users;
alter table app.files rename column storage_path to stored_name;
alter table app.files rename column original_filename to filename;
alter table app.files rename column uploaded_by to uploader_id;
comment on table app.files is 'Uploaded files: original filename, random stored name, size and type.';
comment on column app.files.uploader_id is 'The user who uploaded the file; a submission may attach only the student''s own uploads.';
comment on column app.files.filename is 'The original file name as uploaded (1..255 characters), offered on download; never used as a path.';
comment on column app.files.stored_name is 'Random name on disk; never derived from the user''s filename.';
comment on column app.files.content_type is 'MIME type of the stored bytes, sent as Content-Type on download (API.md: judged from the leading bytes at upload, not only from the client''s header).';
comment on column app.files.sha256 is 'SHA-256 of the stored bytes (API.md: computed while the upload streams in); null when not computed.';
