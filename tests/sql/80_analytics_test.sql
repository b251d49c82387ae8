-- pg_prove user: lms_test_analyst
-- Analysts cannot become anyone else (issue 18 §3): as a real analyst login linked to a student,
-- every impersonation route fails — SET lms.user_id / set_config, SET ROLE to every project role,
-- SET SESSION AUTHORIZATION, api.* / internal.* / SECURITY DEFINER functions beyond the allowlist,
-- writes through views and tables, partitions.* directly, temp objects shadowing names.
-- (The table × caller × operation matrix is tests/test_analytics_matrix.py: it needs several logins.)
\set ON_ERROR_STOP 1
begin;
select tests.plan(42);

select tests.create_user('sia', 'student') is not null as ok \gset
select tests.create_user('eve', 'student') is not null as ok \gset
select tests.create_user('ada', 'admin') is not null as ok \gset
select tests.create_user('ina', 'instructor') is not null as ok \gset
select tests.as_owner(format($$
  insert into app.courses (id, instructor_id, title) values ('00000000-0000-0000-0000-00000000c0c1', %L, 'Secret course');
  insert into app.enrollments (user_id, course_id) values (%L, '00000000-0000-0000-0000-00000000c0c1');
$$, tests.user_id('ina'), tests.user_id('eve')));
select tests.link_login_to('sia');

-- 1. The identity setting --------------------------------------------------------------------
select set_config('lms.user_id', tests.user_id('ada')::text, false);
select is(app.current_user_id(), tests.user_id('sia'), 'set_config(lms.user_id) to an admin: still the linked student');
select is(internal.is_admin(), false, 'and not an admin');
set lms.user_id = '00000000-0000-0000-0000-000000000000';
select is(app.current_user_id(), tests.user_id('sia'), 'SET lms.user_id: still the linked student');
select is((select count(*)::int from app.users), 1, 'RLS still shows one user row (their own)');
select is((select count(*)::int from app.enrollments), 0, 'and none of eve''s enrollments');
reset lms.user_id;

-- 2. SET ROLE to every project role, and SET SESSION AUTHORIZATION ----------------------------
select is(array(select r.rolname::text from pg_roles r where r.rolname like 'lms\_%' and r.rolname <> 'lms_test_analyst'
                and not r.rolcanlogin or r.rolname = 'lms_authenticator' order by 1),
          array['lms_analyst', 'lms_api', 'lms_authenticator', 'lms_definer', 'lms_owner', 'lms_webhook'],
          'the project roles (a new one must be added to the SET ROLE checks below)');
select throws_ok('set role lms_owner', '42501', null, 'SET ROLE lms_owner is refused');
select throws_ok('set role lms_definer', '42501', null, 'SET ROLE lms_definer is refused');
select throws_ok('set role lms_api', '42501', null, 'SET ROLE lms_api is refused');
select throws_ok('set role lms_authenticator', '42501', null, 'SET ROLE lms_authenticator is refused');
select throws_ok('set role lms_webhook', '42501', null, 'SET ROLE lms_webhook is refused');
select throws_ok($$select set_config('role', 'lms_api', true)$$, '42501', null, 'set_config(role, lms_api) is refused');
select throws_ok('set role postgres', '42501', null, 'SET ROLE postgres is refused');
select throws_ok('set session authorization lms_authenticator', '42501', null, 'SET SESSION AUTHORIZATION is refused');
select throws_ok($$select set_config('session_authorization', 'postgres', true)$$, '42501', null,
                 'set_config(session_authorization) is refused');
select lives_ok('set local role lms_analyst', 'SET ROLE lms_analyst (its own group) is allowed ...');
select is(app.current_user_id(), tests.user_id('sia'), '... and changes nothing: the mapping is by session_user');
reset role;

-- 3. Functions: no api.*, internal.* only the allowlist, every executable SECURITY DEFINER known -
select is_empty($$select p.oid from pg_proc p where p.pronamespace = 'api'::regnamespace
                 and has_function_privilege(p.oid, 'execute')$$, 'no api.* function is executable by an analyst');
select is(array(select p.oid::regprocedure::text from pg_proc p
                where p.pronamespace in ('internal'::regnamespace, 'app'::regnamespace)
                  and has_function_privilege(p.oid, 'execute') order by 1),
          array['app.current_user_id()', 'internal.analyst_user_id()', 'internal.analytics_course_grades()',
                'internal.analytics_my_certificates()',
                'internal.analytics_quiz_item_stats()', 'internal.can_manage_course(uuid)',
                'internal.can_read_lesson_content(uuid,boolean)', 'internal.current_user_role()',
                'internal.effective_grade(numeric,boolean,integer)', 'internal.effective_late_penalty(uuid,uuid,integer)',
                'internal.error_catalogue()', 'internal.held_back_item_ids()',
                'internal.instructor_name(uuid)', 'internal.is_actively_enrolled(uuid,uuid)', 'internal.is_admin()',
                'internal.lesson_content(uuid)', 'internal.module_states(uuid,uuid)', 'internal.my_course_ids()',
                'internal.my_drawn_question_ids()', 'internal.my_enrolled_course_ids()',
                'internal.my_managed_assignment_ids()', 'internal.my_managed_quiz_ids()'],
          'an analyst may execute exactly these app/internal functions (each answers for the caller only)');
select throws_ok($$select api.course_create(title => 'x')$$, '42501', null, 'api.course_create is refused');
select throws_ok($$select api.user_me()$$, '42501', null, 'api.user_me is refused');
select throws_ok($$select internal.set_caller(tests.user_id('ada'), null, null)$$, '42501', null,
                 'internal.set_caller (the server''s identity switch) is refused');
select throws_ok($$select internal.issue_certificate(gen_random_uuid())$$, '42501', null, 'internal.issue_certificate is refused');
select throws_ok($$select internal.quiz_attempts_graded(gen_random_uuid())$$, '42501', null, 'internal.quiz_attempts_graded is refused');
select throws_ok($$select internal.payment_event_apply('{}')$$, '42501', null, 'internal.payment_event_apply is refused');
select is(internal.can_manage_course('00000000-0000-0000-0000-00000000c0c1'), false, 'can_manage_course answers for the linked student');
select is_empty($$select * from internal.analytics_quiz_item_stats()$$, 'quiz item stats: nothing for a student');

-- 4. Writes, through tables and views -----------------------------------------------------------
select throws_ok($$update app.users set full_name = 'x'$$, '42501', null, 'UPDATE app.users is refused');
select throws_ok($$delete from app.enrollments$$, '42501', null, 'DELETE app.enrollments is refused');
select throws_ok(format($$insert into app.enrollments (user_id, course_id) values (%L, '00000000-0000-0000-0000-00000000c0c1')$$,
                        tests.user_id('sia')), '42501', null, 'INSERT app.enrollments is refused');
select throws_ok(format($$insert into app.analyst_logins (login_name, user_id) values ('x', %L)$$, tests.user_id('ada')),
                 '42501', null, 'INSERT into the analyst mapping is refused');
select throws_ok($$update app.analyst_logins set user_id = user_id$$, '42501', null, 'UPDATE of the analyst mapping is refused');
select throws_ok($$delete from analytics.quiz_best_scores$$, '55000', null, 'DELETE through an analytics view is refused');
select throws_ok($$update analytics.assignment_grades set grade = 100$$, '55000', null, 'UPDATE through an analytics view is refused');
select throws_ok($$insert into analytics.my_certificates (id) values (gen_random_uuid())$$, '55000', null,
                 'INSERT through an analytics view is refused');

select is_empty($$select c.oid from pg_class c where c.relnamespace = 'analytics'::regnamespace
                   and has_table_privilege(c.oid, 'insert, update, delete, truncate, references, trigger')$$,
                'no write privilege on any analytics view');

-- 5. Partitions, schemas, temp objects ----------------------------------------------------------
select throws_ok($$select * from partitions.quiz_attempts_default$$, '42501', null, 'partitions.* cannot be read directly');
select throws_ok($$create table app.t (id int)$$, '42501', null, 'no CREATE in app');
create temp table users (id uuid, role text);
insert into users values (tests.user_id('eve'), 'admin');
create function pg_temp.current_user_id() returns uuid language sql as $$ select tests.user_id('ada') $$;
create function pg_temp.is_admin() returns boolean language sql as $$ select true $$;
set local search_path = pg_temp, app, internal, public;
select is(app.current_user_id(), tests.user_id('sia'), 'a temp current_user_id() shadows nothing qualified');
select is(internal.is_admin(), false, 'a temp is_admin() and a temp users table do not make the analyst an admin');
select is((select count(*)::int from app.users), 1, 'policies still show only the linked user''s row');
select is((select count(*)::int from app.courses), 0, 'and not the unpublished course of another instructor');

select * from finish();
rollback;
