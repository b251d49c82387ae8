-- pg_prove user: postgres
-- (the superuser: the webhook worker runs over the DBA connection, like `lms events deliver`)
-- Events: written without an id by the triggers, numbered after commit by the sequencer in write
-- order without gaps, their webhook deliveries queued with them for the subscriptions that existed;
-- delivery under a worker's lease (claim, attempt with the token, release), which another worker
-- skips and an expired lease cannot record into.
begin;
select tests.plan(14);

select tests.create_user('early');
select ok((select count(*) from app.events where id is null and type = 'user.created') >= 1,
          'a change writes its event without an id (nothing serialises the writer)');
select ok(internal.events_sequence() >= 1, 'the sequencer returns the highest id given');
select is((select count(*) from app.events where id is null), 0::bigint, 'after it every committed event has an id');
select is((select max(id) - min(id) + 1 from app.events), (select count(*) from app.events), 'ids are gapless');

select tests.as_owner($$
  insert into app.webhooks (id, url, events, secret, created_at)
  values ('e9000000-0000-4000-8000-000000000001', 'https://crm.example.com/hook', '{user.created}',
          'whsec_' || repeat('A', 43) || '=', now())$$);
select tests.create_user('late');
select internal.events_sequence();
select is((select count(*)::int from app.webhook_deliveries where webhook_id = 'e9000000-0000-4000-8000-000000000001'),
          1, 'a delivery for the event after the webhook, none for the one numbered before it');

create temp table claimed on commit drop as select * from internal.webhook_claim(10, 60);
select is((select count(*)::int from claimed), 1, 'a worker claims the subscription with its due delivery');
select ok((select claim_token is not null and claimed_until > clock_timestamp() from app.webhooks
           where id = 'e9000000-0000-4000-8000-000000000001'), 'the lease is on the subscription');
select is((select count(*)::int from internal.webhook_claim(10, 60)), 0, 'another worker skips a leased subscription');
select is(internal.webhook_attempt(gen_random_uuid(), (select delivery_id from claimed), true, 200, null),
          'lease_lost', 'an attempt without the lease records nothing');
select is(internal.webhook_attempt((select claim from claimed), (select delivery_id from claimed), true, 200, null),
          'succeeded', 'the lease holder records the POST');
select internal.webhook_release((select claim from claimed));
select is((select claim_token from app.webhooks where id = 'e9000000-0000-4000-8000-000000000001'), null,
          'release ends the lease');

-- A worker that died: its lease runs out and the next worker takes over; the dead one records nothing.
select tests.create_user('third');
select internal.events_sequence();
create temp table first_claim on commit drop as select * from internal.webhook_claim(10, 60);
update app.webhooks set claimed_until = clock_timestamp() - interval '1 second'
where id = 'e9000000-0000-4000-8000-000000000001';
select is((select count(*)::int from internal.webhook_claim(10, 60)), 1, 'an expired lease can be claimed again');
select is(internal.webhook_attempt((select claim from first_claim), (select delivery_id from first_claim), true, 200,
                                   null), 'lease_lost', 'the worker whose lease ran out records nothing');
select ok(not has_function_privilege('lms_api', 'internal.webhook_claim(integer, integer, text, text)', 'execute')
          and not has_function_privilege('lms_analyst', 'internal.webhook_attempt(uuid, uuid, boolean, integer, text, boolean)',
                                         'execute'),
          'neither the API role nor analysts may claim or record deliveries (the secret comes with the claim)');

select * from finish();
rollback;
