-- Undo 0001_create_platform: drop the roles, schemas and extensions.

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
