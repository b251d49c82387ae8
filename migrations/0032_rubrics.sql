-- Rubrics (issue 30 §2): an assignment's rubric — criteria with levels worth points — and the levels a
-- grader chose for a submission; the grade is their sum, computed in the database. A rubric that has
-- graded something never changes (a trigger); rubric.create replaces it for later grading.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, ban-drop-function, adding-foreign-key-constraint, require-concurrent-index-creation
-- (new tables; one nullable column on submissions with its foreign key added NOT VALID and validated,
--  and its index built inside the migration's transaction; the dropped api function comes back with a
--  rubric parameter from the repeatable SQL in the same migrate; migrate sets a lock_timeout per
--  statement itself and retries, rpc/db/migrate.py)
-- depends: 0031_grade_posting

set local role lms_owner;
drop function if exists api.submission_grade(uuid, numeric, text);

create table app.rubrics (
  id            uuid not null default gen_random_uuid(),
  assignment_id uuid not null,
  course_id     uuid not null,
  created_by    uuid,
  created_at    timestamptz not null default now(),
  replaced_at   timestamptz,
  constraint pk_rubrics primary key (id),
  constraint fk_rubrics_assignment_in_course foreign key (assignment_id, course_id)
    references app.assignments (id, course_id) on delete cascade,
  constraint fk_rubrics_created_by_users foreign key (created_by) references app.users (id) on delete set null
);
create unique index uq_rubrics_assignment_id_current on app.rubrics (assignment_id) where replaced_at is null;
create index ix_rubrics_assignment_id on app.rubrics (assignment_id, course_id);
create index ix_rubrics_created_by on app.rubrics (created_by) where created_by is not null;
comment on table app.rubrics is 'An assignment''s rubric (rubric.create): the current one (replaced_at null) grades from now on; a replaced one stays with the grades it gave.';
comment on column app.rubrics.replaced_at is 'When rubric.create replaced it; null: the assignment''s current rubric (at most one).';

create table app.rubric_criteria (
  id        uuid not null default gen_random_uuid(),
  rubric_id uuid not null,
  position  integer not null,
  title     text not null,
  constraint pk_rubric_criteria primary key (id),
  constraint fk_rubric_criteria_rubric_id_rubrics foreign key (rubric_id) references app.rubrics (id) on delete cascade,
  constraint uq_rubric_criteria_rubric_id_position unique (rubric_id, position),
  constraint uq_rubric_criteria_id_rubric_id unique (id, rubric_id),
  constraint ck_rubric_criteria_title_length check (length(btrim(title)) between 1 and 200)
);
comment on table app.rubric_criteria is 'What a rubric judges, in order; each has levels (app.rubric_levels).';
comment on column app.rubric_criteria.position is 'Order within the rubric, from 1.';

create table app.rubric_levels (
  id           uuid not null default gen_random_uuid(),
  criterion_id uuid not null,
  rubric_id    uuid not null,
  position     integer not null,
  label        text not null,
  points       numeric(8,2) not null,
  constraint pk_rubric_levels primary key (id),
  constraint fk_rubric_levels_criterion_in_rubric foreign key (criterion_id, rubric_id)
    references app.rubric_criteria (id, rubric_id) on delete cascade,
  constraint uq_rubric_levels_criterion_id_position unique (criterion_id, position),
  constraint uq_rubric_levels_id_criterion_id unique (id, criterion_id),
  constraint ck_rubric_levels_label_length check (length(btrim(label)) between 1 and 200),
  constraint ck_rubric_levels_points check (points >= 0)
);
create index ix_rubric_levels_rubric_id on app.rubric_levels (rubric_id);
comment on table app.rubric_levels is 'The levels of a rubric criterion, each worth points; a grade by rubric is the sum of one chosen level per criterion.';
comment on column app.rubric_levels.position is 'Order within the criterion, from 1.';
comment on column app.rubric_levels.label is 'What the grader and the learner read (Excellent, Partial, Missing, …).';
comment on column app.rubric_levels.points is 'What choosing this level adds to the grade (≥ 0).';

alter table app.submissions add column rubric_id uuid;
alter table app.submissions add constraint fk_submissions_rubric_id_rubrics foreign key (rubric_id)
  references app.rubrics (id) on delete set null not valid;
alter table app.submissions validate constraint fk_submissions_rubric_id_rubrics;
create index ix_submissions_rubric_id on app.submissions (rubric_id) where rubric_id is not null;
comment on column app.submissions.rubric_id is 'The rubric its grade was given with (submission.grade with rubric); null: graded with a number, or not graded.';

create table app.submission_rubric_levels (
  submission_id uuid not null,
  criterion_id  uuid not null,
  rubric_id     uuid not null,
  level_id      uuid not null,
  points        numeric(8,2) not null,
  constraint pk_submission_rubric_levels primary key (submission_id, criterion_id),
  constraint fk_submission_rubric_levels_submission_id_submissions foreign key (submission_id)
    references app.submissions (id) on delete cascade,
  constraint fk_submission_rubric_levels_criterion_in_rubric foreign key (criterion_id, rubric_id)
    references app.rubric_criteria (id, rubric_id) on delete cascade,
  constraint fk_submission_rubric_levels_level_of_criterion foreign key (level_id, criterion_id)
    references app.rubric_levels (id, criterion_id) on delete cascade
);
create index ix_submission_rubric_levels_rubric_id on app.submission_rubric_levels (rubric_id);
create index ix_submission_rubric_levels_level_id on app.submission_rubric_levels (level_id, criterion_id);
create index ix_submission_rubric_levels_criterion_id on app.submission_rubric_levels (criterion_id, rubric_id);
comment on table app.submission_rubric_levels is 'The level a grader chose per criterion of a submission''s rubric (the foreign keys hold each level to its criterion and each criterion to the rubric); the grade is their sum.';
comment on column app.submission_rubric_levels.points is 'The chosen level''s points when it was chosen (the rubric cannot change once it has graded).';
comment on column app.rubrics.assignment_id is 'The assignment it grades (of course_id: fk_rubrics_assignment_in_course).';
comment on column app.rubrics.course_id is 'The assignment''s course (kept for the policies and the composite key).';
comment on column app.rubrics.created_by is 'Who created it (null once that user is deleted).';
comment on column app.rubric_levels.criterion_id is 'The criterion it is a level of (of rubric_id: fk_rubric_levels_criterion_in_rubric).';
comment on column app.rubric_levels.rubric_id is 'The criterion''s rubric (kept for the composite keys and the policies).';
comment on column app.submission_rubric_levels.criterion_id is 'A criterion of rubric_id (fk_submission_rubric_levels_criterion_in_rubric).';
comment on column app.submission_rubric_levels.rubric_id is 'The rubric the submission was graded with.';
comment on column app.submission_rubric_levels.level_id is 'The chosen level, one of criterion_id''s (fk_submission_rubric_levels_level_of_criterion).';
