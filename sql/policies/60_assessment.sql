/*
 * Assessment: grants and RLS for quizzes, questions, attempts, assignments and submissions.
 */
alter table app.quizzes enable row level security;
alter table app.quizzes force row level security;
alter table app.questions enable row level security;
alter table app.questions force row level security;
alter table app.question_banks enable row level security;
alter table app.question_banks force row level security;
alter table app.quiz_pools enable row level security;
alter table app.quiz_pools force row level security;
alter table app.manual_grades enable row level security;
alter table app.manual_grades force row level security;
alter table app.quiz_attempt_counters enable row level security;
alter table app.quiz_attempt_counters force row level security;
alter table app.quiz_attempts enable row level security;
alter table app.quiz_attempts force row level security;
alter table app.assignments enable row level security;
alter table app.assignments force row level security;
alter table app.submissions enable row level security;
alter table app.submissions force row level security;

/*
 * Who sees what:
 * - quizzes / questions: the course's instructor and admins see all; students see published
 *   quizzes (and their questions) of courses they are actively enrolled in.
 *   questions.correct_answer is granted to no client role at all (column privileges), so
 *   `select correct_answer from app.questions` fails with 42501 for lms_api and analysts;
 *   instructors get it through internal.quiz_questions (SECURITY DEFINER, checks the caller).
 * - quiz_attempts / submissions: a student sees only their own; the course's instructor and
 *   admins see those of the course. Students write none of them directly: attempt.start,
 *   attempt.submit and submission.submit are SECURITY DEFINER.
 *   quiz_attempts.grading (per-question correctness and points) is granted to no client role:
 *   for true/false it would be the answer itself. Instructors get it from attempt.list_for_quiz
 *   through internal.quiz_attempts_graded (SECURITY DEFINER, checks the caller).
 * - quiz_attempt_counters: no client access (only the definer functions use it).
 * Analysts (lms_analyst) read under the same select policies as their linked user.
 */

-- Quizzes ------------------------------------------------------------------------------
grant select on app.quizzes to lms_api, lms_analyst;
grant insert (course_id, lesson_id, title, description, time_limit_minutes, passing_score_percentage, max_attempts,
              grade_category_id, grade_posting)
  on app.quizzes to lms_api;
grant update (lesson_id, title, description, time_limit_minutes, passing_score_percentage, max_attempts, is_published,
              shuffle_questions, shuffle_options, partial_credit, grade_category_id, grade_posting, grades_posted_at)
  on app.quizzes to lms_api;

create policy select_enrolled_or_manager on app.quizzes for select to lms_api, lms_analyst
  using (course_id in (select internal.my_course_ids())
         or (is_published and course_id in (select internal.my_enrolled_course_ids()))
         or (select internal.is_admin()));
create policy insert_manager on app.quizzes for insert to lms_api
  with check (course_id in (select internal.my_course_ids()) or (select internal.is_admin()));
create policy update_manager on app.quizzes for update to lms_api
  using (course_id in (select internal.my_course_ids()) or (select internal.is_admin()))
  with check (course_id in (select internal.my_course_ids()) or (select internal.is_admin()));

-- Banks: the course's instructor and admins only ---------------------------------------------
grant select on app.question_banks to lms_api, lms_analyst;
grant insert (course_id, title) on app.question_banks to lms_api;
grant update (title, updated_at) on app.question_banks to lms_api;
create policy select_manager on app.question_banks for select to lms_api, lms_analyst
  using (course_id in (select internal.my_course_ids()) or (select internal.is_admin()));
create policy insert_manager on app.question_banks for insert to lms_api
  with check (course_id in (select internal.my_course_ids()) or (select internal.is_admin()));
create policy update_manager on app.question_banks for update to lms_api
  using (course_id in (select internal.my_course_ids()) or (select internal.is_admin()))
  with check (course_id in (select internal.my_course_ids()) or (select internal.is_admin()));

-- Pools: seen with the quiz by its managers; written by them ------------------------------------
grant select on app.quiz_pools to lms_api, lms_analyst;
grant insert (quiz_id, bank_id, course_id, draw_count, points_each, position) on app.quiz_pools to lms_api;
grant delete on app.quiz_pools to lms_api;
create policy select_manager on app.quiz_pools for select to lms_api, lms_analyst
  using (course_id in (select internal.my_course_ids()) or (select internal.is_admin()));
create policy insert_manager on app.quiz_pools for insert to lms_api
  with check (course_id in (select internal.my_course_ids()) or (select internal.is_admin()));
create policy delete_manager on app.quiz_pools for delete to lms_api
  using (course_id in (select internal.my_course_ids()) or (select internal.is_admin()));

-- Questions (never correct_answer) ------------------------------------------------------
grant select (id, quiz_id, bank_id, question_text, question_type, options, points, question_order, tolerance, retired_at,
              created_at, updated_at)
  on app.questions to lms_api, lms_analyst;
grant insert (quiz_id, bank_id, question_text, question_type, options, correct_answer, points, question_order, tolerance)
  on app.questions to lms_api;
grant update (question_text, question_type, options, correct_answer, points, question_order, tolerance, retired_at,
              updated_at)
  on app.questions to lms_api;
grant delete on app.questions to lms_api;

-- A fixed question is visible exactly when its quiz is (the subquery runs under the quizzes policy); a bank
-- question to its bank's managers (banks policy) and to the learners whose attempts drew it — exactly
-- those (internal.my_drawn_question_ids, once per query).
create policy select_visible_quiz on app.questions for select to lms_api, lms_analyst
  using (quiz_id in (select z.id from app.quizzes z)
         or bank_id in (select b.id from app.question_banks b)
         or id = any ((select internal.my_drawn_question_ids())::uuid[]));
create policy insert_manager on app.questions for insert to lms_api
  with check (quiz_id in (select z.id from app.quizzes z where z.course_id in (select internal.my_course_ids()))
              or bank_id in (select b.id from app.question_banks b where b.course_id in (select internal.my_course_ids()))
              or (select internal.is_admin()));
create policy update_manager on app.questions for update to lms_api
  using (quiz_id in (select z.id from app.quizzes z where z.course_id in (select internal.my_course_ids()))
         or bank_id in (select b.id from app.question_banks b where b.course_id in (select internal.my_course_ids()))
         or (select internal.is_admin()))
  with check (quiz_id in (select z.id from app.quizzes z where z.course_id in (select internal.my_course_ids()))
              or bank_id in (select b.id from app.question_banks b where b.course_id in (select internal.my_course_ids()))
              or (select internal.is_admin()));
create policy delete_manager on app.questions for delete to lms_api
  using (quiz_id in (select z.id from app.quizzes z where z.course_id in (select internal.my_course_ids()))
         or bank_id in (select b.id from app.question_banks b where b.course_id in (select internal.my_course_ids()))
         or (select internal.is_admin()));

-- Manual grades: the learner sees their own (points and feedback), the course's instructor and admins
-- all of the course; written only through attempt.submit / grading.queue / attempt.grade_answer.
grant select (attempt_id, question_id, quiz_id, course_id, user_id, submitted_at, answer, points, points_awarded,
              feedback, graded_at)
  on app.manual_grades to lms_api, lms_analyst;
create policy select_own_or_manager on app.manual_grades for select to lms_api
  using ((select internal.is_admin()) or user_id = (select app.current_user_id())
         or course_id in (select internal.my_course_ids()));
-- Analysts: the same, but a learner's own rows of work whose grades are held back (grade_posting manual,
-- not posted) stay out until grade.post — for attempts and submissions alike (below).
create policy select_posted_own_or_manager on app.manual_grades for select to lms_analyst
  using ((select internal.is_admin())
         or (user_id = (select app.current_user_id()) and quiz_id <> all ((select internal.held_back_item_ids())::uuid[]))
         or course_id in (select internal.my_course_ids()));

-- Attempts (read only for clients; never the grading column) ----------------------------
grant select (id, user_id, quiz_id, attempt_number, status, started_at, deadline_at, submitted_at,
              score, passed, points_earned, points_total, answers)
  on app.quiz_attempts to lms_api, lms_analyst;
-- Each arm an InitPlan computed once per query (admin first: it short-circuits the others), so the
-- policy costs the same on 30 partitions as on one (issue 21).
create policy select_own_or_manager on app.quiz_attempts for select to lms_api
  using ((select internal.is_admin())
         or user_id = (select app.current_user_id())
         or quiz_id = any ((select internal.my_managed_quiz_ids())::uuid[]));
create policy select_posted_own_or_manager on app.quiz_attempts for select to lms_analyst
  using ((select internal.is_admin())
         or (user_id = (select app.current_user_id()) and quiz_id <> all ((select internal.held_back_item_ids())::uuid[]))
         or quiz_id = any ((select internal.my_managed_quiz_ids())::uuid[]));

-- Assignments --------------------------------------------------------------------------
grant select on app.assignments to lms_api, lms_analyst;
grant insert (course_id, lesson_id, title, description, due_date, points, allow_late_submission, late_penalty_percentage,
              grade_category_id, grade_posting)
  on app.assignments to lms_api;
grant update (lesson_id, title, description, due_date, points, allow_late_submission, late_penalty_percentage,
              grade_category_id, grade_posting, grades_posted_at)
  on app.assignments to lms_api;

create policy select_enrolled_or_manager on app.assignments for select to lms_api, lms_analyst
  using (course_id in (select internal.my_course_ids())
         or course_id in (select internal.my_enrolled_course_ids())
         or (select internal.is_admin()));
create policy insert_manager on app.assignments for insert to lms_api
  with check (course_id in (select internal.my_course_ids()) or (select internal.is_admin()));
create policy update_manager on app.assignments for update to lms_api
  using (course_id in (select internal.my_course_ids()) or (select internal.is_admin()))
  with check (course_id in (select internal.my_course_ids()) or (select internal.is_admin()));

-- Submissions (students write through submission.submit only; instructors grade) --------
grant select on app.submissions to lms_api, lms_analyst;
grant update (grade, feedback, graded_at, graded_by) on app.submissions to lms_api;

create policy select_own_or_manager on app.submissions for select to lms_api
  using ((select internal.is_admin())
         or user_id = (select app.current_user_id())
         or assignment_id = any ((select internal.my_managed_assignment_ids())::uuid[]));
create policy select_posted_own_or_manager on app.submissions for select to lms_analyst
  using ((select internal.is_admin())
         or (user_id = (select app.current_user_id())
             and assignment_id <> all ((select internal.held_back_item_ids())::uuid[]))
         or assignment_id = any ((select internal.my_managed_assignment_ids())::uuid[]));
create policy update_manager on app.submissions for update to lms_api
  using (assignment_id in (select a.id from app.assignments a where a.course_id in (select internal.my_course_ids()))
              or (select internal.is_admin()))
  with check (assignment_id in (select a.id from app.assignments a where a.course_id in (select internal.my_course_ids()))
              or (select internal.is_admin()));

-- Functions ----------------------------------------------------------------------------
grant execute on function
  api.quiz_create(uuid, text, text, uuid, integer, integer, integer, uuid, uuid, text),
  api.quiz_update(uuid, text, text, uuid, integer, integer, integer, uuid, boolean, boolean, boolean, uuid, text),
  api.quiz_publish(uuid),
  api.quiz_unpublish(uuid),
  api.quiz_add_question(uuid, text, text, jsonb, jsonb, integer, integer, numeric),
  api.quiz_update_question(uuid, text, text, jsonb, jsonb, integer, integer, numeric),
  api.bank_create(uuid, text), api.bank_list(uuid), api.bank_get(uuid),
  api.bank_add_question(uuid, text, text, jsonb, jsonb, integer, numeric),
  api.bank_update_question(uuid, text, text, jsonb, jsonb, integer, numeric),
  api.bank_delete_question(uuid),
  api.quiz_add_pool(uuid, uuid, integer, integer), api.quiz_remove_pool(uuid, uuid, uuid),
  api.grading_queue(uuid, uuid, integer, integer), api.attempt_grade_answer(uuid, uuid, numeric, text),
  api.quiz_regrade(uuid, uuid),
  api.quiz_delete_question(uuid),
  api.quiz_get(uuid),
  api.quiz_list(uuid, integer, integer),
  api.attempt_start(uuid),
  api.attempt_submit(uuid, jsonb),
  api.attempt_list_mine(uuid, integer, integer),
  api.attempt_list_for_quiz(uuid, integer, integer),
  api.assignment_create(uuid, text, text, uuid, timestamptz, integer, boolean, integer, uuid, uuid, text),
  api.assignment_update(uuid, text, text, uuid, timestamptz, integer, boolean, integer, uuid, uuid, text),
  api.assignment_list(uuid, integer, integer),
  api.submission_submit(uuid, text, uuid),
  api.submission_grade(uuid, numeric, text, jsonb),
  api.submission_list_for_assignment(uuid, integer, integer),
  api.submission_get_mine(uuid),
  api.gradebook_course(uuid, integer, integer),
  api.gradebook_mine(uuid)
to lms_api;

-- Helpers the invoker api functions, triggers and policies call as lms_api / lms_analyst.
-- (The catalog's membership helpers — my_course_ids, can_manage_course, … — are granted by the
-- catalog, which owns them.)
grant execute on function internal.effective_grade(numeric, boolean, integer) to lms_api, lms_analyst, lms_definer;
grant execute on function internal.my_managed_quiz_ids(), internal.my_managed_assignment_ids()
  to lms_api, lms_analyst, lms_definer;
grant execute on function
  internal.normalize_answer(text),
  internal.quiz_json(app.quizzes), internal.quiz_questions_public(uuid), internal.quiz_questions(uuid),
  internal.quiz_attempts_graded(uuid, integer, integer), internal.assignment_json(app.assignments),
  internal.submission_json(app.submissions, integer),
  internal.require_course_manager(uuid), internal.managed_row(anyelement, uuid, text, boolean),
  internal.managed_quiz(uuid, boolean), internal.gradebook_export(uuid),
  internal.answer_key(text, jsonb),
  internal.write_question(uuid, text, text, jsonb, boolean, integer, numeric, boolean, jsonb, boolean),
  internal.bank_json(app.question_banks), internal.pool_json(app.quiz_pools), internal.quiz_pools_json(uuid),
  internal.bank_questions(uuid), internal.question_with_key(uuid), internal.managed_bank(uuid, boolean),
  internal.question_in_use(uuid), internal.require_bank_question(uuid), internal.check_pool_sizes(uuid)
to lms_api;
grant execute on function internal.my_drawn_question_ids() to lms_api, lms_analyst, lms_definer;
grant execute on function internal.choice_options_valid(jsonb) to lms_api, lms_definer;  -- the questions trigger
grant execute on function internal.csv_cell(text) to lms_api, lms_definer;  -- every CSV export's text cells
-- What the SECURITY DEFINER functions (owned by lms_definer) call.
grant execute on function
  internal.is_admin(), internal.refresh_progress(uuid, uuid),
  internal.normalize_answer(text), internal.score_percentage(integer, integer), internal.attempt_grace(),
  internal.require_course_manager(uuid), internal.gradebook(uuid, uuid, integer, integer), internal.submission_json(app.submissions, integer),
  internal.close_expired_attempt(uuid, timestamptz), internal.attempt_json(app.quiz_attempts),
  internal.score_percentage(numeric, integer), internal.question_json(app.questions), internal.auto_points(text, text, numeric, jsonb, integer, boolean),
  internal.attempt_points_total(app.quiz_attempts),
  internal.check_pool_sizes(uuid), internal.attempt_draw(app.quizzes), internal.attempt_questions_json(app.quiz_attempts),
  internal.settle_attempt(uuid, timestamptz), internal.manual_grade_json(app.manual_grades)
to lms_definer;

-- Overrides and accommodations -------------------------------------------------------------------
-- Read by the learner they are for, the course's instructor and admins (and their analysts); written
-- only through override.set / override.clear / accommodation.set (SECURITY DEFINER).
alter table app.learner_overrides enable row level security;
alter table app.learner_overrides force row level security;
alter table app.accommodations enable row level security;
alter table app.accommodations force row level security;
grant select on app.learner_overrides, app.accommodations to lms_api, lms_analyst;
create policy select_own_taught_admin on app.learner_overrides for select to lms_api, lms_analyst
  using (user_id = (select app.current_user_id()) or course_id in (select internal.my_course_ids())
         or (select internal.is_admin()));
create policy select_own_taught_admin on app.accommodations for select to lms_api, lms_analyst
  using (user_id = (select app.current_user_id()) or course_id in (select internal.my_course_ids())
         or (select internal.is_admin()));

grant execute on function
  internal.effective_quiz(uuid, app.quizzes), internal.effective_assignment(uuid, app.assignments),
  internal.effective_late_penalty(uuid, uuid, integer), internal.quiz_available_until(uuid, uuid)
to lms_api, lms_definer;
grant execute on function internal.effective_late_penalty(uuid, uuid, integer) to lms_analyst;  -- the grade views
grant execute on function internal.override_json(app.learner_overrides) to lms_api, lms_definer;
grant execute on function internal.require_override_rights(uuid, uuid), internal.override_changed(text, uuid, uuid, jsonb)
to lms_definer;
grant execute on function
  api.override_set(uuid, uuid, uuid, uuid, integer, integer, timestamptz, timestamptz, boolean, timestamptz),
  api.override_clear(uuid), api.override_list(uuid, uuid, integer, integer),
  api.accommodation_set(uuid, uuid, numeric)
to lms_api;

-- Grades (issue 30): categories and letter schemes are seen by the course's managers and its enrolled
-- learners; a final grade by its learner and the course's managers. All written only through the
-- grade.* methods (SECURITY DEFINER).
alter table app.grade_categories enable row level security;
alter table app.grade_categories force row level security;
alter table app.grade_scheme_letters enable row level security;
alter table app.grade_scheme_letters force row level security;
alter table app.final_grade_overrides enable row level security;
alter table app.final_grade_overrides force row level security;
grant select on app.grade_categories, app.grade_scheme_letters, app.final_grade_overrides to lms_api, lms_analyst;
create policy select_enrolled_or_manager on app.grade_categories for select to lms_api, lms_analyst
  using (course_id in (select internal.my_course_ids())
         or course_id in (select internal.my_enrolled_course_ids())
         or (select internal.is_admin()));
create policy select_enrolled_or_manager on app.grade_scheme_letters for select to lms_api, lms_analyst
  using (course_id in (select internal.my_course_ids())
         or course_id in (select internal.my_enrolled_course_ids())
         or (select internal.is_admin()));
create policy select_own_or_manager on app.final_grade_overrides for select to lms_api, lms_analyst
  using ((select internal.is_admin()) or user_id = (select app.current_user_id())
         or course_id in (select internal.my_course_ids()));
grant execute on function
  api.grade_category_create(uuid, text, numeric, integer), api.grade_category_update(uuid, text, numeric, integer),
  api.grade_category_delete(uuid), api.grade_category_list(uuid),
  api.grade_scheme_set(uuid, jsonb), api.grade_scheme_get(uuid),
  api.grade_override_final(uuid, uuid, text, numeric, text), api.grade_post(uuid, uuid),
  internal.require_grade_category(uuid, uuid), internal.grade_hidden(text, timestamptz), internal.hide_grade(jsonb, boolean),
  internal.check_grade_posting(text)
to lms_api;
grant execute on function internal.held_back_item_ids() to lms_analyst;
grant execute on function
  internal.course_grades(uuid, uuid[], boolean), internal.quiz_points_possible(uuid), internal.grade_scheme(uuid),
  internal.require_grade_category(uuid, uuid), internal.grade_category_json(app.grade_categories),
  internal.managed_grade_category(uuid), internal.grade_scheme_json(uuid), internal.require_course_member(uuid),
  internal.grade_hidden(text, timestamptz), internal.hide_grade(jsonb, boolean), internal.grades_held_back(jsonb),
  internal.managed_quiz(uuid, boolean), internal.managed_row(anyelement, uuid, text, boolean),
  internal.refresh_course_progress(uuid)
to lms_definer;

-- Rubrics (issue 30 §2): seen with the assignment (its course's managers and enrolled learners); the
-- chosen levels with the submission (its learner, the course's managers). Written only through
-- rubric.create and submission.grade (SECURITY DEFINER helpers).
alter table app.rubrics enable row level security;
alter table app.rubrics force row level security;
alter table app.rubric_criteria enable row level security;
alter table app.rubric_criteria force row level security;
alter table app.rubric_levels enable row level security;
alter table app.rubric_levels force row level security;
alter table app.submission_rubric_levels enable row level security;
alter table app.submission_rubric_levels force row level security;
grant select on app.rubrics, app.rubric_criteria, app.rubric_levels, app.submission_rubric_levels to lms_api, lms_analyst;
create policy select_enrolled_or_manager on app.rubrics for select to lms_api, lms_analyst
  using (course_id in (select internal.my_course_ids())
         or course_id in (select internal.my_enrolled_course_ids())
         or (select internal.is_admin()));
create policy select_with_rubric on app.rubric_criteria for select to lms_api, lms_analyst
  using (rubric_id in (select r.id from app.rubrics r));
create policy select_with_rubric on app.rubric_levels for select to lms_api, lms_analyst
  using (rubric_id in (select r.id from app.rubrics r));
create policy select_with_submission on app.submission_rubric_levels for select to lms_api, lms_analyst
  using (submission_id in (select s.id from app.submissions s));
grant execute on function api.rubric_create(uuid, jsonb), api.rubric_get(uuid),
  internal.apply_rubric(app.submissions, app.assignments, jsonb), internal.submission_rubric_json(uuid)
to lms_api;
grant execute on function internal.rubric_json(uuid), internal.submission_rubric_json(uuid),
  internal.require_rubric_unused(uuid)
to lms_definer;

-- QTI packages (issue 33 §3): the import's two calls and the export's read, as the caller.
grant execute on function api.quiz_import_qti(uuid, uuid, text, text),
  internal.quiz_import_qti_finish(uuid, text, text, text, jsonb, jsonb, jsonb), internal.qti_export(text, uuid)
to lms_api;
