-- app.current_user_id() for an analyst's own login: the mapping by session_user counts, a
-- forged lms.user_id does not, and RLS follows the mapped user.
-- pg_prove user: lms_test_analyst
begin;
select tests.plan(6);

select tests.create_user('ana', 'student');
select tests.create_user('eve', 'student');

select is(app.current_user_id(), null, 'an analyst login without a mapping is anonymous');
select tests.link_login_to('ana');
select is(app.current_user_id(), tests.user_id('ana'), 'an analyst gets the user their login is mapped to');

select set_config('lms.user_id', tests.user_id('eve')::text, true);
select is(app.current_user_id(), tests.user_id('ana'), 'a forged lms.user_id is ignored for an analyst');
set local lms.user_id = 'not even a uuid';
select is(app.current_user_id(), tests.user_id('ana'), 'whatever lms.user_id holds, the mapping wins');

set local role lms_analyst;
select is(app.current_user_id(), tests.user_id('ana'), 'SET ROLE does not change who the analyst is');
select results_eq('select id from app.users', array[tests.user_id('ana')],
                  'RLS shows the analyst only their mapped user''s row');

select * from finish();
rollback;
