/*
 * Catalog: courses and their lessons. A course belongs to one instructor; price in integer
 * cents (is_free is derived, never stored separately). Lesson order is dense (1..n) per
 * course; the unique constraint is deferrable so a reorder can swap positions in one statement.
 */
set local role lms_owner;

create table app.courses (
  id                uuid not null default gen_random_uuid(),
  instructor_id     uuid not null,
  title             text not null,
  short_description text,
  description       text,
  price_cents       integer not null default 0,
  currency          text not null default 'USD',
  is_free           boolean generated always as (price_cents = 0) stored,
  category          text,
  tags              text[] not null default '{}',
  thumbnail_url     text,
  is_published      boolean not null default false,
  published_at      timestamptz,
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now(),
  search_vector     tsvector generated always as (
                      setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') ||
                      setweight(to_tsvector('english'::regconfig, coalesce(short_description, '')), 'B') ||
                      setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C')) stored,
  constraint pk_courses primary key (id),
  constraint fk_courses_instructor_id_instructors foreign key (instructor_id) references app.instructors (user_id) on delete restrict,
  constraint ck_courses_title_length check (length(btrim(title)) between 1 and 200),
  constraint ck_courses_short_description_length check (length(short_description) <= 500),
  constraint ck_courses_price_nonnegative check (price_cents >= 0),
  constraint ck_courses_currency check (currency ~ '^[A-Z]{3}$'),
  constraint ck_courses_published_at check (not is_published or published_at is not null),
  constraint ck_courses_tags_count check (cardinality(tags) <= 20)
);
create index ix_courses_instructor_id on app.courses (instructor_id);
create index ix_courses_published_created_at on app.courses (created_at desc, id) where is_published;
create index ix_courses_category on app.courses (category) where is_published;
create index ix_courses_tags on app.courses using gin (tags);
create index ix_courses_search_vector on app.courses using gin (search_vector);
comment on table app.courses is 'A course offered by one instructor; visible to everyone once published.';
comment on column app.courses.instructor_id is 'The owning instructor (app.instructors.user_id: the profile row outlives a role change); an instructor with courses cannot be deleted.';
comment on column app.courses.price_cents is 'Price in integer cents of currency; 0 means free.';
comment on column app.courses.currency is 'ISO 4217 code, upper case (default USD), of price_cents.';
comment on column app.courses.is_free is 'Derived: price_cents = 0.';
comment on column app.courses.category is 'Free-text category for browsing (course.list filters on it exactly); null = none.';
comment on column app.courses.tags is 'Tags trimmed, lower-cased, de-duplicated and sorted (internal.normalize_tags); at most 20.';
comment on column app.courses.thumbnail_url is 'Cover image URL as the instructor gave it; null = none.';
comment on column app.courses.is_published is 'Listed and visible to everyone; publishing needs at least one published lesson (trigger _200_publish_rule).';
comment on column app.courses.published_at is 'When the course was first published; kept through unpublishing and publishing again. Null = never published.';
comment on column app.courses.search_vector is 'Full-text search over title (A), short description (B) and description (C).';

create table app.modules (
  id                uuid not null default gen_random_uuid(),
  course_id         uuid not null,
  title             text not null,
  description       text,
  position          integer not null,
  is_published      boolean not null default false,
  unlock_at         timestamptz,
  unlock_after_days integer,
  requirement       text not null default 'all',
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now(),
  constraint pk_modules primary key (id),
  constraint fk_modules_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint uq_modules_id_course_id unique (id, course_id),
  constraint uq_modules_course_id_position unique (course_id, position) deferrable initially immediate,
  constraint ck_modules_title_length check (length(btrim(title)) between 1 and 200),
  constraint ck_modules_description_length check (length(description) <= 10000),
  constraint ck_modules_position_positive check (position >= 1),
  constraint ck_modules_unlock_after_days_range check (unlock_after_days between 0 and 3650),
  constraint ck_modules_requirement check (requirement in ('all', 'any_one'))
);
comment on table app.modules is 'A part of a course: its items (lessons, quizzes, assignments) in order, released to a learner at unlock_at and/or unlock_after_days after their enrolment, and once the prerequisite modules are completed (internal.module_states decides, at the time of the call).';
comment on column app.modules.position is 'Order of the module in its course, 1.. (dense, unique per course).';
comment on column app.modules.is_published is 'Learners see the items of published modules only; progress and completion count the published items of published modules (and items without a module).';
comment on column app.modules.unlock_at is 'The module opens at this time (null: no fixed date). With unlock_after_days too, the later of the two.';
comment on column app.modules.unlock_after_days is 'The module opens this many days after the learner''s enrolled_at (null: no drip).';
comment on column app.modules.requirement is 'When the module counts as completed: all (every published item done) or any_one (one of them). A quiz is done when passed, an assignment when submitted, a lesson when completed.';

create table app.module_prerequisites (
  module_id       uuid not null,
  prerequisite_id uuid not null,
  course_id       uuid not null,
  created_at      timestamptz not null default now(),
  constraint pk_module_prerequisites primary key (module_id, prerequisite_id),
  constraint fk_module_prerequisites_module foreign key (module_id, course_id)
    references app.modules (id, course_id) on delete cascade,
  constraint fk_module_prerequisites_prerequisite foreign key (prerequisite_id, course_id)
    references app.modules (id, course_id) on delete cascade,
  constraint ck_module_prerequisites_not_self check (module_id <> prerequisite_id)
);
create index ix_module_prerequisites_prerequisite_id on app.module_prerequisites (prerequisite_id);
comment on column app.module_prerequisites.module_id is 'The module that waits (of course_id).';
comment on column app.module_prerequisites.prerequisite_id is 'The module to complete first (of the same course_id: fk_module_prerequisites_prerequisite).';
comment on column app.module_prerequisites.course_id is 'The course of both modules: the two foreign keys through it keep a prerequisite inside its course.';
comment on table app.module_prerequisites is 'Module module_id opens only once prerequisite_id is completed; both of course_id (the foreign keys hold it: no prerequisite from another course). No cycles (a trigger, serialised per course).';

create table app.lessons (
  id               uuid not null default gen_random_uuid(),
  course_id        uuid not null,
  title            text not null,
  content          text,
  video_url        text,
  duration_minutes integer not null default 0,
  lesson_order     integer not null,
  is_published     boolean not null default false,
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now(),
  constraint pk_lessons primary key (id),
  constraint fk_lessons_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint uq_lessons_course_id_lesson_order unique (course_id, lesson_order) deferrable initially immediate,
  constraint uq_lessons_id_course_id unique (id, course_id),
  constraint ck_lessons_title_length check (length(btrim(title)) between 1 and 200),
  constraint ck_lessons_duration_nonnegative check (duration_minutes >= 0),
  constraint ck_lessons_order_positive check (lesson_order >= 1),
  module_id        uuid,
  module_position  integer,
  constraint fk_lessons_module_in_course foreign key (module_id, course_id) references app.modules (id, course_id)
);
create index ix_lessons_module_id on app.lessons (module_id) where module_id is not null;
comment on column app.lessons.module_id is 'The module of the same course holding this lesson (fk_lessons_module_in_course); null: the course''s own, as before modules.';
comment on column app.lessons.module_position is 'Order within the module, across its lessons, quizzes and assignments.';
comment on table app.lessons is 'A lesson of a course. The syllabus (title, order, duration) of a published course is public; content is for enrollees, the instructor and admins.';
comment on column app.lessons.content is 'The lesson text. No client role may select it directly: internal.lesson_content() returns it to the instructor, admins and active enrollees.';
comment on column app.lessons.video_url is 'Link to the lesson''s video; protected like content.';
comment on column app.lessons.duration_minutes is 'Estimated length in minutes, shown in the syllabus; 0 = not given.';
comment on column app.lessons.lesson_order is 'Position 1..n in the course, dense; unique per course (deferrable for reorders).';
comment on column app.lessons.is_published is 'Visible to enrollees and in a published course''s syllabus; only published lessons count towards progress.';
comment on constraint uq_lessons_id_course_id on app.lessons is 'Target of (lesson_id, course_id) foreign keys: a quiz or assignment''s lesson must be in its course.';
