/*
 * Platform functions: who is calling, what they are, and database upkeep.
 *
 * app.current_user_id() is the one source of "who is calling". The RPC server connects as
 * lms_authenticator and sets lms.user_id transaction-locally; only for that login is the
 * setting trusted. Any other login (an analyst's) is mapped through app.analyst_logins by
 * session_user, which SET ROLE cannot change, so `SET lms.user_id = …` gains an analyst nothing.
 *
 * The api schema is rebuilt on every repeatable run: its functions are dropped here and
 * recreated by the domain files, so a method removed from a file disappears, and a changed
 * signature needs no versioned migration. (Nothing may depend on an api function.)
 */
do $$
declare
  v_fn regprocedure;
begin
  for v_fn in select p.oid::regprocedure from pg_proc p where p.pronamespace = 'api'::regnamespace
  loop
    execute format('drop function %s', v_fn);
  end loop;
end
$$;

create or replace function app.current_user_id()
returns uuid
language plpgsql
stable
as $$
begin
  if session_user = 'lms_authenticator' then
    return nullif(current_setting('lms.user_id', true), '')::uuid;
  end if;
  return internal.analyst_user_id();
end
$$;
comment on function app.current_user_id() is
  'The LMS user on whose behalf this transaction runs, or null (anonymous). Trusts lms.user_id only for lms_authenticator sessions (the server sets it through internal.set_caller, which refuses inactive users); other logins get their analyst mapping, and none while the linked user is inactive.';

create or replace function internal.analyst_user_id()
returns uuid
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select l.user_id from app.analyst_logins l join app.users u on u.id = l.user_id
  where l.login_name = session_user and u.is_active
$$;
comment on function internal.analyst_user_id() is
  'The active LMS user linked to this session''s login (app.analyst_logins), else null: an analyst linked to a deactivated user is anonymous and sees nothing. SECURITY DEFINER: reads is_active without going through the users policies (which call current_user_id).';

create or replace function internal.user_is_active(p_user_id uuid)
returns boolean
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select coalesce((select u.is_active from app.users u where u.id = p_user_id), false)
$$;
comment on function internal.user_is_active(uuid) is
  'True when the user exists and is active. SECURITY DEFINER: set_caller runs it for every call before any policy lets the caller read app.users; it reveals one boolean about the id the caller''s own verified token names.';

create or replace function internal.client_addr()
returns inet
language sql
stable
as $$
  select nullif(current_setting('lms.client_addr', true), '')::inet
$$;
comment on function internal.client_addr() is
  'The client address of this call as the RPC server saw it (set by internal.set_caller), or null for direct SQL callers.';

create or replace function internal.set_caller(p_user_id uuid, p_client_addr inet, p_given text[])
returns void
language plpgsql
volatile
as $$
begin
  perform set_config('lms.user_id', coalesce(p_user_id::text, ''), true);
  perform set_config('lms.client_addr', coalesce(p_client_addr::text, ''), true);
  perform set_config('lms.given', ',' || array_to_string(coalesce(p_given, '{}'::text[]), ',') || ',', true);
  if p_user_id is not null and not internal.user_is_active(p_user_id) then
    raise exception 'this account is inactive' using errcode = 'LM401', detail = 'account_inactive';
  end if;
end
$$;
comment on function internal.set_caller(uuid, inet, text[]) is
  'Run by the RPC server at the start of every call, transaction-locally: who is calling (lms.user_id), from where (lms.client_addr) and which params the request contained (lms.given). A deactivated or deleted user''s still-valid access token gets 401 account_inactive here, on every method, from the commit of the deactivation on. Invoker (a definer function could not set transaction-local settings that outlive it).';

create or replace function internal.rate_take(p_bucket text, p_cost integer, p_limit text default 'address')
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_rule     app.rate_limits;
  v_now      double precision := extract(epoch from clock_timestamp());
  v_start    timestamptz;
  v_row      app.rate_counters;
  v_elapsed  double precision;
  v_wait     double precision;
  v_next     double precision;
begin
  select r.* into v_rule from app.rate_limits r where r.name = rate_take.p_limit;
  if v_rule.name is null or p_bucket is null or coalesce(p_cost, 0) <= 0 then
    return;
  end if;
  v_start := to_timestamp(floor(v_now / v_rule.window_seconds) * v_rule.window_seconds);
  insert into app.rate_counters as c (bucket, window_start, used, prev_used)
  values (rate_take.p_bucket, v_start, rate_take.p_cost, 0)
  on conflict (bucket) do update set
    prev_used    = case when c.window_start = v_start then c.prev_used
                        when c.window_start = v_start - make_interval(secs => v_rule.window_seconds) then c.used
                        else 0 end,
    used         = case when c.window_start = v_start then c.used + rate_take.p_cost else rate_take.p_cost end,
    window_start = v_start
  returning c.* into v_row;
  v_elapsed := (v_now - extract(epoch from v_start)) / v_rule.window_seconds;
  if v_row.used + v_row.prev_used * (1 - v_elapsed) <= v_rule.max_cost then
    return;
  end if;
  -- Refused (and, by the raise, not counted). When could this call succeed?
  if v_row.used <= v_rule.max_cost and v_row.prev_used > 0 then
    v_wait := (1 - (v_rule.max_cost - v_row.used)::double precision / v_row.prev_used - v_elapsed) * v_rule.window_seconds;
  else
    v_next := greatest(0, 1 - (v_rule.max_cost - p_cost)::double precision / greatest(v_row.used - p_cost, 1));
    v_wait := (1 - v_elapsed + v_next) * v_rule.window_seconds;
  end if;
  raise exception 'too many requests; retry later' using errcode = 'LM429', detail = 'rate_limited',
    hint = greatest(1, ceil(v_wait))::integer::text;
end
$$;
comment on function internal.rate_take(text, integer, text) is
  'Spend p_cost units of the limit p_limit (a row of app.rate_limits) for p_bucket (e.g. address:203.0.113.7), over a sliding window (this window plus the previous one, weighted); LM429 rate_limited with the seconds to wait in HINT when it would go over. The RPC server runs it in a transaction of its own before each call, so a refused call costs nothing and a counted one stays counted whatever the call does. SECURITY DEFINER: clients may spend but never read or reset counters.';

/*
 * Returned errors: a function that must keep its effects despite an error (a failed login is
 * counted) returns internal.error(...) instead of raising; the RPC layer raises it after the commit.
 */
create or replace function internal.error(p_code integer, p_reason text, p_message text)
returns jsonb
language sql
immutable
as $$
  select jsonb_build_object('error', jsonb_build_object('code', p_code, 'reason', p_reason, 'message', p_message))
$$;
comment on function internal.error(integer, text, text) is
  'A returned error: the RPC layer raises it as a JSON-RPC error after the transaction commits.';

create or replace function internal.given(p_name text, p_value anyelement)
returns boolean
language sql
stable
as $$
  select case when nullif(current_setting('lms.given', true), '') is null then p_value is not null
              else position(',' || p_name || ',' in current_setting('lms.given', true)) > 0 end
$$;
comment on function internal.given(text, anyelement) is
  'Was the param p_name given in this call? The RPC server sets lms.given to the names present in the request (",a,b,"), so an update can tell an omitted field (unchanged) from an explicit null (cleared). Without it (a direct SQL caller): true when p_value is not null.';

create or replace function internal.current_user_role()
returns text
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select u.role from app.users u where u.id = app.current_user_id() and u.is_active
$$;
comment on function internal.current_user_role() is
  'Role of the calling user if active, else null. SECURITY DEFINER because policies on app.users call it (no recursion through RLS); reveals only the caller''s own role.';

create or replace function internal.is_admin()
returns boolean
language sql
stable
as $$
  select coalesce(internal.current_user_role() = 'admin', false)
$$;
comment on function internal.is_admin() is 'True when the calling user is an active admin.';

create or replace function internal.require_user()
returns uuid
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id uuid := app.current_user_id();
begin
  if v_user_id is null then
    raise exception 'authentication required' using errcode = 'LM401', detail = 'not_authenticated';
  end if;
  if not exists (select from app.users u where u.id = v_user_id and u.is_active) then
    raise exception 'the account is unknown or inactive' using errcode = 'LM401', detail = 'token_invalid';
  end if;
  return v_user_id;
end
$$;
comment on function internal.require_user() is
  'The calling user''s id; raises LM401 for anonymous callers and unknown or inactive accounts. SECURITY DEFINER to look up is_active whatever the users policies say.';

create or replace function internal.require_role(variadic p_roles text[])
returns uuid
language plpgsql
stable
as $$
declare
  v_user_id uuid := internal.require_user();
begin
  if not internal.current_user_role() = any (p_roles) then
    raise exception 'this needs one of the roles %', array_to_string(p_roles, ', ')
      using errcode = 'LM403', detail = 'forbidden';
  end if;
  return v_user_id;
end
$$;
comment on function internal.require_role(text[]) is 'The calling user''s id if their role is one of p_roles; else LM401/LM403.';

create or replace function internal.audit(p_action text, p_subject_type text, p_subject_id uuid, p_details jsonb default '{}')
returns void
language sql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
  insert into app.audit_log (actor_id, action, subject_type, subject_id, details)
  values (app.current_user_id(), p_action, p_subject_type, p_subject_id, coalesce(p_details, '{}'))
$$;
comment on function internal.audit(text, text, uuid, jsonb) is
  'Appends to app.audit_log as the calling user. SECURITY DEFINER: callers may write the log through it but never read or change it.';

create or replace function internal.tg_set_updated_at()
returns trigger
language plpgsql
as $$
begin
  new.updated_at := now();
  return new;
end
$$;
comment on function internal.tg_set_updated_at() is 'BEFORE UPDATE trigger: keeps updated_at current.';

do $$
declare
  v_table regclass;
begin
  for v_table in
    select c.oid::regclass from pg_class c join pg_attribute a on a.attrelid = c.oid
    where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p')
      and a.attname = 'updated_at' and not a.attisdropped
  loop
    execute format('drop trigger if exists _100_set_updated_at on %s', v_table);
    execute format('create trigger _100_set_updated_at before update on %s '
                   'for each row execute function internal.tg_set_updated_at()', v_table);
  end loop;
end
$$;

/*
 * Monthly partitions. ensure_monthly_partitions creates the partitions for the current month
 * and the next p_months_ahead months (UTC), idempotently. If the DEFAULT partition already
 * holds rows of a month being created, they are moved into the new partition in the same
 * transaction (attaching would otherwise fail).
 */
create or replace function internal.ensure_monthly_partitions(p_parent regclass, p_months_ahead integer default 3)
returns integer
language plpgsql
volatile
as $$
declare
  v_parent_name text := (select c.relname from pg_class c where c.oid = p_parent);
  v_default     regclass := (
    select i.inhrelid::regclass from pg_inherits i join pg_partitioned_table pt on pt.partrelid = i.inhparent
    where i.inhparent = p_parent and pt.partdefid = i.inhrelid);
  v_key         text := (
    select a.attname from pg_partitioned_table pt
    join pg_attribute a on a.attrelid = pt.partrelid and a.attnum = pt.partattrs[0]
    where pt.partrelid = p_parent);
  v_month       timestamp := date_trunc('month', now() at time zone 'UTC');
  v_from        timestamptz;
  v_to          timestamptz;
  v_name        text;
  v_created     integer := 0;
begin
  if p_months_ahead < 0 or p_months_ahead > 120 then
    raise exception 'months ahead must be between 0 and 120' using errcode = 'LM422', detail = 'invalid_argument';
  end if;
  for i in 0 .. p_months_ahead loop
    v_from := (v_month + make_interval(months => i)) at time zone 'UTC';
    v_to   := (v_month + make_interval(months => i + 1)) at time zone 'UTC';
    v_name := format('%s_y%sm%s', v_parent_name, to_char(v_month + make_interval(months => i), 'YYYY'),
                     to_char(v_month + make_interval(months => i), 'MM'));
    continue when to_regclass(format('partitions.%I', v_name)) is not null;
    execute format('create table partitions.%I (like %s including defaults including constraints)', v_name, p_parent);
    if v_default is not null then
      execute format('with moved as (delete from %s where %I >= $1 and %I < $2 returning *) '
                     'insert into partitions.%I select * from moved', v_default, v_key, v_key, v_name)
        using v_from, v_to;
    end if;
    execute format('alter table %s attach partition partitions.%I for values from (%L) to (%L)',
                   p_parent, v_name, v_from, v_to);
    execute format('alter table partitions.%I enable row level security', v_name);
    v_created := v_created + 1;
  end loop;
  return v_created;
end
$$;
comment on function internal.ensure_monthly_partitions(regclass, integer) is
  'Creates the monthly partitions of p_parent for this month and the next p_months_ahead (UTC); idempotent; moves strays out of DEFAULT. Returns how many it created.';

create or replace function internal.maintain_partitions()
returns jsonb
language sql
volatile
as $$
  select jsonb_build_object('quiz_attempts_partitions_created',
                            internal.ensure_monthly_partitions('app.quiz_attempts'::regclass, 3))
$$;
comment on function internal.maintain_partitions() is
  'Upkeep step run by `lms db maintain` and every migrate: months of quiz_attempts partitions ahead.';

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
