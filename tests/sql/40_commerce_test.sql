-- Commerce as direct SQL: orders and payments under RLS; nobody completes an order or inserts a
-- payment by hand (lms_api as a student or an admin, analysts); the client secret is closed to
-- every client role; lms_webhook may execute internal.payment_event_apply and nothing else.
\set ON_ERROR_STOP 1
begin;
select tests.plan(36);

-- Structure -----------------------------------------------------------------------------------
select policies_are('app', 'orders', array['select_own_instructor_admin'], 'orders: a select policy only');
select policies_are('app', 'payments', array['select_own_instructor_admin'], 'payments: a select policy only');
select policies_are('app', 'payment_events', array['select_admin'], 'payment_events: admins read, nobody writes');
select is_definer('internal', 'payment_event_apply', array['jsonb'], 'payment_event_apply is SECURITY DEFINER');
select ok(not has_table_privilege(r, 'app.orders', 'insert,update,delete'), r || ' cannot write orders')
from unnest(array['lms_api', 'lms_analyst', 'lms_webhook']) r;
select ok(not has_table_privilege(r, 'app.payments', 'insert,update,delete'), r || ' cannot write payments')
from unnest(array['lms_api', 'lms_analyst', 'lms_webhook']) r;
select ok(not has_column_privilege(r, 'app.orders', 'provider_client_secret', 'select'),
          r || ' cannot read the client secret column')
from unnest(array['lms_api', 'lms_analyst', 'lms_webhook']) r;
select ok(not has_function_privilege(r, 'internal.payment_event_apply(jsonb)', 'execute'),
          r || ' cannot apply provider events')
from unnest(array['lms_api', 'lms_analyst', 'lms_authenticator']) r;
select is((select array_agg(p.oid::regprocedure::text) from pg_proc p
           where p.pronamespace in ('app'::regnamespace, 'api'::regnamespace, 'internal'::regnamespace)
             and has_function_privilege('lms_webhook', p.oid, 'execute')),
          array['internal.payment_event_apply(jsonb)'], 'lms_webhook may execute exactly one function');
select ok(not exists (select from pg_class c where c.relnamespace = 'app'::regnamespace
                      and has_table_privilege('lms_webhook', c.oid, 'select,insert,update,delete')),
          'lms_webhook has no table privilege');

-- Fixtures ------------------------------------------------------------------------------------
select tests.create_user('ina', 'instructor') is not null as ok \gset
select tests.create_user('sam') is not null as ok \gset
select tests.create_user('pia') is not null as ok \gset
select tests.create_user('ada', 'admin') is not null as ok \gset
select tests.authenticate_as('ina');
select api.course_create(title => 'Paid course', price_cents => 4900) ->> 'id' as paid \gset
select api.lesson_create(course_id => :'paid', title => 'P', content => 'p') ->> 'id' as lp \gset
select api.lesson_publish(:'lp') is not null as ok, api.course_publish(:'paid') is not null as ok \gset

-- ==== student =================================================================================
select tests.authenticate_as('sam');
select api.order_create(:'paid') ->> 'order_id' as sam_order \gset
select is(api.order_create(:'paid') ->> 'order_id', :'sam_order', 'a second order.create returns the pending order');
select is((select count(*)::int from app.orders), 1, 'the student sees their order');
select throws_ok(format($$update app.orders set status = 'completed', completed_at = now() where id = %L$$, :'sam_order'),
  '42501', null, 'a student cannot complete their order by UPDATE');
select throws_ok(format($$insert into app.payments (order_id, user_id, provider_payment_id, amount_cents, currency)
                          values (%L, %L, 'pi_fake', 4900, 'usd')$$, :'sam_order', tests.user_id('sam')),
  '42501', null, 'a student cannot insert a payment');
select throws_ok($$select internal.payment_event_apply('{"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {}}}')$$,
  '42501', null, 'a student cannot apply a provider event');
select tests.authenticate_as('pia');
select is((select count(*)::int from app.orders), 0, 'another student sees no order');
select throws_ok(format($$select internal.order_attach_intent(%L, 'pi_evil', 'pi_evil_secret')$$, :'sam_order'),
  'LM404', 'order not found', 'nobody attaches an intent to another''s order');
select is((select count(*)::int from app.payment_events), 0, 'a student sees no provider events');

-- ==== admin (lms_api): sees all, still cannot write ==============================================
select tests.authenticate_as('ada');
select is((select count(*)::int from app.orders), 1, 'an admin sees every order');
select throws_ok(format($$update app.orders set status = 'completed', completed_at = now() where id = %L$$, :'sam_order'),
  '42501', null, 'an admin cannot complete an order by UPDATE');
select throws_ok(format($$insert into app.payments (order_id, user_id, provider_payment_id, amount_cents, currency)
                          values (%L, %L, 'pi_fake', 4900, 'usd')$$, :'sam_order', tests.user_id('sam')),
  '42501', null, 'an admin cannot insert a payment');
select throws_ok(format($$select api.order_refund(%L)$$, :'sam_order'), 'LM422', null,
  'a pending order is not refundable');

-- ==== the webhook role: applies an event, nothing else =============================================
select tests.become_login();
set local role lms_webhook;
select is(internal.payment_event_apply(jsonb_build_object(
  'id', 'evt_pgtap_1', 'type', 'payment_intent.succeeded',
  'data', jsonb_build_object('object', jsonb_build_object(
    'id', 'pi_pgtap', 'object', 'payment_intent', 'amount', 4900, 'currency', 'usd',
    'metadata', jsonb_build_object('order_id', :'sam_order'))))) ->> 'outcome',
  'order completed', 'lms_webhook applies a succeeded event');
select is(internal.payment_event_apply(jsonb_build_object(
  'id', 'evt_pgtap_1', 'type', 'payment_intent.succeeded', 'data', jsonb_build_object('object', '{}'::jsonb))) ->> 'duplicate',
  'true', 'the same event id again is a duplicate');
select throws_ok($$select count(*) from app.orders$$, '42501', null, 'lms_webhook cannot read orders');
select throws_ok(format($$select api.order_create(%L)$$, :'paid'), '42501', null, 'lms_webhook cannot call api functions');
reset role;
select tests.authenticate_as('sam');
select is(api.order_get(:'sam_order') ->> 'status', 'completed', 'the order is completed');
select ok(internal.is_actively_enrolled(tests.user_id('sam'), :'paid'), 'the buyer is enrolled');

select * from finish();
rollback;
