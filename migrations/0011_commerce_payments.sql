-- Commerce for real (issue 16): the webhook's role, the payment intent's client secret on orders, and
-- the seed's payment columns (payments.user_id, payment_method, metadata) with the index RLS needs.
-- squawk-ignore-file adding-required-field, adding-not-nullable-field, require-concurrent-index-creation, require-lock-timeout, require-statement-timeout, constraint-missing-not-valid, adding-foreign-key-constraint
-- (orders and payments were empty shells until this release — nothing could write them — so no row is
--  scanned or rewritten and no lock is contended; payments.user_id can be NOT NULL at once)
-- depends: 0010_add_submissions_not_self_graded

-- The webhook runs as lms_webhook: NOLOGIN, a member-of for the server's login so that it can
-- `set_config('role', 'lms_webhook', true)`; it may execute internal.payment_event_apply only
-- (sql/policies/40_commerce.sql). Cluster-wide, so created idempotently (and kept by the rollback).
do $$
begin
  if not exists (select from pg_roles where rolname = 'lms_webhook') then
    create role lms_webhook nologin;
  end if;
end
$$;
grant lms_webhook to lms_authenticator;

set local role lms_owner;

alter table app.orders add column provider_client_secret text;
comment on column app.orders.status is 'pending (payment intent created) → completed (payment_intent.succeeded) | failed (payment_intent.payment_failed, or a success whose amount or currency differs) | canceled; failed → completed (a later success); completed or pending → refunded (charge.refunded).';
comment on column app.orders.provider_client_secret is 'The payment intent''s client secret, handed to the buyer to confirm the payment; a secret (no analyst may read it), null until the intent is created.';

alter table app.payments
  add column user_id uuid not null,
  add column payment_method text,
  add column metadata jsonb not null default '{}';
alter table app.payments
  add constraint fk_payments_user_id_users foreign key (user_id) references app.users (id) on delete restrict;
alter table app.payments
  add constraint ck_payments_metadata_object check (jsonb_typeof(metadata) = 'object');
create index ix_payments_user_id on app.payments (user_id);
comment on column app.payments.user_id is 'The buyer (the order''s user), copied so that RLS filters without a join.';
comment on column app.payments.payment_method is 'Kind of payment method the provider reported (e.g. card), or its id (pm_…) when no kind was given; null when unknown.';
comment on column app.payments.metadata is 'The provider''s metadata of the payment intent (JSON object, e.g. {"order_id": "…"}).';
