-- Credentials: certificates as direct SQL under RLS for the holder, another student, the course's
-- instructor, another instructor, an admin and anonymous. A certificate is issued in the
-- transaction that completes the enrollment; its number is unique and drawn at random; only its
-- holder (and the course's instructor, admins) may read it; only an admin revokes, after which
-- verify says valid: false. (The analyst side: 70_credentials_analyst_test.sql.)
\set ON_ERROR_STOP 1
begin;
select tests.plan(46);

-- Structure -----------------------------------------------------------------------------------
select policies_are('app', 'certificates', array['select_holder_instructor_admin', 'update_admin'],
  'certificates: a select policy and an update (revoke) policy, no insert or delete');
select policy_roles_are('app', 'certificates', 'update_admin', array['lms_api'],
  'only the API role has an update policy on certificates');
select ok(not has_table_privilege('lms_api', 'app.certificates', 'insert')
          and not has_table_privilege('lms_analyst', 'app.certificates', 'insert'),
  'no client role may insert certificates');
select ok(not has_table_privilege('lms_api', 'app.certificates', 'delete'),
  'no client role may delete certificates');
select ok(not has_column_privilege('lms_api', 'app.certificates', 'certificate_number', 'update')
          and not has_column_privilege('lms_api', 'app.certificates', 'user_id', 'update'),
  'the API role may update only the revocation columns (not the number or the holder)');
select ok(not has_function_privilege('lms_api', 'internal.issue_certificate(uuid)', 'execute'),
  'clients cannot execute internal.issue_certificate');
select ok(not has_function_privilege('lms_analyst', 'api.certificate_revoke(text, text)', 'execute'),
  'analysts cannot call certificate.revoke');
select ok((select p.prosrc ~ 'gen_random_bytes\(8\)' from pg_proc p
           where p.oid = 'internal.issue_certificate(uuid)'::regprocedure),
  'the number is drawn from 8 random bytes, not from a sequence or the ids');

-- Fixtures: a free published course of two lessons; sam and pia enroll ----------------------
select tests.create_user('ina', 'instructor') is not null as ok \gset
select tests.create_user('ivo', 'instructor') is not null as ok \gset
select tests.create_user('sam') is not null as ok \gset
select tests.create_user('pia') is not null as ok \gset
select tests.create_user('ada', 'admin') is not null as ok \gset

select tests.authenticate_as('ina');
select api.course_create(title => 'Cryptography', price_cents => 0) ->> 'id' as course \gset
select api.lesson_create(course_id => :'course', title => 'A', content => 'a') ->> 'id' as la \gset
select api.lesson_create(course_id => :'course', title => 'B', content => 'b') ->> 'id' as lb \gset
select api.lesson_publish(:'la') is not null as ok, api.lesson_publish(:'lb') is not null as ok \gset
select api.course_publish(:'course') is not null as ok \gset

-- ==== holder: issued with the completion ========================================================
select tests.authenticate_as('sam');
select api.enrollment_enroll(:'course') ->> 'id' as sam_enrollment \gset
select is(api.lesson_complete(:'la') ->> 'completed', 'false', 'one lesson of two: not completed');
select is_empty($$select * from app.certificates$$, 'no certificate before the course is completed');
select throws_ok(format($$select tests.as_owner(%L)$$, format('select internal.issue_certificate(%L)', :'sam_enrollment')),
  'LM422', null, 'no certificate for an enrollment that is not completed (422 course_not_completed)');
select throws_ok(format($$insert into app.certificates (certificate_number, user_id, course_id, enrollment_id, holder_name,
                                                        course_title, issued_at)
                          values ('LMS-0000-0000-0000-0001', %L, %L, %L, 'Sam', 'Cryptography', now())$$,
                        tests.user_id('sam'), :'course', :'sam_enrollment'),
  '42501', null, 'a student cannot issue a certificate by direct INSERT');
select is(api.lesson_complete(:'lb') ->> 'completed', 'true', 'the last lesson completes the course');
select is((select count(*)::int from app.certificates c where c.enrollment_id = :'sam_enrollment'), 1,
  'the completing call issued the certificate');
select is((select c.issued_at from app.certificates c where c.enrollment_id = :'sam_enrollment'),
          (select e.completed_at from app.enrollments e where e.id = :'sam_enrollment'),
  'issued_at is the completion time');
select is((select c.issued_at from app.certificates c where c.enrollment_id = :'sam_enrollment'), now(),
  '… and both are this transaction''s time: issued in the transaction that completed the course');
select results_eq(
  format($$select c.user_id, c.course_id, c.holder_name, c.course_title from app.certificates c where c.enrollment_id = %L$$,
         :'sam_enrollment'),
  format($$values (%L::uuid, %L::uuid, 'Sam', 'Cryptography')$$, tests.user_id('sam'), :'course'),
  'the certificate names its holder and course as they were at issue');
select c.id as sam_cert, c.certificate_number as sam_number from app.certificates c where c.enrollment_id = :'sam_enrollment' \gset
select matches(:'sam_number'::text, '^LMS-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}$',
  'the number has the LMS-XXXX-XXXX-XXXX-XXXX format (16 hex digits)');
select is(api.lesson_complete(:'la') ->> 'completed', 'true', 'completing a lesson again keeps the course completed');
select is((select count(*)::int from app.certificates), 1, '… and issues no second certificate');
select is(tests.owner_scalar(format($$select internal.issue_certificate(%L)::text$$, :'sam_enrollment')), :'sam_cert',
  'issuing again returns the certificate already issued');

-- ==== another student: their own certificate, never sam's ======================================
select tests.authenticate_as('pia');
select api.enrollment_enroll(:'course') ->> 'id' as pia_enrollment \gset
select is(api.lesson_complete(:'la') ->> 'completed', 'false', 'pia: one lesson of two');
select is(api.lesson_complete(:'lb') ->> 'completed', 'true', 'pia completes the course');
select c.id as pia_cert, c.certificate_number as pia_number from app.certificates c \gset
select results_eq($$select c.user_id from app.certificates c$$, array[tests.user_id('pia')],
  'a student sees only their own certificate');
select is_empty(format($$select c.certificate_number from app.certificates c where c.id = %L$$, :'sam_cert'),
  'another student cannot read sam''s certificate number');
select is(internal.certificate_json(:'sam_cert'), null::jsonb, 'certificate_json gives another student nothing');
select is((select jsonb_agg(x ->> 'certificate_number') from jsonb_array_elements(api.certificate_list_mine()) x),
  jsonb_build_array(:'pia_number'), 'certificate.list_mine lists only the caller''s certificates');
select isnt(:'pia_number'::text, :'sam_number'::text, 'two certificates have different numbers');
select ok(abs(('x' || replace(substr(:'pia_number', 5), '-', ''))::bit(64)::bigint::numeric
              - ('x' || replace(substr(:'sam_number', 5), '-', ''))::bit(64)::bigint::numeric) > 1000,
  'numbers issued one after the other are not consecutive (not guessable from one another)');
select throws_ok(format($$select tests.as_owner(%L)$$, format('update app.certificates set certificate_number = %L where id = %L',
                                                                  :'sam_number', :'pia_cert')),
  '23505', null, 'a certificate number is unique (even for the owner)');
select throws_ok(format($$select api.certificate_revoke(%L, 'not mine')$$, :'sam_number'), 'LM403', null,
  'a student cannot revoke another student''s certificate');

-- ==== holder cannot revoke ======================================================================
select tests.authenticate_as('sam');
select throws_ok(format($$select api.certificate_revoke(%L, 'changed my mind')$$, :'sam_number'), 'LM403', null,
  'the holder cannot revoke their certificate');
select is_empty(format($$update app.certificates set revoked_at = now(), revoked_reason = 'x' where id = %L returning id$$,
                       :'sam_cert'),
  'the holder cannot revoke by direct UPDATE (no row passes the update policy)');

-- ==== instructors ================================================================================
select tests.authenticate_as('ina');
select is((select count(*)::int from app.certificates), 2, 'the course''s instructor sees the certificates of their course');
select throws_ok(format($$select api.certificate_revoke(%L, 'x')$$, :'sam_number'), 'LM403', null,
  'the course''s instructor cannot revoke (only an admin)');
select is_empty(format($$update app.certificates set revoked_at = now(), revoked_reason = 'x' where id = %L returning id$$,
                       :'sam_cert'),
  'the course''s instructor cannot revoke by direct UPDATE either');
select tests.authenticate_as('ivo');
select is_empty($$select * from app.certificates$$, 'another instructor sees no certificates of a course they do not teach');

-- ==== anonymous ==================================================================================
select tests.clear_authentication();
select is_empty($$select * from app.certificates$$, 'anonymous reads no certificates');
select throws_ok(format($$select api.certificate_revoke(%L, 'x')$$, :'sam_number'), 'LM401', null,
  'anonymous cannot revoke');

-- ==== admin revokes ===============================================================================
select tests.authenticate_as('ada');
select throws_ok(format($$select api.certificate_revoke(%L, '  ')$$, :'sam_number'), 'LM422', null,
  'a revocation needs a reason (422 reason_required)');
select throws_ok($$select api.certificate_revoke('LMS-0000-0000-0000-0000', 'x')$$, 'LM404', null,
  'revoking an unknown number is 404');
select is(api.certificate_revoke(lower(:'sam_number'), 'plagiarism') - 'revoked_at' - 'issued_at' - 'id' - 'certificate_number'
            - 'user_id' - 'course_id' - 'enrollment_id',
  '{"valid": false, "holder_name": "Sam", "course_title": "Cryptography", "revoked_reason": "plagiarism"}'::jsonb,
  'an admin revokes a certificate with a reason');
select is(api.certificate_revoke(:'sam_number', 'another reason') ->> 'revoked_reason', 'plagiarism',
  'revoking again is idempotent: the first reason stays');

-- ==== verify (anyone) =============================================================================
select tests.clear_authentication();
select is(api.certificate_verify(:'sam_number') - 'revoked_at' - 'issued_at' - 'certificate_number',
  '{"valid": false, "holder_name": "Sam", "course_title": "Cryptography"}'::jsonb,
  'verify of a revoked certificate says valid: false');
select isnt(api.certificate_verify(:'sam_number') ->> 'revoked_at', null, '… and when it was revoked');
select is(api.certificate_verify(' ' || lower(:'pia_number') || ' ') ->> 'valid', 'true',
  'verify of another, unrevoked certificate says valid: true (case and spaces ignored)');

select * from finish();
rollback;
