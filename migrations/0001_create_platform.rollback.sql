-- Undo 0001_create_platform: drop the roles, schemas and extensions.
-- squawk-ignore-file ban-drop-table, ban-drop-schema, ban-drop-extension, ban-drop-constraint, require-lock-timeout, require-statement-timeout
-- (undoing a baseline drops exactly what it created)

set local role lms_owner;
drop schema partitions, analytics, internal, api, app cascade;
reset role;
drop extension if exists pgcrypto;
-- The cluster-wide roles stay: other databases of the cluster may use them.
do $$
begin
  execute format('grant temporary on database %I to public', current_database());
end
$$;
