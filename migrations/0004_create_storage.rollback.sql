-- Undo 0004_create_storage: drop the storage table.

set local role lms_owner;
drop table app.files;
