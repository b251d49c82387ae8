-- Credentials, the analyst side: an analyst login reads certificates under the same select policy
-- as the user it is mapped to (app.analyst_logins); certificate numbers are bearer values, so an
-- analyst can neither read nor filter on certificates.certificate_number — a holder reads their
-- own through analytics.my_certificates — and it revokes nothing. (Through the API: 70_credentials_test.sql.)
-- pg_prove user: lms_test_analyst
\set ON_ERROR_STOP 1
begin;
select tests.plan(8);

-- Fixtures (as the owner): two students who completed a course, each with a certificate -------
select tests.create_user('ina', 'instructor') is not null as ok \gset
select tests.create_user('sam') is not null as ok \gset
select tests.create_user('pia') is not null as ok \gset
select tests.create_user('ada', 'admin') is not null as ok \gset
select tests.as_owner(format($$
  insert into app.courses (id, instructor_id, title) values ('00000000-0000-0000-0000-0000000000c1', %L, 'Cryptography');
  insert into app.enrollments (id, user_id, course_id, progress_percentage, completed_at)
  values ('00000000-0000-0000-0000-0000000000e1', %L, '00000000-0000-0000-0000-0000000000c1', 100, now()),
         ('00000000-0000-0000-0000-0000000000e2', %L, '00000000-0000-0000-0000-0000000000c1', 100, now());
$$, tests.user_id('ina'), tests.user_id('sam'), tests.user_id('pia')));
select tests.owner_scalar($$select internal.issue_certificate('00000000-0000-0000-0000-0000000000e1')$$) as sam_cert,
       tests.owner_scalar($$select internal.issue_certificate('00000000-0000-0000-0000-0000000000e2')$$) as pia_cert \gset
select tests.owner_scalar(format('select certificate_number from app.certificates where id = %L', :'sam_cert')) as sam_number,
       tests.owner_scalar(format('select certificate_number from app.certificates where id = %L', :'pia_cert')) as pia_number \gset

-- ==== an analyst login ============================================================================
select is_empty($$select id from app.certificates$$, 'an analyst login mapped to nobody reads no certificates');

select tests.link_login_to('pia');
select results_eq($$select m.certificate_number from analytics.my_certificates m$$, array[:'pia_number'::text],
  'an analyst mapped to a student reads only that student''s certificate number (analytics.my_certificates)');
select throws_ok(format($$select c.id from app.certificates c where c.certificate_number = %L$$, :'sam_number'),
  '42501', null, 'an analyst mapped to another student can neither read nor filter on sam''s certificate number');

select tests.link_login_to('sam');
select results_eq($$select m.certificate_number from analytics.my_certificates m$$, array[:'sam_number'::text],
  'mapped to sam, the analyst reads sam''s certificate and nothing else');

select tests.link_login_to('ada');
select is((select count(*)::int from app.certificates), 2, 'an analyst mapped to an admin reads every certificate');
select throws_ok(format($$update app.certificates set revoked_at = now(), revoked_reason = 'x' where certificate_number = %L$$,
                        :'sam_number'),
  '42501', null, 'an analyst cannot revoke by direct UPDATE, even mapped to an admin');
select throws_ok(format($$select api.certificate_revoke(%L, 'x')$$, :'sam_number'), '42501', null,
  'an analyst cannot call certificate.revoke');
select is(tests.owner_scalar(format($$select revoked_at is null from app.certificates where certificate_number = %L$$,
                                    :'sam_number')),
  'true', 'the certificate stays valid');

select * from finish();
rollback;
