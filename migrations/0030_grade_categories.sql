-- Grades that add up (issue 30 §1): grade categories of a course (weights, drop the lowest), quizzes
-- and assignments in them, a letter scheme per course and an instructor's final grade that wins over
-- the computed one. The course grade itself is computed (internal.course_grades), never stored.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, require-concurrent-index-creation, disallowed-unique-constraint, ban-drop-function
-- (new tables and nullable columns without a default: catalog changes, no rewrite; the foreign keys
--  are added NOT VALID and validated in a separate statement; the two partial indexes are on catalog
--  tables, built inside the migration's transaction; migrate sets a lock_timeout per statement itself
--  and retries, rpc/db/migrate.py; the dropped api functions come back with a grade_category_id
--  parameter from the repeatable SQL in the same migrate)
-- depends: 0029_bank_positions

set local role lms_owner;
drop function if exists api.quiz_create(uuid, text, text, uuid, integer, integer, integer, uuid);
drop function if exists api.quiz_update(uuid, text, text, uuid, integer, integer, integer, uuid, boolean, boolean, boolean);
drop function if exists api.assignment_create(uuid, text, text, uuid, timestamptz, integer, boolean, integer, uuid);
drop function if exists api.assignment_update(uuid, text, text, uuid, timestamptz, integer, boolean, integer, uuid);

create table app.grade_categories (
  id             uuid not null default gen_random_uuid(),
  course_id      uuid not null,
  name           text not null,
  weight_percent numeric(5,2),
  drop_lowest    integer not null default 0,
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now(),
  constraint pk_grade_categories primary key (id),
  constraint fk_grade_categories_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint uq_grade_categories_course_id_name unique (course_id, name),
  constraint uq_grade_categories_id_course_id unique (id, course_id),
  constraint ck_grade_categories_name_length check (length(btrim(name)) between 1 and 100),
  constraint ck_grade_categories_weight check (weight_percent between 0 and 100),
  constraint ck_grade_categories_drop_lowest check (drop_lowest between 0 and 100)
);
comment on table app.grade_categories is 'A course''s grade categories (assignment groups): quizzes and assignments belong to one; the course grade adds them up (internal.course_grades).';
comment on column app.grade_categories.name is 'Unique within the course (grade.category_create: 409 conflict), as shown in the gradebook.';
comment on column app.grade_categories.weight_percent is 'Share of the course grade (0–100); the weights of a course never sum to more than 100 (trigger). Null: unweighted (a weight of 0 once another category has one).';
comment on column app.grade_categories.drop_lowest is 'How many of the category''s graded items with the lowest percentage do not count (one always does).';

alter table app.quizzes add column grade_category_id uuid;
alter table app.assignments add column grade_category_id uuid;
alter table app.quizzes add constraint fk_quizzes_grade_category_in_course foreign key (grade_category_id, course_id)
  references app.grade_categories (id, course_id) on delete set null (grade_category_id) not valid;
alter table app.assignments add constraint fk_assignments_grade_category_in_course foreign key (grade_category_id, course_id)
  references app.grade_categories (id, course_id) on delete set null (grade_category_id) not valid;
alter table app.quizzes validate constraint fk_quizzes_grade_category_in_course;
alter table app.assignments validate constraint fk_assignments_grade_category_in_course;
create index ix_quizzes_grade_category_id on app.quizzes (grade_category_id) where grade_category_id is not null;
create index ix_assignments_grade_category_id on app.assignments (grade_category_id) where grade_category_id is not null;
comment on column app.quizzes.grade_category_id is 'The grade category of the same course this quiz counts in; null: the course''s implicit one (deleting the category sets it back to null).';
comment on column app.assignments.grade_category_id is 'The grade category of the same course this assignment counts in; null: the course''s implicit one (deleting the category sets it back to null).';

create table app.grade_scheme_letters (
  course_id   uuid not null,
  letter      text not null,
  min_percent numeric(5,2) not null,
  constraint pk_grade_scheme_letters primary key (course_id, letter),
  constraint fk_grade_scheme_letters_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint uq_grade_scheme_letters_course_id_min_percent unique (course_id, min_percent),
  constraint ck_grade_scheme_letters_letter check (length(btrim(letter)) between 1 and 10),
  constraint ck_grade_scheme_letters_min_percent check (min_percent between 0 and 100)
);
comment on table app.grade_scheme_letters is 'A course''s letter scheme (grade.scheme_set): the letter of a percent is the one with the highest min_percent not above it. A course without rows uses A 90, B 80, C 70, D 60, F 0.';
comment on column app.grade_scheme_letters.letter is 'What the gradebook shows (A, B+, Pass, …), unique within the course.';
comment on column app.grade_scheme_letters.min_percent is 'The lowest course percent that earns this letter; a scheme always has a letter at 0.';

create table app.final_grade_overrides (
  course_id  uuid not null,
  user_id    uuid not null,
  percent    numeric(5,2),
  letter     text,
  reason     text not null,
  set_by     uuid,
  set_at     timestamptz not null default now(),
  constraint pk_final_grade_overrides primary key (course_id, user_id),
  constraint fk_final_grade_overrides_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint fk_final_grade_overrides_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint fk_final_grade_overrides_set_by_users foreign key (set_by) references app.users (id) on delete set null,
  constraint ck_final_grade_overrides_some_grade check (num_nonnulls(percent, letter) >= 1),
  constraint ck_final_grade_overrides_percent check (percent between 0 and 100),
  constraint ck_final_grade_overrides_letter check (length(btrim(letter)) between 1 and 10),
  constraint ck_final_grade_overrides_reason check (length(btrim(reason)) between 1 and 1000)
);
create index ix_final_grade_overrides_user_id on app.final_grade_overrides (user_id);
create index ix_final_grade_overrides_set_by on app.final_grade_overrides (set_by) where set_by is not null;
comment on table app.final_grade_overrides is 'An instructor''s final course grade for one learner (grade.override_final, audited): wins over the computed grade.';
comment on column app.final_grade_overrides.percent is 'The final percent; null: the computed percent stands beside the overriding letter.';
comment on column app.final_grade_overrides.letter is 'The final letter; null: the scheme''s letter of the overriding percent.';
comment on column app.final_grade_overrides.reason is 'Why (kept with the audit entry).';
comment on column app.final_grade_overrides.set_at is 'When grade.override_final last set it.';
comment on column app.final_grade_overrides.set_by is 'Who set it (null once that user is deleted).';
