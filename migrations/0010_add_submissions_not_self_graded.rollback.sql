-- Undo 0010_add_submissions_not_self_graded: drop the constraint (grades taken back stay in the audit log).
-- squawk-ignore-file ban-drop-constraint, require-lock-timeout, require-statement-timeout
-- (dropping a check constraint scans nothing; the ungraded submissions are not re-graded)

set local role lms_owner;
alter table app.submissions drop constraint ck_submissions_not_self_graded;
