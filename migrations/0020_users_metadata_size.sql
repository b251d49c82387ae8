-- A profile's metadata is small (issue 26 §3b: user.update_profile took ~1 MiB per call).
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
-- (NOT VALID, then VALIDATE: the scan takes SHARE UPDATE EXCLUSIVE, writers go on)
-- depends: 0019_storage_pending_bytes

set local role lms_owner;

alter table app.users add constraint ck_users_metadata_size check (octet_length(metadata::text) <= 16384) not valid;
alter table app.users validate constraint ck_users_metadata_size;
comment on column app.users.metadata is 'Free-form profile data the client keeps (a JSON object of at most 16 KiB as JSON text).';
