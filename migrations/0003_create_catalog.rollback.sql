-- Undo 0003_create_catalog: drop the catalog tables.

set local role lms_owner;
drop table app.lessons, app.courses;
