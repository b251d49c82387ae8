-- Undo 0030_grade_categories: no categories, letter schemes or final grades (all deleted); quizzes and
-- assignments lose their category. The api functions with a grade_category_id parameter are dropped
-- here; migrate's repeatable step (or the previous release's) recreates the ones without it.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, ban-drop-column, ban-drop-table, ban-drop-function

set local role lms_owner;
drop function if exists api.quiz_create(uuid, text, text, uuid, integer, integer, integer, uuid, uuid);
drop function if exists api.quiz_update(uuid, text, text, uuid, integer, integer, integer, uuid, boolean, boolean, boolean, uuid);
drop function if exists api.assignment_create(uuid, text, text, uuid, timestamptz, integer, boolean, integer, uuid, uuid);
drop function if exists api.assignment_update(uuid, text, text, uuid, timestamptz, integer, boolean, integer, uuid, uuid);
drop table app.final_grade_overrides;
drop table app.grade_scheme_letters;
alter table app.assignments drop column grade_category_id;
alter table app.quizzes drop column grade_category_id;
drop table app.grade_categories;
