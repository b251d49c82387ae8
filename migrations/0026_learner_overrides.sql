-- Accommodations for one learner (issue 28 §2): per-learner overrides of a quiz (extra attempts, its
-- own time limit, a close date), an assignment (its own due date, the late penalty waived) or a module
-- (its own unlock date), and a course-wide time multiplier for every timed quiz.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, constraint-missing-not-valid, disallowed-unique-constraint, require-concurrent-index-creation
-- (new tables; uq_quizzes_id_course_id is a unique constraint on a catalog table — thousands of rows at
--  bench scale 1 — built inside the migration's transaction; the other indexes are on the new, empty
--  tables; migrate sets a lock_timeout per statement
--  itself and retries, rpc/db/migrate.py)
-- depends: 0025_course_modules

set local role lms_owner;

alter table app.quizzes add constraint uq_quizzes_id_course_id unique (id, course_id);
comment on constraint uq_quizzes_id_course_id on app.quizzes is 'Target of (quiz_id, course_id) foreign keys: an override''s quiz is in its course.';

create table app.learner_overrides (
  id                 uuid not null default gen_random_uuid(),
  course_id          uuid not null,
  user_id            uuid not null,
  quiz_id            uuid,
  assignment_id      uuid,
  module_id          uuid,
  extra_attempts     integer,
  time_limit_minutes integer,
  available_until    timestamptz,
  due_date           timestamptz,
  waive_late_penalty boolean,
  unlock_at          timestamptz,
  created_by         uuid,
  created_at         timestamptz not null default now(),
  updated_at         timestamptz not null default now(),
  constraint pk_learner_overrides primary key (id),
  constraint fk_learner_overrides_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint fk_learner_overrides_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint fk_learner_overrides_quiz_in_course foreign key (quiz_id, course_id)
    references app.quizzes (id, course_id) on delete cascade,
  constraint fk_learner_overrides_assignment_in_course foreign key (assignment_id, course_id)
    references app.assignments (id, course_id) on delete cascade,
  constraint fk_learner_overrides_module_in_course foreign key (module_id, course_id)
    references app.modules (id, course_id) on delete cascade,
  constraint fk_learner_overrides_created_by_users foreign key (created_by) references app.users (id) on delete set null,
  constraint ck_learner_overrides_one_target check (num_nonnulls(quiz_id, assignment_id, module_id) = 1),
  constraint ck_learner_overrides_quiz_fields check (quiz_id is not null
    or (extra_attempts is null and time_limit_minutes is null and available_until is null)),
  constraint ck_learner_overrides_assignment_fields check (assignment_id is not null
    or (due_date is null and waive_late_penalty is null)),
  constraint ck_learner_overrides_module_fields check (module_id is not null or unlock_at is null),
  constraint ck_learner_overrides_extra_attempts check (extra_attempts between 0 and 100),
  constraint ck_learner_overrides_time_limit check (time_limit_minutes between 1 and 10080)
);
create unique index uq_learner_overrides_user_quiz on app.learner_overrides (user_id, quiz_id) where quiz_id is not null;
create unique index uq_learner_overrides_user_assignment on app.learner_overrides (user_id, assignment_id)
  where assignment_id is not null;
create unique index uq_learner_overrides_user_module on app.learner_overrides (user_id, module_id)
  where module_id is not null;
create index ix_learner_overrides_course_id_user_id on app.learner_overrides (course_id, user_id);
create index ix_learner_overrides_quiz_id on app.learner_overrides (quiz_id) where quiz_id is not null;
create index ix_learner_overrides_assignment_id on app.learner_overrides (assignment_id) where assignment_id is not null;
create index ix_learner_overrides_module_id on app.learner_overrides (module_id) where module_id is not null;
create index ix_learner_overrides_created_by on app.learner_overrides (created_by) where created_by is not null;
comment on table app.learner_overrides is 'One learner''s own settings for one quiz, assignment or module of a course (override.set): used wherever the original value would be, through the internal.effective_* functions — the only readers.';
comment on column app.learner_overrides.quiz_id is 'The quiz overridden (of course_id: fk_learner_overrides_quiz_in_course); exactly one of quiz_id, assignment_id, module_id.';
comment on column app.learner_overrides.assignment_id is 'The assignment overridden (of course_id); exactly one target.';
comment on column app.learner_overrides.module_id is 'The module overridden (of course_id); exactly one target.';
comment on column app.learner_overrides.extra_attempts is 'Attempts on top of the quiz''s max_attempts (an unlimited quiz stays unlimited).';
comment on column app.learner_overrides.time_limit_minutes is 'The learner''s time limit for the quiz, instead of its own (and instead of the course''s time_multiplier).';
comment on column app.learner_overrides.available_until is 'No attempt of the quiz starts after this time (422 quiz_closed), and none runs past it.';
comment on column app.learner_overrides.due_date is 'The learner''s due date for the assignment: late marking and the deadline use it.';
comment on column app.learner_overrides.waive_late_penalty is 'True: a late submission of this learner keeps its whole grade.';
comment on column app.learner_overrides.unlock_at is 'The learner''s unlock date for the module, instead of the module''s unlock_at.';
comment on column app.learner_overrides.created_by is 'Who set it last (instructor or admin).';

create table app.accommodations (
  course_id       uuid not null,
  user_id         uuid not null,
  time_multiplier numeric(3, 2) not null,
  created_by      uuid,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  constraint pk_accommodations primary key (course_id, user_id),
  constraint fk_accommodations_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint fk_accommodations_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint fk_accommodations_created_by_users foreign key (created_by) references app.users (id) on delete set null,
  constraint ck_accommodations_time_multiplier check (time_multiplier between 1.0 and 5.0)
);
create index ix_accommodations_user_id on app.accommodations (user_id);
create index ix_accommodations_created_by on app.accommodations (created_by) where created_by is not null;
comment on table app.accommodations is 'A learner''s course-wide accommodation (accommodation.set): every timed quiz of the course takes time_limit × time_multiplier for them, unless a quiz override sets the time itself.';
comment on column app.accommodations.time_multiplier is '1.00–5.00: the factor on every timed quiz''s limit (rounded up to whole minutes).';
comment on column app.accommodations.created_by is 'Who set it last (instructor or admin).';
