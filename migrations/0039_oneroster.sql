-- OneRoster 1.2 CSV rostering (issue 33 §2, lms oneroster import|export): what the student information
-- system calls its users, classes and enrollments (sourcedId), mapped to ours, so a second import updates
-- instead of duplicating; the orgs, sessions and courses kept to write them back; an unlogged staging
-- table the import COPYs the files into and empties in the same transaction.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
-- (new tables, their indexes built with them in the migration's transaction; migrate sets a lock_timeout
--  per statement itself and retries, rpc/db/migrate.py)
-- depends: 0038_xapi

set local role lms_owner;
create table app.oneroster_users (
  sourced_id         text not null,
  user_id            uuid not null,
  status             text not null default 'active',
  date_last_modified timestamptz,
  username           text,
  identifier         text,
  imported_at        timestamptz not null default now(),
  constraint pk_oneroster_users primary key (sourced_id),
  constraint fk_oneroster_users_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint uq_oneroster_users_user_id unique (user_id),
  constraint ck_oneroster_users_status check (status in ('active', 'tobedeleted'))
);
comment on table app.oneroster_users is 'A user as the student information system knows them (OneRoster users.csv, lms oneroster import): its sourcedId, mapped to one of our users. No client privileges.';
comment on column app.oneroster_users.sourced_id is 'The SIS''s identifier of the person (OneRoster sourcedId): a second import updates the same user.';
comment on column app.oneroster_users.status is 'active, or tobedeleted (the SIS removed them: the user is deactivated, not deleted).';
comment on column app.oneroster_users.date_last_modified is 'The row''s dateLastModified: a delta row no newer than this is stale and ignored.';
comment on column app.oneroster_users.username is 'OneRoster username (kept for export).';
comment on column app.oneroster_users.identifier is 'OneRoster identifier, e.g. a student number (kept for export).';
comment on column app.oneroster_users.imported_at is 'When an import last changed this row.';

create table app.oneroster_classes (
  sourced_id         text not null,
  course_id          uuid not null,
  status             text not null default 'active',
  date_last_modified timestamptz,
  course_sourced_id  text,
  class_code         text,
  class_type         text,
  school_sourced_id  text,
  term_sourced_ids   text,
  imported_at        timestamptz not null default now(),
  constraint pk_oneroster_classes primary key (sourced_id),
  constraint fk_oneroster_classes_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint uq_oneroster_classes_course_id unique (course_id),
  constraint ck_oneroster_classes_status check (status in ('active', 'tobedeleted'))
);
comment on table app.oneroster_classes is 'A class of the student information system (OneRoster classes.csv) and the course it became. No client privileges.';
comment on column app.oneroster_classes.sourced_id is 'The SIS''s identifier of the class (OneRoster sourcedId).';
comment on column app.oneroster_classes.status is 'active, or tobedeleted (its enrollments are deactivated; the course and its work stay).';
comment on column app.oneroster_classes.date_last_modified is 'The row''s dateLastModified: a delta row no newer than this is stale and ignored.';
comment on column app.oneroster_classes.course_sourced_id is 'The OneRoster course (courses.csv) this class is a section of.';
comment on column app.oneroster_classes.class_code is 'OneRoster classCode (kept for export).';
comment on column app.oneroster_classes.class_type is 'OneRoster classType: homeroom or scheduled (kept for export).';
comment on column app.oneroster_classes.school_sourced_id is 'The org (orgs.csv) the class belongs to.';
comment on column app.oneroster_classes.term_sourced_ids is 'The academic sessions of the class, comma-separated as in the file.';
comment on column app.oneroster_classes.imported_at is 'When an import last changed this row.';

create table app.oneroster_enrollments (
  sourced_id         text not null,
  class_sourced_id   text not null,
  user_sourced_id    text not null,
  role               text not null,
  status             text not null default 'active',
  date_last_modified timestamptz,
  is_primary         boolean,
  begin_date         date,
  end_date           date,
  school_sourced_id  text,
  imported_at        timestamptz not null default now(),
  constraint pk_oneroster_enrollments primary key (sourced_id),
  constraint ck_oneroster_enrollments_status check (status in ('active', 'tobedeleted'))
);
comment on table app.oneroster_enrollments is 'An enrollment of the student information system (OneRoster enrollments.csv): a student''s becomes an enrollment in the class''s course, the primary teacher''s the course''s instructor; other roles are kept for export only. No client privileges.';
comment on column app.oneroster_enrollments.sourced_id is 'The SIS''s identifier of the enrollment (OneRoster sourcedId).';
comment on column app.oneroster_enrollments.class_sourced_id is 'The class (app.oneroster_classes.sourced_id).';
comment on column app.oneroster_enrollments.user_sourced_id is 'The person (app.oneroster_users.sourced_id).';
comment on column app.oneroster_enrollments.role is 'OneRoster role: student, teacher, administrator, aide, guardian, parent, proctor, relative.';
comment on column app.oneroster_enrollments.status is 'active, or tobedeleted (a student''s enrollment is deactivated).';
comment on column app.oneroster_enrollments.date_last_modified is 'The row''s dateLastModified: a delta row no newer than this is stale and ignored.';
comment on column app.oneroster_enrollments.is_primary is 'OneRoster primary: the class''s primary teacher becomes the course''s instructor.';
comment on column app.oneroster_enrollments.begin_date is 'OneRoster beginDate (kept for export).';
comment on column app.oneroster_enrollments.end_date is 'OneRoster endDate: a student enrollment that ended before the import is inactive.';
comment on column app.oneroster_enrollments.school_sourced_id is 'The org of the enrollment (kept for export).';
comment on column app.oneroster_enrollments.imported_at is 'When an import last changed this row.';

create table app.oneroster_refs (
  kind               text not null,
  sourced_id         text not null,
  status             text not null default 'active',
  date_last_modified timestamptz,
  fields             jsonb not null,
  imported_at        timestamptz not null default now(),
  constraint pk_oneroster_refs primary key (kind, sourced_id),
  constraint ck_oneroster_refs_kind check (kind in ('orgs', 'academicSessions', 'courses')),
  constraint ck_oneroster_refs_status check (status in ('active', 'tobedeleted')),
  constraint ck_oneroster_refs_fields_object check (jsonb_typeof(fields) = 'object')
);
comment on table app.oneroster_refs is 'The OneRoster rows this LMS keeps only to write them back (orgs.csv, academicSessions.csv, courses.csv): the columns as imported. No client privileges.';
comment on column app.oneroster_refs.kind is 'The file: orgs, academicSessions or courses.';
comment on column app.oneroster_refs.sourced_id is 'The row''s sourcedId.';
comment on column app.oneroster_refs.status is 'active or tobedeleted.';
comment on column app.oneroster_refs.date_last_modified is 'The row''s dateLastModified: a delta row no newer than this is stale and ignored.';
comment on column app.oneroster_refs.fields is 'The row''s other columns, by their OneRoster header names.';
comment on column app.oneroster_refs.imported_at is 'When an import last changed this row.';

create unlogged table app.oneroster_stage (
  file text not null,
  line integer not null,
  cells text[] not null,
  constraint pk_oneroster_stage primary key (file, line)
);
comment on table app.oneroster_stage is 'Staging of lms oneroster import: the CSV rows as COPY wrote them (file, line, the cells in the header''s order, the header itself as line 1), read by internal.oneroster_merge in the same transaction, which empties it. Unlogged: nothing here outlives an import. No client privileges.';
comment on column app.oneroster_stage.file is 'The CSV file''s name without .csv (users, classes, enrollments, orgs, academicSessions, courses, manifest).';
comment on column app.oneroster_stage.line is 'The line number in the file (1 = the header), for the error message of a bad row.';
comment on column app.oneroster_stage.cells is 'The row''s cells, in the header''s order.';
