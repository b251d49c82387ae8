-- Foundation: every table, key column, constraint and index of the design; RLS on every
-- user-data table; quiz_attempts partitions. Structural: runs as the superuser.
-- pg_prove user: postgres
begin;
select tests.plan(79);

-- Tables ------------------------------------------------------------------------------------
select tables_are('app', array[
  'users', 'admins', 'instructors', 'refresh_tokens', 'user_tokens', 'user_mfa', 'mfa_recovery_codes',
  'login_attempts', 'analyst_logins', 'audit_log', 'outbox', 'courses', 'lessons', 'files', 'storage_pending', 'orders',
  'payments', 'payment_events', 'enrollments', 'lesson_progress', 'quizzes', 'questions',
  'quiz_attempt_counters', 'quiz_attempts', 'assignments', 'submissions', 'certificates',
  'rate_limits', 'rate_counters', 'settings', 'events', 'event_sequencer', 'webhooks', 'webhook_deliveries',
  'modules', 'module_prerequisites', 'learner_overrides', 'accommodations', 'question_banks', 'quiz_pools',
  'grade_categories', 'grade_scheme_letters', 'final_grade_overrides',
  'rubrics', 'rubric_criteria', 'rubric_levels', 'submission_rubric_levels',
  'manual_grades', 'sso_providers', 'sso_states', 'sso_identities', 'sso_codes',
  'lti_tools', 'lti_platform_keys', 'lti_links', 'lti_launches',
  'lti_access_tokens', 'lti_assertions', 'lti_line_items', 'lti_results', 'calendar_feeds',
  'oneroster_users', 'oneroster_classes', 'oneroster_enrollments', 'oneroster_refs', 'oneroster_stage'
]::name[], 'app has exactly the tables of the design plus those the rules need');

-- Key columns ---------------------------------------------------------------------------------
select col_is_pk('app', 'users', 'id', 'users.id is the primary key');
select col_type_is('app', 'users', 'id', 'uuid', 'users.id is a uuid');
select col_type_is('app', 'users', 'email', 'text', 'users.email is text');
select col_not_null('app', 'users', 'password_hash', 'users.password_hash is required');
select col_default_is('app', 'users', 'role', 'student', 'new users are students');
select col_type_is('app', 'courses', 'price_cents', 'integer', 'money is integer cents');
select col_is_pk('app', 'courses', 'id', 'courses.id is the primary key');
select col_type_is('app', 'courses', 'search_vector', 'tsvector', 'courses have a search vector');
select col_type_is('app', 'enrollments', 'progress_percentage', 'integer', 'progress is an integer percentage');
select col_is_pk('app', 'quiz_attempts', array['id', 'started_at'], 'the attempts key includes the partition key');
select col_type_is('app', 'quiz_attempts', 'started_at', 'timestamp with time zone', 'started_at is timestamptz');
select col_is_pk('app', 'payment_events', 'event_id', 'a provider event is stored once');
select col_is_pk('app', 'lesson_progress', array['enrollment_id', 'lesson_id'], 'one progress row per enrollment and lesson');
select col_is_pk('app', 'admins', 'user_id', 'admins keyed by user');
select col_is_pk('app', 'instructors', 'user_id', 'instructors keyed by user');
select col_type_is('app', 'refresh_tokens', 'token_hash', 'bytea', 'refresh tokens stored as hashes');
select col_type_is('app', 'submissions', 'grade', 'numeric(8,2)', 'grades are exact decimals');
select col_type_is('app', 'orders', 'amount_cents', 'integer', 'order amounts are integer cents');

-- Foreign keys and their delete rules ---------------------------------------------------------
select fk_ok('app', 'refresh_tokens', 'user_id', 'app', 'users', 'id');
select fk_ok('app', 'courses', 'instructor_id', 'app', 'instructors', 'user_id');
select fk_ok('app', 'lessons', 'course_id', 'app', 'courses', 'id');
select fk_ok('app', 'enrollments', 'user_id', 'app', 'users', 'id');
select fk_ok('app', 'enrollments', 'course_id', 'app', 'courses', 'id');
select fk_ok('app', 'enrollments', 'payment_id', 'app', 'payments', 'id');
select fk_ok('app', 'payments', 'order_id', 'app', 'orders', 'id');
select fk_ok('app', 'orders', 'course_id', 'app', 'courses', 'id');
select fk_ok('app', 'quizzes', array['lesson_id', 'course_id'], 'app', 'lessons', array['id', 'course_id']);
select fk_ok('app', 'questions', 'quiz_id', 'app', 'quizzes', 'id');
select fk_ok('app', 'quiz_attempts', 'quiz_id', 'app', 'quizzes', 'id');
select fk_ok('app', 'submissions', 'assignment_id', 'app', 'assignments', 'id');
select fk_ok('app', 'submissions', 'file_id', 'app', 'files', 'id');
select fk_ok('app', 'certificates', 'enrollment_id', 'app', 'enrollments', 'id');
select is(
  (select string_agg(conname::text || ':' || confdeltype::text, ' ' order by conname::text collate "C") from pg_constraint
     where conrelid = any (array['app.lessons', 'app.enrollments', 'app.courses']::regclass[]) and contype = 'f'),
  'fk_courses_instructor_id_instructors:r fk_enrollments_course_id_courses:r fk_enrollments_payment_id_payments:r '
  'fk_enrollments_user_id_users:c fk_lessons_course_id_courses:c fk_lessons_module_in_course:a',
  'ON DELETE: lessons go with their course; a course with enrollments, an instructor with courses or a module holding lessons cannot be deleted');

-- Checks and uniques --------------------------------------------------------------------------
select col_has_check('app', 'courses', 'price_cents', 'courses.price_cents is checked');
select col_has_check('app', 'enrollments', 'progress_percentage', 'progress is checked');
select col_has_check('app', 'users', 'role', 'users.role is checked');
select col_has_check('app', 'questions', 'question_type', 'question types are checked');
select col_has_check('app', 'quizzes', 'passing_score_percentage', 'passing score is checked');
select col_has_check('app', 'assignments', 'late_penalty_percentage', 'late penalty is checked');
select col_is_unique('app', 'enrollments', array['user_id', 'course_id'], 'one enrollment per student and course');
select col_is_unique('app', 'lessons', array['course_id', 'lesson_order'], 'lesson order unique per course');
select col_is_unique('app', 'submissions', array['assignment_id', 'user_id'], 'one submission per student and assignment');
select col_is_unique('app', 'certificates', 'certificate_number', 'certificate numbers are unique');
select is(
  (select count(*)::int from pg_constraint c where c.conrelid = 'app.courses'::regclass and c.contype = 'c'
     and pg_get_constraintdef(c.oid) ilike '%price_cents >= 0%'),
  1, 'the price check exists exactly once (no redundant duplicate CHECKs)');

-- Indexes -------------------------------------------------------------------------------------
select has_index('app', 'users', 'uq_users_email_lower', 'case-insensitive unique email');
select index_is_unique('app', 'users', 'uq_users_email_lower', 'the email index is unique');
select has_index('app', 'lessons', 'uq_lessons_course_id_lesson_order', array['course_id', 'lesson_order'], 'lessons(course_id, lesson_order)');
select has_index('app', 'enrollments', 'uq_enrollments_user_id_course_id', array['user_id', 'course_id'], 'enrollments(user_id, course_id)');
select has_index('app', 'submissions', 'uq_submissions_assignment_id_user_id', array['assignment_id', 'user_id'], 'submissions(assignment_id, user_id)');
select has_index('app', 'quiz_attempts', 'ix_quiz_attempts_user_id_quiz_id', array['user_id', 'quiz_id'], 'quiz_attempts(user_id, quiz_id)');
select has_index('app', 'courses', 'ix_courses_published_created_at', 'published courses by created_at');
select is((select pg_get_expr(i.indpred, i.indrelid) from pg_index i where i.indexrelid = 'app.ix_courses_published_created_at'::regclass),
          'is_published', 'the published-courses index is partial');
select is((select pg_get_expr(i.indpred, i.indrelid) from pg_index i where i.indexrelid = 'app.ix_enrollments_course_id_active'::regclass),
          'is_active', 'the active-enrollments index is partial');
select is((select pg_get_expr(i.indpred, i.indrelid) from pg_index i where i.indexrelid = 'app.ix_enrollments_course_id_completed'::regclass),
          '(completed_at IS NOT NULL)', 'the completed-enrollments index is partial');
select has_index('app', 'courses', 'ix_courses_search_vector', 'full-text GIN index on courses');
select is_empty(
  $$ select a.indexrelid::regclass::text from pg_index a join pg_index b
       on a.indrelid = b.indrelid and a.indexrelid <> b.indexrelid and a.indkey::text = b.indkey::text
      and coalesce(pg_get_expr(a.indpred, a.indrelid), '') = coalesce(pg_get_expr(b.indpred, b.indrelid), '')
      and coalesce(pg_get_expr(a.indexprs, a.indrelid), '') = coalesce(pg_get_expr(b.indexprs, b.indrelid), '')
      and b.indisunique
     join pg_class c on c.oid = a.indrelid
     where c.relnamespace = 'app'::regnamespace and not (a.indisunique and a.indexrelid > b.indexrelid) $$,
  'no index duplicates a unique constraint''s index');
select is_empty(
  $$ select c.conrelid::regclass || '.' || c.conname from pg_constraint c
     join pg_class t on t.oid = c.conrelid
     where c.contype = 'f' and t.relnamespace = 'app'::regnamespace
       and not exists (select from pg_index i where i.indrelid = c.conrelid
                       and (i.indkey::int2[])[0] = c.conkey[1]) $$,
  'every foreign key has an index led by its first column');

-- Names (STYLE.md §2): a type prefix and the table, so a DBA reads what an object is from its name.
-- Partition copies (schema partitions) keep the names PostgreSQL gives them and are not checked, nor
-- are the copies of a foreign key to a partitioned table, one per partition (conparentid: their parent is).
select is_empty(
  $$ select c.conrelid::regclass || '.' || c.conname from pg_constraint c
     join pg_class t on t.oid = c.conrelid
     where t.relnamespace = 'app'::regnamespace and c.contype in ('p', 'f', 'u', 'c', 'x') and c.conparentid = 0
       and not case c.contype
                 when 'p' then c.conname = 'pk_' || t.relname
                 else starts_with(c.conname, (case c.contype when 'f' then 'fk_' when 'u' then 'uq_'
                                                             when 'c' then 'ck_' else 'ex_' end) || t.relname || '_')
               end $$,
  'every app constraint is named by its type: pk_<table>, fk_/uq_/ck_/ex_<table>_…');
select is_empty(
  $$ select i.indexrelid::regclass::text from pg_index i
     join pg_class t on t.oid = i.indrelid
     join pg_class x on x.oid = i.indexrelid
     where t.relnamespace = 'app'::regnamespace
       and not exists (select from pg_constraint c where c.conindid = i.indexrelid and c.conrelid = i.indrelid
                       and c.contype in ('p', 'u', 'x'))
       and not starts_with(x.relname, (case when i.indisunique then 'uq_' else 'ix_' end) || t.relname || '_') $$,
  'every app index that backs no constraint is named ix_<table>_… (uq_<table>_… when unique)');

-- RLS -----------------------------------------------------------------------------------------
select is_empty(
  $$ select c.oid::regclass::text from pg_class c
     where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p')
       and not (c.relrowsecurity and c.relforcerowsecurity) $$,
  'every app table has row-level security enabled and forced');
select is_empty(
  $$ select c.oid::regclass::text from pg_class c
     where c.relnamespace = 'partitions'::regnamespace and c.relkind = 'r' and not c.relrowsecurity $$,
  'every partition has row-level security enabled');
select is_empty(
  $$ select n.nspname from pg_namespace n where n.nspname = 'partitions'
       and (has_schema_privilege('lms_api', n.oid, 'usage') or has_schema_privilege('lms_analyst', n.oid, 'usage')) $$,
  'no client role can reach partitions directly');

-- Functions -----------------------------------------------------------------------------------
select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p
     where p.prosecdef and p.pronamespace in ('app'::regnamespace, 'api'::regnamespace, 'internal'::regnamespace)
       and not exists (select from unnest(p.proconfig) s where s like 'search_path=%') $$,
  'every SECURITY DEFINER function pins search_path');
select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p
     where p.prosecdef and p.pronamespace in ('app'::regnamespace, 'api'::regnamespace, 'internal'::regnamespace)
       and p.proowner <> 'lms_definer'::regrole $$,
  'every SECURITY DEFINER function is owned by lms_definer');
select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p
     where p.pronamespace = 'api'::regnamespace and has_function_privilege('public', p.oid, 'execute') $$,
  'no api function is executable by PUBLIC');
select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p
     where p.pronamespace in ('app'::regnamespace, 'api'::regnamespace, 'internal'::regnamespace)
       and obj_description(p.oid, 'pg_proc') is null $$,
  'every api, internal and app function has a COMMENT (an api one is its method''s documentation)');
select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p
     where p.prosecdef and p.pronamespace in ('app'::regnamespace, 'internal'::regnamespace)
       and obj_description(p.oid, 'pg_proc') not like '%SECURITY DEFINER%' $$,
  'every SECURITY DEFINER helper (internal, app) says in its COMMENT why it is one');
select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p
     where p.prorettype = 'trigger'::regtype and p.pronamespace in ('app'::regnamespace, 'internal'::regnamespace)
       and (p.provolatile <> 'v' or p.proname !~ '^tg_') $$,
  'every trigger function is named tg_… and volatile');
select is_empty(
  $$ select c.oid::regclass::text from pg_class c
     where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p') and obj_description(c.oid, 'pg_class') is null $$,
  'every app table has a COMMENT');
select is_empty(
  $$ select a.attrelid::regclass || '.' || a.attname from pg_attribute a
     join pg_class c on c.oid = a.attrelid
     where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped
       and col_description(a.attrelid, a.attnum) is null
       and (   (a.atttypid = 'timestamptz'::regtype and a.attname not in ('created_at', 'updated_at'))
            or a.atttypid in ('jsonb'::regtype, 'boolean'::regtype, 'bytea'::regtype)
            or format_type(a.atttypid, null) like '%[]'
            or a.attname ~ '(^|_)(status|kind|purpose|role|type|reason|outcome|provider|currency|cents|percentage|minutes|seconds|order|number|count|attempts|used|step|points|score|grade|secret|hash|url|size)$') $$,
  'every app column whose meaning needs saying has a COMMENT: event times (which event sets them), status and kind values, money, JSON shapes, flags, counters, hashes');
select is_empty(
  $$ select a.attrelid::regclass || '.' || a.attname from pg_attribute a
     join pg_class c on c.oid = a.attrelid
     where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped
       and col_description(a.attrelid, a.attnum) is null
       and a.attname not in ('id', 'created_at', 'updated_at', 'title', 'description', 'short_description', 'full_name',
                             'bio', 'subject', 'question_text')
       and not (a.attname like '%\_id' and exists (select from pg_constraint k where k.conrelid = a.attrelid
                                                   and k.contype = 'f' and k.conkey = array[a.attnum])) $$,
  'every other app column has a COMMENT too, unless its name says it all (id, created_at, title, a single-column foreign key <x>_id, …)');

-- Partitions ----------------------------------------------------------------------------------
select has_table('partitions', 'quiz_attempts_default', 'quiz_attempts has a DEFAULT partition');
select has_table('partitions', 'quiz_attempts_' || to_char(now() at time zone 'UTC', '"y"YYYY"m"MM'),
                 'a partition for the current month exists');
select has_table('partitions', 'quiz_attempts_' || to_char((now() at time zone 'UTC') + interval '1 month', '"y"YYYY"m"MM'),
                 'a partition for the next month exists');
select is(tests.owner_scalar($$ select internal.ensure_monthly_partitions('app.quiz_attempts', 3) $$), '0', 'creating partitions again is a no-op');

select tests.create_user('ada', 'student');
select tests.create_user('prof', 'instructor');
select tests.as_owner($$
  insert into app.courses (id, instructor_id, title) values ('00000000-0000-0000-0000-0000000000c1', tests.user_id('prof'), 'C');
  insert into app.quizzes (id, course_id, title) values ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000c1', 'Q');
  insert into app.quiz_attempts (user_id, quiz_id, attempt_number, started_at)
  values (tests.user_id('ada'), '00000000-0000-0000-0000-0000000000a1', 1, now() + interval '5 years'),
         (tests.user_id('ada'), '00000000-0000-0000-0000-0000000000a1', 2, now());
$$);
select results_eq(
  $$ select r::text from unnest(string_to_array(tests.owner_scalar(
       'select string_agg(tableoid::regclass::text, '','' order by started_at) from app.quiz_attempts'), ',')) r $$,
  array['partitions.quiz_attempts_' || to_char(now() at time zone 'UTC', '"y"YYYY"m"MM'), 'partitions.quiz_attempts_default'],
  'a row of this month lands in its month, one five years ahead in DEFAULT');
select tests.as_owner($$ update app.quiz_attempts set started_at = now() + interval '2 months' where attempt_number = 1 $$);
select is(tests.owner_scalar($$ select internal.ensure_monthly_partitions('app.quiz_attempts', 6) >= 1 $$), 'true', 'more months ahead can be created');
select is(tests.owner_scalar('select tableoid::regclass::text from app.quiz_attempts where attempt_number = 1'),
          'partitions.quiz_attempts_' || to_char((now() at time zone 'UTC') + interval '2 months', '"y"YYYY"m"MM'),
          'a row moved into a month that exists lands in that partition');

select * from finish();
rollback;
