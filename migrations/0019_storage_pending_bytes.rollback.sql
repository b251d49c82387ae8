-- Undo 0019_storage_pending_bytes.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, ban-drop-column

set local role lms_owner;
alter table app.storage_pending drop column bytes;
comment on column app.storage_pending.user_id is 'The uploader of an upload under way (its row is theirs under RLS); null for deletions, or once the user is gone.';
