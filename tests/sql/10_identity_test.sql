-- Identity: TOTP vectors, password policy and hashing, role rows, lockout, tokens, secrets.
-- Runs as lms_authenticator (the RPC login); setup and inspection through tests.as_owner / owner_scalar.
begin;
select tests.plan(61);

-- ============================================================================================
-- TOTP (RFC 6238 appendix B, SHA-1, secret "12345678901234567890", 6 digits)
-- ============================================================================================
select is(tests.owner_scalar($$select internal.totp_code(convert_to('12345678901234567890', 'UTF8'), 59 / 30)$$),
          '287082', 'TOTP at T=59 is 287082');
select is(tests.owner_scalar($$select internal.totp_code(convert_to('12345678901234567890', 'UTF8'), 1111111109 / 30)$$),
          '081804', 'TOTP at T=1111111109 is 081804');
select is(tests.owner_scalar($$select internal.totp_code(convert_to('12345678901234567890', 'UTF8'), 1111111111 / 30)$$),
          '050471', 'TOTP at T=1111111111 is 050471');
select is(tests.owner_scalar($$select internal.totp_code(convert_to('12345678901234567890', 'UTF8'), 1234567890 / 30)$$),
          '005924', 'TOTP at T=1234567890 is 005924');
select is(tests.owner_scalar($$select internal.totp_code(convert_to('12345678901234567890', 'UTF8'), 2000000000 / 30)$$),
          '279037', 'TOTP at T=2000000000 is 279037');
select is(tests.owner_scalar($$select internal.base32_encode(convert_to('12345678901234567890', 'UTF8'))$$),
          'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 'base32 of the RFC secret is the well-known string');
select is(tests.owner_scalar($$select convert_from(internal.base32_decode('gezd gnbv-gy3t qojq gezd gnbv gy3t qojq'), 'UTF8')$$),
          '12345678901234567890', 'base32 decoding ignores case, spaces and dashes');
select is(tests.owner_scalar($$select internal.totp_match('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', '287082', null, to_timestamp(59 + 30))$$),
          '1', 'a code of the previous step is accepted (±1 step)');
select is(tests.owner_scalar($$select internal.totp_match('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', '287082', 1, to_timestamp(59))$$),
          null, 'a code of an already used step is refused');
select is(tests.owner_scalar($$select internal.totp_match('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', '287082', null, to_timestamp(59 + 90))$$),
          null, 'a code three steps old is refused');

-- ============================================================================================
-- Anonymous visitor: registration and password policy
-- ============================================================================================
select tests.clear_authentication();
select ok(api.auth_register('  Carol.Doe@Example.COM ', 'correct horse battery', 'Carol') ? 'user_id',
          'a visitor registers with a padded, mixed-case email (a user_id, not a returned error)');
select is(tests.owner_scalar($$select email from app.users where lower(email) = 'carol.doe@example.com'$$),
          'Carol.Doe@Example.COM', 'the email is stored trimmed');
select is(tests.owner_scalar($$select role from app.users where email = 'Carol.Doe@Example.COM'$$),
          'student', 'a registered user is a student');
select ok(tests.owner_scalar($$select password_hash from app.users where email = 'Carol.Doe@Example.COM'$$) ~ '^\$2[abxy]\$',
          'the password is stored as a bcrypt hash');
select is(tests.owner_scalar($$select count(*) from app.outbox where recipient = 'Carol.Doe@Example.COM'$$),
          '1', 'registration queues a verification message');
select is(tests.owner_scalar($$select count(*) from app.user_tokens t join app.users u on u.id = t.user_id
                               where u.email = 'Carol.Doe@Example.COM' and t.purpose = 'email_verification'$$),
          '1', 'registration stores one verification token (hashed)');
select throws_ok($$select api.auth_register('carol.doe@example.com', 'another long password', 'Carol 2')$$,
                 'LM409', null, 'the same email in another case is taken');
select throws_ok($$select api.auth_register('dan@example.com', 'short', 'Dan')$$,
                 'LM422', null, 'a password under 10 characters is weak');
select throws_ok($$select api.auth_register('dan@example.com', 'DAN@example.com', 'Dan')$$,
                 'LM422', null, 'a password equal to the email is weak');
select throws_ok($$select api.auth_register('danielsmith@example.com', 'DanielSmith', 'Dan')$$,
                 'LM422', null, 'a password equal to the local part is weak');
select throws_ok($$select api.auth_register('dan@example.com', 'password123', 'Dan')$$,
                 'LM422', null, 'a very common password is weak');
select throws_ok($$select api.auth_register('not-an-email', 'correct horse battery', 'Dan')$$,
                 'LM422', null, 'an invalid email is refused');

-- ============================================================================================
-- Login, lockout and the returned-error mechanism
-- ============================================================================================
select is(api.auth_login('carol.doe@example.com', 'correct horse battery') -> 'user' ->> 'email',
          'Carol.Doe@Example.COM', 'a visitor logs in with the email in any case');
select ok(tests.owner_scalar($$select last_login_at is not null from app.users where email = 'Carol.Doe@Example.COM'$$)::boolean,
          'login sets last_login_at');
select is(api.auth_login('carol.doe@example.com', 'wrong password 1')::text,
          api.auth_login('nobody@example.com', 'wrong password 1')::text,
          'unknown email and wrong password give the identical answer');
select is(api.auth_login('carol.doe@example.com', 'wrong password 2') #>> '{error,reason}', 'invalid_credentials',
          'a wrong password returns invalid_credentials (so the attempt commits)');
select is(tests.owner_scalar($$select count(*) from app.login_attempts where email = 'carol.doe@example.com' and not succeeded$$),
          '2', 'failed attempts are recorded under the normalised email');
select is((select array_agg(api.auth_login('carol.doe@example.com', 'wrong password ' || g) #>> '{error,reason}')
           from generate_series(3, 5) g), array['invalid_credentials', 'invalid_credentials', 'invalid_credentials'],
          'three more failures');
select is(api.auth_login('carol.doe@example.com', 'correct horse battery') #>> '{error,code}', '423',
          'the 6th attempt within 15 minutes is locked even with the right password');
select is(api.auth_login('carol.doe@example.com', 'correct horse battery') #>> '{error,reason}', 'account_locked',
          'the lock reason is account_locked');
select tests.as_owner($$update app.login_attempts set attempted_at = attempted_at - interval '16 minutes'
                        where email = 'carol.doe@example.com'$$);
select ok(api.auth_login('carol.doe@example.com', 'correct horse battery') ? 'refresh_token',
          'after 15 minutes the right password works again');
select ok(api.auth_login('carol.doe@example.com', 'correct horse battery') ? 'refresh_token',
          'a login at a raised bcrypt cost works') from (select set_config('lms.bcrypt_cost', '5', true)) x;
select is(tests.owner_scalar($$select substr(password_hash, 1, 7) from app.users where email = 'Carol.Doe@Example.COM'$$),
          '$2a$05$', 'that login rehashed the password at the new cost');
select is(tests.owner_scalar($$select count(*) from app.audit_log where action = 'auth.login_locked'$$),
          '2', 'locked attempts are audited');

-- ============================================================================================
-- Refresh tokens
-- ============================================================================================
select set_config('test.first', api.auth_login('carol.doe@example.com', 'correct horse battery') ->> 'refresh_token', true);
select set_config('test.second', api.auth_refresh(current_setting('test.first')) ->> 'refresh_token', true);
select ok(current_setting('test.second') ~ '^[A-Za-z0-9_-]{43}$', 'a refresh token is exchanged for a new url-safe one');
select is(tests.owner_scalar($$select revoked_reason from app.refresh_tokens where replaced_by is not null$$),
          'rotated', 'the old token is revoked as rotated and points at its replacement');
-- In one pgTAP transaction the rotation looks "later" than this transaction's start (a race);
-- move it back to model the separate, later call a real client makes.
select tests.as_owner($$update app.refresh_tokens set revoked_at = revoked_at - interval '1 minute'
                        where revoked_reason = 'rotated'$$);
select is(api.auth_refresh(current_setting('test.first')) #>> '{error,reason}', 'refresh_token_reused',
          'presenting the old token again is reuse');
select is(tests.owner_scalar($$select count(*) from app.refresh_tokens t join app.users u on u.id = t.user_id
                               where u.email = 'Carol.Doe@Example.COM' and t.revoked_at is null$$),
          '0', 'reuse revokes every refresh token of the user');
select throws_ok($$select api.auth_refresh('no-such-token')$$, 'LM401', null, 'an unknown refresh token is refused');

-- ============================================================================================
-- Role rows follow users.role
-- ============================================================================================
select tests.create_user('ivan', 'student');
select tests.create_user('root', 'admin');
select tests.authenticate_as('root');
select is(api.admin_set_role(tests.user_id('ivan'), 'instructor') ->> 'role', 'instructor', 'an admin makes a student an instructor');
select is(tests.owner_scalar(format('select count(*) from app.instructors where user_id = %L', tests.user_id('ivan'))),
          '1', 'becoming instructor creates the instructors row');
select is(api.admin_set_role(tests.user_id('ivan'), 'admin') ->> 'role', 'admin', 'an admin promotes the instructor to admin');
select is(tests.owner_scalar(format('select count(*) from app.admins where user_id = %L', tests.user_id('ivan'))),
          '1', 'becoming admin creates the admins row');
select is(api.admin_set_role(tests.user_id('ivan'), 'student') ->> 'role', 'student', 'an admin demotes them to student');
select is(tests.owner_scalar(format('select count(*) from app.admins where user_id = %L', tests.user_id('ivan'))),
          '0', 'demotion removes the admins row');
select is(tests.owner_scalar(format('select count(*) from app.instructors where user_id = %L', tests.user_id('ivan'))),
          '1', 'demotion keeps the instructors row');
select throws_ok($$select api.admin_set_role(tests.user_id('root'), 'student')$$, 'LM422', null,
                 'an admin cannot demote themselves');
select is(jsonb_array_length(api.admin_list_users(role => 'student', search => 'CAROL')), 1,
          'admin.list_users filters by role and searches case-insensitively');

-- ============================================================================================
-- Student: own row only, secrets unreadable
-- ============================================================================================
select tests.authenticate_as('ivan');
select is((select count(*) from app.users)::integer, 1, 'a student sees only their own users row');
select throws_ok($$select api.admin_list_users()$$, 'LM403', null, 'a student cannot list users');
select throws_ok($$select password_hash from app.users$$, '42501', null, 'lms_api cannot select password_hash');
select throws_ok($$select secret from app.user_mfa$$, '42501', null, 'lms_api cannot select the MFA secret');
select throws_ok($$select token_hash from app.refresh_tokens$$, '42501', null, 'lms_api cannot select refresh token hashes');
select throws_ok($$select body from app.outbox$$, '42501', null, 'lms_api cannot read the outbox');
select throws_ok($$select code_hash from app.mfa_recovery_codes$$, '42501', null, 'lms_api cannot read recovery codes');
select ok(not (api.user_me() ? 'password_hash'), 'user.me carries no password hash');


-- ============================================================================================
-- Structure: definer functions pinned, internals not callable by clients
-- ============================================================================================
select is((select count(*)::integer from pg_proc p
           where p.prosecdef and p.pronamespace in ('api'::regnamespace, 'internal'::regnamespace)
             and (p.proname ~ '^(auth|user|admin|instructor)_' or p.proname in
                  ('create_user', 'set_password', 'set_password_by_email', 'mfa_check', 'issue_refresh_token',
                   'revoke_refresh_tokens', 'issue_user_token', 'queue_email', 'queue_verification_email',
                   'outbox_claim', 'outbox_sent', 'outbox_failed', 'maintain_tokens', 'mfa_enabled'))
             and not coalesce(p.proconfig, '{}') @> array['search_path=pg_catalog, pg_temp']),
          0, 'every identity SECURITY DEFINER function pins search_path');
select ok(not has_function_privilege('lms_api', 'internal.create_user(text, text, text, text)', 'execute'),
          'lms_api cannot call internal.create_user directly');
select ok(not has_function_privilege('lms_api', 'internal.outbox_claim(integer)', 'execute'),
          'lms_api cannot claim outbox messages');
select ok(not has_function_privilege('lms_analyst', 'api.auth_login(text, text, text)', 'execute'),
          'analysts cannot call the login method');
select ok(has_function_privilege('lms_api', 'api.auth_login(text, text, text)', 'execute'),
          'lms_api may call auth.login');

select * from finish();
rollback;
