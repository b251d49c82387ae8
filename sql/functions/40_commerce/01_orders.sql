/*
 * Commerce — orders: order.create, order.get, order.list_mine, order.refund, and the JSON of an order.
 *
 * Shape: lms_api may only SELECT orders and payments (RLS: the buyer, the course's instructor,
 * admins; never the client secret column). Every write carries a rule, so it goes through the
 * SECURITY DEFINER functions here (creating an order, recording its payment intent) and in
 * 02_events.sql (what a provider event does), which check their caller themselves.
 *
 * The payment provider is called by the server, between two SQL calls (rpc/workers/payments.py, the hook
 * keyed by method name): api.order_create decides and creates (or returns) the pending order; when
 * the order has no payment intent yet, the server asks the provider for one (idempotency key = the
 * order id) and records it with internal.order_attach_intent. api.order_refund decides whether a
 * refund may be asked for and audits the request; the server then asks the provider, and nothing
 * changes until the provider's charge.refunded event arrives.
 *
 * Cancellation: a pending order is canceled by its buyer (order.cancel) or by a change of its course
 * (unpublished, made free, re-priced: trigger _500_pending_orders_follow_course, whatever path made
 * the change). A canceled order's payment intent must then be canceled at the provider, which SQL
 * cannot reach: internal.order_intents_to_cancel lists them (index ix_orders_intent_to_cancel) and
 * internal.order_intent_canceled marks one done; the server works the list right after order.cancel
 * and order.create (the buyer's own) and every 30 s for all (rpc/workers/payments.py sweep). A payment that
 * was under way and still succeeds completes the canceled order (02_events.sql): money taken always
 * buys the course.
 *
 * Shared with other domains: nothing (enrollment by payment is written by 02_events.sql).
 */

create or replace function internal.order_json(p_order_id uuid)
returns jsonb
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select jsonb_build_object(
    'order_id', o.id, 'user_id', o.user_id, 'course_id', o.course_id, 'course_title', c.title,
    'amount_cents', o.amount_cents, 'currency', o.currency, 'status', o.status,
    'payment_intent_id', o.provider_payment_intent_id,
    'client_secret', case when o.user_id = app.current_user_id() then o.provider_client_secret end,
    'payment_id', p.id, 'payment_status', p.status,
    'created_at', o.created_at, 'updated_at', o.updated_at, 'completed_at', o.completed_at,
    'canceled_at', o.canceled_at)
  from app.orders o
  join app.courses c on c.id = o.course_id
  left join lateral (select p.id, p.status from app.payments p where p.order_id = o.id
                     order by p.created_at desc, p.id limit 1) p on true
  where o.id = p_order_id
    and (o.user_id = app.current_user_id() or internal.can_manage_course(o.course_id))
$$;
comment on function internal.order_json(uuid) is
  'JSON of an order with its course title and latest payment, for the buyer, the course''s instructor or an admin (null for others). The client secret only for the buyer. SECURITY DEFINER: the course title shows after an unpublish, and the client secret column is closed to every client role.
@shape order {order_id: uuid, user_id: uuid, course_id: uuid, course_title: text, amount_cents: int, currency: text,
  status: text, payment_intent_id: text?, client_secret: text?, payment_id: uuid?, payment_status: text?,
  created_at: timestamptz, updated_at: timestamptz, completed_at: timestamptz?, canceled_at: timestamptz?}';

-- ---------------------------------------------------------------------------------------------
-- order.create
-- ---------------------------------------------------------------------------------------------

create or replace function api.order_create(course_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_user_id  uuid := internal.require_user();
  v_course   app.courses;
  v_order_id uuid;
begin
  -- FOR SHARE: a price change, unpublish or made-free (which cancel pending orders, trigger
  -- _500_pending_orders_follow_course) waits for this order's commit and then cancels it too; an
  -- order created after such a change reads the new price.
  select c.* into v_course from app.courses c where c.id = order_create.course_id for share;
  if v_course.id is null or not internal.can_see_course(v_course.id) then
    raise exception 'course not found' using errcode = 'LM404', detail = 'not_found', hint = 'course_id';
  end if;
  if v_course.instructor_id = v_user_id then
    raise exception 'you teach this course: there is nothing to buy' using errcode = 'LM422', detail = 'own_course';
  end if;
  if not v_course.is_published then
    raise exception 'the course is not published' using errcode = 'LM422', detail = 'course_not_published';
  end if;
  if v_course.is_free then
    raise exception 'this course is free: enroll with enrollment.enroll' using errcode = 'LM422', detail = 'course_is_free';
  end if;
  if internal.is_actively_enrolled(v_user_id, v_course.id) then
    raise exception 'you are enrolled in this course already' using errcode = 'LM409', detail = 'already_enrolled';
  end if;
  -- One pending order per student and course (uq_orders_one_pending), also under concurrent calls:
  -- the loser of a race waits for the winner's commit and then returns its order.
  insert into app.orders as o (user_id, course_id, amount_cents, currency)
  values (v_user_id, v_course.id, v_course.price_cents, v_course.currency)
  on conflict (user_id, course_id) where status = 'pending' do nothing
  returning o.id into v_order_id;
  if v_order_id is null then
    select o.id into v_order_id from app.orders o
    where o.user_id = v_user_id and o.course_id = v_course.id and o.status = 'pending';
    if v_order_id is null then  -- the pending order was settled between the two statements
      raise exception 'the order changed meanwhile: retry' using errcode = 'LM409', detail = 'conflict';
    end if;
  else
    perform internal.audit('order.created', 'order', v_order_id,
      jsonb_build_object('course_id', v_course.id, 'amount_cents', v_course.price_cents, 'currency', v_course.currency));
  end if;
  return internal.order_json(v_order_id);
end
$$;
comment on function api.order_create(uuid) is
  'Buy a published paid course: a pending order at the course''s current price, with the payment provider''s payment intent (pay it with client_secret; Stripe in production).
@result order
@cost 5
One pending order per student and course: calling again while it is pending returns the same order and intent (also under concurrent calls). A pending order is canceled when the course is unpublished, made free or re-priced (its intent canceled at the provider), so the next order.create makes a new order at the current price. The order completes when the provider reports the payment (POST /webhooks/stripe), which enrolls you. Free course: 422 course_is_free; actively enrolled: 409 already_enrolled; the course''s own instructor: 422 own_course; unpublished or unknown: 404. The server creates the payment intent between this function and internal.order_attach_intent (rpc/workers/payments.py), so payment_intent_id and client_secret are set in the answer. SECURITY DEFINER: students have no direct INSERT on orders.';

create or replace function internal.order_attach_intent(p_order_id uuid, p_payment_intent_id text, p_client_secret text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id uuid := internal.require_user();
  v_order   app.orders;
begin
  select o.* into v_order from app.orders o
  where o.id = p_order_id and o.user_id = v_user_id
  for update;
  if v_order.id is null then
    raise exception 'order not found' using errcode = 'LM404', detail = 'not_found', hint = 'order_id';
  end if;
  if coalesce(p_payment_intent_id, '') = '' or coalesce(p_client_secret, '') = '' then
    raise exception 'a payment intent needs an id and a client secret' using errcode = 'LM422', detail = 'invalid_argument';
  end if;
  if v_order.provider_payment_intent_id is null then
    update app.orders o set provider_payment_intent_id = p_payment_intent_id, provider_client_secret = p_client_secret
    where o.id = v_order.id;
    perform internal.audit('order.intent_created', 'order', v_order.id,
      jsonb_build_object('payment_intent_id', p_payment_intent_id, 'amount_cents', v_order.amount_cents,
                         'currency', v_order.currency));
  elsif v_order.provider_payment_intent_id = p_payment_intent_id and v_order.provider_client_secret is null then
    -- the provider's event named the intent first; keep its client secret too
    update app.orders o set provider_client_secret = p_client_secret where o.id = v_order.id;
  end if;
  return internal.order_json(v_order.id);
end
$$;
comment on function internal.order_attach_intent(uuid, text, text) is
  'Record the provider''s payment intent (id, client secret) on the caller''s own order; idempotent (a second intent for an order that has one is ignored: the order keeps its first). Run by the server after the provider call of order.create. SECURITY DEFINER: no client role writes orders; checks that the order is the caller''s.';

-- ---------------------------------------------------------------------------------------------
-- order.get, order.list_mine
-- ---------------------------------------------------------------------------------------------

create or replace function api.order_get(order_id uuid)
returns jsonb
language plpgsql
stable
as $$
declare
  v_result jsonb;
begin
  perform internal.require_user();
  v_result := internal.order_json(order_get.order_id);
  if v_result is null then
    raise exception 'order not found' using errcode = 'LM404', detail = 'not_found', hint = 'order_id';
  end if;
  return v_result;
end
$$;
comment on function api.order_get(uuid) is
  'An order: yours, one of your course''s (instructor), or any (admin); others 404.
@result order';

create or replace function api.order_list_mine("limit" integer default 50, "offset" integer default 0)
returns jsonb
language plpgsql
stable
as $$
declare
  v_user_id uuid := internal.require_user();
begin
  perform internal.check_page(order_list_mine."limit", order_list_mine."offset", 100);
  return coalesce((
    select jsonb_agg(internal.order_json(x.id) order by x.created_at desc, x.id)
    from (select o.id, o.created_at from app.orders o where o.user_id = v_user_id
          order by o.created_at desc, o.id
          limit coalesce(order_list_mine."limit", 50) offset coalesce(order_list_mine."offset", 0)) x), '[]'::jsonb);
end
$$;
comment on function api.order_list_mine(integer, integer) is
  'Your orders, newest first, with course title, status and payment status.
@result order[]
@param limit minimum=1 maximum=100
@param offset minimum=0
limit: default 50, at most 100; offset: default 0.';

-- ---------------------------------------------------------------------------------------------
-- order.refund
-- ---------------------------------------------------------------------------------------------

create or replace function api.order_refund(order_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_order app.orders;
begin
  perform internal.require_user();
  select o.* into v_order from app.orders o where o.id = order_refund.order_id;
  if v_order.id is null or not (v_order.user_id = app.current_user_id() or internal.can_manage_course(v_order.course_id)) then
    raise exception 'order not found' using errcode = 'LM404', detail = 'not_found', hint = 'order_id';
  end if;
  if not internal.is_admin() then
    raise exception 'only an admin may refund an order' using errcode = 'LM403', detail = 'forbidden';
  end if;
  if v_order.status <> 'completed' or v_order.provider_payment_intent_id is null
     or not exists (select from app.payments p where p.order_id = v_order.id and p.status = 'succeeded') then
    raise exception 'only a completed, paid order can be refunded (this one is %)', v_order.status
      using errcode = 'LM422', detail = 'order_not_refundable';
  end if;
  perform internal.audit('order.refund_requested', 'order', v_order.id,
    jsonb_build_object('payment_intent_id', v_order.provider_payment_intent_id,
                       'amount_cents', v_order.amount_cents, 'currency', v_order.currency));
  return internal.order_json(v_order.id) || jsonb_build_object('refund_id', null);
end
$$;
comment on function api.order_refund(uuid) is
  'Ask the payment provider to refund a completed order (admin). Nothing changes until the provider''s charge.refunded event arrives: then the order and payment are refunded and the enrollment deactivated.
@result {order_id: uuid, user_id: uuid, course_id: uuid, course_title: text, amount_cents: int, currency: text,
  status: text, payment_intent_id: text?, client_secret: text?, payment_id: uuid?, payment_status: text?,
  created_at: timestamptz, updated_at: timestamptz, completed_at: timestamptz?, canceled_at: timestamptz?,
  refund_id: text?}
@cost 5
The request is audited here; the server then calls the provider (rpc/workers/payments.py; refund_id is the provider''s refund, idempotent per order). Not completed: 422 order_not_refundable; not an admin: 403 (404 if you cannot see the order). SECURITY DEFINER: reads the payment whatever RLS shows; checks the caller first.';

-- ---------------------------------------------------------------------------------------------
-- order.cancel, and what a course change does to pending orders
-- ---------------------------------------------------------------------------------------------

create or replace function internal.order_cancel_pending(p_order_id uuid, p_reason text)
returns void
language sql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
  with canceled as (
    update app.orders o set status = 'canceled', canceled_at = now(), updated_at = now()
    where o.id = p_order_id and o.status = 'pending'
    returning o.id, o.user_id, o.course_id, o.amount_cents, o.currency, o.provider_payment_intent_id)
  select internal.audit('order.canceled', 'order', c.id,
           jsonb_build_object('reason', p_reason, 'user_id', c.user_id, 'course_id', c.course_id,
                              'amount_cents', c.amount_cents, 'currency', c.currency,
                              'payment_intent_id', c.provider_payment_intent_id))
  from canceled c
$$;
comment on function internal.order_cancel_pending(uuid, text) is
  'Cancel one order if it is pending (a no-op otherwise) and audit why (p_reason: buyer, course_unpublished, course_made_free, course_repriced, enrolled). Its payment intent is left for the provider sweep (internal.order_intents_to_cancel). SECURITY DEFINER: no client role writes orders; callers check who may cancel.';

create or replace function api.order_cancel(order_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_order app.orders;
begin
  perform internal.require_user();
  select o.* into v_order from app.orders o where o.id = order_cancel.order_id for update;
  if v_order.id is null or not (v_order.user_id = app.current_user_id() or internal.is_admin()
                                or internal.can_manage_course(v_order.course_id)) then
    raise exception 'order not found' using errcode = 'LM404', detail = 'not_found', hint = 'order_id';
  end if;
  if not (v_order.user_id = app.current_user_id() or internal.is_admin()) then
    raise exception 'only the buyer (or an admin) may cancel an order' using errcode = 'LM403', detail = 'forbidden';
  end if;
  if v_order.status = 'canceled' then
    return internal.order_json(v_order.id);  -- canceled already: the same answer again
  end if;
  if v_order.status <> 'pending' then
    raise exception 'only a pending order can be canceled (this one is %)', v_order.status
      using errcode = 'LM422', detail = 'order_not_cancelable';
  end if;
  perform internal.order_cancel_pending(v_order.id, 'buyer');
  return internal.order_json(v_order.id);
end
$$;
comment on function api.order_cancel(uuid) is
  'Cancel your pending order (or any, as an admin): it can no longer be paid — the server cancels its payment intent at the provider right after. Idempotent: canceling a canceled order answers it again. A payment that was already under way and still succeeds completes the order and enrolls you (money taken always buys the course).
@result order
@cost 5
Completed, failed or refunded: 422 order_not_cancelable; the course''s instructor: 403; others 404. SECURITY DEFINER: no client role writes orders; checks the caller first.';

create or replace function internal.tg_courses__pending_orders_follow()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_reason text;
  v_order  uuid;
begin
  v_reason := case
    when old.is_published and not new.is_published then 'course_unpublished'
    when new.is_free and not old.is_free then 'course_made_free'
    when (new.price_cents, new.currency) is distinct from (old.price_cents, old.currency) then 'course_repriced'
  end;
  if v_reason is not null then
    for v_order in select o.id from app.orders o
                   where o.course_id = new.id and o.status = 'pending' order by o.id for update loop
      perform internal.order_cancel_pending(v_order, v_reason);
    end loop;
  end if;
  return null;
end
$$;
comment on function internal.tg_courses__pending_orders_follow() is
  'Trigger _500_pending_orders_follow_course on courses (after update of is_published, price_cents, currency): a course unpublished, made free or re-priced cancels its pending orders (audited with the reason), so none is paid at a price or for an offer that no longer stands; the buyer''s next order.create makes a new order at the current price. Every path (course.update, an admin''s SQL) meets it. SECURITY DEFINER: the instructor who changes the course writes no orders.';
drop trigger if exists _500_pending_orders_follow_course on app.courses;
create trigger _500_pending_orders_follow_course after update of is_published, price_cents, currency on app.courses
  for each row execute function internal.tg_courses__pending_orders_follow();

-- ---------------------------------------------------------------------------------------------
-- Canceling intents at the provider (the server's sweep)
-- ---------------------------------------------------------------------------------------------

create or replace function internal.order_intents_to_cancel(p_user_id uuid, p_limit integer)
returns jsonb
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(jsonb_agg(jsonb_build_object('order_id', x.id, 'payment_intent_id', x.provider_payment_intent_id)
                            order by x.canceled_at, x.id), '[]')
  from (select o.id, o.provider_payment_intent_id, o.canceled_at from app.orders o
        where o.status = 'canceled' and o.provider_payment_intent_id is not null and o.provider_canceled_at is null
          and (p_user_id is null or o.user_id = p_user_id)
        order by o.canceled_at, o.id
        limit least(greatest(coalesce(p_limit, 100), 1), 1000)) x
$$;
comment on function internal.order_intents_to_cancel(uuid, integer) is
  'Canceled orders whose payment intent is still to be canceled at the provider, oldest first ([{order_id, payment_intent_id}], at most p_limit): one buyer''s (p_user_id), or everyone''s (null, the server''s sweep). No secrets. SECURITY DEFINER: orders are read whatever RLS shows; executed only by the server (lms_api).';

create or replace function internal.order_intent_canceled(p_order_id uuid, p_payment_intent_id text)
returns void
language sql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
  update app.orders o set provider_canceled_at = now()
  where o.id = p_order_id and o.provider_payment_intent_id = p_payment_intent_id and o.provider_canceled_at is null
$$;
comment on function internal.order_intent_canceled(uuid, text) is
  'The provider canceled (or had already settled) the payment intent of a canceled order: it leaves the sweep''s list. Idempotent. SECURITY DEFINER: no client role writes orders; executed only by the server (lms_api).';
