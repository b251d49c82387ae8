-- Big courses and long histories stay flat (issue 21): indexes for the per-course and per-quiz pages,
-- the started_at of each student's latest attempt on its counter row (attempt.start prunes to one
-- partition), and lz4 for attempts' answers/grading.
-- squawk-ignore-file require-concurrent-index-creation, require-lock-timeout, require-statement-timeout, require-concurrent-index-deletion, adding-field-with-default, constraint-missing-not-valid
-- (one release step in one transaction: the index builds lock enrollments, submissions and the
--  attempt partitions against writes for seconds at scale 1 — run it in a maintenance window; a
--  partitioned index cannot be built CONCURRENTLY on its parent anyway)
-- depends: 0014_create_events

set local role lms_owner;

-- enrollment.list_for_course pages by (enrolled_at, id) within a course.
create index ix_enrollments_course_id_enrolled_at on app.enrollments (course_id, enrolled_at, id);
drop index app.ix_enrollments_course_id;

-- attempt.list_for_quiz pages by (started_at, id) within a quiz (a merge of per-partition index scans).
create index ix_quiz_attempts_quiz_id_started_at on app.quiz_attempts (quiz_id, started_at, id);
drop index app.ix_quiz_attempts_quiz_id;

-- submission.list_for_assignment pages by (submitted_at, id) within an assignment.
create index ix_submissions_assignment_id_submitted_at on app.submissions (assignment_id, submitted_at, id);

alter table app.quiz_attempt_counters add column last_started_at timestamptz;
comment on column app.quiz_attempt_counters.last_started_at is 'started_at of the student''s latest attempt at the quiz (attempt_number = attempts_used), null before the first: attempt.start finds the open attempt, if any, in that one partition.';
-- The gradebook's cells, kept by a trigger on quiz_attempts: a page of students reads them by primary key
-- instead of probing every attempt partition per student and quiz.
alter table app.quiz_attempt_counters add column closed_attempts integer not null default 0;
alter table app.quiz_attempt_counters add column best_score integer;
alter table app.quiz_attempt_counters add column passed boolean not null default false;
alter table app.quiz_attempt_counters add constraint ck_quiz_attempt_counters_closed_attempts check (closed_attempts >= 0);
alter table app.quiz_attempt_counters add constraint ck_quiz_attempt_counters_best_score check (best_score between 0 and 100);
comment on column app.quiz_attempt_counters.closed_attempts is 'Closed (submitted or expired) attempts of the student at the quiz; kept by a trigger on quiz_attempts.';
comment on column app.quiz_attempt_counters.best_score is 'Highest score of the closed attempts, null without one; kept by a trigger on quiz_attempts.';
comment on column app.quiz_attempt_counters.passed is 'True when a closed attempt passed; kept by a trigger on quiz_attempts.';
alter table app.quiz_attempt_counters no force row level security;
update app.quiz_attempt_counters c
set last_started_at = a.started_at, closed_attempts = a.closed, best_score = a.best, passed = a.passed
from (select a0.user_id, a0.quiz_id, max(a0.started_at) as started_at,
             count(*) filter (where a0.status <> 'in_progress') as closed,
             max(a0.score) filter (where a0.status <> 'in_progress') as best,
             coalesce(bool_or(a0.passed) filter (where a0.status <> 'in_progress'), false) as passed
      from app.quiz_attempts a0 group by a0.user_id, a0.quiz_id) a
where a.user_id = c.user_id and a.quiz_id = c.quiz_id;
alter table app.quiz_attempt_counters force row level security;

-- Compressed with lz4 when PostgreSQL compresses them at all (a row above the TOAST threshold).
alter table app.quiz_attempts alter column answers set compression lz4;
alter table app.quiz_attempts alter column grading set compression lz4;
