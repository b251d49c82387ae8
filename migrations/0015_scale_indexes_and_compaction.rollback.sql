-- Undo 0015_scale_indexes_and_compaction: the previous indexes, no last_started_at, default compression.
-- squawk-ignore-file require-concurrent-index-creation, require-lock-timeout, require-statement-timeout, require-concurrent-index-deletion, ban-drop-column, ban-drop-constraint

set local role lms_owner;

alter table app.quiz_attempts alter column grading set compression default;
alter table app.quiz_attempts alter column answers set compression default;
alter table app.quiz_attempt_counters drop constraint ck_quiz_attempt_counters_best_score;
alter table app.quiz_attempt_counters drop constraint ck_quiz_attempt_counters_closed_attempts;
alter table app.quiz_attempt_counters drop column passed;
alter table app.quiz_attempt_counters drop column best_score;
alter table app.quiz_attempt_counters drop column closed_attempts;
alter table app.quiz_attempt_counters drop column last_started_at;
drop index app.ix_submissions_assignment_id_submitted_at;
create index ix_quiz_attempts_quiz_id on app.quiz_attempts (quiz_id);
drop index app.ix_quiz_attempts_quiz_id_started_at;
create index ix_enrollments_course_id on app.enrollments (course_id);
drop index app.ix_enrollments_course_id_enrolled_at;
