/*
 * Storage — bytes follow the rows. Deleting a files row (file.delete, or a course, assignment or
 * user deleted with ON DELETE CASCADE) queues its object in app.storage_pending (kind delete);
 * the server removes those at once (storage_deletions_due/_done below); `lms db maintain`
 * (rpc/workers/storage.py sweep) asks internal.storage_pending_due for what to remove —
 * deletions, and uploads under way older than the grace (a crash between storing and the row) —
 * removes the bytes, then internal.storage_pending_done forgets them.
 */
create or replace function internal.tg_files_queue_removal()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  -- Bytes shared with a copy (course.copy) stay while another row refers to them. (A copy being made
  -- holds the original row FOR KEY SHARE, so this delete waits for it and then sees the copy.)
  if exists (select from app.files f where f.storage_path = old.storage_path and f.id <> old.id) then
    return null;
  end if;
  insert into app.storage_pending (kind, storage_provider, storage_path, user_id, bytes)
  values ('delete', old.storage_provider, old.storage_path,
          (select u.id from app.users u where u.id = old.uploaded_by), old.file_size)  -- none: the user is being deleted
  on conflict on constraint uq_storage_pending_storage_path do update
    set kind = 'delete', user_id = excluded.user_id, bytes = excluded.bytes;
  return null;
end
$$;
comment on function internal.tg_files_queue_removal() is
  'AFTER DELETE (row) on app.files: queues the deleted row''s object for removal unless another row still refers to it (a course copy shares the bytes); its bytes count against the uploader''s quota until upkeep has removed them. SECURITY DEFINER: whoever deletes a file (or cascades to it) may not write app.storage_pending, yet the bytes must follow.';

drop trigger if exists _500_queue_removal on app.files;
create trigger _500_queue_removal after delete on app.files
  for each row execute function internal.tg_files_queue_removal();

create or replace function internal.storage_pending_due()
returns table (id uuid, storage_provider text, storage_path text)
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  -- An upload under way past the grace is a stray: claim it first (its finish now fails with
  -- 409 upload_expired), so no files row can appear for bytes about to be removed.
  update app.storage_pending p set kind = 'delete'  -- still counted for its uploader until removed
  where p.kind = 'upload' and p.created_at < now() - make_interval(secs => internal.setting('upload_grace_seconds'));
  -- A deletion of bytes a row refers to again (shared with a copy) is forgotten, not carried out.
  delete from app.storage_pending p
  where p.kind = 'delete' and exists (select from app.files f where f.storage_path = p.storage_path);
  return query select p.id, p.storage_provider, p.storage_path from app.storage_pending p
               where p.kind = 'delete' order by p.created_at;
end
$$;
comment on function internal.storage_pending_due() is
  'Upkeep (`lms db maintain`, as lms_owner): objects to remove — deleted files, and uploads under way older than the upload grace (app.settings upload_grace_seconds; claimed as deletions first). SECURITY DEFINER: app.storage_pending is under forced RLS; granted to lms_owner only.';

create or replace function internal.storage_pending_done(p_ids uuid[])
returns integer
language sql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
  with done as (delete from app.storage_pending p where p.id = any (p_ids) returning 1)
  select count(*)::integer from done
$$;
comment on function internal.storage_pending_done(uuid[]) is
  'Upkeep: forgets objects whose bytes were removed. SECURITY DEFINER like storage_pending_due; granted to lms_owner only.';

-- The server removes deleted files' bytes at once (rpc/http/files.py remove_deleted: right after
-- file.delete, and every 30 s for deletions made elsewhere — a course deleted, an admin's SQL), so
-- a deletion frees its quota in moments, not at the next `lms db maintain`. Strays (uploads past
-- the grace) stay with maintain, which claims them first.
create or replace function internal.storage_deletions_due(p_limit integer)
returns jsonb
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(jsonb_agg(jsonb_build_object('id', x.id, 'storage_provider', x.storage_provider,
                                               'storage_path', x.storage_path) order by x.created_at, x.id), '[]')
  from (select p.id, p.storage_provider, p.storage_path, p.created_at from app.storage_pending p
        where p.kind = 'delete' and not exists (select from app.files f where f.storage_path = p.storage_path)
        order by p.created_at, p.id
        limit least(greatest(coalesce(p_limit, 100), 1), 1000)) x
$$;
comment on function internal.storage_deletions_due(integer) is
  'Objects of deleted files still to remove, oldest first (at most p_limit), as [{id, storage_provider, storage_path}]: the server removes their bytes and then calls internal.storage_deletions_done. SECURITY DEFINER: app.storage_pending is under forced RLS (lms_api sees only its own uploads under way); granted to lms_api for the server.';

create or replace function internal.storage_deletions_done(p_ids uuid[])
returns integer
language sql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
  with done as (delete from app.storage_pending p where p.id = any (p_ids) and p.kind = 'delete' returning 1)
  select count(*)::integer from done
$$;
comment on function internal.storage_deletions_done(uuid[]) is
  'The server removed these deleted files'' bytes: forget them (their uploader''s quota is free again). Only deletions — an upload under way is never forgotten this way. SECURITY DEFINER like storage_deletions_due; granted to lms_api for the server.';
