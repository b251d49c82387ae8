-- Assessment: validation, visibility (RLS and column privileges) and the attempt rules, as
-- lms_api exactly as the RPC layer calls it. Ids created during the test are kept in
-- session-local settings (t.*), since lms_api may not create tables.
begin;
select tests.plan(83);

-- ---------------------------------------------------------------- setup (as owner)
select tests.create_user('inst', 'instructor');
select tests.create_user('inst2', 'instructor');
select tests.create_user('adm', 'admin');
select tests.create_user('stu');
select tests.create_user('stu2');
select tests.create_user('outsider');
select tests.as_owner(format($$
  insert into app.courses (id, instructor_id, title) values
    ('c1000000-0000-4000-8000-000000000001', %L, 'Course one'),
    ('c1000000-0000-4000-8000-000000000002', %L, 'Course two');
  insert into app.lessons (id, course_id, title, lesson_order, is_published) values
    ('a1000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000001', 'L1', 1, true),
    ('a1000000-0000-4000-8000-000000000002', 'c1000000-0000-4000-8000-000000000002', 'L2', 1, true);
  update app.courses set is_published = true, published_at = now();
  insert into app.enrollments (user_id, course_id) values
    (%L, 'c1000000-0000-4000-8000-000000000001'), (%L, 'c1000000-0000-4000-8000-000000000001');
  $$, tests.user_id('inst'), tests.user_id('inst2'), tests.user_id('stu'), tests.user_id('stu2')));

-- ---------------------------------------------------------------- structure (as lms_api, anonymous)
select tests.clear_authentication();
select is_definer('api', 'attempt_start', array['uuid'], 'attempt.start is SECURITY DEFINER (students never write attempts)');
select is_definer('api', 'attempt_submit', array['uuid', 'jsonb'], 'attempt.submit is SECURITY DEFINER (grading reads correct_answer)');
select ok(not has_column_privilege('lms_api', 'app.questions', 'correct_answer', 'select'),
          'lms_api has no SELECT on questions.correct_answer');
select ok(not has_column_privilege('lms_analyst', 'app.questions', 'correct_answer', 'select'),
          'lms_analyst has no SELECT on questions.correct_answer');
select ok(not has_table_privilege('lms_api', 'app.quiz_attempts', 'insert')
          and not has_table_privilege('lms_api', 'app.quiz_attempts', 'update'),
          'lms_api cannot insert or update quiz attempts directly');
select policies_are('app', 'quiz_attempts', array['select_own_or_manager', 'select_posted_own_or_manager'],
                    'quiz_attempts has only its select policies (the API''s, the analysts'')');
select ok(not has_column_privilege('lms_api', 'app.quiz_attempts', 'grading', 'select'),
          'lms_api has no SELECT on quiz_attempts.grading (per-question correctness)');
select ok(not has_column_privilege('lms_analyst', 'app.quiz_attempts', 'grading', 'select'),
          'lms_analyst has no SELECT on quiz_attempts.grading');

-- ---------------------------------------------------------------- instructor: quizzes and validation
select tests.authenticate_as('inst');
select throws_ok($$ select api.quiz_create(course_id => 'c1000000-0000-4000-8000-000000000001', title => 'Q',
                                           lesson_id => 'a1000000-0000-4000-8000-000000000002') $$,
                 'LM422', null, 'instructor cannot attach a quiz to a lesson of another course');
select throws_ok($$ select api.quiz_create(course_id => 'c1000000-0000-4000-8000-000000000002', title => 'Q') $$,
                 'LM403', null, 'instructor cannot create a quiz in another instructor''s course');
select set_config('t.quiz', api.quiz_create(course_id => 'c1000000-0000-4000-8000-000000000001', title => 'Quiz one',
                  lesson_id => 'a1000000-0000-4000-8000-000000000001', max_attempts => 2) ->> 'id', false);
select throws_ok($$ select api.quiz_publish(current_setting('t.quiz')::uuid) $$,
                 'LM422', null, 'a quiz without questions cannot be published');
select throws_ok($$ select api.quiz_add_question(quiz_id => current_setting('t.quiz')::uuid, question_text => 'x',
                   question_type => 'multiple_choice', options => '["a", "a", "b"]', correct_answer => '"a"') $$,
                 'LM422', null, 'multiple choice options must be distinct');
select throws_ok($$ select api.quiz_add_question(quiz_id => current_setting('t.quiz')::uuid, question_text => 'x',
                   question_type => 'multiple_choice', options => '["a"]', correct_answer => '"a"') $$,
                 'LM422', null, 'multiple choice needs at least two options');
select throws_ok($$ select api.quiz_add_question(quiz_id => current_setting('t.quiz')::uuid, question_text => 'x',
                   question_type => 'multiple_choice', options => '["a", "b"]', correct_answer => '"c"') $$,
                 'LM422', null, 'multiple choice correct answer must be among the options');
select throws_ok($$ select api.quiz_add_question(quiz_id => current_setting('t.quiz')::uuid, question_text => 'x',
                   question_type => 'multiple_choice', options => '["a", 1]', correct_answer => '"a"') $$,
                 'LM422', null, 'multiple choice options must be strings');
select throws_ok($$ select api.quiz_add_question(quiz_id => current_setting('t.quiz')::uuid, question_text => 'x',
                   question_type => 'true_false', correct_answer => '"maybe"') $$,
                 'LM422', null, 'true/false takes only "true" or "false"');
select throws_ok($$ select api.quiz_add_question(quiz_id => current_setting('t.quiz')::uuid, question_text => 'x',
                   question_type => 'short_answer', correct_answer => '"x"', points => 0) $$,
                 'LM422', null, 'points must be at least 1');
select set_config('t.q1', api.quiz_add_question(quiz_id => current_setting('t.quiz')::uuid, question_text => 'Pick b',
                  question_type => 'multiple_choice', options => '["a", "b", "c"]', correct_answer => '"b"') ->> 'id', false);
select set_config('t.q2', api.quiz_add_question(quiz_id => current_setting('t.quiz')::uuid, question_text => 'True?',
                  question_type => 'true_false', correct_answer => '"True"') ->> 'id', false);
select set_config('t.q3', api.quiz_add_question(quiz_id => current_setting('t.quiz')::uuid, question_text => 'Capital?',
                  question_type => 'short_answer', correct_answer => '"New  York"', points => 2, question_order => 1) ->> 'id', false);
select results_eq($$ select q.id::text from app.questions q where q.quiz_id = current_setting('t.quiz')::uuid order by q.question_order $$,
                  array[current_setting('t.q3'), current_setting('t.q1'), current_setting('t.q2')],
                  'inserting at position 1 moves the other questions down');
select throws_ok($$ update app.questions set options = '["a", "b", "b"]' where id = current_setting('t.q1')::uuid $$,
                 'LM422', null, 'distinct options are enforced on direct updates too (trigger)');
select lives_ok($$ select api.quiz_publish(current_setting('t.quiz')::uuid) $$, 'instructor publishes a quiz with questions');
select ok(api.quiz_get(current_setting('t.quiz')::uuid) -> 'questions' -> 0 ? 'correct_answer',
          'the instructor gets correct_answer from quiz.get');

-- ---------------------------------------------------------------- students: visibility
select tests.authenticate_as('stu');
select throws_ok($$ select correct_answer from app.questions $$, '42501', null,
                 'a student (lms_api) cannot select questions.correct_answer');
select is((select count(*)::integer from app.questions q where q.quiz_id = current_setting('t.quiz')::uuid), 3,
          'an enrolled student sees the published quiz''s questions (without the answer column)');
select ok(not jsonb_path_exists(api.quiz_get(current_setting('t.quiz')::uuid), '$.questions[*].correct_answer'),
          'quiz.get gives an enrolled student no correct_answer');
select set_config('t.attempt', api.attempt_start(current_setting('t.quiz')::uuid) ->> 'attempt_id', false);
select ok(not jsonb_path_exists(api.attempt_start(current_setting('t.quiz')::uuid), '$.questions[*].correct_answer'),
          'attempt.start gives no correct_answer');
select is(api.attempt_start(current_setting('t.quiz')::uuid) ->> 'attempt_id', current_setting('t.attempt'),
          'starting again returns the open attempt');
select throws_ok($$ insert into app.quiz_attempts (user_id, quiz_id, attempt_number, status, submitted_at, score)
                   values (app.current_user_id(), current_setting('t.quiz')::uuid, 9, 'submitted', now(), 100) $$,
                 '42501', null, 'a student cannot forge an attempt with direct SQL');
select throws_ok($$ select api.attempt_submit(current_setting('t.attempt')::uuid,
                   jsonb_build_object(gen_random_uuid()::text, 'x')) $$,
                 'LM422', null, 'an answer for an unknown question id is 422 invalid_answer');
select throws_ok($$ select api.attempt_submit(current_setting('t.attempt')::uuid, jsonb_build_object(
                   current_setting('t.q2'), 'true', upper(current_setting('t.q2')), 'true',
                   replace(current_setting('t.q2'), '-', ''), 'true')) $$,
                 'LM422', null, 'one question answered under several spellings of its id is 422 invalid_answer');
select is(api.attempt_submit(current_setting('t.attempt')::uuid, jsonb_build_object(
            current_setting('t.q1'), 'b', current_setting('t.q2'), 'false', current_setting('t.q3'), '  new   york ')),
          jsonb_build_object('attempt_id', current_setting('t.attempt')::uuid, 'status', 'submitted', 'score', 75,
                             'passed', true, 'points_earned', 3, 'points_total', 4, 'passing_score_percentage', 70),
          'attempt.submit grades in the database (short answer normalised) → 3 of 4 = 75, passed');
select throws_ok($$ select api.attempt_submit(current_setting('t.attempt')::uuid, '{}') $$,
                 'LM409', null, 'submitting the same attempt twice is 409 already_submitted');
select is(api.attempt_list_mine(current_setting('t.quiz')::uuid) -> 0 -> 'answers',
          jsonb_build_object(current_setting('t.q1'), 'b', current_setting('t.q2'), 'false',
                             current_setting('t.q3'), '  new   york '),
          'attempt.list_mine gives the student their answers, without per-question correctness');
select throws_ok($$ select grading from app.quiz_attempts $$, '42501', null,
                 'a student (lms_api) cannot select quiz_attempts.grading of their own attempt');

-- a second quiz (no attempts by stu2 there) and the attempt limit
select tests.authenticate_as('stu2');
select throws_ok($$ select api.attempt_submit(current_setting('t.attempt')::uuid, '{}') $$,
                 'LM404', null, 'another student''s attempt is 404 for stu2');
select is((select count(*)::integer from app.quiz_attempts a where a.user_id = tests.user_id('stu')), 0,
          'stu2 cannot read stu''s attempts with direct SQL');
select is(jsonb_array_length(api.attempt_list_mine(current_setting('t.quiz')::uuid)), 0,
          'attempt.list_mine shows stu2 none of stu''s attempts');
select throws_ok($$ select api.attempt_list_for_quiz(current_setting('t.quiz')::uuid) $$,
                 'LM403', null, 'a student cannot list every attempt of a quiz');
select lives_ok($$ select api.attempt_submit((api.attempt_start(current_setting('t.quiz')::uuid) ->> 'attempt_id')::uuid, '{}') $$,
                'stu2 uses attempt 1 of 2');
select lives_ok($$ select api.attempt_submit((api.attempt_start(current_setting('t.quiz')::uuid) ->> 'attempt_id')::uuid, '{}') $$,
                'stu2 uses attempt 2 of 2');
select is(api.attempt_start(current_setting('t.quiz')::uuid) -> 'error',
          '{"code": 422, "reason": "attempt_limit_reached", "message": "no attempts left for this quiz (2 allowed)"}',
          'a third start with max_attempts 2 is 422 attempt_limit_reached');

select tests.authenticate_as('outsider');
select throws_ok($$ select api.attempt_start(current_setting('t.quiz')::uuid) $$,
                 'LM403', null, 'a student who is not enrolled cannot start an attempt (403 not_enrolled)');
select throws_ok($$ select api.quiz_get(current_setting('t.quiz')::uuid) $$,
                 'LM404', null, 'quiz.get is 404 for a student who is not enrolled');
select is((select count(*)::integer from app.quizzes), 0, 'a student who is not enrolled sees no quizzes with direct SQL');

select tests.authenticate_as('inst2');
select is((select count(*)::integer from app.quiz_attempts a where a.quiz_id = current_setting('t.quiz')::uuid), 0,
          'another course''s instructor sees none of this quiz''s attempts');
select throws_ok($$ select internal.quiz_attempts_graded(current_setting('t.quiz')::uuid) $$,
                 'LM404', null, 'another course''s instructor gets no per-question grading (404)');
select tests.authenticate_as('inst');
select is((select count(*)::integer from app.quiz_attempts a where a.quiz_id = current_setting('t.quiz')::uuid), 3,
          'the course''s instructor sees every attempt of the quiz');
select tests.authenticate_as('adm');
select is(jsonb_array_length(api.attempt_list_for_quiz(current_setting('t.quiz')::uuid)), 3,
          'an admin lists every attempt of the quiz');
select is((select a -> 'grading' -> current_setting('t.q2')
           from jsonb_array_elements(api.attempt_list_for_quiz(current_setting('t.quiz')::uuid)) a
           where a ->> 'attempt_id' = current_setting('t.attempt')),
          '{"answer": "false", "correct": false, "points_earned": 0, "points": 1}',
          'attempt.list_for_quiz gives an admin the per-question grading');
select ok(api.quiz_get(current_setting('t.quiz')::uuid) -> 'questions' -> 0 ? 'correct_answer',
          'an admin gets correct_answer from quiz.get');

-- ---------------------------------------------------------------- assignments and submissions
select tests.authenticate_as('inst');
select set_config('t.asg', api.assignment_create(course_id => 'c1000000-0000-4000-8000-000000000001', title => 'Essay',
                  points => 10) ->> 'id', false);
select tests.authenticate_as('stu');
select set_config('t.sub', api.submission_submit(current_setting('t.asg')::uuid, content => 'my essay') ->> 'id', false);
select lives_ok($$ update app.submissions set grade = 10, graded_at = now() where id = current_setting('t.sub')::uuid $$,
                'a student''s direct grade update runs …');
select is((select s.grade from app.submissions s where s.id = current_setting('t.sub')::uuid), null,
          '… but changes nothing: only the course''s instructor may grade (RLS)');
select tests.authenticate_as('stu2');
select is((select count(*)::integer from app.submissions s where s.user_id = tests.user_id('stu')), 0,
          'stu2 cannot read stu''s submission with direct SQL');
select throws_ok($$ select api.submission_list_for_assignment(current_setting('t.asg')::uuid) $$,
                 'LM403', null, 'a student cannot list the submissions of an assignment');
select tests.authenticate_as('inst');
select is((api.submission_grade(current_setting('t.sub')::uuid, 8, 'good') ->> 'grade')::numeric, 8::numeric,
          'the instructor grades a submission');
select throws_ok($$ select api.submission_grade(current_setting('t.sub')::uuid, 11) $$,
                 'LM422', null, 'a grade above the assignment''s points is 422');
select throws_ok($$ update app.submissions set grade = 11 where id = current_setting('t.sub')::uuid $$,
                 'LM422', null, 'a direct UPDATE of a grade above the points is 422 too (constraint trigger)');
select throws_ok($$ select api.assignment_update(current_setting('t.asg')::uuid, points => 7) $$,
                 'LM422', null, 'assignment.update cannot lower points below a grade already given');
select throws_ok($$ update app.assignments set points = 7 where id = current_setting('t.asg')::uuid $$,
                 'LM422', null, 'nor can a direct UPDATE of the points');
select tests.authenticate_as('inst2');
select throws_ok($$ select api.submission_grade(current_setting('t.sub')::uuid, 5) $$,
                 'LM404', null, 'another instructor cannot even see the submission (404)');


-- ---------------------------------------------------------------- submits need enrollment and a published quiz
select tests.authenticate_as('stu');
select set_config('t.attempt2', api.attempt_start(current_setting('t.quiz')::uuid) ->> 'attempt_id', false);
select tests.as_owner(format($$ update app.enrollments set is_active = false, dropped_at = now()
                                where user_id = %L $$, tests.user_id('stu')));
select throws_ok($$ select api.attempt_submit(current_setting('t.attempt2')::uuid, '{}') $$,
                 'LM403', null, 'a student who dropped the course cannot submit (403 not_enrolled)');
select tests.as_owner(format($$ update app.enrollments set is_active = true, dropped_at = null
                                where user_id = %L $$, tests.user_id('stu')));
select tests.authenticate_as('inst');
select api.quiz_unpublish(current_setting('t.quiz')::uuid);
select tests.authenticate_as('stu');
select throws_ok($$ select api.attempt_submit(current_setting('t.attempt2')::uuid, '{}') $$,
                 'LM422', null, 'nobody submits to an unpublished quiz (422 quiz_not_published)');
select is(api.gradebook_mine('c1000000-0000-4000-8000-000000000001') -> 'quizzes', '[]',
          'gradebook.mine lists no unpublished quiz');

-- ---------------------------------------------------------------- invisible is 404, visible but not allowed 403
select tests.as_owner(format($$
  insert into app.courses (id, instructor_id, title) values ('c1000000-0000-4000-8000-000000000003', %L, 'Draft three');
  $$, tests.user_id('inst2')));
select tests.authenticate_as('inst');
select throws_ok($$ select api.assignment_list('c1000000-0000-4000-8000-0000000000ff') $$,
                 'LM404', null, 'assignment.list of an unknown course is 404');
select throws_ok($$ select api.assignment_list('c1000000-0000-4000-8000-000000000003') $$,
                 'LM404', null, 'assignment.list of another instructor''s unpublished course is 404');
select throws_ok($$ select api.assignment_list('c1000000-0000-4000-8000-000000000002') $$,
                 'LM403', null, 'assignment.list of a visible course the caller is not in stays 403 not_enrolled');
select throws_ok($$ select api.quiz_list('c1000000-0000-4000-8000-000000000003') $$,
                 'LM404', null, 'quiz.list of an invisible course is 404');
select throws_ok($$ select api.gradebook_course('c1000000-0000-4000-8000-000000000003') $$,
                 'LM404', null, 'gradebook.course (SECURITY DEFINER) of an invisible course is 404, not 403');
select throws_ok($$ select api.gradebook_course('c1000000-0000-4000-8000-000000000002') $$,
                 'LM403', null, 'gradebook.course of a visible course of another instructor stays 403');
select throws_ok($$ select api.gradebook_mine('c1000000-0000-4000-8000-000000000003') $$,
                 'LM404', null, 'gradebook.mine of an invisible course is 404');
select throws_ok($$ select api.enrollment_list_for_course('c1000000-0000-4000-8000-000000000003') $$,
                 'LM404', null, 'enrollment.list_for_course of an invisible course is 404');
select throws_ok($$ select api.attempt_list_mine(gen_random_uuid()) $$,
                 'LM404', null, 'attempt.list_mine of an unknown quiz is 404');
select tests.authenticate_as('outsider');
select throws_ok($$ select api.attempt_list_mine(current_setting('t.quiz')::uuid) $$,
                 'LM404', null, 'attempt.list_mine of a quiz the caller cannot see is 404');

-- ---------------------------------------------------------------- one update rule: omitted stays, explicit null clears
select tests.authenticate_as('inst');
select lives_ok($$ select api.quiz_update(current_setting('t.quiz')::uuid, time_limit_minutes => 30, description => 'timed') $$,
                'the instructor sets a time limit and a description');
select set_config('lms.given', ',quiz_id,title,', true);
select is(api.quiz_update(quiz_id => current_setting('t.quiz')::uuid, title => 'Renamed', max_attempts => null) ->> 'max_attempts',
          '2', 'quiz.update: a param the request did not contain stays unchanged');
select set_config('lms.given', ',quiz_id,max_attempts,time_limit_minutes,lesson_id,description,', true);
select is(api.quiz_update(quiz_id => current_setting('t.quiz')::uuid, max_attempts => null, time_limit_minutes => null,
                          lesson_id => null, description => null)
            - array['id', 'quiz_id', 'course_id', 'is_published', 'created_at', 'updated_at', 'module_id', 'module_position',
                    'shuffle_questions', 'shuffle_options', 'partial_credit', 'grade_category_id', 'grade_posting',
                    'grades_posted_at'],
          jsonb_build_object('title', 'Renamed', 'description', null, 'lesson_id', null, 'time_limit_minutes', null,
                             'max_attempts', null, 'passing_score_percentage', 70),
          'quiz.update: explicit nulls clear description, lesson_id, time_limit_minutes and max_attempts');
select set_config('lms.given', ',question_id,options,', true);
select throws_ok($$ select api.quiz_update_question(question_id => current_setting('t.q1')::uuid, options => null) $$,
                 'LM422', null, 'quiz.update_question: clearing the options of a multiple-choice question is 422');
select set_config('lms.given', ',assignment_id,due_date,', true);
select lives_ok($$ select api.assignment_update(current_setting('t.asg')::uuid, due_date => null) $$,
                'assignment.update with an explicit null due_date runs');
select set_config('lms.given', '', true);
select lives_ok($$ select api.assignment_update(current_setting('t.asg')::uuid, due_date => now() + interval '1 day',
                                                lesson_id => 'a1000000-0000-4000-8000-000000000001') $$,
                'without lms.given (direct SQL) given values are written');
select is(api.assignment_update(current_setting('t.asg')::uuid, due_date => null) ->> 'lesson_id',
          'a1000000-0000-4000-8000-000000000001', 'without lms.given a null changes nothing');
select set_config('lms.given', ',assignment_id,due_date,lesson_id,', true);
select is(api.assignment_update(current_setting('t.asg')::uuid, due_date => null, lesson_id => null) - array['id', 'assignment_id',
            'course_id', 'title', 'description', 'points', 'allow_late_submission', 'late_penalty_percentage', 'created_at', 'updated_at', 'module_id', 'module_position',
            'grade_category_id', 'grade_posting', 'grades_posted_at'],
          '{"due_date": null, "lesson_id": null}', 'assignment.update: explicit nulls clear due_date and lesson_id');
select set_config('lms.given', '', true);

-- ---------------------------------------------------------------- nobody grades their own submission
select tests.as_owner(format($$ insert into app.enrollments (user_id, course_id) values (%L, 'c1000000-0000-4000-8000-000000000001') $$,
                             tests.user_id('inst')));
select tests.authenticate_as('inst');
select set_config('t.own', api.submission_submit(current_setting('t.asg')::uuid, content => 'my own work') ->> 'id', false);
select throws_ok($$ select api.submission_grade(current_setting('t.own')::uuid, 10) $$,
                 'LM403', 'nobody grades their own submission', 'an instructor enrolled in their own course cannot grade their own submission');
select throws_ok($$ update app.submissions set grade = 10, graded_at = now(), graded_by = app.current_user_id()
                   where id = current_setting('t.own')::uuid $$,
                 '23514', null, 'nor by a direct UPDATE (ck_submissions_not_self_graded)');
select tests.authenticate_as('adm');
select is((api.submission_grade(current_setting('t.own')::uuid, 9) ->> 'grade')::numeric, 9::numeric,
          'an admin grades the instructor''s submission');

select * from finish();
rollback;
