-- Bytes on disk count against the quota until they are gone (issue 26 §3): an upload under way
-- reserves what it may still write, a deleted file's bytes count for its uploader until upkeep has
-- removed them, so neither upload-delete loops nor concurrent uploads write past the quota.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, adding-field-with-default
-- (a constant default: no rewrite; storage_pending holds only uploads under way and deletions)
-- depends: 0018_analyst_watchdog

set local role lms_owner;

alter table app.storage_pending add column bytes bigint not null default 0;
alter table app.storage_pending add constraint ck_storage_pending_bytes check (bytes >= 0) not valid;
alter table app.storage_pending validate constraint ck_storage_pending_bytes;
comment on column app.storage_pending.bytes is 'Bytes counted against user_id''s quota while the row exists: for an upload under way what it may still write (the smaller of the upload limit and the quota left when it began); for a deletion the deleted file''s size, until upkeep has removed the bytes.';
comment on column app.storage_pending.user_id is 'Whose quota the bytes count against: the uploader (of an upload under way, or of a deleted file whose bytes are not removed yet).';
