-- Undo 0014_create_events: drop the events and webhook tables (their triggers go with the functions).
-- squawk-ignore-file ban-drop-table, require-lock-timeout, require-statement-timeout
-- (undoing the release drops exactly what it added)

set local role lms_owner;
drop table app.webhook_deliveries;
drop table app.webhooks;
drop table app.events;
