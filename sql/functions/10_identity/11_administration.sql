/*
 * Identity — admin.*: create users, roles, activation, listing.
 */

create or replace function api.admin_create_user(email text, password text, full_name text, role text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_id uuid;
begin
  perform internal.require_role('admin');
  v_id := internal.create_user(admin_create_user.email, admin_create_user.password, admin_create_user.full_name,
                               admin_create_user.role);
  perform internal.audit('admin.user_created', 'user', v_id, jsonb_build_object('role', admin_create_user.role));
  return jsonb_build_object('user_id', v_id);
end
$$;
comment on function api.admin_create_user(text, text, text, text) is
  'Create an account with any role → {user_id}.
@result {user_id: uuid}
@cost 20
Admins only; rules as for auth.register (email_taken, weak_password). SECURITY DEFINER: hashes the password.
@param email maxLength=254
@param password maxLength=1000
@param full_name maxLength=200
@param role maxLength=20';

create or replace function api.admin_set_role(user_id uuid, role text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_admin uuid := internal.require_role('admin');
  v_old   text;
begin
  if admin_set_role.role is null or admin_set_role.role not in ('student', 'instructor', 'admin') then
    raise exception 'unknown role' using errcode = 'LM422', detail = 'invalid_role', hint = 'role';
  end if;
  select u.role into v_old from app.users u where u.id = admin_set_role.user_id for update;
  if v_old is null then
    raise exception 'no such user' using errcode = 'LM404', detail = 'not_found', hint = 'user_id';
  end if;
  if admin_set_role.user_id = v_admin and admin_set_role.role <> 'admin' then
    raise exception 'admins cannot demote themselves' using errcode = 'LM422', detail = 'cannot_change_self';
  end if;
  if v_old <> admin_set_role.role then
    update app.users u set role = admin_set_role.role where u.id = admin_set_role.user_id;
    perform internal.audit('admin.role_changed', 'user', admin_set_role.user_id,
                           jsonb_build_object('from', v_old, 'to', admin_set_role.role));
  end if;
  return jsonb_build_object('user_id', admin_set_role.user_id, 'role', admin_set_role.role);
end
$$;
comment on function api.admin_set_role(uuid, text) is
  'Change a user''s role (student | instructor | admin) → {user_id, role}. Admins only; not their own. Instructor and admin rows follow (trigger). The user''s next access token carries the role; the database checks it on every call anyway. SECURITY DEFINER: writes role rows.
@result {user_id: uuid, role: text}
@param role maxLength=20';

create or replace function api.admin_set_active(user_id uuid, is_active boolean)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_admin uuid := internal.require_role('admin');
  v_old   boolean;
  v_count integer := 0;
begin
  select u.is_active into v_old from app.users u where u.id = admin_set_active.user_id for update;
  if v_old is null then
    raise exception 'no such user' using errcode = 'LM404', detail = 'not_found', hint = 'user_id';
  end if;
  if admin_set_active.user_id = v_admin and not admin_set_active.is_active then
    raise exception 'admins cannot deactivate themselves' using errcode = 'LM422', detail = 'cannot_change_self';
  end if;
  if v_old <> admin_set_active.is_active then
    update app.users u set is_active = admin_set_active.is_active where u.id = admin_set_active.user_id;
    if not admin_set_active.is_active then
      v_count := internal.revoke_refresh_tokens(admin_set_active.user_id, 'deactivated');
    end if;
    perform internal.audit(case when admin_set_active.is_active then 'admin.user_activated'
                                else 'admin.user_deactivated' end,
                           'user', admin_set_active.user_id, jsonb_build_object('sessions_revoked', v_count));
  end if;
  return jsonb_build_object('user_id', admin_set_active.user_id, 'is_active', admin_set_active.is_active);
end
$$;
comment on function api.admin_set_active(uuid, boolean) is
  'Activate or deactivate an account → {user_id, is_active}. Admins only; not themselves. Deactivation revokes every refresh token, and inactive users can neither log in nor call methods. SECURITY DEFINER: revokes sessions.
@result {user_id: uuid, is_active: bool}';

create or replace function api.admin_list_users(role text default null, search text default null,
                                                "limit" integer default 50, "offset" integer default 0)
returns jsonb
language plpgsql
stable cost 1000  -- reads across a whole course (or the site): never in a shared pipeline (rpc/db/calls.py)
as $$
declare
  v_result jsonb;
begin
  perform internal.require_role('admin');
  perform internal.check_page(admin_list_users."limit", admin_list_users."offset", 500);
  select coalesce(jsonb_agg(x.j order by x.created_at, x.id), '[]') into v_result
  from (
    select internal.profile_json(row(u.id, u.email, null::text, u.full_name, u.role, u.is_active, u.email_verified_at,
                                     u.metadata, u.last_login_at, u.created_at, u.updated_at)::app.users) as j,
           u.created_at, u.id
    from app.users u
    where (admin_list_users.role is null or u.role = admin_list_users.role)
      and (admin_list_users.search is null
           or strpos(lower(u.email), lower(admin_list_users.search)) > 0
           or strpos(lower(u.full_name), lower(admin_list_users.search)) > 0)
    order by u.created_at, u.id
    limit coalesce(admin_list_users."limit", 50) offset coalesce(admin_list_users."offset", 0)
  ) x;
  return v_result;
end
$$;
comment on function api.admin_list_users(text, text, integer, integer) is
  'List accounts (admins only) → array of users as user.me shows them, oldest first. Filters: role; search (substring of email or full name, case-insensitive); limit 1..500 (default 50), offset.
@result profile[]
@param limit minimum=1 maximum=500
@param offset minimum=0
@param role maxLength=20
@param search maxLength=254';
