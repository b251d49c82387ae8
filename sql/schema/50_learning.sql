/*
 * Learning: who is enrolled in which course, and which lessons they have completed.
 * One enrollment row per student and course, ever: dropping sets is_active = false and
 * keeps progress; enrolling again re-activates it. Paid enrollments point at their payment.
 */
set local role lms_owner;

create table app.enrollments (
  id                  uuid not null default gen_random_uuid(),
  user_id             uuid not null,
  course_id           uuid not null,
  payment_id          uuid,
  is_active           boolean not null default true,
  progress_percentage integer not null default 0,
  enrolled_at         timestamptz not null default now(),
  completed_at        timestamptz,
  dropped_at          timestamptz,
  last_accessed_at    timestamptz,
  constraint pk_enrollments primary key (id),
  constraint fk_enrollments_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint fk_enrollments_course_id_courses foreign key (course_id) references app.courses (id) on delete restrict,
  constraint fk_enrollments_payment_id_payments foreign key (payment_id) references app.payments (id) on delete restrict,
  constraint uq_enrollments_user_id_course_id unique (user_id, course_id),
  constraint ck_enrollments_progress_range check (progress_percentage between 0 and 100),
  constraint ck_enrollments_completed_full check (completed_at is null or progress_percentage = 100),
  constraint ck_enrollments_dropped_at check (is_active or dropped_at is not null)
);
create index ix_enrollments_course_id_active on app.enrollments (course_id) where is_active;
create index ix_enrollments_course_id_completed on app.enrollments (course_id, completed_at) where completed_at is not null;
create index ix_enrollments_course_id_enrolled_at on app.enrollments (course_id, enrolled_at, id);
create index ix_enrollments_payment_id on app.enrollments (payment_id) where payment_id is not null;
comment on table app.enrollments is 'A student''s enrollment in a course; one row per student and course.';
comment on column app.enrollments.payment_id is 'The payment that bought a paid course; null for free courses.';
comment on column app.enrollments.is_active is 'False once the student drops the course (API.md: also when its payment is refunded); enrolling again re-activates the row and keeps progress.';
comment on column app.enrollments.progress_percentage is 'Completed published lessons ÷ published lessons, rounded down; maintained by the database.';
comment on column app.enrollments.enrolled_at is 'When the student first enrolled; a re-activation does not change it.';
comment on column app.enrollments.completed_at is 'When every published lesson was completed and every published quiz passed (the certificate is issued in the same transaction); never cleared.';
comment on column app.enrollments.dropped_at is 'When the student last dropped the course; null while active (re-activation clears it).';
comment on column app.enrollments.last_accessed_at is 'When the student last completed a lesson of the course (lesson.complete); null = never.';

create table app.lesson_progress (
  enrollment_id uuid not null,
  lesson_id     uuid not null,
  user_id       uuid not null,
  completed_at  timestamptz not null default now(),
  constraint pk_lesson_progress primary key (enrollment_id, lesson_id),
  constraint fk_lesson_progress_enrollment_id_enrollments foreign key (enrollment_id) references app.enrollments (id) on delete cascade,
  constraint fk_lesson_progress_lesson_id_lessons foreign key (lesson_id) references app.lessons (id) on delete cascade,
  constraint fk_lesson_progress_user_id_users foreign key (user_id) references app.users (id) on delete cascade
);
create index ix_lesson_progress_lesson_id on app.lesson_progress (lesson_id);
create index ix_lesson_progress_user_id on app.lesson_progress (user_id);
comment on table app.lesson_progress is 'A lesson completed by an enrolled student (idempotent: one row per enrollment and lesson).';
comment on column app.lesson_progress.user_id is 'Copy of the enrollment''s student, so RLS can filter without a join.';
comment on column app.lesson_progress.completed_at is 'When the student first completed the lesson (lesson.complete is idempotent).';

-- Calendar feeds (GET /calendar/{token}.ics)
create table app.calendar_feeds (
  user_id     uuid not null,
  token_hash  bytea not null,
  created_at  timestamptz not null default now(),
  constraint pk_calendar_feeds primary key (user_id),
  constraint fk_calendar_feeds_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint uq_calendar_feeds_token_hash unique (token_hash)
);
comment on table app.calendar_feeds is 'A user''s private calendar feed (GET /calendar/{token}.ics): the SHA-256 of its secret token, one per user; calendar.feed_url replaces it, calendar.feed_reset removes it. No client privileges.';
comment on column app.calendar_feeds.token_hash is 'SHA-256 of the token in the feed''s URL (the token itself is shown once, by calendar.feed_url).';

-- ---------------------------------------------------------------------------------------
-- Rostering from the student information system (OneRoster 1.2 CSV, 0039_oneroster)
-- ---------------------------------------------------------------------------------------
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
