/*
 * Identity — user.me, user.update_profile, instructor.update_profile.
 */

-- ---------------------------------------------------------------------------------------------
-- user.* / instructor.* / admin.*
-- ---------------------------------------------------------------------------------------------

create or replace function internal.mfa_enabled(p_user_id uuid)
returns boolean
language plpgsql  -- not SQL: a SQL function that is not inlined is planned again at every call
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return (select exists (select from app.user_mfa m where m.user_id = p_user_id and m.enabled_at is not null)
               and (p_user_id = app.current_user_id() or internal.is_admin()));
end
$$;
comment on function internal.mfa_enabled(uuid) is
  'Whether the user has MFA on; answers only for the caller themself or an admin. SECURITY DEFINER: app.user_mfa is not readable by clients.';

create or replace function internal.profile_json(p_user app.users)
returns jsonb
language sql
stable
as $$
  select jsonb_build_object('id', p_user.id, 'email', p_user.email, 'full_name', p_user.full_name,
                            'role', p_user.role, 'is_active', p_user.is_active,
                            'mfa_enabled', internal.mfa_enabled(p_user.id),
                            'email_verified_at', p_user.email_verified_at, 'metadata', p_user.metadata,
                            'last_login_at', p_user.last_login_at, 'created_at', p_user.created_at,
                            'updated_at', p_user.updated_at)
$$;
comment on function internal.profile_json(app.users) is 'A user as user.me / admin.list_users show it (never the password hash).
@shape profile {id: uuid, email: text, full_name: text, role: text, is_active: bool, mfa_enabled: bool,
  email_verified_at: timestamptz?, metadata: object, last_login_at: timestamptz?, created_at: timestamptz,
  updated_at: timestamptz}';

create or replace function api.user_me()
returns jsonb
language plpgsql
stable
as $$
declare
  v_user_id uuid := internal.require_user();
  v_user    app.users;
begin
  select u.id, u.email, null::text, u.full_name, u.role, u.is_active, u.email_verified_at, u.metadata,
         u.last_login_at, u.created_at, u.updated_at
    into v_user
  from app.users u where u.id = v_user_id;
  return internal.profile_json(v_user);
end
$$;
comment on function api.user_me() is
  'The caller''s own account → {id, email, full_name, role, is_active, mfa_enabled, email_verified_at, metadata, last_login_at, created_at, updated_at}.
@result profile';

create or replace function api.user_update_profile(full_name text default null, metadata jsonb default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_user_id uuid := internal.require_user();
  v_user    app.users;
begin
  if user_update_profile.metadata is not null and jsonb_typeof(user_update_profile.metadata) <> 'object' then
    raise exception 'metadata must be a JSON object' using errcode = 'LM422', detail = 'invalid_metadata',
      hint = 'metadata';
  end if;
  if octet_length(user_update_profile.metadata::text) > 16384 then  -- ck_users_metadata_size, with a reason
    raise exception 'metadata is limited to 16 KiB (as JSON text)' using errcode = 'LM422', detail = 'metadata_too_large',
      hint = 'metadata';
  end if;
  if user_update_profile.full_name is not null and length(btrim(user_update_profile.full_name)) not between 1 and 200 then
    raise exception 'full_name must have 1 to 200 characters' using errcode = 'LM422', detail = 'invalid_full_name',
      hint = 'full_name';
  end if;
  update app.users u
  set full_name = coalesce(btrim(user_update_profile.full_name), u.full_name),
      metadata = coalesce(user_update_profile.metadata, u.metadata)
  where u.id = v_user_id;
  select u.id, u.email, null::text, u.full_name, u.role, u.is_active, u.email_verified_at, u.metadata,
         u.last_login_at, u.created_at, u.updated_at
    into v_user
  from app.users u where u.id = v_user_id;
  return internal.profile_json(v_user);
end
$$;
comment on function api.user_update_profile(text, jsonb) is
  'Change the caller''s full_name and/or metadata (a JSON object that replaces the old one) → the account as user.me shows it.
@result profile
Omitted fields stay unchanged; neither may be null.
@patch
@param full_name maxLength=200';

create or replace function api.instructor_update_profile(title text default null, bio text default null,
                                                         expertise text[] default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_user_id uuid := internal.require_role('instructor');
  v_row     app.instructors;
begin
  -- API.md "Updates": omitted → unchanged, explicit null (or a blank string) → cleared (internal.given).
  update app.instructors i
  set title = case when internal.given('title', instructor_update_profile.title)
                   then nullif(btrim(instructor_update_profile.title), '') else i.title end,
      bio = case when internal.given('bio', instructor_update_profile.bio)
                 then nullif(instructor_update_profile.bio, '') else i.bio end,
      expertise = coalesce(instructor_update_profile.expertise, i.expertise)
  where i.user_id = v_user_id
  returning i.* into v_row;
  if v_row.user_id is null then
    raise exception 'no instructor profile' using errcode = 'LM404', detail = 'not_found';
  end if;
  return jsonb_build_object('user_id', v_row.user_id, 'title', v_row.title, 'bio', v_row.bio,
                            'expertise', to_jsonb(v_row.expertise), 'updated_at', v_row.updated_at);
end
$$;
comment on function api.instructor_update_profile(text, text, text[]) is
  'Change the caller''s instructor profile (title, bio, expertise) → the profile. Instructors only.
@shape instructor_profile {user_id: uuid, title: text?, bio: text?, expertise: text[], updated_at: timestamptz}
@result instructor_profile
Omitted fields stay unchanged; an explicit null clears title or bio (a blank string is stored as null too); expertise cannot be null (send [] to empty it).
@patch
@param title nullable maxLength=200
@param bio nullable maxLength=10000
@param expertise maxItems=50 itemMaxLength=100';
