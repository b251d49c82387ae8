-- Undo 0007_create_assessment: drop the assessment tables.
-- squawk-ignore-file ban-drop-table, ban-drop-schema, ban-drop-extension, ban-drop-constraint, require-lock-timeout, require-statement-timeout
-- (undoing a baseline drops exactly what it created)

set local role lms_owner;
drop table app.submissions;
alter table app.files drop constraint fk_files_assignment_id_assignments;
drop table app.assignments, app.quiz_attempts, app.quiz_attempt_counters, app.questions, app.quizzes;
