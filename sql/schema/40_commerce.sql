/*
 * Commerce: orders for paid courses, the payments that complete them, and every event the
 * payment provider sent (each processed once: the event id is the primary key).
 *
 * The seed's columns: orders.stripe_payment_intent_id is provider_payment_intent_id (the provider is
 * named in payments.provider, not in column names); payments keeps user_id, payment_method and
 * metadata as the seed has them (added by migration 0011, hence last in their table);
 * payments.transaction_id is provider_payment_id (the Stripe payment intent id), and the seed's
 * stripe_payment_method_id is folded into payment_method (the kind, or the pm_… id when no kind is
 * known). The webhook looks up orders by id and by provider_payment_intent_id, payments by
 * (provider, provider_payment_id) and enrollments by payment_id: each is a unique key or an index.
 *
 * The webhook's role lms_webhook (NOLOGIN, granted to lms_authenticator) may execute only
 * internal.payment_event_apply (sql/policies/40_commerce.sql); cluster-wide, created idempotently.
 */
do $$
begin
  if not exists (select from pg_roles where rolname = 'lms_webhook') then
    create role lms_webhook nologin;
  end if;
end
$$;
grant lms_webhook to lms_authenticator;

set local role lms_owner;

create table app.orders (
  id                        uuid not null default gen_random_uuid(),
  user_id                   uuid not null,
  course_id                 uuid not null,
  amount_cents              integer not null,
  currency                  text not null default 'USD',
  status                    text not null default 'pending',
  provider_payment_intent_id text,
  created_at                timestamptz not null default now(),
  updated_at                timestamptz not null default now(),
  completed_at              timestamptz,
  provider_client_secret    text,
  canceled_at               timestamptz,
  provider_canceled_at      timestamptz,
  constraint pk_orders primary key (id),
  constraint fk_orders_user_id_users foreign key (user_id) references app.users (id) on delete restrict,
  constraint fk_orders_course_id_courses foreign key (course_id) references app.courses (id) on delete restrict,
  constraint uq_orders_provider_payment_intent_id unique (provider_payment_intent_id),
  constraint ck_orders_amount_positive check (amount_cents > 0),
  constraint ck_orders_currency check (currency ~ '^[A-Z]{3}$'),
  constraint ck_orders_status check (status in ('pending', 'completed', 'failed', 'refunded', 'canceled')),
  constraint ck_orders_completed_at check ((status in ('completed', 'refunded')) = (completed_at is not null))
);
create index ix_orders_user_id on app.orders (user_id);
create index ix_orders_course_id on app.orders (course_id);
create unique index uq_orders_one_pending on app.orders (user_id, course_id) where status = 'pending';
comment on table app.orders is 'A student''s purchase of a paid course; completed by the provider''s payment_intent.succeeded.';
comment on column app.orders.amount_cents is 'Amount charged, in integer cents of currency: the course''s price when the order was created.';
comment on column app.orders.currency is 'ISO 4217 code, upper case, of amount_cents.';
comment on column app.orders.status is 'pending (payment intent created) → completed (payment_intent.succeeded) | failed (payment_intent.payment_failed, or a success whose amount or currency differs) | canceled (order.cancel; the course unpublished, made free or re-priced); failed or canceled → completed (a payment under way when it failed or was canceled: the money was taken); completed or pending → refunded (charge.refunded).';
comment on column app.orders.provider_payment_intent_id is 'The provider''s payment intent for this order (Stripe pi_…); null until it is created.';
comment on column app.orders.completed_at is 'When the payment succeeded; set exactly for completed and refunded orders.';
comment on column app.orders.provider_client_secret is 'The payment intent''s client secret, handed to the buyer to confirm the payment; a secret (no analyst may read it), null until the intent is created.';
comment on index app.uq_orders_one_pending is 'At most one pending order per student and course.';
comment on column app.orders.canceled_at is 'When the order was canceled (order.cancel by the buyer, or the course unpublished, made free or re-priced while it was pending); kept if a payment that was under way still completes it.';
comment on column app.orders.provider_canceled_at is 'When the payment intent of a canceled order was canceled at the provider (or found settled there); null while that is still to do.';
create index ix_orders_intent_to_cancel on app.orders (canceled_at)
  where status = 'canceled' and provider_payment_intent_id is not null and provider_canceled_at is null;
comment on index app.ix_orders_intent_to_cancel is 'Canceled orders whose payment intent is still live at the provider: the server''s sweep cancels them there.';

create table app.payments (
  id                  uuid not null default gen_random_uuid(),
  order_id            uuid not null,
  provider            text not null default 'stripe',
  provider_payment_id text not null,
  amount_cents        integer not null,
  currency            text not null,
  status              text not null default 'succeeded',
  created_at          timestamptz not null default now(),
  refunded_at         timestamptz,
  user_id             uuid not null,
  payment_method      text,
  metadata            jsonb not null default '{}',
  constraint pk_payments primary key (id),
  constraint fk_payments_order_id_orders foreign key (order_id) references app.orders (id) on delete restrict,
  constraint uq_payments_provider_payment_id unique (provider, provider_payment_id),
  constraint ck_payments_amount_positive check (amount_cents > 0),
  constraint ck_payments_status check (status in ('succeeded', 'refunded', 'amount_mismatch')),
  constraint ck_payments_refunded_at check ((status = 'refunded') = (refunded_at is not null)),
  constraint fk_payments_user_id_users foreign key (user_id) references app.users (id) on delete restrict,
  constraint ck_payments_metadata_object check (jsonb_typeof(metadata) = 'object')
);
create index ix_payments_order_id on app.payments (order_id);
create index ix_payments_user_id on app.payments (user_id);
comment on table app.payments is 'Money received for an order, as reported by the provider. amount_mismatch rows are kept but not honoured.';
comment on column app.payments.provider is 'The payment provider that reported the payment (default stripe).';
comment on column app.payments.provider_payment_id is 'The provider''s id of the payment (the Stripe payment intent id); unique per provider.';
comment on column app.payments.amount_cents is 'Amount the provider reported as paid, in integer cents of currency.';
comment on column app.payments.currency is 'Currency the provider reported for amount_cents.';
comment on column app.payments.status is 'succeeded | refunded | amount_mismatch (amount or currency differs from the order: kept, but grants no enrollment).';
comment on column app.payments.refunded_at is 'When the provider reported the refund (charge.refunded); set exactly when status is refunded.';
comment on column app.payments.user_id is 'The buyer (the order''s user), copied so that RLS filters without a join.';
comment on column app.payments.payment_method is 'Kind of payment method the provider reported (e.g. card), or its id (pm_…) when no kind was given; null when unknown.';
comment on column app.payments.metadata is 'The provider''s metadata of the payment intent (JSON object, e.g. {"order_id": "…"}).';

create table app.payment_events (
  event_id     text not null,
  provider     text not null default 'stripe',
  event_type   text not null,
  payload      jsonb not null,
  received_at  timestamptz not null default now(),
  processed_at timestamptz,
  outcome      text,
  constraint pk_payment_events primary key (event_id)
);
comment on table app.payment_events is 'Every webhook event received; the primary key makes processing idempotent.';
comment on column app.payment_events.event_id is 'The provider''s event id (Stripe evt_…): a redelivered event finds its row and is not processed again.';
comment on column app.payment_events.provider is 'The provider that sent the event (default stripe).';
comment on column app.payment_events.event_type is 'The provider''s event type, e.g. payment_intent.succeeded, payment_intent.payment_failed, charge.refunded.';
comment on column app.payment_events.payload is 'The signature-verified event body as received: {id, type, data: {object: …}, …} in the provider''s shape.';
comment on column app.payment_events.received_at is 'When the webhook first delivered the event.';
comment on column app.payment_events.processed_at is 'When the event was applied to orders, payments and enrollments; null = recorded, not (yet) applied.';
comment on column app.payment_events.outcome is 'Short result of processing for operators, e.g. why an event was ignored or not honoured; null until processed.';
