-- Create the storage table: files (baseline of sql/schema/30_storage.sql).
-- squawk-ignore-file require-concurrent-index-creation, require-lock-timeout, require-statement-timeout, constraint-missing-not-valid, adding-foreign-key-constraint
-- (baseline: every table here is new and empty, so no lock is contended and no row is scanned)
-- depends: 0003_create_catalog

/*
 * Storage: metadata of uploaded files. The bytes live on disk under a random stored name;
 * the original name is kept for downloads. A file may belong to a course (material) or be
 * attached to an assignment (foreign key added by the assessment domain).
 */
set local role lms_owner;

create table app.files (
  id            uuid not null default gen_random_uuid(),
  uploader_id   uuid not null,
  course_id     uuid,
  assignment_id uuid,
  filename      text not null,
  stored_name   text not null,
  content_type  text not null,
  file_size     bigint not null,
  sha256        bytea,
  created_at    timestamptz not null default now(),
  constraint pk_files primary key (id),
  constraint fk_files_uploader_id_users foreign key (uploader_id) references app.users (id) on delete cascade,
  constraint fk_files_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint uq_files_stored_name unique (stored_name),
  constraint ck_files_filename_length check (length(filename) between 1 and 255),
  constraint ck_files_size_positive check (file_size > 0),
  constraint ck_files_single_owner check (course_id is null or assignment_id is null)
);
create index ix_files_uploader_id on app.files (uploader_id);
create index ix_files_course_id on app.files (course_id) where course_id is not null;
create index ix_files_assignment_id on app.files (assignment_id) where assignment_id is not null;
comment on table app.files is 'Uploaded files: original filename, random stored name, size and type.';
comment on column app.files.uploader_id is 'The user who uploaded the file; a submission may attach only the student''s own uploads.';
comment on column app.files.course_id is 'Set for course material (uploaded by the course''s instructor or an admin); at most one of course_id and assignment_id.';
comment on column app.files.assignment_id is 'Set for a student''s attachment to a submission (fk_files_assignment_id_assignments, added by the assessment domain).';
comment on column app.files.filename is 'The original file name as uploaded (1..255 characters), offered on download; never used as a path.';
comment on column app.files.stored_name is 'Random name on disk; never derived from the user''s filename.';
comment on column app.files.content_type is 'MIME type of the stored bytes, sent as Content-Type on download (API.md: judged from the leading bytes at upload, not only from the client''s header).';
comment on column app.files.file_size is 'Size of the stored bytes.';
comment on column app.files.sha256 is 'SHA-256 of the stored bytes (API.md: computed while the upload streams in); null when not computed.';
