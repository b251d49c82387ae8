-- Undo 0011_commerce_payments: drop the columns it added (the role lms_webhook is cluster-wide and stays,
-- as the other roles do; `drop role lms_webhook` by hand once no database of the cluster uses it).
-- squawk-ignore-file ban-drop-column, ban-drop-constraint, require-lock-timeout, require-statement-timeout
-- (the columns hold payment details that the provider keeps too)

set local role lms_owner;
comment on column app.orders.status is 'pending (payment intent created) → completed (payment_intent.succeeded) | failed (payment_intent.payment_failed) | canceled; completed → refunded (charge.refunded).';
alter table app.orders drop column provider_client_secret;
alter table app.payments drop column metadata, drop column payment_method, drop column user_id;
