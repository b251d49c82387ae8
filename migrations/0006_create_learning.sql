-- Create the learning tables: enrollments, lesson_progress (baseline of sql/schema/50_learning.sql).
-- squawk-ignore-file require-concurrent-index-creation, require-lock-timeout, require-statement-timeout, constraint-missing-not-valid, adding-foreign-key-constraint
-- (baseline: every table here is new and empty, so no lock is contended and no row is scanned)
-- depends: 0005_create_commerce

/*
 * Learning: who is enrolled in which course, and which lessons they have completed.
 * One enrollment row per student and course, ever: dropping sets is_active = false and
 * keeps progress; enrolling again re-activates it. Paid enrollments point at their payment.
 */
set local role lms_owner;

create table app.enrollments (
  id                  uuid primary key default gen_random_uuid(),
  user_id             uuid not null references app.users (id) on delete cascade,
  course_id           uuid not null references app.courses (id) on delete restrict,
  payment_id          uuid references app.payments (id) on delete restrict,
  is_active           boolean not null default true,
  progress_percentage integer not null default 0,
  enrolled_at         timestamptz not null default now(),
  completed_at        timestamptz,
  dropped_at          timestamptz,
  last_accessed_at    timestamptz,
  constraint uq_enrollments_user_id_course_id unique (user_id, course_id),
  constraint ck_enrollments_progress_range check (progress_percentage between 0 and 100),
  constraint ck_enrollments_completed_full check (completed_at is null or progress_percentage = 100),
  constraint ck_enrollments_dropped_at check (is_active or dropped_at is not null)
);
create index ix_enrollments_course_id_active on app.enrollments (course_id) where is_active;
create index ix_enrollments_course_id_completed on app.enrollments (course_id, completed_at) where completed_at is not null;
create index ix_enrollments_course_id on app.enrollments (course_id);
create index ix_enrollments_payment_id on app.enrollments (payment_id) where payment_id is not null;
comment on table app.enrollments is 'A student''s enrollment in a course; one row per student and course.';
comment on column app.enrollments.progress_percentage is 'Completed published lessons ÷ published lessons, rounded down; maintained by the database.';
comment on column app.enrollments.payment_id is 'The payment that bought a paid course; null for free courses.';

create table app.lesson_progress (
  enrollment_id uuid not null references app.enrollments (id) on delete cascade,
  lesson_id     uuid not null references app.lessons (id) on delete cascade,
  user_id       uuid not null references app.users (id) on delete cascade,
  completed_at  timestamptz not null default now(),
  constraint pk_lesson_progress primary key (enrollment_id, lesson_id)
);
create index ix_lesson_progress_lesson_id on app.lesson_progress (lesson_id);
create index ix_lesson_progress_user_id on app.lesson_progress (user_id);
comment on table app.lesson_progress is 'A lesson completed by an enrolled student (idempotent: one row per enrollment and lesson).';
comment on column app.lesson_progress.user_id is 'Copy of the enrollment''s student, so RLS can filter without a join.';
