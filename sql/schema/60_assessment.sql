/*
 * Assessment: quizzes with their questions, quiz attempts (partitioned by month of
 * started_at), assignments and submissions.
 *
 * quiz_attempts is RANGE partitioned on started_at, one partition a month in the schema
 * `partitions`, plus a DEFAULT partition so no insert ever fails; internal.maintain_partitions()
 * creates the coming months. A unique key on a partitioned table must contain the partition
 * key, so the attempt limit is enforced through quiz_attempt_counters (one row per student and
 * quiz, locked by attempt.start), not through a unique index.
 */
set local role lms_owner;

create table app.grade_categories (
  id             uuid not null default gen_random_uuid(),
  course_id      uuid not null,
  name           text not null,
  weight_percent numeric(5,2),
  drop_lowest    integer not null default 0,
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now(),
  constraint pk_grade_categories primary key (id),
  constraint fk_grade_categories_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint uq_grade_categories_course_id_name unique (course_id, name),
  constraint uq_grade_categories_id_course_id unique (id, course_id),
  constraint ck_grade_categories_name_length check (length(btrim(name)) between 1 and 100),
  constraint ck_grade_categories_weight check (weight_percent between 0 and 100),
  constraint ck_grade_categories_drop_lowest check (drop_lowest between 0 and 100)
);
comment on table app.grade_categories is 'A course''s grade categories (assignment groups): quizzes and assignments belong to one; the course grade adds them up (internal.course_grades).';
comment on column app.grade_categories.name is 'Unique within the course (grade.category_create: 409 conflict), as shown in the gradebook.';
comment on column app.grade_categories.weight_percent is 'Share of the course grade (0–100); the weights of a course never sum to more than 100 (trigger). Null: unweighted (a weight of 0 once another category has one).';
comment on column app.grade_categories.drop_lowest is 'How many of the category''s graded items with the lowest percentage do not count (one always does).';

create table app.quizzes (
  id                       uuid not null default gen_random_uuid(),
  course_id                uuid not null,
  lesson_id                uuid,
  title                    text not null,
  description              text,
  time_limit_minutes       integer,
  passing_score_percentage integer not null default 70,
  max_attempts             integer default 3,
  is_published             boolean not null default false,
  created_at               timestamptz not null default now(),
  updated_at               timestamptz not null default now(),
  constraint pk_quizzes primary key (id),
  constraint fk_quizzes_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint fk_quizzes_lesson_in_course foreign key (lesson_id, course_id)
    references app.lessons (id, course_id) on delete set null (lesson_id),
  constraint ck_quizzes_title_length check (length(btrim(title)) between 1 and 200),
  constraint ck_quizzes_time_limit_positive check (time_limit_minutes > 0),
  constraint ck_quizzes_passing_score_range check (passing_score_percentage between 0 and 100),
  constraint ck_quizzes_max_attempts_positive check (max_attempts >= 1),
  module_id                uuid,
  module_position          integer,
  constraint fk_quizzes_module_in_course foreign key (module_id, course_id) references app.modules (id, course_id),
  constraint uq_quizzes_id_course_id unique (id, course_id),
  shuffle_questions        boolean not null default false,
  shuffle_options          boolean not null default false,
  partial_credit           boolean not null default false,
  grade_category_id        uuid,
  constraint fk_quizzes_grade_category_in_course foreign key (grade_category_id, course_id)
    references app.grade_categories (id, course_id) on delete set null (grade_category_id),
  grade_posting            text not null default 'automatic',
  grades_posted_at         timestamptz,
  constraint ck_quizzes_grade_posting check (grade_posting in ('automatic', 'manual'))
);
comment on column app.quizzes.grade_posting is 'automatic: learners see their scores at once; manual: not until grade.post (grades_posted_at).';
comment on column app.quizzes.grades_posted_at is 'When grade.post released the scores of a manual-posting quiz; null: held back (reset when it is set to manual again).';
create index ix_quizzes_grade_category_id on app.quizzes (grade_category_id) where grade_category_id is not null;
comment on column app.quizzes.grade_category_id is 'The grade category of the same course this quiz counts in; null: the course''s implicit one (deleting the category sets it back to null).';
comment on column app.quizzes.shuffle_questions is 'Each attempt shows its questions (fixed and drawn) in its own random order, kept with the attempt.';
comment on column app.quizzes.shuffle_options is 'Each attempt shows the options of choice questions in its own random order, kept with the attempt.';
comment on column app.quizzes.partial_credit is 'multiple_answer questions earn points × (right − wrong) ÷ correct options, floored at 0, instead of all or nothing.';
comment on constraint uq_quizzes_id_course_id on app.quizzes is 'Target of (quiz_id, course_id) foreign keys: an override''s quiz is in its course.';
create index ix_quizzes_module_id on app.quizzes (module_id) where module_id is not null;
comment on column app.quizzes.module_id is 'The module of the same course holding this quiz (fk_quizzes_module_in_course); null: the course''s own.';
comment on column app.quizzes.module_position is 'Order within the module, across its lessons, quizzes and assignments.';
create index ix_quizzes_course_id on app.quizzes (course_id);
create index ix_quizzes_lesson_id on app.quizzes (lesson_id) where lesson_id is not null;
comment on table app.quizzes is 'A quiz of a course, optionally attached to one of its lessons.';
comment on column app.quizzes.lesson_id is 'Optional lesson of the same course (fk_quizzes_lesson_in_course); set to null when that lesson is deleted.';
comment on column app.quizzes.time_limit_minutes is 'Null means no time limit; otherwise submit by started_at + limit + 30 s grace.';
comment on column app.quizzes.passing_score_percentage is 'Minimum score (percentage of points, 0..100) an attempt needs to pass.';
comment on column app.quizzes.max_attempts is 'Attempts allowed per student; null means unlimited.';
comment on column app.quizzes.is_published is 'Enrolled students may see and attempt it; every published quiz must be passed to complete the course.';

create table app.question_banks (
  id          uuid not null default gen_random_uuid(),
  course_id   uuid not null,
  title       text not null,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now(),
  constraint pk_question_banks primary key (id),
  constraint fk_question_banks_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint uq_question_banks_id_course_id unique (id, course_id),
  constraint ck_question_banks_title_length check (length(btrim(title)) between 1 and 200)
);
create index ix_question_banks_course_id on app.question_banks (course_id);
comment on table app.question_banks is 'Questions of a course that quizzes draw from (app.quiz_pools); seen and written by the course''s instructor and admins only.';

create table app.questions (
  id             uuid not null default gen_random_uuid(),
  quiz_id        uuid,
  question_text  text not null,
  question_type  text not null,
  options        jsonb,
  correct_answer text,
  points         integer not null default 1,
  question_order integer not null,
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now(),
  bank_id        uuid,
  tolerance      numeric,
  retired_at     timestamptz,
  bank_position  integer,
  constraint pk_questions primary key (id),
  constraint fk_questions_quiz_id_quizzes foreign key (quiz_id) references app.quizzes (id) on delete cascade,
  constraint fk_questions_bank_id_question_banks foreign key (bank_id) references app.question_banks (id) on delete cascade,
  constraint uq_questions_quiz_id_question_order unique (quiz_id, question_order) deferrable initially immediate,
  constraint ck_questions_one_owner check (num_nonnulls(quiz_id, bank_id) = 1),
  constraint ck_questions_text_length check (length(btrim(question_text)) between 1 and 5000),
  constraint ck_questions_type check (question_type in (
    'multiple_choice', 'true_false', 'short_answer', 'multiple_answer', 'numeric', 'essay')),
  constraint ck_questions_points_positive check (points >= 1),
  constraint ck_questions_order_positive check (question_order >= 1),
  constraint ck_questions_multiple_choice check (question_type <> 'multiple_choice' or (
    jsonb_typeof(options) = 'array' and jsonb_array_length(options) >= 2 and options ? correct_answer)),
  constraint ck_questions_true_false check (question_type <> 'true_false' or correct_answer in ('true', 'false')),
  constraint ck_questions_options_only_for_choice check (question_type in ('multiple_choice', 'multiple_answer') or options is null),
  constraint ck_questions_correct_answer_nonblank check (correct_answer is null or length(btrim(correct_answer)) >= 1),
  constraint ck_questions_correct_answer_required check (question_type = 'essay' or correct_answer is not null),
  constraint ck_questions_tolerance check (tolerance is null or (question_type = 'numeric' and tolerance >= 0)),
  constraint ck_questions_retired_in_bank check (retired_at is null or bank_id is not null),
  constraint ck_questions_bank_position
    check ((bank_position is not null) = (bank_id is not null and retired_at is null) and bank_position >= 1)
);
create index ix_questions_bank_id on app.questions (bank_id, id) include (retired_at) where bank_id is not null;
create unique index uq_questions_bank_position on app.questions (bank_id, bank_position) where bank_position is not null;
comment on table app.questions is 'A question of a quiz (fixed) or of a bank (drawn into attempts). correct_answer is never readable by students (column privileges).';
comment on column app.questions.quiz_id is 'The quiz of a fixed question; null for a bank question (exactly one of quiz_id, bank_id).';
comment on column app.questions.bank_id is 'The bank of a bank question, drawn into attempts through quiz pools; null for a fixed question.';
comment on column app.questions.tolerance is 'numeric only: an answer within correct_answer ± tolerance is right (null: exactly).';
comment on column app.questions.bank_position is 'A drawable bank question''s place among its bank''s drawable questions, 1..n without gaps (kept by a trigger): the draw picks random places. Null for a fixed or retired question.';
comment on column app.questions.retired_at is 'A bank question deleted after an attempt drew it: kept for those attempts (their grading and regrading), never drawn again.';
comment on column app.questions.question_type is 'multiple_choice | true_false | short_answer | multiple_answer (several options right) | numeric (a number, within tolerance) | essay (graded by a person).';
comment on column app.questions.options is 'multiple_choice and multiple_answer only: a JSON array of at least two distinct strings.';
comment on column app.questions.correct_answer is 'The expected answer (never readable by students): an option (multiple_choice), "true"/"false", the text (short_answer, compared trimmed, case-folded, white space collapsed), a JSON array of options (multiple_answer), a number (numeric); for an essay optional guidance for the grader.';
comment on column app.questions.points is 'Points a correct answer earns (at least 1); a wrong or missing answer earns 0.';
comment on column app.questions.question_order is 'Position in the quiz, from 1; unique per quiz (deferrable, so a reorder can swap positions).';

create table app.quiz_pools (
  id          uuid not null default gen_random_uuid(),
  quiz_id     uuid not null,
  bank_id     uuid not null,
  course_id   uuid not null,
  draw_count  integer not null,
  points_each integer,
  position    integer not null,
  created_at  timestamptz not null default now(),
  constraint pk_quiz_pools primary key (id),
  constraint fk_quiz_pools_quiz_in_course foreign key (quiz_id, course_id)
    references app.quizzes (id, course_id) on delete cascade,
  constraint fk_quiz_pools_bank_in_course foreign key (bank_id, course_id)
    references app.question_banks (id, course_id) on delete cascade,
  constraint uq_quiz_pools_quiz_id_position unique (quiz_id, position),
  constraint ck_quiz_pools_draw_count check (draw_count between 1 and 1000),
  constraint ck_quiz_pools_points_each check (points_each between 1 and 1000)
);
create index ix_quiz_pools_bank_id on app.quiz_pools (bank_id, course_id);
comment on table app.quiz_pools is 'A quiz draws draw_count distinct questions of a bank of its course into every attempt (fk_quiz_pools_bank_in_course), each worth points_each (null: the question''s points).';
comment on column app.quiz_pools.quiz_id is 'The quiz that draws (of course_id: fk_quiz_pools_quiz_in_course).';
comment on column app.quiz_pools.bank_id is 'The bank it draws from (of the same course_id: fk_quiz_pools_bank_in_course).';
comment on column app.quiz_pools.course_id is 'The course of both the quiz and the bank: the two foreign keys through it keep a pool inside its course.';
comment on column app.quiz_pools.draw_count is 'Distinct questions drawn into each attempt (pools of one bank draw distinct questions together); more than the bank''s drawable questions: 422 pool_too_large.';
comment on column app.quiz_pools.points_each is 'What each drawn question is worth in the attempt; null: the question''s own points.';
comment on column app.quiz_pools.position is 'Order of the pools in the quiz, from 1: drawn questions follow the fixed ones, pool by pool (unless the quiz shuffles).';

create table app.quiz_attempt_counters (
  user_id       uuid not null,
  quiz_id       uuid not null,
  attempts_used integer not null default 0,
  last_started_at timestamptz,
  closed_attempts integer not null default 0,
  best_score    integer,
  passed        boolean not null default false,
  constraint pk_quiz_attempt_counters primary key (user_id, quiz_id),
  constraint fk_quiz_attempt_counters_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint fk_quiz_attempt_counters_quiz_id_quizzes foreign key (quiz_id) references app.quizzes (id) on delete cascade,
  constraint ck_quiz_attempt_counters_nonnegative check (attempts_used >= 0),
  constraint ck_quiz_attempt_counters_closed_attempts check (closed_attempts >= 0),
  constraint ck_quiz_attempt_counters_best_score check (best_score between 0 and 100)
);
create index ix_quiz_attempt_counters_quiz_id on app.quiz_attempt_counters (quiz_id);
comment on table app.quiz_attempt_counters is 'Attempts started per student and quiz; its row lock serialises concurrent attempt.start calls.';
comment on column app.quiz_attempt_counters.attempts_used is 'Attempts started so far, never decremented; attempt.start refuses a new one at quizzes.max_attempts.';
comment on column app.quiz_attempt_counters.last_started_at is 'started_at of the student''s latest attempt at the quiz (attempt_number = attempts_used), null before the first: attempt.start finds the open attempt, if any, in that one partition.';
comment on column app.quiz_attempt_counters.closed_attempts is 'Closed (submitted or expired) attempts of the student at the quiz; kept by a trigger on quiz_attempts.';
comment on column app.quiz_attempt_counters.best_score is 'Highest score of the closed attempts, null without one; kept by a trigger on quiz_attempts.';
comment on column app.quiz_attempt_counters.passed is 'True when a closed attempt passed; kept by a trigger on quiz_attempts.';

create table app.quiz_attempts (
  id             uuid not null default gen_random_uuid(),
  user_id        uuid not null,
  quiz_id        uuid not null,
  attempt_number integer not null,
  status         text not null default 'in_progress',
  started_at     timestamptz not null default now(),
  deadline_at    timestamptz,
  submitted_at   timestamptz,
  score          integer,
  passed         boolean,
  points_earned  numeric(10, 2),
  points_total   integer,
  answers        jsonb,
  grading        jsonb,
  draw           jsonb,
  constraint pk_quiz_attempts primary key (id, started_at),
  constraint fk_quiz_attempts_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint fk_quiz_attempts_quiz_id_quizzes foreign key (quiz_id) references app.quizzes (id) on delete cascade,
  constraint ck_quiz_attempts_number_positive check (attempt_number >= 1),
  constraint ck_quiz_attempts_status check (status in ('in_progress', 'needs_grading', 'submitted', 'expired')),
  constraint ck_quiz_attempts_score_range check (score between 0 and 100),
  constraint ck_quiz_attempts_points check (points_earned between 0 and points_total),
  constraint ck_quiz_attempts_closed check ((status = 'in_progress') = (submitted_at is null)
                                            and (status in ('in_progress', 'needs_grading')) = (score is null)),
  constraint ck_quiz_attempts_deadline check (deadline_at > started_at)
) partition by range (started_at);
create index ix_quiz_attempts_user_id_quiz_id on app.quiz_attempts (user_id, quiz_id);
create index ix_quiz_attempts_quiz_id_started_at on app.quiz_attempts (quiz_id, started_at, id);
create index ix_quiz_attempts_open on app.quiz_attempts (deadline_at) where status = 'in_progress';
create table partitions.quiz_attempts_default partition of app.quiz_attempts default;
-- lz4 (on the parent and every partition; new monthly partitions copy it) for rows PostgreSQL compresses.
alter table app.quiz_attempts alter column answers set compression lz4;
alter table app.quiz_attempts alter column grading set compression lz4;
alter table app.quiz_attempts alter column draw set compression lz4;
comment on table app.quiz_attempts is 'A student''s attempt at a quiz; partitioned by month of started_at (partitions live in schema partitions).';
comment on column app.quiz_attempts.id is 'The attempt''s id; the primary key is (id, started_at) because started_at is the partition key.';
comment on column app.quiz_attempts.attempt_number is '1 for the student''s first attempt at the quiz, then 2, 3 …';
comment on column app.quiz_attempts.status is 'in_progress → submitted (attempt.submit) | needs_grading (submitted with essay answers: score and passed wait for attempt.grade_answer) → submitted | expired (closed with score 0 after deadline_at + 30 s grace).';
comment on column app.quiz_attempts.started_at is 'When attempt.start created the attempt; the partition key (one partition per month, UTC).';
comment on column app.quiz_attempts.deadline_at is 'started_at + the quiz''s time limit; null = no limit. A submission is accepted up to 30 s after it.';
comment on column app.quiz_attempts.submitted_at is 'When the attempt was closed (submitted or expired); null while in progress.';
comment on column app.quiz_attempts.score is 'Percentage of points_total earned, 0..100, rounded half up; 0 when expired; null while in progress.';
comment on column app.quiz_attempts.passed is 'score >= the quiz''s passing_score_percentage when graded; null while in progress.';
comment on column app.quiz_attempts.points_earned is 'Points earned (fractions with partial credit or a person''s grade); while needs_grading the auto-graded part; null while in progress.';
comment on column app.quiz_attempts.draw is 'What this attempt shows and is graded on, when the quiz has pools or shuffles: [{id, points, options?}] in display order (options: the order of the question''s options). Null: the quiz''s fixed questions in their order.';
comment on column app.quiz_attempts.points_total is 'Points the quiz was worth when this attempt was graded; later quiz edits do not change it.';
comment on column app.quiz_attempts.answers is 'Per question id: the answer the student gave (null when none). No correctness: students may read it.';
comment on column app.quiz_attempts.grading is 'Per question id: {answer, correct, points_earned, points} as graded. No client role may select it (the course''s instructor/admins read it through attempt.list_for_quiz).';

create table app.manual_grades (
  attempt_id         uuid not null,
  attempt_started_at timestamptz not null,
  question_id        uuid not null,
  quiz_id            uuid not null,
  course_id          uuid not null,
  user_id            uuid not null,
  submitted_at       timestamptz not null,
  answer             text,
  points             integer not null,
  points_awarded     numeric(10, 2),
  feedback           text,
  graded_by          uuid,
  graded_at          timestamptz,
  claimed_by         uuid,
  claimed_until      timestamptz,
  constraint pk_manual_grades primary key (attempt_id, question_id),
  constraint fk_manual_grades_attempt foreign key (attempt_id, attempt_started_at)
    references app.quiz_attempts (id, started_at) on delete cascade,
  constraint fk_manual_grades_question_id_questions foreign key (question_id) references app.questions (id),
  constraint fk_manual_grades_quiz_id_quizzes foreign key (quiz_id) references app.quizzes (id) on delete cascade,
  constraint fk_manual_grades_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint fk_manual_grades_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint fk_manual_grades_graded_by_users foreign key (graded_by) references app.users (id) on delete set null,
  constraint fk_manual_grades_claimed_by_users foreign key (claimed_by) references app.users (id) on delete set null,
  constraint ck_manual_grades_points check (points >= 1),
  constraint ck_manual_grades_points_awarded check (points_awarded between 0 and points),
  constraint ck_manual_grades_graded check ((points_awarded is null) = (graded_at is null)),
  constraint ck_manual_grades_feedback_length check (length(feedback) <= 10000)
);
create index ix_manual_grades_queue on app.manual_grades (course_id, submitted_at, attempt_id, question_id)
  where graded_at is null;
create index ix_manual_grades_quiz_queue on app.manual_grades (quiz_id, submitted_at, attempt_id, question_id)
  where graded_at is null;
create index ix_manual_grades_attempt on app.manual_grades (attempt_id, attempt_started_at);
create index ix_manual_grades_question_id on app.manual_grades (question_id);
create index ix_manual_grades_user_id on app.manual_grades (user_id);
create index ix_manual_grades_graded_by on app.manual_grades (graded_by) where graded_by is not null;
create index ix_manual_grades_claimed_by on app.manual_grades (claimed_by) where claimed_by is not null;
comment on table app.manual_grades is 'One essay answer of a submitted attempt, graded by a person (attempt.grade_answer): the grading queue is its ungraded rows, oldest first. The attempt is needs_grading until every row of it has points_awarded.';
comment on column app.manual_grades.points is 'What the answer is worth (the question''s points, or its pool''s points_each, as drawn).';
comment on column app.manual_grades.points_awarded is 'The grader''s points, 0..points; null while waiting.';
comment on column app.manual_grades.claimed_by is 'The grader whose grading.queue page holds this answer until claimed_until: another grader''s queue skips it meanwhile (grading it anyway is allowed, and audited).';
comment on column app.manual_grades.attempt_id is 'The attempt (with attempt_started_at: the attempts'' primary key, their partition key included).';
comment on column app.manual_grades.attempt_started_at is 'started_at of the attempt: part of the foreign key to the partitioned quiz_attempts.';
comment on column app.manual_grades.submitted_at is 'When the attempt was submitted (set by attempt.submit): the queue''s order, oldest first.';
comment on column app.manual_grades.answer is 'The learner''s essay, as given.';
comment on column app.manual_grades.feedback is 'The grader''s feedback, shown to the learner with points_awarded.';
comment on column app.manual_grades.graded_by is 'Who gave points_awarded last (every grade and change is also in the audit log).';
comment on column app.manual_grades.graded_at is 'When points_awarded was last set (attempt.grade_answer); null while waiting.';
comment on column app.manual_grades.claimed_until is 'When claimed_by''s claim (set by grading.queue, ten minutes) lapses.';

create table app.assignments (
  id                      uuid not null default gen_random_uuid(),
  course_id               uuid not null,
  lesson_id               uuid,
  title                   text not null,
  description             text,
  due_date                timestamptz,
  points                  integer not null default 100,
  allow_late_submission   boolean not null default false,
  late_penalty_percentage integer not null default 0,
  created_at              timestamptz not null default now(),
  updated_at              timestamptz not null default now(),
  constraint pk_assignments primary key (id),
  constraint fk_assignments_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint uq_assignments_id_course_id unique (id, course_id),
  constraint fk_assignments_lesson_in_course foreign key (lesson_id, course_id)
    references app.lessons (id, course_id) on delete set null (lesson_id),
  constraint ck_assignments_title_length check (length(btrim(title)) between 1 and 200),
  constraint ck_assignments_points_positive check (points >= 1),
  constraint ck_assignments_late_penalty_range check (late_penalty_percentage between 0 and 100),
  module_id               uuid,
  module_position         integer,
  constraint fk_assignments_module_in_course foreign key (module_id, course_id) references app.modules (id, course_id),
  grade_category_id       uuid,
  constraint fk_assignments_grade_category_in_course foreign key (grade_category_id, course_id)
    references app.grade_categories (id, course_id) on delete set null (grade_category_id),
  grade_posting           text not null default 'automatic',
  grades_posted_at        timestamptz,
  constraint ck_assignments_grade_posting check (grade_posting in ('automatic', 'manual'))
);
comment on column app.assignments.grade_posting is 'automatic: learners see their grades and feedback at once; manual: not until grade.post (grades_posted_at).';
comment on column app.assignments.grades_posted_at is 'When grade.post released the grades of a manual-posting assignment; null: held back (reset when it is set to manual again).';
create index ix_assignments_grade_category_id on app.assignments (grade_category_id) where grade_category_id is not null;
comment on column app.assignments.grade_category_id is 'The grade category of the same course this assignment counts in; null: the course''s implicit one (deleting the category sets it back to null).';
create index ix_assignments_module_id on app.assignments (module_id) where module_id is not null;
comment on column app.assignments.module_id is 'The module of the same course holding this assignment (fk_assignments_module_in_course); null: the course''s own.';
comment on column app.assignments.module_position is 'Order within the module, across its lessons, quizzes and assignments.';
create index ix_assignments_course_id on app.assignments (course_id);
create index ix_assignments_lesson_id on app.assignments (lesson_id) where lesson_id is not null;
comment on table app.assignments is 'Graded work of a course with an optional due date and late rule.';
comment on column app.assignments.lesson_id is 'Optional lesson of the same course (fk_assignments_lesson_in_course); set to null when that lesson is deleted.';
comment on column app.assignments.due_date is 'Deadline for submissions; null = none. Later submissions are refused unless allow_late_submission.';
comment on column app.assignments.points is 'Maximum grade: a submission is graded 0..points.';
comment on column app.assignments.allow_late_submission is 'Whether work submitted after due_date is accepted (marked is_late and reduced by late_penalty_percentage).';
comment on column app.assignments.late_penalty_percentage is 'Effective grade of a late submission = grade × (100 − penalty) / 100.';

create table app.rubrics (
  id            uuid not null default gen_random_uuid(),
  assignment_id uuid not null,
  course_id     uuid not null,
  created_by    uuid,
  created_at    timestamptz not null default now(),
  replaced_at   timestamptz,
  constraint pk_rubrics primary key (id),
  constraint fk_rubrics_assignment_in_course foreign key (assignment_id, course_id)
    references app.assignments (id, course_id) on delete cascade,
  constraint fk_rubrics_created_by_users foreign key (created_by) references app.users (id) on delete set null
);
create unique index uq_rubrics_assignment_id_current on app.rubrics (assignment_id) where replaced_at is null;
create index ix_rubrics_assignment_id on app.rubrics (assignment_id, course_id);
create index ix_rubrics_created_by on app.rubrics (created_by) where created_by is not null;
comment on table app.rubrics is 'An assignment''s rubric (rubric.create): the current one (replaced_at null) grades from now on; a replaced one stays with the grades it gave.';
comment on column app.rubrics.replaced_at is 'When rubric.create replaced it; null: the assignment''s current rubric (at most one).';

create table app.rubric_criteria (
  id        uuid not null default gen_random_uuid(),
  rubric_id uuid not null,
  position  integer not null,
  title     text not null,
  constraint pk_rubric_criteria primary key (id),
  constraint fk_rubric_criteria_rubric_id_rubrics foreign key (rubric_id) references app.rubrics (id) on delete cascade,
  constraint uq_rubric_criteria_rubric_id_position unique (rubric_id, position),
  constraint uq_rubric_criteria_id_rubric_id unique (id, rubric_id),
  constraint ck_rubric_criteria_title_length check (length(btrim(title)) between 1 and 200)
);
comment on table app.rubric_criteria is 'What a rubric judges, in order; each has levels (app.rubric_levels).';
comment on column app.rubric_criteria.position is 'Order within the rubric, from 1.';

create table app.rubric_levels (
  id           uuid not null default gen_random_uuid(),
  criterion_id uuid not null,
  rubric_id    uuid not null,
  position     integer not null,
  label        text not null,
  points       numeric(8,2) not null,
  constraint pk_rubric_levels primary key (id),
  constraint fk_rubric_levels_criterion_in_rubric foreign key (criterion_id, rubric_id)
    references app.rubric_criteria (id, rubric_id) on delete cascade,
  constraint uq_rubric_levels_criterion_id_position unique (criterion_id, position),
  constraint uq_rubric_levels_id_criterion_id unique (id, criterion_id),
  constraint ck_rubric_levels_label_length check (length(btrim(label)) between 1 and 200),
  constraint ck_rubric_levels_points check (points >= 0)
);
create index ix_rubric_levels_rubric_id on app.rubric_levels (rubric_id);
comment on table app.rubric_levels is 'The levels of a rubric criterion, each worth points; a grade by rubric is the sum of one chosen level per criterion.';
comment on column app.rubric_levels.position is 'Order within the criterion, from 1.';
comment on column app.rubric_levels.label is 'What the grader and the learner read (Excellent, Partial, Missing, …).';
comment on column app.rubric_levels.points is 'What choosing this level adds to the grade (≥ 0).';

alter table app.files add constraint fk_files_assignment_id_assignments
  foreign key (assignment_id) references app.assignments (id) on delete cascade;

create table app.submissions (
  id            uuid not null default gen_random_uuid(),
  assignment_id uuid not null,
  user_id       uuid not null,
  content       text,
  file_id       uuid,
  submitted_at  timestamptz not null default now(),
  is_late       boolean not null default false,
  grade         numeric(8, 2),
  feedback      text,
  graded_at     timestamptz,
  graded_by     uuid,
  constraint pk_submissions primary key (id),
  constraint fk_submissions_assignment_id_assignments foreign key (assignment_id) references app.assignments (id) on delete cascade,
  constraint fk_submissions_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint fk_submissions_file_id_files foreign key (file_id) references app.files (id) on delete set null,
  constraint fk_submissions_graded_by_users foreign key (graded_by) references app.users (id) on delete set null,
  constraint uq_submissions_assignment_id_user_id unique (assignment_id, user_id),
  constraint ck_submissions_has_work check (content is not null or file_id is not null),
  constraint ck_submissions_grade_nonnegative check (grade >= 0),
  constraint ck_submissions_graded check ((grade is null) = (graded_at is null)),
  constraint ck_submissions_not_self_graded check (graded_by is null or graded_by <> user_id),
  rubric_id     uuid,
  constraint fk_submissions_rubric_id_rubrics foreign key (rubric_id) references app.rubrics (id) on delete set null
);
create index ix_submissions_rubric_id on app.submissions (rubric_id) where rubric_id is not null;
comment on column app.submissions.rubric_id is 'The rubric its grade was given with (submission.grade with rubric); null: graded with a number, or not graded.';
create index ix_submissions_user_id on app.submissions (user_id);
create index ix_submissions_assignment_id_submitted_at on app.submissions (assignment_id, submitted_at, id);
create index ix_submissions_graded_by on app.submissions (graded_by) where graded_by is not null;
create index ix_submissions_file_id on app.submissions (file_id) where file_id is not null;
comment on table app.submissions is 'A student''s (latest) submission for an assignment; replaced on resubmission before grading.';
comment on column app.submissions.content is 'The student''s text answer; a submission has content, a file or both.';
comment on column app.submissions.file_id is 'An upload of the student''s attached to the submission; null when none or once the file is deleted.';
comment on column app.submissions.submitted_at is 'When the work was last submitted; a resubmission before grading replaces the work and this time.';
comment on column app.submissions.is_late is 'Submitted after the assignment''s due_date (possible only with allow_late_submission); the late penalty applies.';
comment on column app.submissions.grade is 'Raw grade 0..assignment points; the effective grade applies the late penalty.';
comment on column app.submissions.feedback is 'The grader''s comment to the student; a regrade without feedback keeps the previous one.';
comment on column app.submissions.graded_at is 'When the grade was last given; null = not graded (set exactly when grade is).';
comment on column app.submissions.graded_by is 'Who gave the grade: the course''s instructor or an admin, never the student (ck_submissions_not_self_graded).';
comment on constraint ck_submissions_not_self_graded on app.submissions is 'Nobody grades their own submission (also an instructor enrolled in their own course).';

create table app.learner_overrides (
  id                 uuid not null default gen_random_uuid(),
  course_id          uuid not null,
  user_id            uuid not null,
  quiz_id            uuid,
  assignment_id      uuid,
  module_id          uuid,
  extra_attempts     integer,
  time_limit_minutes integer,
  available_until    timestamptz,
  due_date           timestamptz,
  waive_late_penalty boolean,
  unlock_at          timestamptz,
  created_by         uuid,
  created_at         timestamptz not null default now(),
  updated_at         timestamptz not null default now(),
  constraint pk_learner_overrides primary key (id),
  constraint fk_learner_overrides_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint fk_learner_overrides_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint fk_learner_overrides_quiz_in_course foreign key (quiz_id, course_id)
    references app.quizzes (id, course_id) on delete cascade,
  constraint fk_learner_overrides_assignment_in_course foreign key (assignment_id, course_id)
    references app.assignments (id, course_id) on delete cascade,
  constraint fk_learner_overrides_module_in_course foreign key (module_id, course_id)
    references app.modules (id, course_id) on delete cascade,
  constraint fk_learner_overrides_created_by_users foreign key (created_by) references app.users (id) on delete set null,
  constraint ck_learner_overrides_one_target check (num_nonnulls(quiz_id, assignment_id, module_id) = 1),
  constraint ck_learner_overrides_quiz_fields check (quiz_id is not null
    or (extra_attempts is null and time_limit_minutes is null and available_until is null)),
  constraint ck_learner_overrides_assignment_fields check (assignment_id is not null
    or (due_date is null and waive_late_penalty is null)),
  constraint ck_learner_overrides_module_fields check (module_id is not null or unlock_at is null),
  constraint ck_learner_overrides_extra_attempts check (extra_attempts between 0 and 100),
  constraint ck_learner_overrides_time_limit check (time_limit_minutes between 1 and 10080)
);
create unique index uq_learner_overrides_user_quiz on app.learner_overrides (user_id, quiz_id) where quiz_id is not null;
create unique index uq_learner_overrides_user_assignment on app.learner_overrides (user_id, assignment_id)
  where assignment_id is not null;
create unique index uq_learner_overrides_user_module on app.learner_overrides (user_id, module_id)
  where module_id is not null;
create index ix_learner_overrides_course_id_user_id on app.learner_overrides (course_id, user_id);
create index ix_learner_overrides_quiz_id on app.learner_overrides (quiz_id) where quiz_id is not null;
create index ix_learner_overrides_assignment_id on app.learner_overrides (assignment_id) where assignment_id is not null;
create index ix_learner_overrides_module_id on app.learner_overrides (module_id) where module_id is not null;
create index ix_learner_overrides_created_by on app.learner_overrides (created_by) where created_by is not null;
comment on table app.learner_overrides is 'One learner''s own settings for one quiz, assignment or module of a course (override.set): used wherever the original value would be, through the internal.effective_* functions — the only readers.';
comment on column app.learner_overrides.quiz_id is 'The quiz overridden (of course_id: fk_learner_overrides_quiz_in_course); exactly one of quiz_id, assignment_id, module_id.';
comment on column app.learner_overrides.assignment_id is 'The assignment overridden (of course_id); exactly one target.';
comment on column app.learner_overrides.module_id is 'The module overridden (of course_id); exactly one target.';
comment on column app.learner_overrides.extra_attempts is 'Attempts on top of the quiz''s max_attempts (an unlimited quiz stays unlimited).';
comment on column app.learner_overrides.time_limit_minutes is 'The learner''s time limit for the quiz, instead of its own (and instead of the course''s time_multiplier).';
comment on column app.learner_overrides.available_until is 'No attempt of the quiz starts after this time (422 quiz_closed), and none runs past it.';
comment on column app.learner_overrides.due_date is 'The learner''s due date for the assignment: late marking and the deadline use it.';
comment on column app.learner_overrides.waive_late_penalty is 'True: a late submission of this learner keeps its whole grade.';
comment on column app.learner_overrides.unlock_at is 'The learner''s unlock date for the module, instead of the module''s unlock_at.';
comment on column app.learner_overrides.created_by is 'Who set it last (instructor or admin).';

create table app.accommodations (
  course_id       uuid not null,
  user_id         uuid not null,
  time_multiplier numeric(3, 2) not null,
  created_by      uuid,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  constraint pk_accommodations primary key (course_id, user_id),
  constraint fk_accommodations_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint fk_accommodations_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint fk_accommodations_created_by_users foreign key (created_by) references app.users (id) on delete set null,
  constraint ck_accommodations_time_multiplier check (time_multiplier between 1.0 and 5.0)
);
create index ix_accommodations_user_id on app.accommodations (user_id);
create index ix_accommodations_created_by on app.accommodations (created_by) where created_by is not null;
comment on table app.accommodations is 'A learner''s course-wide accommodation (accommodation.set): every timed quiz of the course takes time_limit × time_multiplier for them, unless a quiz override sets the time itself.';
comment on column app.accommodations.time_multiplier is '1.00–5.00: the factor on every timed quiz''s limit (rounded up to whole minutes).';
comment on column app.accommodations.created_by is 'Who set it last (instructor or admin).';

create table app.grade_scheme_letters (
  course_id   uuid not null,
  letter      text not null,
  min_percent numeric(5,2) not null,
  constraint pk_grade_scheme_letters primary key (course_id, letter),
  constraint fk_grade_scheme_letters_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint uq_grade_scheme_letters_course_id_min_percent unique (course_id, min_percent),
  constraint ck_grade_scheme_letters_letter check (length(btrim(letter)) between 1 and 10),
  constraint ck_grade_scheme_letters_min_percent check (min_percent between 0 and 100)
);
comment on table app.grade_scheme_letters is 'A course''s letter scheme (grade.scheme_set): the letter of a percent is the one with the highest min_percent not above it. A course without rows uses A 90, B 80, C 70, D 60, F 0.';
comment on column app.grade_scheme_letters.letter is 'What the gradebook shows (A, B+, Pass, …), unique within the course.';
comment on column app.grade_scheme_letters.min_percent is 'The lowest course percent that earns this letter; a scheme always has a letter at 0.';

create table app.final_grade_overrides (
  course_id  uuid not null,
  user_id    uuid not null,
  percent    numeric(5,2),
  letter     text,
  reason     text not null,
  set_by     uuid,
  set_at     timestamptz not null default now(),
  constraint pk_final_grade_overrides primary key (course_id, user_id),
  constraint fk_final_grade_overrides_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint fk_final_grade_overrides_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint fk_final_grade_overrides_set_by_users foreign key (set_by) references app.users (id) on delete set null,
  constraint ck_final_grade_overrides_some_grade check (num_nonnulls(percent, letter) >= 1),
  constraint ck_final_grade_overrides_percent check (percent between 0 and 100),
  constraint ck_final_grade_overrides_letter check (length(btrim(letter)) between 1 and 10),
  constraint ck_final_grade_overrides_reason check (length(btrim(reason)) between 1 and 1000)
);
create index ix_final_grade_overrides_user_id on app.final_grade_overrides (user_id);
create index ix_final_grade_overrides_set_by on app.final_grade_overrides (set_by) where set_by is not null;
comment on table app.final_grade_overrides is 'An instructor''s final course grade for one learner (grade.override_final, audited): wins over the computed grade.';
comment on column app.final_grade_overrides.percent is 'The final percent; null: the computed percent stands beside the overriding letter.';
comment on column app.final_grade_overrides.letter is 'The final letter; null: the scheme''s letter of the overriding percent.';
comment on column app.final_grade_overrides.reason is 'Why (kept with the audit entry).';
comment on column app.final_grade_overrides.set_at is 'When grade.override_final last set it.';
comment on column app.final_grade_overrides.set_by is 'Who set it (null once that user is deleted).';

create table app.submission_rubric_levels (
  submission_id uuid not null,
  criterion_id  uuid not null,
  rubric_id     uuid not null,
  level_id      uuid not null,
  points        numeric(8,2) not null,
  constraint pk_submission_rubric_levels primary key (submission_id, criterion_id),
  constraint fk_submission_rubric_levels_submission_id_submissions foreign key (submission_id)
    references app.submissions (id) on delete cascade,
  constraint fk_submission_rubric_levels_criterion_in_rubric foreign key (criterion_id, rubric_id)
    references app.rubric_criteria (id, rubric_id) on delete cascade,
  constraint fk_submission_rubric_levels_level_of_criterion foreign key (level_id, criterion_id)
    references app.rubric_levels (id, criterion_id) on delete cascade
);
create index ix_submission_rubric_levels_rubric_id on app.submission_rubric_levels (rubric_id);
create index ix_submission_rubric_levels_level_id on app.submission_rubric_levels (level_id, criterion_id);
create index ix_submission_rubric_levels_criterion_id on app.submission_rubric_levels (criterion_id, rubric_id);
comment on table app.submission_rubric_levels is 'The level a grader chose per criterion of a submission''s rubric (the foreign keys hold each level to its criterion and each criterion to the rubric); the grade is their sum.';
comment on column app.submission_rubric_levels.points is 'The chosen level''s points when it was chosen (the rubric cannot change once it has graded).';
comment on column app.rubrics.assignment_id is 'The assignment it grades (of course_id: fk_rubrics_assignment_in_course).';
comment on column app.rubrics.course_id is 'The assignment''s course (kept for the policies and the composite key).';
comment on column app.rubrics.created_by is 'Who created it (null once that user is deleted).';
comment on column app.rubric_levels.criterion_id is 'The criterion it is a level of (of rubric_id: fk_rubric_levels_criterion_in_rubric).';
comment on column app.rubric_levels.rubric_id is 'The criterion''s rubric (kept for the composite keys and the policies).';
comment on column app.submission_rubric_levels.criterion_id is 'A criterion of rubric_id (fk_submission_rubric_levels_criterion_in_rubric).';
comment on column app.submission_rubric_levels.rubric_id is 'The rubric the submission was graded with.';
comment on column app.submission_rubric_levels.level_id is 'The chosen level, one of criterion_id''s (fk_submission_rubric_levels_level_of_criterion).';

-- LTI Advantage (AGS): a tool's gradebook columns and the scores it posts (sql/functions/20_catalog/10_lti_services.sql)
create table app.lti_line_items (
  id                 uuid not null default gen_random_uuid(),
  course_id          uuid not null,
  tool_id            uuid not null,
  link_id            uuid,
  label              text not null,
  score_maximum      numeric(10,2) not null,
  resource_id        text,
  tag                text,
  grade_category_id  uuid,
  start_at           timestamptz,
  end_at             timestamptz,
  created_at         timestamptz not null default now(),
  updated_at         timestamptz not null default now(),
  constraint pk_lti_line_items primary key (id),
  constraint fk_lti_line_items_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint fk_lti_line_items_tool_id_lti_tools foreign key (tool_id) references app.lti_tools (id) on delete cascade,
  constraint fk_lti_line_items_link_id_lti_links foreign key (link_id) references app.lti_links (id) on delete set null,
  constraint fk_lti_line_items_grade_category_in_course foreign key (grade_category_id, course_id)
    references app.grade_categories (id, course_id) on delete set null (grade_category_id),
  constraint ck_lti_line_items_label check (length(btrim(label)) between 1 and 200),
  constraint ck_lti_line_items_score_maximum check (score_maximum > 0),
  constraint ck_lti_line_items_resource_id check (length(resource_id) <= 255),
  constraint ck_lti_line_items_tag check (length(tag) <= 255),
  constraint ck_lti_line_items_dates check (end_at is null or start_at is null or end_at >= start_at)
);
create index ix_lti_line_items_course_id on app.lti_line_items (course_id);
create index ix_lti_line_items_tool_id on app.lti_line_items (tool_id);
create index ix_lti_line_items_link_id on app.lti_line_items (link_id) where link_id is not null;
create index ix_lti_line_items_grade_category_id on app.lti_line_items (grade_category_id) where grade_category_id is not null;
comment on table app.lti_line_items is 'AGS line items: gradebook columns a tool reports scores to (made with a link, by deep linking, or by the tool). Row-level security: a tool (its access token) sees and changes only its own, in courses where it has a link.';
comment on column app.lti_line_items.label is 'The column''s title in the gradebook (label).';
comment on column app.lti_line_items.link_id is 'The resource link it belongs to (resourceLinkId); null: the tool''s own column in the course.';
comment on column app.lti_line_items.score_maximum is 'What the column is worth in the course grade, in points (scoreMaximum).';
comment on column app.lti_line_items.resource_id is 'The tool''s own id of the activity (resourceId).';
comment on column app.lti_line_items.tag is 'The tool''s label for the kind of column (tag), e.g. final or originality.';
comment on column app.lti_line_items.grade_category_id is 'The grade category it counts in; null: the implicit one.';
comment on column app.lti_line_items.start_at is 'startDateTime, as the tool gave it.';
comment on column app.lti_line_items.end_at is 'endDateTime, as the tool gave it.';

create table app.lti_results (
  line_item_id       uuid not null,
  user_id            uuid not null,
  score_given        numeric(12,4),
  score_maximum      numeric(12,4),
  activity_progress  text not null,
  grading_progress   text not null,
  comment            text,
  scored_at          timestamptz not null,
  received_at        timestamptz not null default now(),
  constraint pk_lti_results primary key (line_item_id, user_id),
  constraint fk_lti_results_line_item_id_lti_line_items foreign key (line_item_id) references app.lti_line_items (id) on delete cascade,
  constraint fk_lti_results_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint ck_lti_results_score check ((score_given is null) = (score_maximum is null) and score_maximum > 0
                                         and score_given >= 0),
  constraint ck_lti_results_activity check (activity_progress in ('Initialized', 'Started', 'InProgress', 'Submitted', 'Completed')),
  constraint ck_lti_results_grading check (grading_progress in ('FullyGraded', 'Pending', 'PendingManual', 'Failed', 'NotReady')),
  constraint ck_lti_results_comment check (length(comment) <= 4000)
);
create index ix_lti_results_user_id on app.lti_results (user_id);
comment on table app.lti_results is 'The latest score a tool posted for a learner in a line item (AGS scores; a score with an older timestamp than the one kept is refused). FullyGraded: scoreGiven ÷ scoreMaximum of the line item''s points is the learner''s grade in that gradebook column.';
comment on column app.lti_results.score_given is 'scoreGiven, on the score''s own scale (score_maximum).';
comment on column app.lti_results.score_maximum is 'scoreMaximum of the score (not necessarily the line item''s).';
comment on column app.lti_results.activity_progress is 'activityProgress: Initialized, Started, InProgress, Submitted, Completed.';
comment on column app.lti_results.grading_progress is 'gradingProgress: only FullyGraded counts in the course grade.';
comment on column app.lti_results.comment is 'The tool''s comment for the learner.';
comment on column app.lti_results.scored_at is 'The score''s timestamp, as the tool gave it: a later score must have a later one.';
comment on column app.lti_results.received_at is 'When the platform received it.';
