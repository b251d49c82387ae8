/*
 * Storage: grants and RLS for file metadata and the objects awaiting upkeep.
 *
 * Who sees a file (lms_api and analysts alike, keyed on app.current_user_id()): its uploader; admins;
 * the course's instructor (material, and attachments of the course's assignments — the grader);
 * actively enrolled students (course material). Everyone else: not there (GET /files/{id} → 404).
 * Who adds one (WITH CHECK, besides internal.file_target_check): course material by the course's
 * instructor or an admin, an attachment by an actively enrolled student; always as themselves.
 * Who deletes one: the uploader, the course's instructor, an admin (api.file_delete adds: not a
 * student's file of a graded submission).
 * app.storage_pending: lms_api reads/writes only its own uploads under way; deletions are queued
 * by a SECURITY DEFINER trigger and swept by upkeep (lms_owner through definer functions).
 */
alter table app.files enable row level security;
alter table app.files force row level security;
alter table app.storage_pending enable row level security;
alter table app.storage_pending force row level security;

grant select on app.files to lms_api, lms_analyst;
grant insert (uploaded_by, course_id, assignment_id, original_filename, storage_provider, storage_path,
              content_type, file_size, sha256)
  on app.files to lms_api;
grant delete on app.files to lms_api;

create policy select_visible on app.files for select to lms_api, lms_analyst
  using (uploaded_by = (select app.current_user_id())
         or (select internal.is_admin())
         or course_id in (select internal.my_course_ids())
         or course_id in (select internal.my_enrolled_course_ids())
         or assignment_id in (select a.id from app.assignments a where a.course_id in (select internal.my_course_ids())));
create policy insert_own_allowed on app.files for insert to lms_api
  with check (uploaded_by = (select app.current_user_id())
              and ((course_id is not null
                    and (course_id in (select internal.my_course_ids()) or (select internal.is_admin())))
                   or (assignment_id is not null
                       and assignment_id in (select a.id from app.assignments a
                                             where a.course_id in (select internal.my_enrolled_course_ids())))));
create policy delete_uploader_or_manager on app.files for delete to lms_api
  using (uploaded_by = (select app.current_user_id())
         or (select internal.is_admin())
         or course_id in (select internal.my_course_ids())
         or assignment_id in (select a.id from app.assignments a where a.course_id in (select internal.my_course_ids())));

grant select, insert (kind, storage_provider, storage_path, user_id, bytes), delete on app.storage_pending to lms_api;
create policy own_uploads on app.storage_pending for all to lms_api
  using (kind = 'upload' and user_id = (select app.current_user_id()))
  with check (kind = 'upload' and user_id = (select app.current_user_id()));

grant execute on function
  api.file_list(uuid, uuid, integer, integer),
  api.file_delete(uuid)
to lms_api;
-- Called by the server (rpc/http/files.py) as lms_api for the caller, and by the invoker functions above.
grant execute on function
  internal.file_json(app.files), internal.file_target_check(uuid, uuid), internal.file_quota_used(uuid),
  internal.file_upload_begin(uuid, uuid, text, text),
  internal.file_upload_finish(uuid, uuid, uuid, text, text, bigint, text),
  internal.file_upload_abandon(uuid), internal.file_for_download(uuid), internal.file_managed(uuid, uuid),
  internal.lock_user_storage(uuid)
to lms_api;
-- Upkeep runs as lms_owner (`lms db maintain`).
grant execute on function internal.storage_pending_due(), internal.storage_pending_done(uuid[]) to lms_owner;
grant execute on function internal.storage_deletions_due(integer), internal.storage_deletions_done(uuid[]) to lms_api;
