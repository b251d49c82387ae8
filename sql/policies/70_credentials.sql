/*
 * Credentials: grants and RLS for certificates.
 */
alter table app.certificates enable row level security;
alter table app.certificates force row level security;
