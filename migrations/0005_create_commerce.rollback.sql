-- Undo 0005_create_commerce: drop the commerce tables.

set local role lms_owner;
drop table app.payment_events, app.payments, app.orders;
