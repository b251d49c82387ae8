-- Undo 0026_learner_overrides: every learner has the course's own settings again.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, ban-drop-table, ban-drop-constraint

set local role lms_owner;
drop table app.accommodations;
drop table app.learner_overrides;
alter table app.quizzes drop constraint uq_quizzes_id_course_id;
