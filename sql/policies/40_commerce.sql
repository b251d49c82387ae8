/*
 * Commerce: grants and RLS for orders, payments and provider events.
 */
alter table app.orders enable row level security;
alter table app.orders force row level security;
alter table app.payments enable row level security;
alter table app.payments force row level security;
alter table app.payment_events enable row level security;
alter table app.payment_events force row level security;
