-- Undo 0039_oneroster: no OneRoster rostering. The users, courses and enrollments an import made stay
-- (ordinary rows now); what the SIS called them (sourcedIds) and the kept orgs, sessions and courses go.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, ban-drop-table

set local role lms_owner;
drop table app.oneroster_stage;
drop table app.oneroster_refs;
drop table app.oneroster_enrollments;
drop table app.oneroster_classes;
drop table app.oneroster_users;
