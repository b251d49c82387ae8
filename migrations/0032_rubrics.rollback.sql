-- Undo 0032_rubrics: no rubrics. Grades given with one stay as numbers; the chosen levels are dropped.
-- The api function with a rubric parameter is dropped here; migrate's repeatable step (or the previous
-- release's) recreates the one without it.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, ban-drop-column, ban-drop-table, ban-drop-function

set local role lms_owner;
drop function if exists api.submission_grade(uuid, numeric, text, jsonb);
drop table app.submission_rubric_levels;
alter table app.submissions drop column rubric_id;
drop table app.rubric_levels;
drop table app.rubric_criteria;
drop table app.rubrics;
