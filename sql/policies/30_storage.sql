/*
 * Storage: grants and RLS for file metadata.
 */
alter table app.files enable row level security;
alter table app.files force row level security;
