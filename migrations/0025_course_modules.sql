-- Course design (issue 28 §1): modules — ordered, published or not, released at a date or some days
-- after enrolment, behind prerequisite modules — holding a course's lessons, quizzes and assignments.
-- Every existing course gets one published module holding its items in their current order, so it
-- behaves exactly as before; the rollback drops the columns and tables and the course is flat again.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, ban-drop-function, adding-foreign-key-constraint, require-concurrent-index-creation, ban-drop-constraint
-- (new tables and nullable columns without a default: catalog changes, no rewrite; the foreign keys
--  are added NOT VALID and validated in a separate statement; migrate sets a lock_timeout per
--  statement itself and retries, rpc/db/migrate.py; the dropped api functions come back with a
--  module_id parameter from the repeatable SQL in the same migrate; the three indexes are on catalog
--  tables — thousands of rows at bench scale 1, built in milliseconds inside the migration's transaction,
--  which CONCURRENTLY cannot run in; the two event-type checks are replaced by wider ones, added NOT
--  VALID and validated)
-- depends: 0024_webhook_claims

set local role lms_owner;
drop function if exists api.lesson_create(uuid, text, text, text, integer, integer);
drop function if exists api.lesson_update(uuid, text, text, text, integer);
drop function if exists api.quiz_create(uuid, text, text, uuid, integer, integer, integer);
drop function if exists api.quiz_update(uuid, text, text, uuid, integer, integer, integer);
drop function if exists api.assignment_create(uuid, text, text, uuid, timestamptz, integer, boolean, integer);
drop function if exists api.assignment_update(uuid, text, text, uuid, timestamptz, integer, boolean, integer);

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

alter table app.lessons add column module_id uuid;
alter table app.lessons add column module_position integer;
alter table app.quizzes add column module_id uuid;
alter table app.quizzes add column module_position integer;
alter table app.assignments add column module_id uuid;
alter table app.assignments add column module_position integer;
alter table app.lessons add constraint fk_lessons_module_in_course foreign key (module_id, course_id)
  references app.modules (id, course_id) not valid;
alter table app.quizzes add constraint fk_quizzes_module_in_course foreign key (module_id, course_id)
  references app.modules (id, course_id) not valid;
alter table app.assignments add constraint fk_assignments_module_in_course foreign key (module_id, course_id)
  references app.modules (id, course_id) not valid;
alter table app.lessons validate constraint fk_lessons_module_in_course;
alter table app.quizzes validate constraint fk_quizzes_module_in_course;
alter table app.assignments validate constraint fk_assignments_module_in_course;
create index ix_lessons_module_id on app.lessons (module_id) where module_id is not null;
create index ix_quizzes_module_id on app.quizzes (module_id) where module_id is not null;
create index ix_assignments_module_id on app.assignments (module_id) where module_id is not null;
comment on column app.lessons.module_id is 'The module of the same course holding this lesson (fk_lessons_module_in_course); null: the course''s own, as before modules.';
comment on column app.lessons.module_position is 'Order within the module, across its lessons, quizzes and assignments.';
comment on column app.quizzes.module_id is 'The module of the same course holding this quiz (fk_quizzes_module_in_course); null: the course''s own.';
comment on column app.quizzes.module_position is 'Order within the module, across its lessons, quizzes and assignments.';
comment on column app.assignments.module_id is 'The module of the same course holding this assignment (fk_assignments_module_in_course); null: the course''s own.';
comment on column app.assignments.module_position is 'Order within the module, across its lessons, quizzes and assignments.';

-- Every existing course: one published module with its items in their current order (lessons by
-- lesson_order, then quizzes and assignments by creation). RLS is forced on these tables, so their
-- owner would see no rows: it is not forced for the backfill (the owner then bypasses it, as owners
-- do) and forced again right after, in this transaction. The items' triggers are off meanwhile: placing them
-- changes no progress (one published module holding everything counts what was counted before).
alter table app.lessons disable trigger user;
alter table app.quizzes disable trigger user;
alter table app.assignments disable trigger user;
alter table app.courses no force row level security;
alter table app.lessons no force row level security;
alter table app.quizzes no force row level security;
alter table app.assignments no force row level security;
insert into app.modules (course_id, title, position, is_published, created_at)
select c.id, 'Course content', 1, true, c.created_at from app.courses c;
update app.lessons l set module_id = m.id, module_position = l.lesson_order
from app.modules m where m.course_id = l.course_id;
update app.quizzes q set module_id = m.id, module_position = p.pos
from app.modules m,
     (select q2.id, (select count(*) from app.lessons l where l.course_id = q2.course_id)::integer
                    + row_number() over (partition by q2.course_id order by q2.created_at, q2.id)::integer as pos
      from app.quizzes q2) p
where m.course_id = q.course_id and p.id = q.id;
update app.assignments a set module_id = m.id, module_position = p.pos
from app.modules m,
     (select a2.id, (select count(*) from app.lessons l where l.course_id = a2.course_id)::integer
                    + (select count(*) from app.quizzes q where q.course_id = a2.course_id)::integer
                    + row_number() over (partition by a2.course_id order by a2.created_at, a2.id)::integer as pos
      from app.assignments a2) p
where m.course_id = a.course_id and p.id = a.id;
alter table app.courses force row level security;
alter table app.lessons force row level security;
alter table app.quizzes force row level security;
alter table app.assignments force row level security;
alter table app.lessons enable trigger user;
alter table app.quizzes enable trigger user;
alter table app.assignments enable trigger user;

-- Two more event types: module.completed (a learner met a module's requirement) and override.changed
-- (an accommodation or override was set or cleared).
alter table app.events drop constraint ck_events_type;
alter table app.events add constraint ck_events_type check (type in (
    'enrollment.created', 'enrollment.dropped', 'lesson.completed', 'course.completed',
    'certificate.issued', 'certificate.revoked', 'attempt.submitted', 'submission.submitted',
    'submission.graded', 'order.completed', 'order.refunded', 'user.created', 'user.deactivated',
    'module.completed', 'override.changed')) not valid;
alter table app.events validate constraint ck_events_type;
alter table app.webhooks drop constraint ck_webhooks_events;
alter table app.webhooks add constraint ck_webhooks_events check (cardinality(events) between 1 and 15
    and array_position(events, null) is null
    and events <@ array['enrollment.created', 'enrollment.dropped', 'lesson.completed', 'course.completed',
      'certificate.issued', 'certificate.revoked', 'attempt.submitted', 'submission.submitted',
      'submission.graded', 'order.completed', 'order.refunded', 'user.created', 'user.deactivated',
      'module.completed', 'override.changed']) not valid;
alter table app.webhooks validate constraint ck_webhooks_events;
comment on column app.events.type is 'What happened: enrollment.created, enrollment.dropped, lesson.completed, course.completed, certificate.issued, certificate.revoked, attempt.submitted, submission.submitted, submission.graded, order.completed, order.refunded, user.created, user.deactivated, module.completed, override.changed.';
