/*
 * Identity — outbox delivery (run by `lms outbox` over the DATABASE_URL connection) and token upkeep.
 */

-- ---------------------------------------------------------------------------------------------
-- Outbox delivery (run by `lms outbox` over the DATABASE_URL connection) and upkeep
-- ---------------------------------------------------------------------------------------------

create or replace function internal.outbox_claim(p_limit integer default 10)
returns table (id bigint, recipient text, subject text, body text, attempts integer)
language sql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
  select o.id, o.recipient, o.subject, o.body, o.attempts
  from app.outbox o
  where o.sent_at is null and o.available_at <= now() and o.attempts < 10
  order by o.available_at, o.id
  limit p_limit
  for update skip locked
$$;
comment on function internal.outbox_claim(integer) is
  'Locks and returns up to p_limit deliverable messages (skip locked: concurrent workers never get the same row). Mark each with outbox_sent/outbox_failed in the same transaction. SECURITY DEFINER: app.outbox has no client privileges (bodies carry raw one-time tokens). Not granted to clients.';

create or replace function internal.outbox_sent(p_id bigint)
returns void
language sql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
  update app.outbox o set sent_at = now(), attempts = o.attempts + 1, last_error = null where o.id = p_id
$$;
comment on function internal.outbox_sent(bigint) is 'Marks a claimed message as delivered. SECURITY DEFINER: app.outbox has no client privileges. Not granted to clients.';

create or replace function internal.outbox_failed(p_id bigint, p_error text)
returns void
language sql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
  update app.outbox o
  set attempts = o.attempts + 1,
      last_error = left(p_error, 2000),
      available_at = now() + least(interval '1 minute' * power(2, o.attempts), interval '6 hours')
  where o.id = p_id
$$;
comment on function internal.outbox_failed(bigint, text) is
  'Records a failed delivery: attempts + 1, last_error, retry after 1, 2, 4 … minutes (at most 6 hours); given up after 10 attempts. SECURITY DEFINER: app.outbox has no client privileges. Not granted to clients.';

create or replace function internal.maintain_tokens()
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_refresh  integer;
  v_user     integer;
  v_attempts integer;
  v_outbox   integer;
begin
  delete from app.refresh_tokens t where t.expires_at < now() - interval '1 day';
  get diagnostics v_refresh = row_count;
  delete from app.user_tokens t where t.expires_at < now() - interval '1 day';
  get diagnostics v_user = row_count;
  delete from app.login_attempts a where a.attempted_at < now() - interval '30 days';
  get diagnostics v_attempts = row_count;
  delete from app.outbox o where o.sent_at < now() - interval '30 days';
  get diagnostics v_outbox = row_count;
  return jsonb_build_object('refresh_tokens_purged', v_refresh, 'user_tokens_purged', v_user,
                            'login_attempts_purged', v_attempts, 'outbox_sent_purged', v_outbox);
end
$$;
comment on function internal.maintain_tokens() is
  'Upkeep (`lms db maintain`): deletes refresh and one-time tokens expired over a day ago, login attempts older than 30 days and outbox messages sent over 30 days ago. SECURITY DEFINER: these tables are lms_definer''s only.';
