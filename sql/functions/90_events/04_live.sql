/*
 * Events — live notifications. The server LISTENs on lms_events (one connection per process);
 * a NOTIFY carries only an event id. For each batch of new ids it asks, in one call, which of
 * them each connected user may see: the events are re-read under each user's identity, so the
 * same row-level security as event.list decides what every socket receives.
 */

create or replace function internal.events_visible_to(p_ids bigint[], p_users uuid[])
returns table (user_id uuid, events jsonb)
language plpgsql
volatile
as $$
declare
  v_user uuid;
begin
  foreach v_user in array p_users loop
    continue when not internal.user_is_active(v_user);  -- a deactivated user hears nothing more
    perform internal.set_caller(v_user, null, null);
    return query
      select v_user, jsonb_agg(internal.event_json(e) order by e.id)
      from app.events e
      where e.id = any (p_ids)
      having count(*) > 0;
  end loop;
  perform internal.set_caller(null, null, null);
end
$$;
comment on function internal.events_visible_to(bigint[], uuid[]) is
  'For live notifications: for each active user in p_users, the events among p_ids that user may see, read under that user''s identity (internal.set_caller), so the events table''s row-level security decides. Invoker: runs as lms_api in the server''s listener transaction. Not for analysts.';
