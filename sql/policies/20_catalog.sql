/*
 * Catalog: grants and RLS for courses and lessons.
 */
alter table app.courses enable row level security;
alter table app.courses force row level security;
alter table app.lessons enable row level security;
alter table app.lessons force row level security;
