-- Undo 0005_create_commerce: drop the commerce tables.
-- squawk-ignore-file ban-drop-table, ban-drop-schema, ban-drop-extension, ban-drop-constraint, require-lock-timeout, require-statement-timeout
-- (undoing a baseline drops exactly what it created)

set local role lms_owner;
drop table app.payment_events, app.payments, app.orders;
