-- Orders can be canceled (order.cancel, or the course unpublished, made free or re-priced), and
-- a canceled order's payment intent is canceled at the provider afterwards (issue 26 §3b, §4).
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, require-concurrent-index-creation
-- (nullable columns without a default: a catalog change, no rewrite; the partial index covers only
--  canceled orders still to be canceled at the provider — none exist before this migration, so it is
--  built from an empty set in one scan of orders, under a SHARE lock for that scan)
-- depends: 0020_users_metadata_size

set local role lms_owner;

alter table app.orders add column canceled_at timestamptz;
alter table app.orders add column provider_canceled_at timestamptz;
comment on column app.orders.canceled_at is 'When the order was canceled (order.cancel by the buyer, or the course unpublished, made free or re-priced while it was pending); kept if a payment that was under way still completes it.';
comment on column app.orders.provider_canceled_at is 'When the payment intent of a canceled order was canceled at the provider (or found settled there); null while that is still to do.';
create index ix_orders_intent_to_cancel on app.orders (canceled_at)
  where status = 'canceled' and provider_payment_intent_id is not null and provider_canceled_at is null;
comment on index app.ix_orders_intent_to_cancel is 'Canceled orders whose payment intent is still live at the provider: the server''s sweep cancels them there.';
comment on column app.orders.status is 'pending (payment intent created) → completed (payment_intent.succeeded) | failed (payment_intent.payment_failed, or a success whose amount or currency differs) | canceled (order.cancel; the course unpublished, made free or re-priced); failed or canceled → completed (a payment under way when it failed or was canceled: the money was taken); completed or pending → refunded (charge.refunded).';
