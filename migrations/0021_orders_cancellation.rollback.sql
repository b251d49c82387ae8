-- Undo 0021_orders_cancellation.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, ban-drop-column, require-concurrent-index-deletion

set local role lms_owner;
drop index app.ix_orders_intent_to_cancel;
alter table app.orders drop column provider_canceled_at;
alter table app.orders drop column canceled_at;
comment on column app.orders.status is 'pending (payment intent created) → completed (payment_intent.succeeded) | failed (payment_intent.payment_failed, or a success whose amount or currency differs) | canceled; failed → completed (a later success); completed or pending → refunded (charge.refunded).';
