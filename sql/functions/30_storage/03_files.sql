/*
 * Storage — file.list, file.delete, and the download's lookup (GET /files/{file_id}).
 * Who sees a file is the select policy on app.files (sql/policies/30_storage.sql): the same rule
 * for the API and for analysts. All SECURITY INVOKER.
 */
create or replace function internal.file_for_download(p_file_id uuid)
returns jsonb
language plpgsql
stable
as $$
declare
  v_file app.files;
begin
  select f.* into v_file from app.files f where f.id = p_file_id;  -- under RLS
  if v_file.id is null then
    raise exception 'file not found' using errcode = 'LM404', detail = 'not_found', hint = 'file_id';
  end if;
  return internal.file_json(v_file)
         || jsonb_build_object('storage_provider', v_file.storage_provider, 'storage_path', v_file.storage_path);
end
$$;
comment on function internal.file_for_download(uuid) is
  'GET /files/{file_id}: the file with where its bytes are, when the select policy lets the caller see it; else 404.';

create or replace function api.file_list(course_id uuid default null, assignment_id uuid default null,
                                          "limit" integer default 50, "offset" integer default 0)
returns jsonb
language plpgsql
stable
as $$
declare
  v_user_id uuid := internal.require_user();
begin
  perform internal.check_page(file_list."limit", file_list."offset", 500);
  if file_list.course_id is not null and not internal.can_see_course(file_list.course_id) then
    raise exception 'course not found' using errcode = 'LM404', detail = 'not_found', hint = 'course_id';
  end if;
  if file_list.assignment_id is not null
     and not exists (select from app.assignments a where a.id = file_list.assignment_id) then
    raise exception 'assignment not found' using errcode = 'LM404', detail = 'not_found', hint = 'assignment_id';
  end if;
  return (select coalesce(jsonb_agg(internal.file_json(f) order by f.created_at, f.id), '[]')
          from (select f0.id from app.files f0
                where (file_list.course_id is null or f0.course_id = file_list.course_id)
                  and (file_list.assignment_id is null or f0.assignment_id = file_list.assignment_id)
                  and (file_list.course_id is not null or file_list.assignment_id is not null
                       or f0.uploaded_by = v_user_id)
                order by f0.created_at, f0.id
                limit coalesce(file_list."limit", 50) offset coalesce(file_list."offset", 0)) x
          join app.files f on f.id = x.id);
end
$$;
comment on function api.file_list(uuid, uuid, integer, integer) is
$$Files the caller may see: course_id → the course's material; assignment_id → the attachments of that
assignment (a student sees their own, the course's instructor and admins all); neither → the caller's own
uploads. A course or assignment the caller cannot see is 404.
@result file[]
@param limit minimum=1 maximum=500
@param offset minimum=0
Oldest first (created_at, then id). limit: default 50, at most 500; offset: default 0.$$;

create or replace function api.file_delete(file_id uuid)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_user_id uuid := internal.require_user();
  v_file    app.files;
begin
  select f.* into v_file from app.files f where f.id = file_delete.file_id;  -- under RLS
  if v_file.id is null then
    raise exception 'file not found' using errcode = 'LM404', detail = 'not_found', hint = 'file_id';
  end if;
  if not internal.file_managed(v_file.course_id, v_file.assignment_id) then
    if v_file.uploaded_by <> v_user_id then
      raise exception 'only the uploader, the course''s instructor or an admin may delete a file'
        using errcode = 'LM403', detail = 'forbidden';
    end if;
    if exists (select from app.submissions s where s.file_id = v_file.id and s.grade is not null) then
      raise exception 'the file belongs to a graded submission' using errcode = 'LM409', detail = 'already_graded';
    end if;
  end if;
  if exists (select from app.submissions s where s.file_id = v_file.id and s.content is null) then
    raise exception 'the file is the only work of a submission' using errcode = 'LM409', detail = 'in_use';
  end if;
  delete from app.files f where f.id = v_file.id;  -- the bytes: app.storage_pending, removed by the server
  return internal.file_json(v_file);
end
$$;
comment on function api.file_delete(uuid) is
$$Delete a file (its uploader, the course's instructor, an admin) → the deleted file. A student cannot
delete the file of a graded submission (409 already_graded); nobody deletes the only work of a
submission (409 in_use). The server removes the stored bytes right after (they count against the
uploader's quota until then; `lms db maintain` removes any left behind).
@result file$$;

create or replace function internal.file_managed(p_course_id uuid, p_assignment_id uuid)
returns boolean
language sql
stable
as $$
  select internal.is_admin()
      or p_course_id in (select internal.my_course_ids())
      or p_assignment_id in (select a.id from app.assignments a where a.course_id in (select internal.my_course_ids()))
$$;
comment on function internal.file_managed(uuid, uuid) is
  'True when the calling user manages the file''s course: an admin, or the instructor of its course (material) or of its assignment''s course (attachments).';
