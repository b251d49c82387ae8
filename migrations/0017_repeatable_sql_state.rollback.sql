-- Undo 0017_repeatable_sql_state.
-- squawk-ignore-file ban-drop-table, require-lock-timeout, require-statement-timeout

set local role lms_owner;
drop table internal.repeatable_sql;
