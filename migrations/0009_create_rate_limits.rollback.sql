-- Undo 0009_create_rate_limits.
-- squawk-ignore-file ban-drop-table, ban-drop-column, require-lock-timeout, require-statement-timeout, require-concurrent-index-deletion
-- (undoing drops exactly what 0009 created)
do $$
begin
  if (select r.rolsuper from pg_roles r where r.rolname = current_user) then
    alter role lms_authenticator reset log_statement;
    alter role lms_authenticator reset log_min_error_statement;
    alter role lms_authenticator reset log_min_duration_statement;
    alter role lms_authenticator reset log_parameter_max_length;
    alter role lms_authenticator reset log_parameter_max_length_on_error;
    grant execute on function pg_catalog.lo_from_bytea(oid, bytea), pg_catalog.lo_create(oid),
      pg_catalog.lo_creat(integer), pg_catalog.lo_put(oid, bigint, bytea), pg_catalog.lowrite(integer, bytea) to public;
  end if;
end
$$;

set local role lms_owner;
drop table app.rate_counters;
drop table app.rate_limits;
drop index app.ix_login_attempts_client_addr_attempted_at;
alter table app.login_attempts drop column client_addr;
