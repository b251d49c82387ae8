/*
 * Rostering from the student information system: OneRoster 1.2 CSV (issue 33 §2).
 *
 * `lms oneroster import DIR|ZIP` (rpc/cli/oneroster.py) COPYs every file of the package, cell by cell in
 * its header's order, into app.oneroster_stage and calls internal.oneroster_merge in the same
 * transaction: every rule is here. The merge checks every row first (the first bad one is the error:
 * file, line, field — and nothing is imported), then merges set-based, one statement per step:
 * users (matched by sourcedId, else by email; created without a password), classes → courses,
 * enrollments → enrollments (students) and the course's instructor (the primary teacher). Bulk files
 * are the whole truth (what they no longer list is deactivated); delta files change what they list,
 * and a delta row no newer than what was imported (dateLastModified) is stale and ignored. A second
 * import of the same files changes nothing and says so.
 *
 * `lms oneroster export DIR` writes the same files from internal.oneroster_export_*.
 */

-- ---------------------------------------------------------------------------------------------
-- The staged files, typed
-- ---------------------------------------------------------------------------------------------
create or replace function internal.oneroster_cell(p_cells text[], p_header text[], p_name text)
returns text
language sql
immutable
parallel safe
as $$
  select nullif(btrim(p_cells[array_position(p_header, p_name)]), '')
$$;
comment on function internal.oneroster_cell(text[], text[], text) is
  'The cell of a staged OneRoster row under the header''s column p_name, trimmed; null when blank or when the file has no such column.';

create or replace function internal.oneroster_status(p_status text)
returns text
language sql
immutable
parallel safe
as $$
  select case when p_status is null then 'active'
              when lower(p_status) = 'active' then 'active'
              when lower(p_status) in ('tobedeleted', 'inactive') then 'tobedeleted' end
$$;
comment on function internal.oneroster_status(text) is
  'A OneRoster status: blank → active (bulk files may leave it empty), tobedeleted (and OneRoster 1.1''s inactive) → tobedeleted; anything else null (invalid).';

create or replace function internal.oneroster_role(p_role text)
returns text
language sql
immutable
parallel safe
as $$
  select case lower(p_role)
           when 'student' then 'student'
           when 'teacher' then 'instructor' when 'aide' then 'instructor' when 'proctor' then 'instructor'
           when 'administrator' then 'instructor' when 'districtadministrator' then 'instructor'
           when 'siteadministrator' then 'instructor' when 'sysadmin' then 'instructor' when 'principal' then 'instructor'
           when 'guardian' then 'none' when 'parent' then 'none' when 'relative' then 'none'
         end
$$;
comment on function internal.oneroster_role(text) is
  'Our role for a OneRoster role: student → student; teacher, aide, proctor and the administrator roles → instructor (an import never makes an admin: that stays a person''s decision, admin.set_role); guardian, parent, relative → none (not imported as users); anything else null (invalid).';

create or replace function internal.oneroster_time(p_text text)
returns timestamptz
language sql
immutable
parallel safe
as $$
  select case when p_text ~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-][01][0-9]:?[0-5][0-9])?)?$'
              then (case when p_text ~ 'T|Z|[+-][0-9]{2}:?[0-9]{2}$' or length(p_text) > 10 then p_text
                         else p_text || 'T00:00:00Z' end)::timestamptz at time zone 'UTC' at time zone 'UTC' end
$$;
comment on function internal.oneroster_time(text) is
  'A OneRoster date or date-time (ISO 8601; no offset = UTC), or null when it is not one (the merge reports that as an invalid field).';

create or replace function internal.oneroster_bool(p_text text)
returns boolean
language sql
immutable
parallel safe
as $$
  select case lower(p_text) when 'true' then true when 'false' then false end
$$;
comment on function internal.oneroster_bool(text) is 'A OneRoster boolean cell: true, false, else null.';

create or replace view internal.oneroster_stage_rows with (security_invoker = true) as
  select s.file, s.line, s.cells, h.cells as header
  from app.oneroster_stage s
  join app.oneroster_stage h on h.file = s.file and h.line = 1
  where s.line > 1;
comment on view internal.oneroster_stage_rows is 'The staged data rows of each file with their file''s header.';

create or replace view internal.oneroster_stage_users with (security_invoker = true) as
  select r.line,
         internal.oneroster_cell(r.cells, r.header, 'sourcedId') as sourced_id,
         internal.oneroster_cell(r.cells, r.header, 'status') as status_text,
         internal.oneroster_cell(r.cells, r.header, 'dateLastModified') as modified_text,
         internal.oneroster_cell(r.cells, r.header, 'enabledUser') as enabled_text,
         internal.oneroster_cell(r.cells, r.header, 'username') as username,
         internal.oneroster_cell(r.cells, r.header, 'givenName') as given_name,
         internal.oneroster_cell(r.cells, r.header, 'familyName') as family_name,
         internal.oneroster_cell(r.cells, r.header, 'email') as email,
         internal.oneroster_cell(r.cells, r.header, 'role') as role_text,
         internal.oneroster_cell(r.cells, r.header, 'identifier') as identifier
  from internal.oneroster_stage_rows r
  where r.file = 'users';
comment on view internal.oneroster_stage_users is 'Staged users.csv rows by OneRoster column (OneRoster 1.1''s role column included).';

create or replace view internal.oneroster_stage_classes with (security_invoker = true) as
  select r.line,
         internal.oneroster_cell(r.cells, r.header, 'sourcedId') as sourced_id,
         internal.oneroster_cell(r.cells, r.header, 'status') as status_text,
         internal.oneroster_cell(r.cells, r.header, 'dateLastModified') as modified_text,
         internal.oneroster_cell(r.cells, r.header, 'title') as title,
         internal.oneroster_cell(r.cells, r.header, 'courseSourcedId') as course_sourced_id,
         internal.oneroster_cell(r.cells, r.header, 'classCode') as class_code,
         internal.oneroster_cell(r.cells, r.header, 'classType') as class_type,
         internal.oneroster_cell(r.cells, r.header, 'schoolSourcedId') as school_sourced_id,
         internal.oneroster_cell(r.cells, r.header, 'termSourcedIds') as term_sourced_ids
  from internal.oneroster_stage_rows r
  where r.file = 'classes';
comment on view internal.oneroster_stage_classes is 'Staged classes.csv rows by OneRoster column.';

create or replace view internal.oneroster_stage_enrollments with (security_invoker = true) as
  select r.line,
         internal.oneroster_cell(r.cells, r.header, 'sourcedId') as sourced_id,
         internal.oneroster_cell(r.cells, r.header, 'status') as status_text,
         internal.oneroster_cell(r.cells, r.header, 'dateLastModified') as modified_text,
         internal.oneroster_cell(r.cells, r.header, 'classSourcedId') as class_sourced_id,
         internal.oneroster_cell(r.cells, r.header, 'schoolSourcedId') as school_sourced_id,
         internal.oneroster_cell(r.cells, r.header, 'userSourcedId') as user_sourced_id,
         internal.oneroster_cell(r.cells, r.header, 'role') as role,
         internal.oneroster_cell(r.cells, r.header, 'primary') as primary_text,
         internal.oneroster_cell(r.cells, r.header, 'beginDate') as begin_text,
         internal.oneroster_cell(r.cells, r.header, 'endDate') as end_text
  from internal.oneroster_stage_rows r
  where r.file = 'enrollments';
comment on view internal.oneroster_stage_enrollments is 'Staged enrollments.csv rows by OneRoster column.';

create or replace function internal.oneroster_fail(p_file text, p_line integer, p_field text, p_message text)
returns void
language plpgsql
as $$
begin
  raise exception '%.csv line %, field %: %', p_file, p_line, p_field, p_message
    using errcode = 'LM422', detail = 'oneroster_invalid', hint = p_field;
end
$$;
comment on function internal.oneroster_fail(text, integer, text, text) is
  'Raises the import''s one error: 422 oneroster_invalid, "users.csv line 17, field email: …" (the transaction, and so the whole import, rolls back).';

create or replace function internal.oneroster_mode(p_file text)
returns text
language plpgsql
stable
as $$
declare
  v_mode text;
begin
  select lower(internal.oneroster_cell(r.cells, r.header, 'value')) into v_mode
  from internal.oneroster_stage_rows r
  where r.file = 'manifest' and internal.oneroster_cell(r.cells, r.header, 'propertyName') = 'file.' || p_file;
  v_mode := coalesce(v_mode, 'absent');
  if v_mode not in ('bulk', 'delta', 'absent') then
    perform internal.oneroster_fail('manifest', 0, 'file.' || p_file, format('%L is not bulk, delta or absent', v_mode));
  end if;
  if v_mode <> 'absent' and not exists (select from app.oneroster_stage s where s.file = p_file and s.line = 1) then
    perform internal.oneroster_fail('manifest', 0, 'file.' || p_file,
                                    format('the manifest says %s but %s.csv is not in the package', v_mode, p_file));
  end if;
  return v_mode;
end
$$;
comment on function internal.oneroster_mode(text) is
  'How the package''s manifest.csv delivers a file (file.users …): bulk, delta or absent (also when not named); a file named but missing is an error.';

-- ---------------------------------------------------------------------------------------------
-- Checking every row before anything is written
-- ---------------------------------------------------------------------------------------------
create or replace function internal.oneroster_check_common(p_file text)
returns void
language plpgsql
stable
as $$
declare
  v_line  integer;
  v_field text;
  v_msg   text;
begin
  select x.line, x.field, x.msg into v_line, v_field, v_msg from (
    select r.line, c.field, c.msg
    from internal.oneroster_stage_rows r
    cross join lateral (
      select internal.oneroster_cell(r.cells, r.header, 'sourcedId') as sid,
             internal.oneroster_cell(r.cells, r.header, 'status') as status,
             internal.oneroster_cell(r.cells, r.header, 'dateLastModified') as modified) v
    cross join lateral (
      select case when v.sid is null then 'sourcedId'
                  when length(v.sid) > 255 then 'sourcedId'
                  when internal.oneroster_status(v.status) is null then 'status'
                  when v.modified is not null and internal.oneroster_time(v.modified) is null then 'dateLastModified'
             end as field,
             case when v.sid is null then 'is required'
                  when length(v.sid) > 255 then 'longer than 255 characters'
                  when internal.oneroster_status(v.status) is null then format('%L is not active or tobedeleted', v.status)
                  when v.modified is not null and internal.oneroster_time(v.modified) is null
                    then format('%L is not an ISO 8601 date-time', v.modified)
             end as msg) c
    where r.file = p_file and c.field is not null
    order by r.line
    limit 1) x;
  if found then
    perform internal.oneroster_fail(p_file, v_line, v_field, v_msg);
  end if;
  select min(d.line), d.sid into v_line, v_field from (
    select r.line, internal.oneroster_cell(r.cells, r.header, 'sourcedId') as sid,
           count(*) over (partition by internal.oneroster_cell(r.cells, r.header, 'sourcedId')) as n
    from internal.oneroster_stage_rows r where r.file = p_file) d
  where d.n > 1 group by d.sid order by min(d.line) limit 1;
  if found then
    perform internal.oneroster_fail(p_file, (select max(r.line) from internal.oneroster_stage_rows r
                                             where r.file = p_file
                                               and internal.oneroster_cell(r.cells, r.header, 'sourcedId') = v_field),
                                    'sourcedId', format('%L is also on line %s', v_field, v_line));
  end if;
end
$$;
comment on function internal.oneroster_check_common(text) is
  'The checks every OneRoster file shares: sourcedId present, at most 255 characters and unique in the file; status active/tobedeleted (or blank); dateLastModified ISO 8601.';

create or replace function internal.oneroster_check_users()
returns void
language plpgsql
stable
as $$
declare
  v_line  integer;
  v_field text;
  v_msg   text;
begin
  perform internal.oneroster_check_common('users');
  select x.line, x.field, x.msg into v_line, v_field, v_msg from (
    select v.line, c.field, c.msg
    from internal.oneroster_stage_users v
    cross join lateral (
      select case when v.role_text is not null and internal.oneroster_role(v.role_text) is null then 'role'
                  when v.enabled_text is not null and internal.oneroster_bool(v.enabled_text) is null then 'enabledUser'
                  when internal.oneroster_status(v.status_text) = 'active' and internal.oneroster_role(v.role_text) is distinct from 'none'
                       and v.email is null then 'email'
                  when v.email is not null and (length(v.email) > 254 or v.email !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$') then 'email'
                  when length(concat_ws(' ', v.given_name, v.family_name)) > 200 then 'givenName'
             end as field,
             case when v.role_text is not null and internal.oneroster_role(v.role_text) is null
                    then format('%L is not a OneRoster role', v.role_text)
                  when v.enabled_text is not null and internal.oneroster_bool(v.enabled_text) is null
                    then format('%L is not true or false', v.enabled_text)
                  when internal.oneroster_status(v.status_text) = 'active' and internal.oneroster_role(v.role_text) is distinct from 'none'
                       and v.email is null then 'is required here (our accounts are keyed by email)'
                  when v.email is not null and (length(v.email) > 254 or v.email !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$')
                    then format('%L is not an email address', v.email)
                  when length(concat_ws(' ', v.given_name, v.family_name)) > 200 then 'the name is longer than 200 characters'
             end as msg) c
    where c.field is not null
    order by v.line
    limit 1) x;
  if found then
    perform internal.oneroster_fail('users', v_line, v_field, v_msg);
  end if;
  -- One address, one person: within the file, and against accounts the SIS maps to someone else.
  select max(d.line), format('%L is also on line %s', d.email, min(d.line)) into v_line, v_msg
  from (select v.line, lower(v.email) as email from internal.oneroster_stage_users v where v.email is not null) d
  group by d.email having count(*) > 1 order by min(d.line) limit 1;
  if found then
    perform internal.oneroster_fail('users', v_line, 'email', v_msg);
  end if;
  select v.line, format('%L belongs to an account the SIS knows as %L', v.email, other.sourced_id) into v_line, v_msg
  from internal.oneroster_stage_users v
  join app.users u on lower(u.email) = lower(v.email)
  join app.oneroster_users other on other.user_id = u.id and other.sourced_id <> v.sourced_id
  order by v.line limit 1;
  if found then
    perform internal.oneroster_fail('users', v_line, 'email', v_msg);
  end if;
end
$$;
comment on function internal.oneroster_check_users() is
  'users.csv: the common checks; role a OneRoster role; enabledUser true/false; an email (valid, unique in the file and not another SIS person''s account) for everyone imported as a user.';

create or replace function internal.oneroster_check_classes()
returns void
language plpgsql
stable
as $$
declare
  v_line integer;
begin
  perform internal.oneroster_check_common('classes');
  select v.line into v_line from internal.oneroster_stage_classes v
  where (v.title is null or length(v.title) > 200) and internal.oneroster_status(v.status_text) = 'active'
  order by v.line limit 1;
  if found then
    perform internal.oneroster_fail('classes', v_line, 'title', 'is required (at most 200 characters)');
  end if;
end
$$;
comment on function internal.oneroster_check_classes() is 'classes.csv: the common checks and a title (1–200 characters) for active classes.';

create or replace function internal.oneroster_check_enrollments()
returns void
language plpgsql
stable
as $$
declare
  v_line  integer;
  v_field text;
  v_msg   text;
begin
  perform internal.oneroster_check_common('enrollments');
  select x.line, x.field, x.msg into v_line, v_field, v_msg from (
    select v.line, c.field, c.msg
    from internal.oneroster_stage_enrollments v
    cross join lateral (
      select case when v.class_sourced_id is null then 'classSourcedId'
                  when v.user_sourced_id is null then 'userSourcedId'
                  when v.role is null or internal.oneroster_role(v.role) is null then 'role'
                  when v.primary_text is not null and internal.oneroster_bool(v.primary_text) is null then 'primary'
                  when v.begin_text is not null and internal.oneroster_time(v.begin_text) is null then 'beginDate'
                  when v.end_text is not null and internal.oneroster_time(v.end_text) is null then 'endDate'
             end as field,
             case when v.class_sourced_id is null or v.user_sourced_id is null then 'is required'
                  when v.role is null or internal.oneroster_role(v.role) is null
                    then format('%L is not a OneRoster role', coalesce(v.role, ''))
                  when v.primary_text is not null and internal.oneroster_bool(v.primary_text) is null
                    then format('%L is not true or false', v.primary_text)
                  else 'not an ISO 8601 date'
             end as msg) c
    where c.field is not null
    order by v.line
    limit 1) x;
  if found then
    perform internal.oneroster_fail('enrollments', v_line, v_field, v_msg);
  end if;
  select v.line, format('%L is in neither classes.csv nor an earlier import', v.class_sourced_id) into v_line, v_msg
  from internal.oneroster_stage_enrollments v
  where not exists (select from internal.oneroster_stage_classes c where c.sourced_id = v.class_sourced_id)
    and not exists (select from app.oneroster_classes c where c.sourced_id = v.class_sourced_id)
  order by v.line limit 1;
  if found then
    perform internal.oneroster_fail('enrollments', v_line, 'classSourcedId', v_msg);
  end if;
  select v.line, format('%L is in neither users.csv nor an earlier import', v.user_sourced_id) into v_line, v_msg
  from internal.oneroster_stage_enrollments v
  where not exists (select from internal.oneroster_stage_users u where u.sourced_id = v.user_sourced_id)
    and not exists (select from app.oneroster_users u where u.sourced_id = v.user_sourced_id)
    and internal.oneroster_role(v.role) <> 'none'
  order by v.line limit 1;
  if found then
    perform internal.oneroster_fail('enrollments', v_line, 'userSourcedId', v_msg);
  end if;
end
$$;
comment on function internal.oneroster_check_enrollments() is
  'enrollments.csv: the common checks; classSourcedId and userSourcedId present and known (in this package or an earlier import); role a OneRoster role; primary true/false; beginDate/endDate ISO 8601.';

-- ---------------------------------------------------------------------------------------------
-- The merge
-- ---------------------------------------------------------------------------------------------
create or replace view internal.oneroster_manifest with (security_invoker = true) as
  select internal.oneroster_cell(r.cells, r.header, 'propertyName') as property,
         lower(internal.oneroster_cell(r.cells, r.header, 'value')) as value
  from internal.oneroster_stage_rows r
  where r.file = 'manifest';
comment on view internal.oneroster_manifest is 'The staged manifest.csv: propertyName → value (lower case).';

create or replace view internal.oneroster_users_incoming with (security_invoker = true) as
  select v.line, v.sourced_id, internal.oneroster_status(v.status_text) as status,
         internal.oneroster_time(v.modified_text) as modified, v.username, v.identifier, v.email,
         left(coalesce(nullif(btrim(concat_ws(' ', v.given_name, v.family_name)), ''), v.username,
                       split_part(v.email, '@', 1)), 200) as full_name,
         coalesce(internal.oneroster_role(v.role_text),
                  case when t.user_sourced_id is not null then 'instructor' else 'student' end) as role,
         v.role_text is not null as role_given,
         internal.oneroster_status(v.status_text) = 'active'
           and internal.oneroster_bool(v.enabled_text) is distinct from false as active
  from internal.oneroster_stage_users v
  left join (select distinct e.user_sourced_id from internal.oneroster_stage_enrollments e
             where internal.oneroster_role(e.role) = 'instructor') t on t.user_sourced_id = v.sourced_id
  where (select m.value from internal.oneroster_manifest m where m.property = 'file.users') is distinct from 'delta'
     or not exists (select from app.oneroster_users o where o.sourced_id = v.sourced_id
                    and o.date_last_modified >= internal.oneroster_time(v.modified_text));
comment on view internal.oneroster_users_incoming is
  'The users.csv rows that apply (a delta row no newer than the imported one is left out), with our name, role (without a role column: instructor when the person teaches a class of the package, else student) and active flag.';

create or replace view internal.oneroster_classes_incoming with (security_invoker = true) as
  select v.line, v.sourced_id, internal.oneroster_status(v.status_text) as status,
         internal.oneroster_time(v.modified_text) as modified, v.title, v.course_sourced_id, v.class_code,
         v.class_type, v.school_sourced_id, v.term_sourced_ids
  from internal.oneroster_stage_classes v
  where (select m.value from internal.oneroster_manifest m where m.property = 'file.classes') is distinct from 'delta'
     or not exists (select from app.oneroster_classes o where o.sourced_id = v.sourced_id
                    and o.date_last_modified >= internal.oneroster_time(v.modified_text));
comment on view internal.oneroster_classes_incoming is 'The classes.csv rows that apply (stale delta rows left out).';

create or replace view internal.oneroster_enrollments_incoming with (security_invoker = true) as
  select v.line, v.sourced_id, internal.oneroster_status(v.status_text) as status,
         internal.oneroster_time(v.modified_text) as modified, v.class_sourced_id, v.user_sourced_id,
         lower(v.role) as role, internal.oneroster_bool(v.primary_text) as is_primary,
         internal.oneroster_time(v.begin_text)::date as begin_date, internal.oneroster_time(v.end_text)::date as end_date,
         v.school_sourced_id
  from internal.oneroster_stage_enrollments v
  where (select m.value from internal.oneroster_manifest m where m.property = 'file.enrollments') is distinct from 'delta'
     or not exists (select from app.oneroster_enrollments o where o.sourced_id = v.sourced_id
                    and o.date_last_modified >= internal.oneroster_time(v.modified_text));
comment on view internal.oneroster_enrollments_incoming is 'The enrollments.csv rows that apply (stale delta rows left out).';

create or replace function internal.oneroster_new_role(p_role text, p_sis_role text, p_given boolean)
returns text
language sql
immutable
parallel safe
as $$
  select case when p_role = 'admin' then 'admin'
              when p_given then p_sis_role
              when p_sis_role = 'instructor' then 'instructor'
              else p_role end
$$;
comment on function internal.oneroster_new_role(text, text, boolean) is
  'A known account''s role after an import: an admin stays an admin; a role column decides; without one, teaching a class of the package makes an instructor and nothing demotes.';

create or replace function internal.oneroster_merge_users(p_bulk boolean)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_linked      bigint;
  v_created     bigint;
  v_updated     bigint;
  v_mapped      bigint;
  v_deactivated bigint := 0;
  v_skipped     bigint;
begin
  select count(*) into v_skipped from internal.oneroster_users_incoming v where v.role = 'none';
  -- A person the SIS names for the first time who has an account already (same email) is that account.
  insert into app.oneroster_users (sourced_id, user_id, status, date_last_modified, username, identifier)
  select v.sourced_id, u.id, v.status, v.modified, v.username, v.identifier
  from internal.oneroster_users_incoming v
  join app.users u on lower(u.email) = lower(v.email)
  where v.role <> 'none' and v.status = 'active'
    and not exists (select from app.oneroster_users o where o.sourced_id = v.sourced_id)
    and not exists (select from app.oneroster_users o where o.user_id = u.id);
  get diagnostics v_linked = row_count;
  -- Everyone else is a new account without a password: they set one (auth.password_reset) or sign in with SSO.
  with fresh as materialized (
    select gen_random_uuid() as id, v.*
    from internal.oneroster_users_incoming v
    where v.role <> 'none' and v.status = 'active'
      and not exists (select from app.oneroster_users o where o.sourced_id = v.sourced_id)),
  made as (
    insert into app.users (id, email, password_hash, full_name, role, is_active, email_verified_at)
    select f.id, f.email, '!oneroster', f.full_name, f.role, f.active, now() from fresh f)
  insert into app.oneroster_users (sourced_id, user_id, status, date_last_modified, username, identifier)
  select f.sourced_id, f.id, f.status, f.modified, f.username, f.identifier from fresh f;
  get diagnostics v_created = row_count;
  -- Known people: name, email, role and active flag as the SIS says (an admin stays an admin).
  update app.users u
  set email = coalesce(v.email, u.email), full_name = coalesce(v.full_name, u.full_name),
      role = internal.oneroster_new_role(u.role, v.role, v.role_given), is_active = v.active, updated_at = now()
  from internal.oneroster_users_incoming v
  join app.oneroster_users o on o.sourced_id = v.sourced_id
  where u.id = o.user_id and v.role <> 'none'
    and (u.email, u.full_name, u.role, u.is_active) is distinct from
        (coalesce(v.email, u.email), coalesce(v.full_name, u.full_name),
         internal.oneroster_new_role(u.role, v.role, v.role_given), v.active);
  get diagnostics v_updated = row_count;
  update app.oneroster_users o
  set status = v.status, date_last_modified = v.modified, username = v.username, identifier = v.identifier,
      imported_at = now()
  from internal.oneroster_users_incoming v
  where o.sourced_id = v.sourced_id
    and (o.status, o.date_last_modified, o.username, o.identifier)
        is distinct from (v.status, v.modified, v.username, v.identifier);
  get diagnostics v_mapped = row_count;
  if p_bulk then  -- a bulk file is everyone: whom it no longer lists is deactivated
    with gone as (
      update app.oneroster_users o set status = 'tobedeleted', imported_at = now()
      where o.status = 'active'
        and not exists (select from internal.oneroster_stage_users v where v.sourced_id = o.sourced_id)
      returning o.user_id)
    update app.users u set is_active = false, updated_at = now() from gone g where u.id = g.user_id and u.is_active;
    get diagnostics v_deactivated = row_count;
  end if;
  return jsonb_build_object('linked', v_linked, 'created', v_created, 'updated', v_updated,
                            'deactivated', v_deactivated, 'sis_rows_changed', v_mapped, 'skipped', v_skipped);
end
$$;
comment on function internal.oneroster_merge_users(boolean) is
  'oneroster_merge, users: link (same email, not yet mapped), create (no password: ''!oneroster'' matches no bcrypt hash; the email counts as verified, the SIS vouches for it), update what changed (an admin is never demoted), and for a bulk file deactivate whom it no longer lists → counts. Guardians, parents and relatives are skipped.';

create or replace function internal.oneroster_merge_classes(p_bulk boolean, p_owner uuid)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_line    integer;
  v_created bigint;
  v_renamed bigint;
  v_mapped  bigint;
  v_gone    bigint := 0;
begin
  -- A new class's course belongs to its primary teacher (else a teacher, else the --owner).
  select v.line into v_line
  from internal.oneroster_classes_incoming v
  where v.status = 'active' and p_owner is null
    and not exists (select from app.oneroster_classes o where o.sourced_id = v.sourced_id)
    and not exists (select from app.oneroster_enrollments e
                    join app.oneroster_users mu on mu.sourced_id = e.user_sourced_id
                    join app.instructors i on i.user_id = mu.user_id
                    where e.class_sourced_id = v.sourced_id and e.role = 'teacher' and e.status = 'active')
  order by v.line limit 1;
  if found then
    perform internal.oneroster_fail('classes', v_line, 'sourcedId',
                                    'the class has no teacher in enrollments.csv: name one, or give lms oneroster import --owner EMAIL');
  end if;
  with fresh as materialized (
    select gen_random_uuid() as id, v.*, coalesce(t.user_id, p_owner) as instructor_id
    from internal.oneroster_classes_incoming v
    left join internal.oneroster_class_teachers t on t.class_sourced_id = v.sourced_id
    where v.status = 'active' and not exists (select from app.oneroster_classes o where o.sourced_id = v.sourced_id)),
  made as (
    insert into app.courses (id, instructor_id, title, short_description)
    select f.id, f.instructor_id, f.title, nullif(concat_ws(' · ', f.class_code, f.term_sourced_ids), '') from fresh f)
  insert into app.oneroster_classes (sourced_id, course_id, status, date_last_modified, course_sourced_id, class_code,
                                     class_type, school_sourced_id, term_sourced_ids)
  select f.sourced_id, f.id, f.status, f.modified, f.course_sourced_id, f.class_code, f.class_type, f.school_sourced_id,
         f.term_sourced_ids
  from fresh f;
  get diagnostics v_created = row_count;
  update app.courses c set title = v.title, updated_at = now()
  from internal.oneroster_classes_incoming v join app.oneroster_classes o on o.sourced_id = v.sourced_id
  where c.id = o.course_id and v.title is not null and c.title is distinct from v.title;
  get diagnostics v_renamed = row_count;
  update app.oneroster_classes o
  set status = v.status, date_last_modified = v.modified, course_sourced_id = v.course_sourced_id,
      class_code = v.class_code, class_type = v.class_type, school_sourced_id = v.school_sourced_id,
      term_sourced_ids = v.term_sourced_ids, imported_at = now()
  from internal.oneroster_classes_incoming v
  where o.sourced_id = v.sourced_id
    and (o.status, o.date_last_modified, o.course_sourced_id, o.class_code, o.class_type, o.school_sourced_id,
         o.term_sourced_ids)
        is distinct from (v.status, v.modified, v.course_sourced_id, v.class_code, v.class_type, v.school_sourced_id,
                          v.term_sourced_ids);
  get diagnostics v_mapped = row_count;
  if p_bulk then
    update app.oneroster_classes o set status = 'tobedeleted', imported_at = now()
    where o.status = 'active'
      and not exists (select from internal.oneroster_stage_classes v where v.sourced_id = o.sourced_id);
    get diagnostics v_gone = row_count;
  end if;
  return jsonb_build_object('created', v_created, 'renamed', v_renamed, 'sis_rows_changed', v_mapped,
                            'ended', v_gone);
end
$$;
comment on function internal.oneroster_merge_classes(boolean, uuid) is
  'oneroster_merge, classes: a new class becomes a draft course of its primary teacher (a class without a teacher needs --owner: else the error names its line), a renamed one renames its course, a bulk file ends the classes it no longer lists (their students'' enrollments are deactivated; courses and their work stay) → counts.';

create or replace view internal.oneroster_class_teachers with (security_invoker = true) as
  select distinct on (e.class_sourced_id) e.class_sourced_id, mu.user_id
  from app.oneroster_enrollments e
  join app.oneroster_users mu on mu.sourced_id = e.user_sourced_id and mu.status = 'active'
  join app.instructors i on i.user_id = mu.user_id
  where e.role = 'teacher' and e.status = 'active'
  order by e.class_sourced_id, e.is_primary desc nulls last, e.sourced_id;
comment on view internal.oneroster_class_teachers is
  'The instructor of each imported class: its active primary teacher (else the active teacher first by sourcedId) with an instructor account.';

create or replace view internal.oneroster_student_places with (security_invoker = true) as
  select mu.user_id, mc.course_id,
         bool_or(e.status = 'active' and mc.status = 'active' and mu.status = 'active'
                 and (e.end_date is null or e.end_date >= current_date)) as active
  from app.oneroster_enrollments e
  join app.oneroster_users mu on mu.sourced_id = e.user_sourced_id
  join app.oneroster_classes mc on mc.sourced_id = e.class_sourced_id
  where e.role = 'student'
  group by mu.user_id, mc.course_id;
comment on view internal.oneroster_student_places is
  'Each (user, course) the SIS enrolls a student in, and whether that enrollment is active now (the enrollment, its class and its person active; not ended).';

create or replace function internal.oneroster_apply()
returns jsonb
language plpgsql
volatile
as $$
declare
  v_enrolled    bigint;
  v_dropped     bigint;
  v_instructors bigint;
begin
  insert into app.enrollments as en (user_id, course_id)
  select p.user_id, p.course_id from internal.oneroster_student_places p where p.active
  on conflict (user_id, course_id) do update set is_active = true, dropped_at = null where not en.is_active;
  get diagnostics v_enrolled = row_count;
  update app.enrollments en set is_active = false, dropped_at = now()
  from internal.oneroster_student_places p
  where not p.active and en.user_id = p.user_id and en.course_id = p.course_id and en.is_active;
  get diagnostics v_dropped = row_count;
  update app.courses c set instructor_id = t.user_id, updated_at = now()
  from app.oneroster_classes o join internal.oneroster_class_teachers t on t.class_sourced_id = o.sourced_id
  where c.id = o.course_id and c.instructor_id <> t.user_id;
  get diagnostics v_instructors = row_count;
  return jsonb_build_object('enrolled', v_enrolled, 'dropped', v_dropped, 'instructors_changed', v_instructors);
end
$$;
comment on function internal.oneroster_apply() is
  'oneroster_merge, last step: student enrollments follow the SIS (enrolled or re-activated when active there, deactivated when it ended them; enrollments made otherwise are never touched), and each imported class''s course is its current teacher''s → counts.';

create or replace function internal.oneroster_merge(p_owner_email text default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
-- The staging table was filled a moment ago: its statistics say it is empty, and a nested loop over a
-- million staged rows "expected" to be 78 is quadratic. Set-based steps hash-join instead. (jit off: a
-- disabled plan's cost is huge, and JIT would compile every small statement at ~100 ms each.)
set enable_nestloop = off
set jit = off
set work_mem = '256MB'
as $$
declare
  v_users   text;
  v_classes text;
  v_enrol   text;
  v_owner   uuid;
  v_n       bigint;
  v_m       bigint;
  v_counts  jsonb := '{}';
  v_file    text;
begin
  if not (select r.rolsuper or pg_has_role(session_user, 'lms_owner', 'MEMBER') from pg_roles r where r.rolname = session_user) then
    raise exception 'lms oneroster import runs on the DBA''s connection' using errcode = '42501';
  end if;
  -- One import at a time; no client or analyst has a privilege on the staging table, so none can take this lock.
  lock table app.oneroster_stage in exclusive mode;
  delete from app.oneroster_stage;
  -- (the CLI's temporary table, named at run time: no function here may depend on a session's table)
  execute format('insert into app.oneroster_stage (file, line, cells) select u.file, u.line, u.cells from %I.%I u',
                 'pg_temp', 'oneroster_upload');
  if not exists (select from app.oneroster_stage s where s.file = 'manifest') then
    perform internal.oneroster_fail('manifest', 0, 'manifest.csv', 'the package has no manifest.csv');
  end if;
  v_users := internal.oneroster_mode('users');
  v_classes := internal.oneroster_mode('classes');
  v_enrol := internal.oneroster_mode('enrollments');
  if p_owner_email is not null then
    select i.user_id into v_owner from app.users u join app.instructors i on i.user_id = u.id
    where lower(u.email) = lower(btrim(p_owner_email));
    if v_owner is null then
      raise exception '--owner %: no instructor with this email', p_owner_email
        using errcode = 'LM422', detail = 'oneroster_invalid', hint = 'owner';
    end if;
  end if;

  -- 1. Every row is checked before anything is written.
  foreach v_file in array array['orgs', 'academicSessions', 'courses'] loop
    if internal.oneroster_mode(v_file) <> 'absent' then
      perform internal.oneroster_check_common(v_file);
    end if;
  end loop;
  if v_users <> 'absent' then perform internal.oneroster_check_users(); end if;
  if v_classes <> 'absent' then perform internal.oneroster_check_classes(); end if;
  if v_enrol <> 'absent' then perform internal.oneroster_check_enrollments(); end if;

  -- 2. What is only kept to be written back: orgs, academic sessions, courses.
  foreach v_file in array array['orgs', 'academicSessions', 'courses'] loop
    if internal.oneroster_mode(v_file) <> 'absent' then
      insert into app.oneroster_refs as o (kind, sourced_id, status, date_last_modified, fields)
      select v_file, internal.oneroster_cell(r.cells, r.header, 'sourcedId'),
             internal.oneroster_status(internal.oneroster_cell(r.cells, r.header, 'status')),
             internal.oneroster_time(internal.oneroster_cell(r.cells, r.header, 'dateLastModified')),
             jsonb_object(r.header, r.cells) - 'sourcedId' - 'status' - 'dateLastModified'
      from internal.oneroster_stage_rows r where r.file = v_file
      on conflict (kind, sourced_id) do update
        set status = excluded.status, date_last_modified = excluded.date_last_modified, fields = excluded.fields,
            imported_at = now()
        where (o.status, o.date_last_modified, o.fields) is distinct from
              (excluded.status, excluded.date_last_modified, excluded.fields)
          and (internal.oneroster_mode(v_file) = 'bulk' or o.date_last_modified is null
               or excluded.date_last_modified > o.date_last_modified);
      get diagnostics v_n = row_count;
      if internal.oneroster_mode(v_file) = 'bulk' then
        update app.oneroster_refs o set status = 'tobedeleted', imported_at = now()
        where o.kind = v_file and o.status = 'active'
          and not exists (select from internal.oneroster_stage_rows r where r.file = v_file
                          and internal.oneroster_cell(r.cells, r.header, 'sourcedId') = o.sourced_id);
      end if;
      v_counts := v_counts || jsonb_build_object(v_file, jsonb_build_object('changed', v_n));
    end if;
  end loop;

  -- 3. Users.
  if v_users <> 'absent' then
    v_counts := v_counts || jsonb_build_object('users', internal.oneroster_merge_users(v_users = 'bulk'));
  end if;
  -- 4. Enrollments as the SIS has them (the courses' instructors come from them).
  if v_enrol <> 'absent' then
    insert into app.oneroster_enrollments as o (sourced_id, class_sourced_id, user_sourced_id, role, status,
                                               date_last_modified, is_primary, begin_date, end_date, school_sourced_id)
    select v.sourced_id, v.class_sourced_id, v.user_sourced_id, v.role, v.status, v.modified, v.is_primary,
           v.begin_date, v.end_date, v.school_sourced_id
    from internal.oneroster_enrollments_incoming v
    on conflict (sourced_id) do update
      set class_sourced_id = excluded.class_sourced_id, user_sourced_id = excluded.user_sourced_id,
          role = excluded.role, status = excluded.status, date_last_modified = excluded.date_last_modified,
          is_primary = excluded.is_primary, begin_date = excluded.begin_date, end_date = excluded.end_date,
          school_sourced_id = excluded.school_sourced_id, imported_at = now()
      where (o.class_sourced_id, o.user_sourced_id, o.role, o.status, o.date_last_modified, o.is_primary,
             o.begin_date, o.end_date, o.school_sourced_id)
            is distinct from (excluded.class_sourced_id, excluded.user_sourced_id, excluded.role, excluded.status,
                              excluded.date_last_modified, excluded.is_primary, excluded.begin_date, excluded.end_date,
                              excluded.school_sourced_id);
    get diagnostics v_n = row_count;
    if v_enrol = 'bulk' then
      update app.oneroster_enrollments o set status = 'tobedeleted', imported_at = now()
      where o.status = 'active'
        and not exists (select from internal.oneroster_stage_enrollments v where v.sourced_id = o.sourced_id);
      get diagnostics v_m = row_count;
      v_n := v_n + v_m;
    end if;
    v_counts := v_counts || jsonb_build_object('enrollments', jsonb_build_object('changed', v_n));
  end if;
  -- 5. Classes → courses.
  if v_classes <> 'absent' then
    v_counts := v_counts || jsonb_build_object('classes', internal.oneroster_merge_classes(v_classes = 'bulk', v_owner));
  end if;
  -- 6. Student enrollments and instructors follow what the SIS says now.
  if v_enrol <> 'absent' or v_classes <> 'absent' or v_users <> 'absent' then
    v_counts := v_counts || jsonb_build_object('applied', internal.oneroster_apply());
  end if;
  delete from app.oneroster_stage;
  return v_counts;
end
$$;
comment on function internal.oneroster_merge(text) is
  'lms oneroster import: the files the CLI COPYed into pg_temp.oneroster_upload (file, line, cells), checked row by row (the first bad row is 422 oneroster_invalid with its file, line and field — and the transaction, so nothing, is kept), then merged set-based in the same transaction → counts of what changed. p_owner_email: the instructor who owns a class without a teacher. One import at a time (a lock on the staging table). SECURITY DEFINER: writes users, courses and enrollments whatever RLS shows the DBA''s role (a member of lms_owner is subject to forced RLS); refuses any session that is not a superuser''s or lms_owner''s.';


-- ---------------------------------------------------------------------------------------------
-- Export: the same files (lms oneroster export DIR: COPY (select * from …) TO STDOUT WITH CSV HEADER)
-- ---------------------------------------------------------------------------------------------
create or replace function internal.oneroster_export_refs(p_kind text, p_columns text[])
returns setof text[]
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select array[x.sourced_id, x.status, to_char(x.modified at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')]
         || array(select x.fields ->> c.name from unnest(p_columns) with ordinality c(name, n) order by c.n)
  from (
    select o.sourced_id, o.status, o.date_last_modified as modified, o.fields
    from app.oneroster_refs o where o.kind = p_kind
    union all  -- the org and the courses of what was made here, which classes.csv names
    select 'lms', 'active', null, jsonb_build_object('name', 'This LMS', 'type', 'school')
    where p_kind = 'orgs' and not exists (select from app.oneroster_refs o where o.kind = 'orgs' and o.sourced_id = 'lms')
    union all
    select c.id::text, 'active', c.updated_at, jsonb_build_object('title', c.title, 'orgSourcedId', 'lms')
    from app.courses c
    where p_kind = 'courses' and not exists (select from app.oneroster_classes o where o.course_id = c.id)) x
  order by x.sourced_id
$$;
comment on function internal.oneroster_export_refs(text, text[]) is
  'lms oneroster export: the kept orgs, academicSessions or courses rows, as cells (sourcedId, status, dateLastModified, then p_columns from the imported row); with the org lms and a course per course made here, which classes.csv names. SECURITY DEFINER: the DBA''s role is subject to forced RLS; not granted to clients.';

create or replace function internal.oneroster_export_users()
returns table ("sourcedId" text, status text, "dateLastModified" text, "enabledUser" text, username text,
               "givenName" text, "familyName" text, email text, role text, identifier text)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(o.sourced_id, u.id::text), coalesce(o.status, case when u.is_active then 'active' else 'tobedeleted' end),
         to_char(u.updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
         case when u.is_active then 'true' else 'false' end, coalesce(o.username, u.email),
         case when strpos(u.full_name, ' ') > 0 then regexp_replace(u.full_name, '\s+\S+$', '') else u.full_name end,
         case when strpos(u.full_name, ' ') > 0 then substring(u.full_name from '(\S+)$') else '' end,
         u.email, case u.role when 'student' then 'student' when 'instructor' then 'teacher' else 'administrator' end,
         o.identifier
  from app.users u left join app.oneroster_users o on o.user_id = u.id
  order by 1
$$;
comment on function internal.oneroster_export_users() is
  'lms oneroster export users.csv: every account (an imported one under its sourcedId, others under their id), with OneRoster 1.1''s role column (instructor → teacher, admin → administrator). SECURITY DEFINER: the DBA''s role is subject to forced RLS; not granted to clients.';

create or replace function internal.oneroster_export_classes()
returns table ("sourcedId" text, status text, "dateLastModified" text, title text, "courseSourcedId" text,
               "classCode" text, "classType" text, "schoolSourcedId" text, "termSourcedIds" text)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(o.sourced_id, c.id::text), coalesce(o.status, 'active'),
         to_char(c.updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), c.title,
         coalesce(o.course_sourced_id, c.id::text), o.class_code, coalesce(o.class_type, 'scheduled'),
         coalesce(o.school_sourced_id, 'lms'), o.term_sourced_ids
  from app.courses c left join app.oneroster_classes o on o.course_id = c.id
  order by 1
$$;
comment on function internal.oneroster_export_classes() is
  'lms oneroster export classes.csv: every course as a class (an imported one as it came; others under their id, of the course of the same id, in the org lms). SECURITY DEFINER: the DBA''s role is subject to forced RLS; not granted to clients.';

create or replace function internal.oneroster_export_enrollments()
returns table ("sourcedId" text, status text, "dateLastModified" text, "classSourcedId" text, "schoolSourcedId" text,
               "userSourcedId" text, role text, "primary" text, "beginDate" text, "endDate" text)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select e.sourced_id, e.status, to_char(e.date_last_modified at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
         e.class_sourced_id, e.school_sourced_id, e.user_sourced_id, e.role,
         case when e.is_primary then 'true' when not e.is_primary then 'false' end, e.begin_date::text, e.end_date::text
  from app.oneroster_enrollments e
  union all  -- enrollments made here (bought, self-enrolled), and the instructors of courses made here
  select en.id::text, case when en.is_active then 'active' else 'tobedeleted' end,
         to_char(en.enrolled_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
         coalesce(mc.sourced_id, en.course_id::text), coalesce(mc.school_sourced_id, 'lms'),
         coalesce(mu.sourced_id, en.user_id::text), 'student', 'false', en.enrolled_at::date::text, null
  from app.enrollments en
  left join app.oneroster_classes mc on mc.course_id = en.course_id
  left join app.oneroster_users mu on mu.user_id = en.user_id
  where not exists (select from app.oneroster_enrollments e where e.role = 'student'
                    and e.class_sourced_id = mc.sourced_id and e.user_sourced_id = mu.sourced_id)
  union all
  select 'teacher-' || c.id, 'active', to_char(c.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
         c.id::text, 'lms', coalesce(mu.sourced_id, c.instructor_id::text), 'teacher', 'true', null, null
  from app.courses c left join app.oneroster_users mu on mu.user_id = c.instructor_id
  where not exists (select from app.oneroster_classes o where o.course_id = c.id)
  order by 1
$$;
comment on function internal.oneroster_export_enrollments() is
  'lms oneroster export enrollments.csv: the imported enrollments as they came, then the enrollments made here and the instructors of courses made here (as primary teachers). SECURITY DEFINER: the DBA''s role is subject to forced RLS; not granted to clients.';
