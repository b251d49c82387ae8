-- Create the commerce tables: orders, payments, payment_events (baseline of sql/schema/40_commerce.sql).
-- squawk-ignore-file require-concurrent-index-creation, require-lock-timeout, require-statement-timeout, constraint-missing-not-valid, adding-foreign-key-constraint
-- (baseline: every table here is new and empty, so no lock is contended and no row is scanned)
-- depends: 0004_create_storage

/*
 * Commerce: orders for paid courses, the payments that complete them, and every event the
 * payment provider sent (each processed once: the event id is the primary key).
 */
set local role lms_owner;

create table app.orders (
  id                        uuid primary key default gen_random_uuid(),
  user_id                   uuid not null references app.users (id) on delete restrict,
  course_id                 uuid not null references app.courses (id) on delete restrict,
  amount_cents              integer not null,
  currency                  text not null default 'USD',
  status                    text not null default 'pending',
  provider_payment_intent_id text,
  created_at                timestamptz not null default now(),
  updated_at                timestamptz not null default now(),
  completed_at              timestamptz,
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
comment on index app.uq_orders_one_pending is 'At most one pending order per student and course.';

create table app.payments (
  id                  uuid primary key default gen_random_uuid(),
  order_id            uuid not null references app.orders (id) on delete restrict,
  provider            text not null default 'stripe',
  provider_payment_id text not null,
  amount_cents        integer not null,
  currency            text not null,
  status              text not null default 'succeeded',
  created_at          timestamptz not null default now(),
  refunded_at         timestamptz,
  constraint uq_payments_provider_payment_id unique (provider, provider_payment_id),
  constraint ck_payments_amount_positive check (amount_cents > 0),
  constraint ck_payments_status check (status in ('succeeded', 'refunded', 'amount_mismatch')),
  constraint ck_payments_refunded_at check ((status = 'refunded') = (refunded_at is not null))
);
create index ix_payments_order_id on app.payments (order_id);
comment on table app.payments is 'Money received for an order, as reported by the provider. amount_mismatch rows are kept but not honoured.';

create table app.payment_events (
  event_id     text primary key,
  provider     text not null default 'stripe',
  event_type   text not null,
  payload      jsonb not null,
  received_at  timestamptz not null default now(),
  processed_at timestamptz,
  outcome      text
);
comment on table app.payment_events is 'Every webhook event received; the primary key makes processing idempotent.';
