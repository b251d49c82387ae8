-- Learning and credentials: enrollments, lesson progress and certificates under RLS for the
-- student, another student, the instructor, another instructor, an admin and anonymous;
-- no direct writes; progress, completion (lessons + published quizzes) and certificates.
\set ON_ERROR_STOP 1
begin;
select tests.plan(60);

-- Structure -----------------------------------------------------------------------------------
select policies_are('app', 'enrollments', array['select_own_instructor_admin'],
  'enrollments: a select policy only (writes go through the functions)');
select policy_cmd_is('app', 'enrollments', 'select_own_instructor_admin', 'select', 'enrollments policy is for SELECT');
select policies_are('app', 'lesson_progress', array['select_own_instructor_admin'],
  'lesson_progress: a select policy only');
select policy_cmd_is('app', 'lesson_progress', 'select_own_instructor_admin', 'select', 'lesson_progress policy is for SELECT');
select policies_are('app', 'certificates', array['select_holder_instructor_admin', 'update_admin'],
  'certificates: select, and update (revoke) for admins');
select policy_cmd_is('app', 'certificates', 'select_holder_instructor_admin', 'select', 'certificates select policy is for SELECT');
select policy_cmd_is('app', 'certificates', 'update_admin', 'update', 'certificates update policy is for UPDATE');
select is_definer('internal', 'refresh_progress', array['uuid', 'uuid'], 'refresh_progress is SECURITY DEFINER');
select is_definer('internal', 'issue_certificate', array['uuid'], 'issue_certificate is SECURITY DEFINER');
select function_returns('internal', 'refresh_progress', array['uuid', 'uuid'], 'jsonb', 'refresh_progress returns jsonb');
select function_returns('internal', 'issue_certificate', array['uuid'], 'uuid', 'issue_certificate returns uuid');

-- Fixtures ------------------------------------------------------------------------------------
select tests.create_user('ina', 'instructor') is not null as ok \gset
select tests.create_user('ivo', 'instructor') is not null as ok \gset
select tests.create_user('sam') is not null as ok \gset
select tests.create_user('pia') is not null as ok \gset
select tests.create_user('ada', 'admin') is not null as ok \gset

select tests.authenticate_as('ina');
select api.course_create(title => 'Free course', price_cents => 0) ->> 'id' as course \gset
select api.course_create(title => 'Paid course', price_cents => 4900) ->> 'id' as paid \gset
select api.lesson_create(course_id => :'course', title => 'A', content => 'a') ->> 'id' as la \gset
select api.lesson_create(course_id => :'course', title => 'B', content => 'b') ->> 'id' as lb \gset
select api.lesson_create(course_id => :'course', title => 'C', content => 'c') ->> 'id' as lc \gset
select api.lesson_create(course_id => :'paid', title => 'P', content => 'p') ->> 'id' as lp \gset
select api.lesson_publish(:'la') is not null as ok, api.lesson_publish(:'lb') is not null as ok,
       api.lesson_publish(:'lc') is not null as ok, api.lesson_publish(:'lp') is not null as ok \gset
select api.course_publish(:'course') is not null as ok, api.course_publish(:'paid') is not null as ok \gset
-- A published quiz of the course (assessment functions are another domain's: rows as owner).
select tests.as_owner(format($$insert into app.quizzes (id, course_id, title, is_published)
                               values ('00000000-0000-0000-0000-0000000000a1', %L, 'Final quiz', true)$$, :'course'));

-- ==== student: enrolling =====================================================================
select tests.authenticate_as('sam');
select api.enrollment_enroll(:'course') ->> 'id' as enrollment \gset
select is(api.enrollment_enroll(:'course') ->> 'id', :'enrollment', 'enrolling again returns the same enrollment');
select is((select count(*)::int from app.enrollments e where e.course_id = :'course'), 1, 'one enrollment row');
select throws_ok(format($$select api.enrollment_enroll(%L)$$, :'paid'), 'LM422', 'this course is paid: buy it with order.create',
  'a paid course needs payment (422 payment_required)');
select throws_ok(format($$insert into app.enrollments (user_id, course_id) values (%L, %L)$$, tests.user_id('sam'), :'paid'),
  '42501', null, 'a student cannot enroll by direct INSERT (e.g. in a paid course)');
select throws_ok(format($$update app.enrollments set progress_percentage = 100 where id = %L$$, :'enrollment'),
  '42501', null, 'a student cannot set progress by direct UPDATE');
select throws_ok(format($$insert into app.lesson_progress (enrollment_id, lesson_id, user_id) values (%L, %L, %L)$$,
                        :'enrollment', :'la', tests.user_id('sam')),
  '42501', null, 'a student cannot write progress by direct INSERT');

-- ==== student: progress ========================================================================
select is(api.lesson_complete(:'la'), '{"progress_percentage": 33, "completed": false}'::jsonb, 'one of three lessons: 33%');
select is(api.lesson_complete(:'la'), '{"progress_percentage": 33, "completed": false}'::jsonb, 'completing again is idempotent');
select is(api.lesson_complete(:'lb'), '{"progress_percentage": 66, "completed": false}'::jsonb, 'two of three: 66%');
select is(api.enrollment_drop(:'course') ->> 'is_active', 'false', 'the student drops the course');
select throws_ok(format($$select api.lesson_complete(%L)$$, :'lc'), 'LM403', null, 'a dropped student cannot complete lessons');
select is((select count(*)::int from app.lesson_progress lp where lp.enrollment_id = :'enrollment'), 2, 'dropping keeps progress rows');
select is(api.enrollment_enroll(:'course') ->> 'is_active', 'true', 'enrolling again re-activates the enrollment');
select is((api.enrollment_enroll(:'course') ->> 'progress_percentage')::int, 66, '… with its progress');
select is(api.lesson_complete(:'lc'), '{"progress_percentage": 100, "completed": false}'::jsonb,
  'all lessons done but the published quiz not passed: not completed');
select is_empty($$select * from app.certificates$$, 'no certificate yet');
select tests.as_owner(format($$insert into app.quiz_attempts (user_id, quiz_id, attempt_number, status, submitted_at, score,
                                passed, points_earned, points_total)
                               values (%L, '00000000-0000-0000-0000-0000000000a1', 1, 'submitted', now(), 40, false, 2, 5)$$,
                             tests.user_id('sam')));
select is(internal.refresh_progress(tests.user_id('sam'), :'course') ->> 'completed', 'false', 'a failed attempt does not complete');
select tests.as_owner(format($$insert into app.quiz_attempts (user_id, quiz_id, attempt_number, status, submitted_at, score,
                                passed, points_earned, points_total)
                               values (%L, '00000000-0000-0000-0000-0000000000a1', 2, 'submitted', now(), 100, true, 5, 5)$$,
                             tests.user_id('sam')));
select is(internal.refresh_progress(tests.user_id('sam'), :'course'), '{"progress_percentage": 100, "completed": true}'::jsonb,
  'a passed attempt of the published quiz completes the course');
select isnt((select e.completed_at from app.enrollments e where e.id = :'enrollment'), null, 'completed_at is set');
select is((select count(*)::int from app.certificates c where c.enrollment_id = :'enrollment'), 1, 'a certificate was issued');
select matches((select c.certificate_number from app.certificates c where c.enrollment_id = :'enrollment'),
  '^LMS-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}$', 'the number has the LMS-XXXX-XXXX-XXXX-XXXX format');
select (select c.certificate_number from app.certificates c where c.enrollment_id = :'enrollment') as number \gset
select is(api.lesson_complete(:'la') ->> 'completed', 'true', 'completing a lesson again keeps the course completed');
select is((select count(*)::int from app.certificates), 1, 'still one certificate');
select throws_ok(format($$select internal.issue_certificate(%L)$$, :'enrollment'), '42501', null,
  'clients cannot call issue_certificate');
select throws_ok(format($$select internal.refresh_progress(%L, %L)$$, tests.user_id('pia'), :'course'), 'LM403', null,
  'a student cannot refresh another student''s progress');
select is(jsonb_array_length(api.certificate_list_mine()), 1, 'the holder lists their certificate');
select is_empty(format($$update app.certificates set revoked_at = now(), revoked_reason = 'x' where certificate_number = %L returning id$$, :'number'),
  'the holder cannot revoke by direct UPDATE');
select throws_ok(format($$select api.certificate_revoke(%L, 'x')$$, :'number'), 'LM403', null, 'a student cannot revoke');

-- ==== another student ===========================================================================
select tests.authenticate_as('pia');
select is_empty($$select * from app.enrollments$$, 'another student sees no one else''s enrollments');
select is_empty($$select * from app.lesson_progress$$, 'another student sees no one else''s progress');
select is_empty($$select * from app.certificates$$, 'another student sees no one else''s certificates');
select is(internal.is_actively_enrolled(tests.user_id('sam'), :'course'), false,
  'is_actively_enrolled reveals nothing about other students to a student');
select throws_ok(format($$select api.enrollment_list_for_course(%L)$$, :'course'), 'LM403', null,
  'a student cannot list a course''s enrollments');

-- ==== instructor of the course ===================================================================
select tests.authenticate_as('ina');
select is((select count(*)::int from app.enrollments e where e.course_id = :'course'), 1, 'the instructor sees enrollments of their course');
select is((select count(*)::int from app.lesson_progress), 3, 'the instructor sees progress in their course');
select is((select count(*)::int from app.certificates), 1, 'the instructor sees certificates of their course');
select is(api.enrollment_list_for_course(:'course') -> 0 -> 'student' ->> 'full_name', 'Sam',
  'enrollment.list_for_course names the students');
select is(internal.is_actively_enrolled(tests.user_id('sam'), :'course'), true, 'the instructor can check an enrollee');
select throws_ok(format($$select api.course_delete(%L)$$, :'course'), 'LM409', null,
  'the instructor cannot delete a course with enrollments');

-- ==== other instructor ===========================================================================
select tests.authenticate_as('ivo');
select is_empty($$select * from app.enrollments$$, 'another instructor sees no enrollments of courses they do not teach');
select is_empty($$select * from app.certificates$$, 'another instructor sees no certificates of courses they do not teach');
select throws_ok(format($$select api.enrollment_list_for_course(%L)$$, :'course'), 'LM403', null,
  'another instructor cannot list the enrollments (403 not_course_owner)');

-- ==== anonymous =================================================================================
select tests.clear_authentication();
select is_empty($$select * from app.enrollments$$, 'anonymous sees no enrollments');
select is(api.certificate_verify(lower(:'number')) - 'certificate_number' - 'revoked_at' - 'issued_at',
  '{"valid": true, "holder_name": "Sam", "course_title": "Free course"}'::jsonb, 'anyone verifies a certificate');
select throws_ok($$select api.certificate_verify('LMS-0000-0000-0000-0000')$$, 'LM404', null, 'an unknown number is 404');
select throws_ok(format($$select api.enrollment_enroll(%L)$$, :'course'), 'LM401', null, 'anonymous cannot enroll');

-- ==== admin =====================================================================================
select tests.authenticate_as('ada');
select is((select count(*)::int from app.enrollments), 1, 'admin sees all enrollments');
select is(api.certificate_revoke(:'number', 'plagiarism') ->> 'valid', 'false', 'admin revokes a certificate');
select tests.clear_authentication();
select is(api.certificate_verify(:'number') ->> 'valid', 'false', 'verify then shows valid: false');

select * from finish();
rollback;
