/*
 * Events — the methods: event.list (replay, under RLS) and webhook.* (admins; the table holds
 * signing secrets, so these are SECURITY DEFINER and check the caller is an active admin).
 */

create or replace function internal.event_json(p_event app.events)
returns jsonb
language sql
stable
as $$
  select jsonb_build_object('id', p_event.id, 'type', p_event.type, 'occurred_at', p_event.occurred_at,
                            'data', p_event.data)
$$;
comment on function internal.event_json(app.events) is 'An event as clients see it (event.list, WebSocket notifications, webhook bodies).
@shape event {id: int, type: text, occurred_at: timestamptz, data: object}';

create or replace function internal.check_event_types(p_types text[])
returns void
language plpgsql
immutable
as $$
begin
  if p_types is not null and not (p_types <@ array['enrollment.created', 'enrollment.dropped', 'lesson.completed',
      'course.completed', 'certificate.issued', 'certificate.revoked', 'attempt.submitted', 'submission.submitted',
      'submission.graded', 'order.completed', 'order.refunded', 'user.created', 'user.deactivated',
      'module.completed', 'override.changed', 'attempt.graded', 'attempt.regraded', 'grade.posted',
      'lti.launched', 'lti.score_received']) then
    raise exception 'unknown event type in %', p_types using errcode = 'LM422', detail = 'invalid_event_type', hint = 'types';
  end if;
end
$$;
comment on function internal.check_event_types(text[]) is 'LM422 invalid_event_type unless every type is a known event type (the list of ck_events_type).';

create or replace function api.event_list(since bigint default null, "limit" integer default 100, types text[] default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_user_id uuid := internal.require_user();
  v_horizon bigint;
  v_since   bigint := coalesce(event_list.since, 0);
  v_limit   integer := coalesce(event_list."limit", 100);
  v_courses uuid[];
begin
  perform internal.check_page(event_list."limit", 0, 1000);
  perform internal.check_event_types(event_list.types);
  v_horizon := internal.events_sequence();  -- number what committed since the last reader
  if internal.is_admin() then
    return coalesce((
      select jsonb_agg(internal.event_json(e) order by e.id)
      from (select * from app.events e
            where e.id > v_since and e.id <= v_horizon
              and (event_list.types is null or e.type = any (event_list.types))
            order by e.id
            limit v_limit) e), '[]'::jsonb);
  end if;
  -- Everyone else, by audience: their own events (ix_events_user_id) and each course they teach
  -- (ix_events_course_id), the first `limit` of each in id order, merged — what the row-level security
  -- lets them see, read by key rather than by walking every event to find theirs.
  v_courses := array(select internal.my_course_ids());
  return coalesce((
    select jsonb_agg(internal.event_json(e) order by e.id)
    from (select distinct on (x.id) x.*
          from ((select * from app.events e
                 where e.user_id = v_user_id and e.id > v_since and e.id <= v_horizon
                   and (event_list.types is null or e.type = any (event_list.types))
                 order by e.id limit v_limit)
                union all
                (select c.* from unnest(v_courses) k(course_id)
                 cross join lateral (select * from app.events e
                                     where e.course_id = k.course_id and e.id > v_since and e.id <= v_horizon
                                       and (event_list.types is null or e.type = any (event_list.types))
                                     order by e.id limit v_limit) c)) x
          order by x.id
          limit v_limit) e), '[]'::jsonb);
end
$$;
comment on function api.event_list(bigint, integer, text[]) is
  'Events you may see, ascending by id: your own, those of the courses you teach, all for admins (row-level security decides; read by audience, so its cost follows what you may see, not the number of events). A client that was offline resumes with since = the last id it saw; ids are given in commit order without gaps, so no event that commits later can have a lower id than one already returned.
@result event[]
@param since minimum=0
@param limit minimum=1 maximum=1000
@param types maxItems=20 itemMaxLength=40
since: only ids above it (default: from the start). limit: default 100, at most 1000. types: only these types.';

create or replace function internal.webhook_json(p_webhook app.webhooks)
returns jsonb
language sql
stable
as $$
  select jsonb_build_object(
    'webhook_id', p_webhook.id, 'url', p_webhook.url, 'events', to_jsonb(p_webhook.events),
    'description', p_webhook.description, 'is_active', p_webhook.is_active,
    'failing_since', p_webhook.failing_since, 'disabled_at', p_webhook.disabled_at,
    'disabled_reason', p_webhook.disabled_reason, 'created_at', p_webhook.created_at,
    'updated_at', p_webhook.updated_at)
$$;
comment on function internal.webhook_json(app.webhooks) is 'A webhook subscription without its secret.
@shape webhook {webhook_id: uuid, url: text, events: text[], description: text?, is_active: bool, failing_since: timestamptz?, disabled_at: timestamptz?, disabled_reason: text?, created_at: timestamptz, updated_at: timestamptz}';

create or replace function internal.new_webhook_secret()
returns text
language sql
volatile
as $$
  select 'whsec_' || encode(public.gen_random_bytes(32), 'base64')
$$;
comment on function internal.new_webhook_secret() is 'A fresh signing secret in the Standard Webhooks format: whsec_ + base64 of 32 random bytes.';

create or replace function internal.managed_webhook(p_webhook_id uuid)
returns app.webhooks
language plpgsql
volatile
as $$
declare
  v_webhook app.webhooks;
begin
  perform internal.require_role('admin');
  select * into v_webhook from app.webhooks w where w.id = p_webhook_id for update;
  if not found then
    raise exception 'webhook not found' using errcode = 'LM404', detail = 'not_found', hint = 'webhook_id';
  end if;
  return v_webhook;
end
$$;
comment on function internal.managed_webhook(uuid) is 'The webhook, locked, for an active admin; LM403 forbidden for anyone else, LM404 not_found when there is none. Runs inside the SECURITY DEFINER webhook methods.';

create or replace function internal.check_webhook_events(p_events text[])
returns void
language plpgsql
immutable
as $$
begin
  perform internal.check_event_types(p_events);
  if p_events is not null and cardinality(p_events) = 0 then
    raise exception 'events must name at least one event type' using errcode = 'LM422',
      detail = 'invalid_event_type', hint = 'events';
  end if;
end
$$;
comment on function internal.check_webhook_events(text[]) is 'LM422 invalid_event_type unless a subscription''s events name at least one type, every one known.';

create or replace function internal.check_webhook_url(p_url text)
returns void
language plpgsql
immutable
as $$
begin
  if p_url is not null and btrim(p_url) !~ '^https?://[^/?#@\s]+(/[^\s]*)?$' then
    raise exception 'url must be an http:// or https:// URL without user:password' using errcode = 'LM422',
      detail = 'invalid_url', hint = 'url';
  end if;
end
$$;
comment on function internal.check_webhook_url(text) is 'LM422 invalid_url unless the URL is http(s) with a host and no user:password part (the rule of ck_webhooks_url, with a clear reason).';

create or replace function api.webhook_create(url text, events text[], description text default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_admin   uuid := internal.require_role('admin');
  v_webhook app.webhooks;
begin
  perform internal.check_webhook_events(webhook_create.events);
  perform internal.check_webhook_url(webhook_create.url);
  insert into app.webhooks (url, events, description, secret, created_by)
  values (btrim(webhook_create.url), (select array_agg(distinct t order by t) from unnest(webhook_create.events) t),
          webhook_create.description, internal.new_webhook_secret(), v_admin)
  returning * into v_webhook;
  perform internal.audit('webhook.create', 'webhook', v_webhook.id, jsonb_build_object('url', v_webhook.url));
  return internal.webhook_json(v_webhook) || jsonb_build_object('secret', v_webhook.secret);
end
$$;
comment on function api.webhook_create(text, text[], text) is
  'Subscribes a URL to events (admins). The secret (whsec_…, Standard Webhooks format) is shown only here and by webhook.rotate_secret: receivers verify the webhook-signature header with it.
@result {webhook_id: uuid, secret: text, url: text, events: text[], description: text?, is_active: bool, failing_since: timestamptz?, disabled_at: timestamptz?, disabled_reason: text?, created_at: timestamptz, updated_at: timestamptz}
@param url minLength=8 maxLength=2000
@param events maxItems=20 itemMaxLength=40
@param description maxLength=1000
url: http:// or https:// (loopback and private addresses are refused at delivery unless LMS_WEBHOOKS_ALLOW_PRIVATE_URLS=true). events: the event types to deliver.';

create or replace function api.webhook_list("limit" integer default 50, "offset" integer default 0)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform internal.require_role('admin');
  perform internal.check_page(webhook_list."limit", webhook_list."offset", 100);
  return coalesce((
    select jsonb_agg(internal.webhook_json(w) order by w.created_at, w.id)
    from (select * from app.webhooks w order by w.created_at, w.id
          limit coalesce(webhook_list."limit", 50) offset coalesce(webhook_list."offset", 0)) w), '[]'::jsonb);
end
$$;
comment on function api.webhook_list(integer, integer) is
  'Webhook subscriptions (admins), oldest first, without their secrets.
@result webhook[]
@param limit minimum=1 maximum=100
@param offset minimum=0
limit: default 50, at most 100; offset: default 0.';

create or replace function api.webhook_update(webhook_id uuid, url text default null, events text[] default null,
                                              description text default null, is_active boolean default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_webhook app.webhooks := internal.managed_webhook(webhook_update.webhook_id);
begin
  perform internal.check_webhook_events(webhook_update.events);
  perform internal.check_webhook_url(webhook_update.url);
  update app.webhooks w set
    url = case when internal.given('url', webhook_update.url) then btrim(webhook_update.url) else w.url end,
    events = case when internal.given('events', webhook_update.events)
                  then (select array_agg(distinct t order by t) from unnest(webhook_update.events) t) else w.events end,
    description = case when internal.given('description', webhook_update.description) then webhook_update.description
                       else w.description end,
    is_active = case when internal.given('is_active', webhook_update.is_active) then webhook_update.is_active else w.is_active end,
    disabled_at = case when internal.given('is_active', webhook_update.is_active) then null else w.disabled_at end,
    disabled_reason = case when internal.given('is_active', webhook_update.is_active) then null else w.disabled_reason end,
    failing_since = case when webhook_update.is_active then null else w.failing_since end
  where w.id = v_webhook.id
  returning * into v_webhook;
  perform internal.audit('webhook.update', 'webhook', v_webhook.id, jsonb_build_object('url', v_webhook.url,
                         'is_active', v_webhook.is_active));
  return internal.webhook_json(v_webhook);
end
$$;
comment on function api.webhook_update(uuid, text, text[], text, boolean) is
  'Changes a subscription (admins): url, events, description, is_active. Re-activating one the worker disabled clears its failure state; its pending deliveries resume.
@patch
@result webhook
@param url minLength=8 maxLength=2000
@param events maxItems=20 itemMaxLength=40
@param description nullable maxLength=1000';

create or replace function api.webhook_delete(webhook_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_webhook app.webhooks := internal.managed_webhook(webhook_delete.webhook_id);
begin
  delete from app.webhooks w where w.id = v_webhook.id;
  perform internal.audit('webhook.delete', 'webhook', v_webhook.id, jsonb_build_object('url', v_webhook.url));
  return jsonb_build_object('webhook_id', v_webhook.id, 'deleted', true);
end
$$;
comment on function api.webhook_delete(uuid) is
  'Deletes a subscription and its delivery history (admins).
@result {webhook_id: uuid, deleted: bool}';

create or replace function api.webhook_rotate_secret(webhook_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_webhook app.webhooks := internal.managed_webhook(webhook_rotate_secret.webhook_id);
begin
  update app.webhooks w set secret = internal.new_webhook_secret() where w.id = v_webhook.id
  returning * into v_webhook;
  perform internal.audit('webhook.rotate_secret', 'webhook', v_webhook.id);
  return jsonb_build_object('webhook_id', v_webhook.id, 'secret', v_webhook.secret);
end
$$;
comment on function api.webhook_rotate_secret(uuid) is
  'Replaces a subscription''s signing secret (admins); deliveries from now on are signed with the new one, which is shown only here.
@result {webhook_id: uuid, secret: text}';

create or replace function internal.delivery_json(p_delivery app.webhook_deliveries, p_event_type text)
returns jsonb
language sql
stable
as $$
  select jsonb_build_object(
    'delivery_id', p_delivery.id, 'webhook_id', p_delivery.webhook_id, 'event_id', p_delivery.event_id,
    'event_type', p_event_type, 'status', p_delivery.status, 'attempts', p_delivery.attempts,
    'next_attempt_at', p_delivery.next_attempt_at, 'last_attempt_at', p_delivery.last_attempt_at,
    'last_response_code', p_delivery.last_response_code, 'last_error', p_delivery.last_error,
    'created_at', p_delivery.created_at, 'delivered_at', p_delivery.delivered_at)
$$;
comment on function internal.delivery_json(app.webhook_deliveries, text) is 'A webhook delivery: its event, status, attempts and last answer.
@shape webhook_delivery {delivery_id: uuid, webhook_id: uuid, event_id: int, event_type: text, status: text, attempts: int, next_attempt_at: timestamptz, last_attempt_at: timestamptz?, last_response_code: int?, last_error: text?, created_at: timestamptz, delivered_at: timestamptz?}';

create or replace function api.webhook_deliveries(webhook_id uuid, status text default null,
                                                  "limit" integer default 50, "offset" integer default 0)
returns jsonb
language plpgsql
stable cost 1000  -- reads across a whole course (or the site): never in a shared pipeline (rpc/db/calls.py)
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform internal.require_role('admin');
  perform internal.check_page(webhook_deliveries."limit", webhook_deliveries."offset", 100);
  if not exists (select from app.webhooks w where w.id = webhook_deliveries.webhook_id) then
    raise exception 'webhook not found' using errcode = 'LM404', detail = 'not_found', hint = 'webhook_id';
  end if;
  if webhook_deliveries.status is not null and webhook_deliveries.status not in ('pending', 'succeeded', 'failed') then
    raise exception 'status must be pending, succeeded or failed' using errcode = 'LM422', detail = 'invalid_status', hint = 'status';
  end if;
  return coalesce((
    select jsonb_agg(internal.delivery_json(d, e.type) order by d.created_at desc, d.event_id desc, d.id)
    from (select * from app.webhook_deliveries d
          where d.webhook_id = webhook_deliveries.webhook_id
            and (webhook_deliveries.status is null or d.status = webhook_deliveries.status)
          order by d.created_at desc, d.event_id desc, d.id  -- queued together: the later event first
          limit coalesce(webhook_deliveries."limit", 50) offset coalesce(webhook_deliveries."offset", 0)) d
    join app.events e on e.id = d.event_id), '[]'::jsonb);
end
$$;
comment on function api.webhook_deliveries(uuid, text, integer, integer) is
  'Deliveries of a subscription (admins), newest first: status (pending, succeeded, failed), attempts, last response code and error.
@result webhook_delivery[]
@param status maxLength=20
@param limit minimum=1 maximum=100
@param offset minimum=0
status: only deliveries in this status. limit: default 50, at most 100; offset: default 0.';

create or replace function api.webhook_redeliver(delivery_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_old app.webhook_deliveries;
  v_new app.webhook_deliveries;
begin
  perform internal.require_role('admin');
  select * into v_old from app.webhook_deliveries d where d.id = webhook_redeliver.delivery_id;
  if not found then
    raise exception 'delivery not found' using errcode = 'LM404', detail = 'not_found', hint = 'delivery_id';
  end if;
  insert into app.webhook_deliveries (webhook_id, event_id) values (v_old.webhook_id, v_old.event_id)
  returning * into v_new;
  perform internal.audit('webhook.redeliver', 'webhook', v_old.webhook_id,
                         jsonb_build_object('event_id', v_old.event_id, 'delivery_id', v_new.id));
  return internal.delivery_json(v_new, (select e.type from app.events e where e.id = v_new.event_id));
end
$$;
comment on function api.webhook_redeliver(uuid) is
  'Delivers a delivery''s event to its subscription again (admins), as a new pending delivery with the same webhook-id (the event id), so the receiver can tell it is the same event.
@result webhook_delivery';
