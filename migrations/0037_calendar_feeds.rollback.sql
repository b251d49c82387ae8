-- Undo 0037_calendar_feeds: no calendar feeds; every feed URL stops working.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, ban-drop-table

set local role lms_owner;
drop table app.calendar_feeds;
