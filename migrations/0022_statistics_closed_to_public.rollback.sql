-- Undo 0022_statistics_closed_to_public: PostgreSQL's defaults again (PUBLIC reads the statistics).
-- squawk-ignore-file require-lock-timeout, require-statement-timeout

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
    execute format('revoke select on pg_catalog.%I from pg_read_all_stats', v_view);
    execute format('grant select on pg_catalog.%I to public', v_view);
  end loop;
  for v_fn in select p.oid::regprocedure from pg_catalog.pg_proc p
              where p.pronamespace = 'pg_catalog'::regnamespace and p.proname like 'pg\_stat\_get\_%'
                and p.pronargs = 1 and p.proargtypes[0] = 'oid'::regtype
              order by p.oid
  loop
    execute format('revoke execute on function %s from pg_read_all_stats', v_fn);
    execute format('grant execute on function %s to public', v_fn);
  end loop;
exception when insufficient_privilege then  -- a managed service's DBA may not change the catalog's privileges
  raise warning 'statistics privileges left as they are: %', sqlerrm;
end
$$;
