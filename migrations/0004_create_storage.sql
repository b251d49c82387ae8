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
  id            uuid primary key default gen_random_uuid(),
  uploader_id   uuid not null references app.users (id) on delete cascade,
  course_id     uuid references app.courses (id) on delete cascade,
  assignment_id uuid,
  filename      text not null,
  stored_name   text not null,
  content_type  text not null,
  file_size     bigint not null,
  sha256        bytea,
  created_at    timestamptz not null default now(),
  constraint uq_files_stored_name unique (stored_name),
  constraint ck_files_filename_length check (length(filename) between 1 and 255),
  constraint ck_files_size_positive check (file_size > 0),
  constraint ck_files_single_owner check (course_id is null or assignment_id is null)
);
create index ix_files_uploader_id on app.files (uploader_id);
create index ix_files_course_id on app.files (course_id) where course_id is not null;
create index ix_files_assignment_id on app.files (assignment_id) where assignment_id is not null;
comment on table app.files is 'Uploaded files: original filename, random stored name, size and type.';
comment on column app.files.stored_name is 'Random name on disk; never derived from the user''s filename.';
