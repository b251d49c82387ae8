/*
 * Commerce: orders for paid courses, the payments that complete them, and every event the
 * payment provider sent (each processed once: the event id is the primary key).
 */
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
comment on column app.orders.status is 'pending (payment intent created) → completed (payment_intent.succeeded) | failed (payment_intent.payment_failed) | canceled; completed → refunded (charge.refunded).';
comment on column app.orders.provider_payment_intent_id is 'The provider''s payment intent for this order (Stripe pi_…); null until it is created.';
comment on column app.orders.completed_at is 'When the payment succeeded; set exactly for completed and refunded orders.';
comment on index app.uq_orders_one_pending is 'At most one pending order per student and course.';

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
  constraint pk_payments primary key (id),
  constraint fk_payments_order_id_orders foreign key (order_id) references app.orders (id) on delete restrict,
  constraint uq_payments_provider_payment_id unique (provider, provider_payment_id),
  constraint ck_payments_amount_positive check (amount_cents > 0),
  constraint ck_payments_status check (status in ('succeeded', 'refunded', 'amount_mismatch')),
  constraint ck_payments_refunded_at check ((status = 'refunded') = (refunded_at is not null))
);
create index ix_payments_order_id on app.payments (order_id);
comment on table app.payments is 'Money received for an order, as reported by the provider. amount_mismatch rows are kept but not honoured.';
comment on column app.payments.provider is 'The payment provider that reported the payment (default stripe).';
comment on column app.payments.provider_payment_id is 'The provider''s id of the payment (the Stripe payment intent id); unique per provider.';
comment on column app.payments.amount_cents is 'Amount the provider reported as paid, in integer cents of currency.';
comment on column app.payments.currency is 'Currency the provider reported for amount_cents.';
comment on column app.payments.status is 'succeeded | refunded | amount_mismatch (amount or currency differs from the order: kept, but grants no enrollment).';
comment on column app.payments.refunded_at is 'When the provider reported the refund (charge.refunded); set exactly when status is refunded.';

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
