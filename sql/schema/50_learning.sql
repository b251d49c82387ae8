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
