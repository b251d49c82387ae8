-- app.current_user_id(): the one source of "who is calling", as the RPC layer's login
-- (lms_authenticator). The analyst side needs other logins: tests/test_foundation.py.
begin;
select tests.plan(6);

select tests.create_user('ada', 'student');
select tests.create_user('bob', 'student');

select tests.clear_authentication();
select is(app.current_user_id(), null, 'the API role without a user id is anonymous');
select tests.authenticate_as('ada');
select is(app.current_user_id(), tests.user_id('ada'), 'current_user_id() returns the id the RPC layer set');
select is(current_user::text, 'lms_api', 'calls run as the API role');
select is(session_user::text, 'lms_authenticator', 'the session stays the authenticator''s');
select tests.authenticate_as('bob');
select is(app.current_user_id(), tests.user_id('bob'), 'a new transaction-local id replaces the old one');
select tests.clear_authentication();
select is(app.current_user_id(), null, 'clearing the id makes the caller anonymous again');

select * from finish();
rollback;
