/*
 * Platform — upkeep: updated_at triggers on every table that has the column, and monthly
 * partitions (run by every migrate and by `lms db maintain`).
 */

create or replace function internal.tg_set_updated_at()
returns trigger
language plpgsql
volatile
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
 * Monthly partitions. internal.add_month_partition creates the partition of one month (UTC) and
 * moves that month's rows out of DEFAULT in the same transaction — PostgreSQL's documented way to
 * add a range partition next to a default one: the new table is created outside the tree with a
 * CHECK constraint equal to its range (so ATTACH skips the scan of it), the rows move, then it is
 * attached (ATTACH scans DEFAULT under lock to prove no row of the range is left there). The DEFAULT
 * partition is locked first (EXCLUSIVE: reads go on, writes wait), so no row of that month can slip
 * into it between the move and the attach.
 * ensure_monthly_partitions creates this month and the next p_months_ahead, and a partition for every
 * month found in DEFAULT (an import, a restored archive, past months), idempotently.
 */
create or replace function internal.add_month_partition(p_parent regclass, p_month timestamp)
returns boolean
language plpgsql
volatile
as $$
declare
  v_month       timestamp := date_trunc('month', p_month);
  v_parent_name text := (select c.relname from pg_class c where c.oid = p_parent);
  v_default     regclass := (
    select i.inhrelid::regclass from pg_inherits i join pg_partitioned_table pt on pt.partrelid = i.inhparent
    where i.inhparent = p_parent and pt.partdefid = i.inhrelid);
  v_key         text := (
    select a.attname from pg_partitioned_table pt
    join pg_attribute a on a.attrelid = pt.partrelid and a.attnum = pt.partattrs[0]
    where pt.partrelid = p_parent);
  v_from        timestamptz := v_month at time zone 'UTC';
  v_to          timestamptz := (v_month + interval '1 month') at time zone 'UTC';
  v_name        text := format('%s_y%sm%s', v_parent_name, to_char(v_month, 'YYYY'), to_char(v_month, 'MM'));
  v_check       text := format('%s_range', v_name);
  v_fk          record;
begin
  if to_regclass(format('partitions.%I', v_name)) is not null then
    return false;
  end if;
  execute format('create table partitions.%I (like %s including defaults including constraints including storage including compression)',
                 v_name, p_parent);
  execute format('alter table partitions.%I add constraint %I check (%I >= %L and %I < %L)',
                 v_name, v_check, v_key, v_from, v_key, v_to);
  -- The parent's foreign keys, on the still empty table: ATTACH then adopts them instead of validating
  -- them afresh — a validation that, run by the owner, would see no referenced row through FORCEd RLS.
  -- The rows moved in below are checked one by one by the keys' own triggers, which RLS does not bind.
  for v_fk in
    select k.conname, pg_get_constraintdef(k.oid) as def from pg_constraint k
    where k.conrelid = p_parent and k.contype = 'f' and k.conparentid = 0
  loop
    execute format('alter table partitions.%I add constraint %I %s', v_name, v_fk.conname, v_fk.def);
  end loop;
  if v_default is not null then
    execute format('lock table %s in exclusive mode', v_default);
    execute format('with moved as (delete from %s where %I >= $1 and %I < $2 returning *) '
                   'insert into partitions.%I select * from moved', v_default, v_key, v_key, v_name)
      using v_from, v_to;
  end if;
  execute format('alter table %s attach partition partitions.%I for values from (%L) to (%L)',
                 p_parent, v_name, v_from, v_to);
  execute format('alter table partitions.%I drop constraint %I', v_name, v_check);
  execute format('alter table partitions.%I enable row level security', v_name);
  return true;
end
$$;
comment on function internal.add_month_partition(regclass, timestamp) is
  'Creates the partition of p_parent for the month (UTC) of p_month unless it exists, moving that month''s rows out of DEFAULT first (DEFAULT locked against writes meanwhile). True when it created one.';

create or replace function internal.ensure_monthly_partitions(p_parent regclass, p_months_ahead integer default 3)
returns integer
language plpgsql
volatile
as $$
declare
  v_default regclass := (
    select i.inhrelid::regclass from pg_inherits i join pg_partitioned_table pt on pt.partrelid = i.inhparent
    where i.inhparent = p_parent and pt.partdefid = i.inhrelid);
  v_key     text := (
    select a.attname from pg_partitioned_table pt
    join pg_attribute a on a.attrelid = pt.partrelid and a.attnum = pt.partattrs[0]
    where pt.partrelid = p_parent);
  v_month   timestamp := date_trunc('month', now() at time zone 'UTC');
  v_strays  timestamp[];
  v_stray   timestamp;
  v_created integer := 0;
begin
  if p_months_ahead < 0 or p_months_ahead > 120 then
    raise exception 'months ahead must be between 0 and 120' using errcode = 'LM422', detail = 'invalid_argument';
  end if;
  for i in 0 .. p_months_ahead loop
    if internal.add_month_partition(p_parent, v_month + make_interval(months => i)) then
      v_created := v_created + 1;
    end if;
  end loop;
  if v_default is not null then
    execute format('select array_agg(distinct date_trunc(''month'', %I at time zone ''UTC'')) from %s',
                   v_key, v_default) into v_strays;
    foreach v_stray in array coalesce(v_strays, '{}') loop
      if internal.add_month_partition(p_parent, v_stray) then
        v_created := v_created + 1;
      end if;
    end loop;
  end if;
  return v_created;
end
$$;
comment on function internal.ensure_monthly_partitions(regclass, integer) is
  'Creates the monthly partitions of p_parent for this month and the next p_months_ahead (UTC), and one for every month that has rows in DEFAULT (moving them there); idempotent. Returns how many it created.';

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
