/*
 * Commerce: grants and RLS for orders, payments and provider events.
 *
 * Reading: the buyer sees their orders and payments, an instructor those of their courses, admins
 * all; provider events only admins. The client secret of a payment intent (orders.provider_client_secret)
 * is granted to no client role: internal.order_json hands it to the buyer only.
 * Writing: no client role writes these tables (no INSERT/UPDATE/DELETE grants, no write policies).
 * Orders are created and given their intent by the SECURITY DEFINER functions of
 * sql/functions/40_commerce/01_orders.sql; everything a payment changes is done by
 * internal.payment_event_apply, which only lms_webhook may execute — the role the server takes for
 * POST /webhooks/stripe after the SDK verified the signature — and which holds no other privilege.
 */
alter table app.orders enable row level security;
alter table app.orders force row level security;
alter table app.payments enable row level security;
alter table app.payments force row level security;
alter table app.payment_events enable row level security;
alter table app.payment_events force row level security;

grant select (id, user_id, course_id, amount_cents, currency, status, provider_payment_intent_id, created_at,
              updated_at, completed_at, canceled_at, provider_canceled_at) on app.orders to lms_api, lms_analyst;
create policy select_own_instructor_admin on app.orders for select to lms_api, lms_analyst
  using (user_id = (select app.current_user_id())
         or course_id in (select internal.my_course_ids())
         or (select internal.is_admin()));

grant select on app.payments to lms_api, lms_analyst;
create policy select_own_instructor_admin on app.payments for select to lms_api, lms_analyst
  using (user_id = (select app.current_user_id())
         or order_id in (select o.id from app.orders o where o.course_id in (select internal.my_course_ids()))
         or (select internal.is_admin()));

grant select on app.payment_events to lms_api, lms_analyst;
create policy select_admin on app.payment_events for select to lms_api, lms_analyst
  using ((select internal.is_admin()));

grant execute on function internal.order_json(uuid) to lms_api;
grant execute on function internal.order_attach_intent(uuid, text, text) to lms_api;
grant execute on function internal.order_intents_to_cancel(uuid, integer) to lms_api;
grant execute on function internal.order_intent_canceled(uuid, text) to lms_api;

grant execute on function api.order_create(uuid) to lms_api;
grant execute on function api.order_get(uuid) to lms_api;
grant execute on function api.order_list_mine(integer, integer) to lms_api;
grant execute on function api.order_refund(uuid) to lms_api;
grant execute on function api.order_cancel(uuid) to lms_api;

-- The webhook's role: exactly one function, nothing else (no table, no api function).
revoke all on all functions in schema internal, api from lms_webhook;
grant usage on schema internal to lms_webhook;
grant execute on function internal.payment_event_apply(jsonb) to lms_webhook;
