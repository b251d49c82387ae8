/*
 * Events — webhook delivery (run by `lms events deliver` over the DATABASE_URL connection, like
 * the outbox) and upkeep. Order per subscription: a webhook's deliveries go in event order and a
 * later one waits while an earlier one is pending (retrying). A worker claims one subscription at
 * a time — a lease (claim_token, claimed_until) taken under FOR UPDATE SKIP LOCKED and committed at
 * once — so two workers never deliver to the same URL at once, and no transaction stays open while
 * the POSTs go out: each attempt is recorded in a short transaction of its own, with the token.
 */

drop function if exists internal.webhook_claim(integer);  -- a lease instead of a held row lock (0024)
drop function if exists internal.webhook_claim(integer, integer);  -- before subscriptions had a format (0038)

create or replace function internal.webhook_claim(p_limit integer default 50, p_lease_seconds integer default 600,
                                                  p_format text default 'standard_webhooks', p_home text default null)
returns table (claim uuid, webhook_id uuid, url text, secret text, delivery_id uuid, event_id bigint, event jsonb,
               basic_auth text)
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_webhook app.webhooks;
  v_claim   uuid := gen_random_uuid();
begin
  select w.* into v_webhook
  from app.webhooks w
  cross join lateral (
    select d.next_attempt_at from app.webhook_deliveries d
    where d.webhook_id = w.id and d.status = 'pending'
    order by d.event_id, d.created_at
    limit 1) head
  where w.is_active and w.format = p_format and head.next_attempt_at <= now()
    and (w.claimed_until is null or w.claimed_until < clock_timestamp())
  order by head.next_attempt_at
  limit 1
  for update of w skip locked;
  if not found then
    return;
  end if;
  update app.webhooks w set claim_token = v_claim,
    claimed_until = clock_timestamp() + make_interval(secs => greatest(p_lease_seconds, 1))
  where w.id = v_webhook.id;
  return query
    select v_claim, v_webhook.id, v_webhook.url, v_webhook.secret, d.id, d.event_id,
           case when p_format = 'xapi' then internal.xapi_statement(e, p_home) else internal.event_json(e) end,
           v_webhook.basic_auth
    from app.webhook_deliveries d join app.events e on e.id = d.event_id
    where d.webhook_id = v_webhook.id and d.status = 'pending'
    order by d.event_id, d.created_at
    limit p_limit;
end
$$;
comment on function internal.webhook_claim(integer, integer, text, text) is
  'Leases one active, unclaimed subscription of the format (standard_webhooks: lms events deliver; xapi: lms xapi deliver) whose first pending delivery is due (skip locked: concurrent workers take different ones) for p_lease_seconds, and returns the lease token with up to p_limit of its pending deliveries in event order, the URL, the secret (and an LRS''s basic_auth) and the event — as its xAPI statement for an xapi subscription (internal.xapi_statement with p_home; null: nothing to send). Commit at once, POST in order, record each with internal.webhook_attempt(…, claim) and stop at the first failure; internal.webhook_release ends the lease. SECURITY DEFINER: the secrets are lms_definer''s only. Not granted to clients.';

create or replace function internal.webhook_release(p_claim uuid)
returns void
language sql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
  update app.webhooks w set claim_token = null, claimed_until = null where w.claim_token = p_claim;
$$;
comment on function internal.webhook_release(uuid) is
  'Ends a worker''s lease on its subscription (internal.webhook_claim): the next due delivery may be claimed at once. SECURITY DEFINER: lms_definer''s table. Not granted to clients.';

drop function if exists internal.webhook_attempt(uuid, boolean, integer, text, boolean);  -- the lease token (0024)

create or replace function internal.webhook_attempt(p_claim uuid, p_delivery_id uuid, p_ok boolean,
                                                    p_response_code integer, p_error text,
                                                    p_give_up boolean default false)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_delivery      app.webhook_deliveries;
  v_webhook       app.webhooks;
  v_email         text;
  v_retry_for     interval := make_interval(hours => internal.setting('webhook_retry_hours')::integer);
  v_disable_after interval := make_interval(hours => internal.setting('webhook_disable_after_hours')::integer);
begin
  perform from app.webhooks w join app.webhook_deliveries d on d.webhook_id = w.id
  where d.id = p_delivery_id and w.claim_token = p_claim and w.claimed_until >= clock_timestamp()
  for update of w;
  if not found then  -- the lease ran out (another worker may have the subscription now): record nothing
    return 'lease_lost';
  end if;
  update app.webhook_deliveries d set
    attempts = d.attempts + 1,
    last_attempt_at = now(),
    last_response_code = p_response_code,
    last_error = case when p_ok then null else left(coalesce(p_error, 'failed'), 2000) end,
    status = case when p_ok then 'succeeded'
                  when p_give_up or now() - d.created_at >= v_retry_for then 'failed'
                  else 'pending' end,
    delivered_at = case when p_ok then now() end,
    next_attempt_at = case when p_ok then d.next_attempt_at
                           else now() + least(interval '5 seconds' * power(2, d.attempts), interval '1 hour') end
  where d.id = p_delivery_id
  returning * into v_delivery;
  if not found then
    return null;
  end if;
  if p_ok then
    update app.webhooks w set failing_since = null where w.id = v_delivery.webhook_id and w.failing_since is not null;
    return v_delivery.status;
  end if;
  update app.webhooks w set failing_since = coalesce(w.failing_since, now())
  where w.id = v_delivery.webhook_id
  returning * into v_webhook;
  if v_webhook.is_active and now() - v_webhook.failing_since >= v_disable_after then
    update app.webhooks w set is_active = false, disabled_at = now(),
      disabled_reason = 'failing since ' || to_char(v_webhook.failing_since at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
    where w.id = v_webhook.id;
    v_email := (select u.email from app.users u where u.id = v_webhook.created_by and u.is_active);
    if v_email is not null then
      perform internal.queue_email(v_email, 'Webhook disabled: ' || left(v_webhook.url, 200),
        'Deliveries to ' || v_webhook.url || ' have failed since '
        || to_char(v_webhook.failing_since at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')
        || ', so the subscription ' || v_webhook.id || ' was disabled. Last error: '
        || coalesce(left(p_error, 500), 'none') || E'\n\nFix the receiver, then re-activate it with '
        || 'webhook.update {webhook_id, is_active: true}; pending deliveries resume in order.');
    end if;
  end if;
  return v_delivery.status;
end
$$;
comment on function internal.webhook_attempt(uuid, uuid, boolean, integer, text, boolean) is
  'Records one POST of a delivery under the worker''s lease p_claim (internal.webhook_claim) — ''lease_lost'' and nothing recorded when the lease ran out —: succeeded on a 2xx; else pending again after 5 s × 2^(attempts−1) (at most 1 hour) until webhook_retry_hours (app.settings) after the delivery was queued, then failed (at once with p_give_up). A subscription failing for webhook_disable_after_hours is disabled and its creator emailed through the outbox. Returns the delivery''s new status. SECURITY DEFINER: lms_definer''s tables. Not granted to clients.';

create or replace function internal.maintain_events()
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_days   integer := internal.setting('event_retention_days');
  v_events integer;
begin
  delete from app.events e where e.occurred_at < now() - make_interval(days => v_days);
  get diagnostics v_events = row_count;
  return jsonb_build_object('events_purged', v_events, 'event_retention_days', v_days);
end
$$;
comment on function internal.maintain_events() is
  'Upkeep (`lms db maintain`): deletes events (and their deliveries) older than event_retention_days (app.settings, default 90). SECURITY DEFINER: app.events is append-only for everyone else.';
