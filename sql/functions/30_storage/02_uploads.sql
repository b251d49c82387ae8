/*
 * Storage — uploads, decided by the database before any byte is stored (POST /files, rpc/http/files.py):
 *
 * 1. internal.file_upload_begin — may the caller attach a file there (course material: the
 *    course's instructor or an admin; an assignment attachment: an actively enrolled student,
 *    before the deadline refuses it), how much of their quota is left; records the random
 *    storage path as an upload under way (app.storage_pending), committed before the bytes flow.
 * 2. the server streams the bytes to storage (size, SHA-256 and type on the way);
 * 3. internal.file_upload_finish — in one transaction: the upload under way is taken off
 *    app.storage_pending and the app.files row written (RLS WITH CHECK decides again, the quota
 *    is checked again under a per-user lock);
 *    or internal.file_upload_abandon after the server removed the bytes of a refused upload.
 * A crash between 1 and 3 leaves an upload row older than the grace: `lms db maintain` removes
 * its bytes (sql/functions/30_storage/04_upkeep.sql).
 * All SECURITY INVOKER: they run as lms_api for the caller (rpc/db/calls.py), under RLS.
 * Shares with assessment: submission.submit reads app.files (uploaded_by, assignment_id).
 */
create or replace function internal.file_target_check(p_course_id uuid, p_assignment_id uuid)
returns void
language plpgsql
stable
as $$
declare
  v_user_id    uuid := internal.require_user();
  v_assignment app.assignments;
begin
  if (p_course_id is null) = (p_assignment_id is null) then
    raise exception 'give exactly one of course_id and assignment_id'
      using errcode = 'LM422', detail = 'one_target_required';
  end if;
  if p_course_id is not null then
    if not internal.can_see_course(p_course_id) then
      raise exception 'course not found' using errcode = 'LM404', detail = 'not_found', hint = 'course_id';
    end if;
    if not internal.can_manage_course(p_course_id) then
      raise exception 'only the course''s instructor or an admin may add course material'
        using errcode = 'LM403', detail = 'not_course_owner';
    end if;
    return;
  end if;
  select a.* into v_assignment from app.assignments a where a.id = p_assignment_id;  -- under RLS
  if v_assignment.id is null then
    raise exception 'assignment not found' using errcode = 'LM404', detail = 'not_found', hint = 'assignment_id';
  end if;
  if not internal.is_actively_enrolled(v_user_id, v_assignment.course_id) then
    raise exception 'you are not enrolled in this course' using errcode = 'LM403', detail = 'not_enrolled';
  end if;
  if v_assignment.due_date is not null and now() > v_assignment.due_date and not v_assignment.allow_late_submission then
    raise exception 'the due date has passed' using errcode = 'LM422', detail = 'deadline_passed';
  end if;
end
$$;
comment on function internal.file_target_check(uuid, uuid) is
  'Raises unless the calling user may attach a file to the course (its instructor or an admin) or to the assignment (an actively enrolled student, before a deadline without late work). 404 for what the caller cannot see.';

create or replace function internal.file_quota_used(p_user_id uuid)
returns bigint
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select (select coalesce(sum(f.file_size), 0) from app.files f where f.uploaded_by = p_user_id)::bigint
       + (select coalesce(sum(p.bytes), 0) from app.storage_pending p where p.user_id = p_user_id)::bigint
$$;
comment on function internal.file_quota_used(uuid) is
  'Bytes p_user_id has on storage: their files, what their uploads under way may still write, and their deleted files'' bytes not yet removed by upkeep. SECURITY DEFINER: counts every such row whatever the caller''s row-level security (the callers pass the caller''s own id).';

create or replace function internal.lock_user_storage(p_user_id uuid)
returns void
language sql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
  select from app.users u where u.id = p_user_id for no key update
$$;
comment on function internal.lock_user_storage(uuid) is
  'Serialises one user''s uploads until the transaction ends: locks the user''s row FOR NO KEY UPDATE (foreign-key checks, which take KEY SHARE, are not held up). No session of another role can hold that lock: analysts have no UPDATE privilege, and the API''s own updates of a user row last one call. Replaces an advisory lock, whose key space every role shares. SECURITY DEFINER: locks the row whatever the caller''s row-level security.';

drop function if exists internal.file_upload_begin(uuid, uuid, text, text, bigint);  -- before 0019

create or replace function internal.file_upload_begin(
  p_course_id uuid, p_assignment_id uuid, p_storage_provider text, p_storage_path text)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_user_id uuid := internal.require_user();
  v_max     bigint := internal.setting('max_upload_bytes');
  v_quota   bigint := internal.setting('file_quota_bytes');
  v_left    bigint;
  v_id      uuid;
begin
  perform internal.file_target_check(p_course_id, p_assignment_id);
  perform internal.lock_user_storage(v_user_id);  -- reservations of one user, one at a time
  v_left := v_quota - internal.file_quota_used(v_user_id);
  if v_left <= 0 then
    raise exception 'your storage quota is used up' using errcode = 'LM422', detail = 'quota_exceeded';
  end if;
  insert into app.storage_pending as p (kind, storage_provider, storage_path, user_id, bytes)
  values ('upload', p_storage_provider, p_storage_path, v_user_id, least(v_left, v_max))
  returning p.id into v_id;
  return jsonb_build_object('upload_id', v_id, 'quota_left', v_left, 'max_upload_bytes', v_max,
                            'upload_grace_seconds', internal.setting('upload_grace_seconds'));
end
$$;
comment on function internal.file_upload_begin(uuid, uuid, text, text) is
  'Step 1 of an upload (POST /files): checks the target (internal.file_target_check) and the quota (app.settings file_quota_bytes, counting files, uploads under way and deleted bytes not yet removed), records the storage path as an upload under way that reserves what it may write (at most max_upload_bytes) → {upload_id, quota_left, max_upload_bytes, upload_grace_seconds}. The server commits this before storing any byte and stops the upload past max_upload_bytes (413) or quota_left (422), or when it takes longer than upload_grace_seconds (408).';

create or replace function internal.file_upload_finish(
  p_upload_id uuid, p_course_id uuid, p_assignment_id uuid, p_filename text, p_content_type text,
  p_file_size bigint, p_sha256 text)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_user_id uuid := internal.require_user();
  v_pending app.storage_pending;
  v_file    app.files;
begin
  perform internal.file_target_check(p_course_id, p_assignment_id);
  -- One upload at a time per user from here to the commit: the quota cannot be overrun by a race.
  perform internal.lock_user_storage(v_user_id);
  delete from app.storage_pending p
  where p.id = p_upload_id and p.kind = 'upload' and p.user_id = v_user_id
  returning p.* into v_pending;
  if v_pending.id is null then
    raise exception 'the upload took too long and was cleaned up' using errcode = 'LM409', detail = 'upload_expired';
  end if;
  if internal.file_quota_used(v_user_id) + p_file_size > internal.setting('file_quota_bytes') then  -- its reservation is gone now
    raise exception 'the file does not fit in your storage quota' using errcode = 'LM422', detail = 'quota_exceeded';
  end if;
  insert into app.files as f (uploaded_by, course_id, assignment_id, original_filename, storage_provider,
                              storage_path, content_type, file_size, sha256)
  values (v_user_id, p_course_id, p_assignment_id, p_filename, v_pending.storage_provider, v_pending.storage_path,
          p_content_type, p_file_size, decode(p_sha256, 'hex'))
  returning f.* into v_file;
  return internal.file_json(v_file);
end
$$;
comment on function internal.file_upload_finish(uuid, uuid, uuid, text, text, bigint, text) is
  'Step 3 of an upload, after the bytes are stored: in one transaction takes the upload under way off app.storage_pending and writes the app.files row (RLS WITH CHECK and the target check decide again; the quota again, under a per-user lock) → file. 409 upload_expired when upkeep removed the upload meanwhile.';

create or replace function internal.file_upload_abandon(p_upload_id uuid)
returns void
language sql
volatile
as $$
  delete from app.storage_pending p where p.id = p_upload_id and p.kind = 'upload'
$$;
comment on function internal.file_upload_abandon(uuid) is
  'A refused or failed upload whose bytes the server removed: forget it (RLS: the caller''s own uploads only).';
