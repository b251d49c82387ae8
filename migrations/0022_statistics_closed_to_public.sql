-- Per-table and per-database statistics (exact row counts, activity) closed to PUBLIC, open to
-- pg_read_all_stats (issue 26 §3b: analysts read pg_stat_user_tables).
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
-- (privileges on catalog views and functions: no table is touched)
-- depends: 0021_orders_cancellation

/*
 * The statistics views and functions that count rows and activity per table, index, function and
 * database (pg_stat_user_tables.n_live_tup, n_tup_ins, idx_scan, pg_stat_database.xact_commit, …)
 * are PUBLIC in PostgreSQL: any analyst would read global row counts and activity that RLS hides
 * row by row. Closed to PUBLIC in this database, open to pg_read_all_stats (pg_monitor, DBAs'
 * monitoring); superusers are unaffected. What stays visible to every role, as in any PostgreSQL:
 * the planner's estimates (pg_class.reltuples, relpages, EXPLAIN row estimates) — see the README.
 */
do $$
declare
  v_view text;
  v_fn   regprocedure;
begin
  foreach v_view in array array[
    'pg_stat_all_tables', 'pg_stat_user_tables', 'pg_stat_sys_tables',
    'pg_stat_xact_all_tables', 'pg_stat_xact_user_tables', 'pg_stat_xact_sys_tables',
    'pg_statio_all_tables', 'pg_statio_user_tables', 'pg_statio_sys_tables',
    'pg_stat_all_indexes', 'pg_stat_user_indexes', 'pg_stat_sys_indexes',
    'pg_statio_all_indexes', 'pg_statio_user_indexes', 'pg_statio_sys_indexes',
    'pg_statio_all_sequences', 'pg_statio_user_sequences', 'pg_statio_sys_sequences',
    'pg_stat_user_functions', 'pg_stat_xact_user_functions', 'pg_stat_database', 'pg_stat_database_conflicts']
  loop
    execute format('revoke select on pg_catalog.%I from public', v_view);
    execute format('grant select on pg_catalog.%I to pg_read_all_stats', v_view);
  end loop;
  for v_fn in select p.oid::regprocedure from pg_catalog.pg_proc p
              where p.pronamespace = 'pg_catalog'::regnamespace and p.proname like 'pg\_stat\_get\_%'
                and p.pronargs = 1 and p.proargtypes[0] = 'oid'::regtype
              order by p.oid
  loop
    execute format('revoke execute on function %s from public', v_fn);
    execute format('grant execute on function %s to pg_read_all_stats', v_fn);
  end loop;
exception when insufficient_privilege then  -- a managed service's DBA may not change the catalog's privileges
  raise warning 'statistics privileges left as they are: %', sqlerrm;
end
$$;
