/*
 * Platform — rate limits: the per-address budget every call spends (internal.rate_take) and
 * the upkeep of its counters. Limits are rows of app.rate_limits.
 * Shared with every domain: internal.rate_take (the RPC server), app.rate_limits (identity's throttles).
 */

create or replace function internal.rate_take(p_bucket text, p_cost integer, p_limit text default 'address')
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_rule    app.rate_limits;
  v_now     double precision := extract(epoch from clock_timestamp());
  v_start   timestamptz;
  v_prev    timestamptz;
  v_used    double precision;
  v_prior   double precision;
  v_elapsed double precision;
  v_wait    double precision;
begin
  select r.* into v_rule from app.rate_limits r where r.name = rate_take.p_limit;
  if v_rule.name is null or p_bucket is null or coalesce(p_cost, 0) <= 0 then
    return;
  end if;
  v_start := to_timestamp(floor(v_now / v_rule.window_seconds) * v_rule.window_seconds);
  v_prev := v_start - make_interval(secs => v_rule.window_seconds);
  -- This backend's shard of the bucket: no queue on one row when many calls share an address.
  insert into app.rate_counters as c (bucket, shard, window_start, used, prev_used)
  values (rate_take.p_bucket, pg_backend_pid() % 16, v_start, rate_take.p_cost, 0)
  on conflict (bucket, shard) do update set
    prev_used    = case when c.window_start = v_start then c.prev_used
                        when c.window_start = v_prev then c.used else 0 end,
    used         = case when c.window_start = v_start then c.used + rate_take.p_cost else rate_take.p_cost end,
    window_start = v_start;
  -- The bucket over all shards: this window's units, and the previous window's.
  select coalesce(sum(case when c.window_start = v_start then c.used else 0 end), 0),
         coalesce(sum(case when c.window_start = v_start then c.prev_used
                           when c.window_start = v_prev then c.used else 0 end), 0)
  into v_used, v_prior
  from app.rate_counters c where c.bucket = rate_take.p_bucket;
  v_elapsed := (v_now - extract(epoch from v_start)) / v_rule.window_seconds;
  if v_used + v_prior * (1 - v_elapsed) <= v_rule.max_cost then
    return;
  end if;
  -- Refused (and, by the raise, not counted). When could this call succeed?
  if v_used <= v_rule.max_cost and v_prior > 0 then
    v_wait := (1 - (v_rule.max_cost - v_used) / v_prior - v_elapsed) * v_rule.window_seconds;
  else
    v_wait := (1 - v_elapsed + greatest(0, 1 - (v_rule.max_cost - p_cost) / greatest(v_used - p_cost, 1)))
              * v_rule.window_seconds;
  end if;
  raise exception 'too many requests; retry later' using errcode = 'LM429', detail = 'rate_limited',
    hint = greatest(1, ceil(v_wait))::integer::text;
end
$$;
comment on function internal.rate_take(text, integer, text) is
  'Spend p_cost units of the limit p_limit (a row of app.rate_limits) for p_bucket (e.g. address:203.0.113.7), over a sliding window (this window plus the previous one, weighted), counted in 16 shard rows per bucket (one per backend group) so concurrent calls from one address do not queue on one row — the sum may overshoot the limit by at most the calls in flight at that moment; LM429 rate_limited with the seconds to wait in HINT when it would go over. The RPC server runs it in a transaction of its own before each call, so a refused call costs nothing and a counted one stays counted whatever the call does. SECURITY DEFINER: clients may spend but never read or reset counters.';


create or replace function internal.maintain_rate_counters()
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_purged integer;
begin
  delete from app.rate_counters c where c.window_start < now() - interval '2 days';
  get diagnostics v_purged = row_count;
  return jsonb_build_object('rate_counters_purged', v_purged);
end
$$;
comment on function internal.maintain_rate_counters() is
  'Upkeep step run by `lms db maintain`: drops rate counters idle for two days (the longest window is one). SECURITY DEFINER: counters are not readable by clients.';
