/*
 * Assessment: grants and RLS for quizzes, questions, attempts, assignments and submissions.
 */
alter table app.quizzes enable row level security;
alter table app.quizzes force row level security;
alter table app.questions enable row level security;
alter table app.questions force row level security;
alter table app.quiz_attempt_counters enable row level security;
alter table app.quiz_attempt_counters force row level security;
alter table app.quiz_attempts enable row level security;
alter table app.quiz_attempts force row level security;
alter table app.assignments enable row level security;
alter table app.assignments force row level security;
alter table app.submissions enable row level security;
alter table app.submissions force row level security;
