/*
 * Events — live notifications. The server's event hub (one connection per process) polls for
 * new ids (internal.event_ids_after, which sequences first); nothing is taken from a NOTIFY
 * payload, which any session could send. For each batch of new ids it asks, in one call, which of
 * them each connected user may see: the events are re-read under each user's identity, so the
 * same row-level security as event.list decides what every socket receives.
 */

create or replace function internal.event_audience(p_ids bigint[], p_users uuid[])
returns uuid[]
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(array_agg(a.u), '{}')
  from (select e.user_id as u from app.events e where e.id = any (p_ids)
        union
        select c.instructor_id from app.events e join app.courses c on c.id = e.course_id where e.id = any (p_ids)
        union
        select x.id from app.users x where x.role = 'admin' and x.id = any (p_users)) a
  join app.users u on u.id = a.u and u.is_active  -- a deactivated user hears nothing more
  where a.u = any (p_users)
$$;
comment on function internal.event_audience(bigint[], uuid[]) is
  'Those of p_users, active, who could see any of the events p_ids: the users they are about, the instructors of their courses, admins — the arms of the events select policy, as a cheap superset (events_visible_to then re-reads under each candidate''s identity, so the policy still decides). Keeps a fan-out proportional to its audience, not to every connected user. SECURITY DEFINER: reads courses and users regardless of the caller. Keep in step with sql/policies/90_events.sql.';

create or replace function internal.events_visible_to(p_ids bigint[], p_users uuid[])
returns table (user_id uuid, events jsonb)
language plpgsql
volatile
set plan_cache_mode = force_generic_plan  -- one plan for every user of the loop, not one planning each
as $$
declare
  v_user uuid;
begin
  foreach v_user in array internal.event_audience(p_ids, p_users) loop
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
  'For live notifications: for each user in p_users who could see one of them (internal.event_audience: active ones only), the events among p_ids that user may see, read under that user''s identity (internal.set_caller), so the events table''s row-level security decides. Invoker: runs as lms_api in the server''s listener transaction. Not for analysts.';

create or replace function internal.event_ids_after(p_after bigint, p_limit integer)
returns bigint[]
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_last bigint := internal.events_sequence();  -- its own statement: the next one sees its ids
begin
  return (select coalesce(array_agg(x.id order by x.id), '{}')
          from (select e.id from app.events e where e.id > p_after and e.id <= v_last
                order by e.id limit p_limit) x);
end
$$;
comment on function internal.event_ids_after(bigint, integer) is
  'Ids of the events after p_after (at most p_limit, after numbering what committed since the last reader): what the server''s event hub fans out to its sockets. Only ids: events_visible_to decides who sees each. SECURITY DEFINER: ids of events the server''s role could not list unfiltered.';

create or replace function internal.sessions_ended_since(p_users uuid[], p_since timestamptz[])
returns uuid[]
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(array_agg(distinct x.u), '{}')
  from unnest(p_users, p_since) as x(u, t)
  where exists (select from app.audit_log a  -- every session-ending act is audited, refresh tokens or not
                where a.subject_type = 'user' and a.subject_id = x.u and a.occurred_at >= x.t
                  and a.action in ('auth.logout_all', 'auth.refresh_token_reused', 'auth.password_change',
                                   'auth.password_reset'))
     or not internal.user_is_active(x.u)
$$;
comment on function internal.sessions_ended_since(uuid[], timestamptz[]) is
  'Those of p_users (paired with p_since) who ended every session since that time — auth.logout_all, a reused refresh token, a password change, deactivation — or are no longer active: the server ends their live subscriptions (a single auth.logout or a rotation does not). SECURITY DEFINER: the audit log is admins'' only.';
