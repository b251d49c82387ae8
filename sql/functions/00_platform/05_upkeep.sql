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
