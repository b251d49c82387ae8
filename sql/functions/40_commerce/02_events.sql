/*
 * Commerce — the payment provider's events (POST /webhooks/stripe, rpc/http/stripe_webhooks.py).
 *
 * The server verifies the signature with the provider's SDK, then makes ONE call, as the role
 * lms_webhook (which may execute internal.payment_event_apply and nothing else):
 * internal.payment_event_apply(event) records the event in app.payment_events and applies it in
 * the same transaction. The event id is the primary key, so a redelivered event (also 20 at once:
 * the others wait for the first insert's commit, then find the row) is applied once.
 *
 * What an event does (every change audited; actor null = the provider):
 * - payment_intent.succeeded, amount and currency equal to the order's → payment succeeded, order
 *   completed (also after a failure or a cancellation: the money was taken), enrollment created or
 *   re-activated with payment_id, the buyer's other pending order for the course canceled. A different amount or currency → payment amount_mismatch, order failed (if pending),
 *   no enrollment. A payment already recorded for the intent (e.g. the refund came first) → nothing.
 * - payment_intent.payment_failed → a pending order failed; any other state is kept (a failure after
 *   the success changes nothing).
 * - charge.refunded (refunded: true) → payment refunded (recorded as refunded if the success has not
 *   arrived yet), order refunded, the enrollment bought with this payment deactivated. A later
 *   succeeded for the intent then finds the payment and changes nothing: the same final state (order
 *   and payment refunded, no active enrollment) whatever the order of arrival.
 * Orders are locked (FOR UPDATE) before payments and enrollments, so concurrent events of one order
 * apply one after the other.
 *
 * Shared with other domains: nothing. Writes enrollments (learning) the way enrollment_enroll does.
 */

-- The order an event is about: metadata.order_id when it is a uuid, else the order holding the intent.
create or replace function internal.payment_event_order(p_object jsonb, p_payment_intent_id text)
returns app.orders
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_ref   text := p_object -> 'metadata' ->> 'order_id';
  v_order app.orders;
begin
  if v_ref ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    select o.* into v_order from app.orders o where o.id = v_ref::uuid for update;
  end if;
  if v_order.id is null and p_payment_intent_id is not null then
    select o.* into v_order from app.orders o where o.provider_payment_intent_id = p_payment_intent_id for update;
  end if;
  return v_order;
end
$$;
comment on function internal.payment_event_order(jsonb, text) is
  'The order a provider event''s object names (metadata.order_id, else the order whose payment intent it is), locked FOR UPDATE; a row of nulls when none. SECURITY DEFINER, executed only inside internal.payment_event_apply.';

create or replace function internal.payment_event_succeeded(p_event_id text, p_object jsonb)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_intent     text := p_object ->> 'id';
  v_amount     numeric;
  v_currency   text := p_object ->> 'currency';
  v_order      app.orders;
  v_payment_id uuid;
  v_enrollment uuid;
  v_matches    boolean;
begin
  v_order := internal.payment_event_order(p_object, v_intent);
  if v_order.id is null then
    return 'ignored: no such order';
  end if;
  if v_intent is null or v_order.provider_payment_intent_id <> v_intent then
    return 'ignored: the order has another payment intent';
  end if;
  if exists (select from app.payments p where p.provider = 'stripe' and p.provider_payment_id = v_intent) then
    return 'ignored: payment already recorded';
  end if;
  v_amount := case when jsonb_typeof(p_object -> 'amount') = 'number' then (p_object ->> 'amount')::numeric end;
  v_matches := v_amount = v_order.amount_cents and v_currency = lower(v_order.currency);
  if coalesce(v_amount, 0) not between 1 and 2147483647 or v_amount <> trunc(v_amount) then
    v_amount := null;  -- kept as the order's amount in the row; the mismatch is in the audit entry
  end if;
  insert into app.payments (order_id, user_id, provider, provider_payment_id, amount_cents, currency, status,
                            payment_method, metadata)
  values (v_order.id, v_order.user_id, 'stripe', v_intent, coalesce(v_amount, v_order.amount_cents)::integer,
          coalesce(upper(left(v_currency, 3)), v_order.currency),
          case when coalesce(v_matches, false) then 'succeeded' else 'amount_mismatch' end,
          coalesce(p_object -> 'payment_method_types' ->> 0, p_object ->> 'payment_method'),
          case when jsonb_typeof(p_object -> 'metadata') = 'object' then p_object -> 'metadata' else '{}' end)
  returning id into v_payment_id;

  if not coalesce(v_matches, false) then
    update app.orders o set status = 'failed', provider_payment_intent_id = coalesce(o.provider_payment_intent_id, v_intent)
    where o.id = v_order.id and o.status = 'pending';
    perform internal.audit('order.amount_mismatch', 'order', v_order.id,
      jsonb_build_object('event_id', p_event_id, 'payment_id', v_payment_id, 'user_id', v_order.user_id,
                         'expected_cents', v_order.amount_cents, 'expected_currency', v_order.currency,
                         'paid', p_object -> 'amount', 'paid_currency', v_currency));
    return 'not honoured: amount or currency differs from the order';
  end if;

  update app.orders o set status = 'completed', completed_at = now(),
                          provider_payment_intent_id = coalesce(o.provider_payment_intent_id, v_intent)
  where o.id = v_order.id;
  -- One enrollment row per student and course: created, or re-activated (progress kept).
  insert into app.enrollments as e (user_id, course_id, payment_id)
  values (v_order.user_id, v_order.course_id, v_payment_id)
  on conflict on constraint uq_enrollments_user_id_course_id do update
    set is_active = true, dropped_at = null, payment_id = excluded.payment_id
  returning e.id into v_enrollment;
  -- Enrolled now: another pending order of the buyer for this course (made after this one was
  -- canceled by a re-pricing, say) is canceled, and its intent with it by the provider sweep.
  perform internal.order_cancel_pending(o.id, 'enrolled')
  from app.orders o
  where o.user_id = v_order.user_id and o.course_id = v_order.course_id and o.status = 'pending' and o.id <> v_order.id;
  perform internal.audit('order.completed', 'order', v_order.id,
    jsonb_build_object('event_id', p_event_id, 'payment_id', v_payment_id, 'enrollment_id', v_enrollment,
                       'user_id', v_order.user_id, 'course_id', v_order.course_id,
                       'amount_cents', v_order.amount_cents, 'currency', v_order.currency,
                       'previous_status', v_order.status));
  return 'order completed';
end
$$;
comment on function internal.payment_event_succeeded(text, jsonb) is
  'payment_intent.succeeded: record the payment; when amount and currency match the order, complete it and enroll the buyer (created or re-activated, with payment_id), else keep the payment as amount_mismatch and fail a pending order. Returns the outcome. SECURITY DEFINER, executed only inside internal.payment_event_apply.';

create or replace function internal.payment_event_failed(p_event_id text, p_object jsonb)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_order app.orders := internal.payment_event_order(p_object, p_object ->> 'id');
begin
  if v_order.id is null then
    return 'ignored: no such order';
  end if;
  if v_order.status <> 'pending' then
    return 'ignored: the order is ' || v_order.status;
  end if;
  update app.orders o set status = 'failed', provider_payment_intent_id = coalesce(o.provider_payment_intent_id, p_object ->> 'id')
  where o.id = v_order.id;
  perform internal.audit('order.failed', 'order', v_order.id,
    jsonb_build_object('event_id', p_event_id, 'user_id', v_order.user_id, 'course_id', v_order.course_id,
                       'reason', p_object -> 'last_payment_error' ->> 'message'));
  return 'order failed';
end
$$;
comment on function internal.payment_event_failed(text, jsonb) is
  'payment_intent.payment_failed: a pending order becomes failed; completed, refunded or failed orders keep their state. Returns the outcome. SECURITY DEFINER, executed only inside internal.payment_event_apply.';

create or replace function internal.payment_event_refunded(p_event_id text, p_object jsonb)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_intent     text := p_object ->> 'payment_intent';
  v_order      app.orders;
  v_payment    app.payments;
  v_amount     numeric;
  v_enrollment uuid;
begin
  if (p_object ->> 'refunded') is distinct from 'true' then
    return 'ignored: a partial refund';
  end if;
  v_order := internal.payment_event_order(p_object, v_intent);
  if v_order.id is null then
    return 'ignored: no such order';
  end if;
  if v_intent is null or v_order.provider_payment_intent_id <> v_intent then
    return 'ignored: the order has another payment intent';
  end if;
  select p.* into v_payment from app.payments p
  where p.provider = 'stripe' and p.provider_payment_id = v_intent for update;
  if v_payment.id is null then  -- the refund arrived before the success: record the payment as refunded
    v_amount := case when jsonb_typeof(p_object -> 'amount') = 'number' then (p_object ->> 'amount')::numeric end;
    insert into app.payments (order_id, user_id, provider, provider_payment_id, amount_cents, currency, status,
                              refunded_at, payment_method, metadata)
    values (v_order.id, v_order.user_id, 'stripe', v_intent,
            case when v_amount between 1 and 2147483647 and v_amount = trunc(v_amount) then v_amount
                 else v_order.amount_cents end::integer,
            coalesce(upper(left(p_object ->> 'currency', 3)), v_order.currency), 'refunded', now(),
            coalesce(p_object -> 'payment_method_details' ->> 'type', p_object ->> 'payment_method'),
            case when jsonb_typeof(p_object -> 'metadata') = 'object' then p_object -> 'metadata' else '{}' end)
    returning * into v_payment;
  elsif v_payment.status = 'refunded' then
    return 'ignored: payment already refunded';
  else
    update app.payments p set status = 'refunded', refunded_at = now() where p.id = v_payment.id;
  end if;
  update app.orders o set status = 'refunded', completed_at = coalesce(o.completed_at, now()),
                          provider_payment_intent_id = coalesce(o.provider_payment_intent_id, v_intent)
  where o.id = v_order.id;
  update app.enrollments e set is_active = false, dropped_at = now()
  where e.payment_id = v_payment.id and e.is_active
  returning e.id into v_enrollment;
  perform internal.audit('order.refunded', 'order', v_order.id,
    jsonb_build_object('event_id', p_event_id, 'payment_id', v_payment.id, 'enrollment_id', v_enrollment,
                       'user_id', v_order.user_id, 'course_id', v_order.course_id,
                       'amount_refunded', p_object -> 'amount_refunded', 'currency', p_object ->> 'currency',
                       'previous_status', v_order.status));
  return 'order refunded';
end
$$;
comment on function internal.payment_event_refunded(text, jsonb) is
  'charge.refunded (full refunds): payment refunded (recorded so if it had not arrived yet), order refunded, the enrollment bought with it deactivated. Returns the outcome. SECURITY DEFINER, executed only inside internal.payment_event_apply.';

create or replace function internal.payment_event_apply(p_event jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_id      text := p_event ->> 'id';
  v_type    text := p_event ->> 'type';
  v_object  jsonb := p_event -> 'data' -> 'object';
  v_outcome text;
begin
  if jsonb_typeof(p_event -> 'id') is distinct from 'string' or jsonb_typeof(p_event -> 'type') is distinct from 'string'
     or length(v_id) not between 1 and 255 or length(v_type) not between 1 and 255
     or jsonb_typeof(v_object) is distinct from 'object' then
    raise exception 'not a provider event: id, type and data.object are required' using errcode = 'LM422', detail = 'invalid_event';
  end if;
  insert into app.payment_events (event_id, provider, event_type, payload)
  values (v_id, 'stripe', v_type, p_event)
  on conflict on constraint pk_payment_events do nothing;
  if not found then  -- a redelivery: applied once already (or being applied by a concurrent delivery, now committed)
    return jsonb_build_object('event_id', v_id, 'type', v_type, 'duplicate', true,
                              'outcome', (select e.outcome from app.payment_events e where e.event_id = v_id));
  end if;
  v_outcome := case v_type
    when 'payment_intent.succeeded' then internal.payment_event_succeeded(v_id, v_object)
    when 'payment_intent.payment_failed' then internal.payment_event_failed(v_id, v_object)
    when 'charge.refunded' then internal.payment_event_refunded(v_id, v_object)
    else 'ignored: event type not used' end;
  update app.payment_events e set processed_at = now(), outcome = v_outcome where e.event_id = v_id;
  return jsonb_build_object('event_id', v_id, 'type', v_type, 'duplicate', false, 'outcome', v_outcome);
end
$$;
comment on function internal.payment_event_apply(jsonb) is
  'Record a signature-verified provider event and apply it, in one transaction, once per event id (the primary key of app.payment_events; a duplicate returns duplicate: true and changes nothing). Returns {event_id, type, duplicate, outcome}. Executable only by lms_webhook (the server''s POST /webhooks/stripe), never by a user. SECURITY DEFINER: writes orders, payments and enrollments, which no client role may.';
