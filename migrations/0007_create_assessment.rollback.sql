-- Undo 0007_create_assessment: drop the assessment tables.

set local role lms_owner;
drop table app.submissions;
alter table app.files drop constraint fk_files_assignment_id_assignments;
drop table app.assignments, app.quiz_attempts, app.quiz_attempt_counters, app.questions, app.quizzes;
