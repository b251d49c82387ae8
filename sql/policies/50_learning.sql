/*
 * Learning: grants and RLS for enrollments and lesson progress.
 */
alter table app.enrollments enable row level security;
alter table app.enrollments force row level security;
alter table app.lesson_progress enable row level security;
alter table app.lesson_progress force row level security;
