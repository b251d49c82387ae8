/*
 * Storage: metadata of uploaded files, and the stored objects awaiting upkeep. The bytes live in
 * a storage (local disk under LMS_HOME/files, or an S3-compatible bucket) under a random name;
 * the original name is kept for downloads. A file belongs to a course (material) or is attached
 * to an assignment (foreign key added by the assessment domain).
 *
 * Column names are the seed's (original_filename, storage_provider, storage_path, uploaded_by;
 * analysts read the seed) since migration 0013; the API's result calls original_filename
 * `filename` and the id `file_id`.
 */
set local role lms_owner;

create table app.files (
  id                uuid not null default gen_random_uuid(),
  uploaded_by       uuid not null,
  course_id         uuid,
  assignment_id     uuid,
  original_filename text not null,
  storage_path      text not null,
  content_type      text not null,
  file_size         bigint not null,
  sha256            bytea,
  created_at        timestamptz not null default now(),
  storage_provider  text not null default 'local',
  constraint pk_files primary key (id),
  constraint fk_files_uploaded_by_users foreign key (uploaded_by) references app.users (id) on delete cascade,
  constraint fk_files_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint ck_files_original_filename_length check (length(original_filename) between 1 and 255),
  constraint ck_files_size_positive check (file_size > 0),
  constraint ck_files_single_owner check (course_id is null or assignment_id is null),
  constraint ck_files_storage_provider check (storage_provider in ('local', 's3'))
);
create index ix_files_uploaded_by on app.files (uploaded_by);
create index ix_files_storage_path on app.files (storage_path);
create index ix_files_course_id on app.files (course_id) where course_id is not null;
create index ix_files_assignment_id on app.files (assignment_id) where assignment_id is not null;
comment on table app.files is 'Uploaded files: original filename, random storage path, size, type and SHA-256.';
comment on column app.files.uploaded_by is 'The user who uploaded the file; a submission may attach only the student''s own uploads for that assignment.';
comment on column app.files.course_id is 'Set for course material (uploaded by the course''s instructor or an admin); at most one of course_id and assignment_id.';
comment on column app.files.assignment_id is 'Set for a student''s attachment to a submission (fk_files_assignment_id_assignments, added by the assessment domain).';
comment on column app.files.original_filename is 'The original file name as uploaded (1..255 characters), offered (sanitised) on download; never used as a path.';
comment on column app.files.storage_path is 'Random object name in the storage (a file under LMS_HOME/files, or an S3 key); never derived from the user''s filename. Shared by the copies of a course''s material (course.copy): the bytes are removed when the last row referring to them is deleted.';
comment on column app.files.content_type is 'MIME type of the stored bytes, judged from their leading bytes at upload (not only from the client''s header); sent as Content-Type on download.';
comment on column app.files.file_size is 'Size of the stored bytes.';
comment on column app.files.sha256 is 'SHA-256 of the stored bytes, computed while the upload streamed in (the download''s ETag); null only for rows older than migration 0013.';
comment on column app.files.storage_provider is 'Where the bytes are: local (LMS_HOME/files) or s3 (LMS_S3_BUCKET).';

create table app.storage_pending (
  id               uuid not null default gen_random_uuid(),
  kind             text not null,
  storage_provider text not null,
  storage_path     text not null,
  user_id          uuid,
  created_at       timestamptz not null default now(),
  bytes            bigint not null default 0,
  constraint pk_storage_pending primary key (id),
  constraint fk_storage_pending_user_id_users foreign key (user_id) references app.users (id) on delete set null,
  constraint uq_storage_pending_storage_path unique (storage_path),
  constraint ck_storage_pending_kind check (kind in ('upload', 'delete')),
  constraint ck_storage_pending_provider check (storage_provider in ('local', 's3')),
  constraint ck_storage_pending_bytes check (bytes >= 0)
);
create index ix_storage_pending_user_id on app.storage_pending (user_id) where user_id is not null;
comment on table app.storage_pending is 'Stored objects that may have no app.files row: uploads under way and bytes of deleted files. `lms db maintain` removes the bytes and the row.';
comment on column app.storage_pending.kind is 'upload = bytes being stored, the files row not written yet (a stray once older than the upload grace, LMS_UPLOAD_GRACE_SECONDS); delete = the files row is gone (file.delete, or a course/assignment/user deleted), the bytes are to be removed.';
comment on column app.storage_pending.storage_provider is 'Where the bytes are: local (LMS_HOME/files) or s3.';
comment on column app.storage_pending.storage_path is 'The object''s random name in its storage (app.files.storage_path).';
comment on column app.storage_pending.user_id is 'Whose quota the bytes count against: the uploader (of an upload under way, or of a deleted file whose bytes are not removed yet).';
comment on column app.storage_pending.bytes is 'Bytes counted against user_id''s quota while the row exists: for an upload under way what it may still write (the smaller of the upload limit and the quota left when it began); for a deletion the deleted file''s size, until upkeep has removed the bytes.';
