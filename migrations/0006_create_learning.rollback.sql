-- Undo 0006_create_learning: drop the learning tables.

set local role lms_owner;
drop table app.lesson_progress, app.enrollments;
