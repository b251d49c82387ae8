-- Catalog: RLS on courses and lessons for anonymous, student, instructor, other instructor and
-- admin (direct SQL and api functions), the lesson-content column split, publishing rule,
-- dense lesson order, and full-text search through the GIN index.
\set ON_ERROR_STOP 1
begin;
select tests.plan(95);

-- Structure -----------------------------------------------------------------------------------
select policies_are('app', 'courses',
  array['select_public_owner_enrolled_admin', 'insert_instructor_admin', 'update_owner_admin', 'delete_owner_admin'],
  'courses have one policy per command');
select policy_cmd_is('app', 'courses', 'select_public_owner_enrolled_admin', 'select', 'courses select policy is for SELECT');
select policy_cmd_is('app', 'courses', 'insert_instructor_admin', 'insert', 'courses insert policy is for INSERT');
select policy_cmd_is('app', 'courses', 'update_owner_admin', 'update', 'courses update policy is for UPDATE');
select policy_cmd_is('app', 'courses', 'delete_owner_admin', 'delete', 'courses delete policy is for DELETE');
select policy_roles_are('app', 'courses', 'select_public_owner_enrolled_admin', array['lms_api', 'lms_analyst'],
  'courses are readable by the API role and analysts');
select policy_roles_are('app', 'courses', 'update_owner_admin', array['lms_api'], 'only the API role may update courses');
select policies_are('app', 'lessons',
  array['select_syllabus_owner_admin', 'insert_owner_admin', 'update_owner_admin', 'delete_owner_admin'],
  'lessons have one policy per command');
select policy_cmd_is('app', 'lessons', 'select_syllabus_owner_admin', 'select', 'lessons select policy is for SELECT');
select policy_cmd_is('app', 'lessons', 'insert_owner_admin', 'insert', 'lessons insert policy is for INSERT');
select policy_cmd_is('app', 'lessons', 'update_owner_admin', 'update', 'lessons update policy is for UPDATE');
select policy_cmd_is('app', 'lessons', 'delete_owner_admin', 'delete', 'lessons delete policy is for DELETE');
select is_definer('internal', 'my_course_ids', array[]::name[], 'my_course_ids is SECURITY DEFINER (no policy recursion)');
select is_definer('internal', 'find_courses', array['text', 'text', 'text', 'uuid', 'integer', 'integer'],
  'find_courses is SECURITY DEFINER (GIN index usable)');
select isnt_definer('api', 'course_update', array['uuid', 'text', 'text', 'text', 'integer', 'text', 'text[]', 'text', 'text', 'uuid'],
  'course.update runs as the caller, so RLS enforces ownership');
select volatility_is('internal', 'my_course_ids', array[]::name[], 'stable', 'my_course_ids is stable');

-- Fixtures ------------------------------------------------------------------------------------
select tests.create_user('ina', 'instructor') is not null as ok \gset
select tests.create_user('ivo', 'instructor') is not null as ok \gset
select tests.create_user('sam') is not null as ok \gset
select tests.create_user('ada', 'admin') is not null as ok \gset

select tests.authenticate_as('ina');
select api.course_create(title => 'Indexing PostgreSQL', price_cents => 0, description => 'GIN indexes and full-text search',
                         tags => array['SQL', ' Databases ', 'sql']) ->> 'id' as course \gset
select api.course_create(title => 'Secret draft', price_cents => 0, description => 'not ready') ->> 'id' as draft \gset
select api.lesson_create(course_id => :'course', title => 'Two', content => 'body two', duration_minutes => 10) ->> 'id' as l2 \gset
select api.lesson_create(course_id => :'course', title => 'Three', content => 'body three') ->> 'id' as l3 \gset
select api.lesson_create(course_id => :'course', title => 'One', content => 'body one', lesson_order => 1) ->> 'id' as l1 \gset
select api.lesson_create(course_id => :'course', title => 'Unpublished', content => 'hidden') ->> 'id' as l4 \gset
select api.lesson_create(course_id => :'draft', title => 'Draft lesson', content => 'draft body') ->> 'id' as dl \gset

-- ==== instructor (owner) ======================================================================
select is(api.course_get(:'course') -> 'tags', '["databases", "sql"]'::jsonb,
  'tags are trimmed, lower-cased and de-duplicated');
select results_eq(
  format($$select l.title from app.lessons l where l.course_id = %L order by l.lesson_order$$, :'course'),
  array['One', 'Two', 'Three', 'Unpublished'],
  'lesson.create with lesson_order inserts there and shifts the others; without it appends');
select throws_ok(format($$select api.course_publish(%L)$$, :'course'), 'LM422', null,
  'instructor cannot publish a course without a published lesson');
select throws_ok(format($$update app.courses set is_published = true where id = %L$$, :'course'), 'LM422', null,
  'the publishing rule also holds for a direct UPDATE');
select lives_ok(format($$select api.lesson_publish(%L), api.lesson_publish(%L), api.lesson_publish(%L)$$, :'l1', :'l2', :'l3'),
  'instructor publishes three lessons');
select is(api.course_publish(:'course') ->> 'is_published', 'true', 'instructor publishes the course once a lesson is published');
select is((select count(*)::int from app.lessons l where l.course_id = :'course'), 4,
  'instructor sees all lessons of their course, drafts too');
select is((select count(*)::int from app.courses c where c.id in (:'course', :'draft')), 2,
  'instructor sees their draft course');
select is((select content from internal.lesson_content(:'l4')), 'hidden', 'instructor reads content of their draft lesson');
select is(jsonb_array_length(api.course_list(instructor_id => tests.user_id('ina'))), 2,
  'course.list with instructor_id = self shows own drafts too');
select throws_ok(format($$select api.lesson_reorder(%L, array[%L, %L]::uuid[])$$, :'course', :'l1', :'l2'), 'LM422', null,
  'reorder with a subset of the lessons is refused');
select throws_ok(format($$select api.lesson_reorder(%L, array[%L, %L, %L, %L]::uuid[])$$, :'course', :'l1', :'l1', :'l2', :'l3'),
  'LM422', null, 'reorder with a duplicate is refused');
select throws_ok(format($$select api.lesson_reorder(%L, array[%L, %L, %L, %L]::uuid[])$$, :'course', :'l1', :'l2', :'l3', :'dl'),
  'LM422', null, 'reorder with a lesson of another course is refused');
select lives_ok(format($$select api.lesson_reorder(%L, array[%L, %L, %L, %L]::uuid[])$$, :'course', :'l4', :'l3', :'l2', :'l1'),
  'instructor reorders with a permutation');
select results_eq(
  format($$select l.id, l.lesson_order from app.lessons l where l.course_id = %L order by l.lesson_order$$, :'course'),
  format($$values (%L::uuid, 1), (%L::uuid, 2), (%L::uuid, 3), (%L::uuid, 4)$$, :'l4', :'l3', :'l2', :'l1'),
  'the reorder is applied and stays dense');
select lives_ok(format($$select api.lesson_delete(%L)$$, :'l3'), 'instructor deletes a lesson');
select results_eq(
  format($$select l.lesson_order from app.lessons l where l.course_id = %L order by l.lesson_order$$, :'course'),
  array[1, 2, 3], 'deleting a lesson closes the gap');
select lives_ok(format($$select api.lesson_reorder(%L, array[%L, %L, %L]::uuid[])$$, :'course', :'l1', :'l2', :'l4'),
  'instructor restores the order');

-- One update rule (API.md "Updates"): omitted stays, explicit null clears. The RPC server names the
-- params a request contained in lms.given; without it (direct SQL) a null means "not given".
select set_config('lms.given', ',course_id,title,', true) is not null as ok \gset
select is(api.course_update(course_id => :'draft', title => 'Draft v2', description => null) ->> 'description', 'not ready',
  'course.update: a field the request did not contain stays unchanged');
select set_config('lms.given', ',course_id,description,', true) is not null as ok \gset
select is(api.course_update(course_id => :'draft', description => null) ->> 'description', null,
  'course.update: an explicit null clears description');
select set_config('lms.given', ',lesson_id,content,', true) is not null as ok \gset
select lives_ok(format($$select api.lesson_update(lesson_id => %L, content => null)$$, :'l4'),
  'lesson.update with an explicit null content runs');
select is((select lc.content from internal.lesson_content(:'l4') lc), null, 'lesson.update: an explicit null clears content');
select set_config('lms.given', '', true) is not null as ok \gset
select is(api.course_update(course_id => :'draft', category => 'ops', short_description => 'soon') ->> 'category', 'ops',
  'course.update without lms.given (direct SQL): given values are written');
select is(api.course_update(course_id => :'draft', category => null) ->> 'category', 'ops',
  'course.update without lms.given: a null is "not given" and changes nothing');
select is(api.course_update(course_id => :'draft', category => '  ', short_description => '') -> 'short_description', 'null'::jsonb,
  'course.update: a blank nullable text field is stored as null');

-- A published course keeps a published lesson: l1 and l2 are its published lessons now.
select lives_ok(format($$select api.lesson_unpublish(%L)$$, :'l2'), 'instructor unpublishes one of two published lessons');
select throws_ok(format($$select api.lesson_unpublish(%L)$$, :'l1'), 'LM422', null,
  'the last published lesson of a published course cannot be unpublished (422 last_published_lesson)');
select throws_ok(format($$select api.lesson_delete(%L)$$, :'l1'), 'LM422', null,
  'nor deleted');
set constraints app._310_published_course_keeps_lesson, app._311_published_course_keeps_lesson immediate;
select throws_ok(format($$update app.lessons set is_published = false where id = %L$$, :'l1'), 'LM422', null,
  'nor unpublished by a direct UPDATE (constraint trigger)');
select throws_ok(format($$delete from app.lessons where id = %L$$, :'l1'), 'LM422', null,
  'nor deleted by a direct DELETE (constraint trigger)');
set constraints app._310_published_course_keeps_lesson, app._311_published_course_keeps_lesson deferred;
select lives_ok(format($$select api.course_unpublish(%L), api.lesson_unpublish(%L)$$, :'course', :'l1'),
  'after unpublishing the course its last lesson can be unpublished');
select lives_ok(format($$select api.lesson_publish(%L), api.lesson_publish(%L), api.course_publish(%L)$$, :'l1', :'l2', :'course'),
  'instructor publishes the lessons and the course again');

-- ==== anonymous ===============================================================================
select tests.clear_authentication();
select is((select count(*)::int from app.courses c where c.id in (:'course', :'draft')), 1,
  'anonymous sees the published course but not the draft');
select is(api.course_get(:'course') ->> 'title', 'Indexing PostgreSQL', 'anonymous gets a published course');
select throws_ok(format($$select api.course_get(%L)$$, :'draft'), 'LM404', null, 'anonymous gets 404 for a draft');
select is(jsonb_array_length(api.course_get(:'course') -> 'lessons'), 2,
  'anonymous sees the syllabus of published lessons only');
select ok(not (api.course_get(:'course') -> 'lessons' -> 0 ? 'content'), 'the syllabus carries no content for anonymous');
select is((select count(*)::int from app.lessons l where l.course_id = :'course'), 2,
  'anonymous direct SQL sees only published lessons of published courses');
select throws_ok($$select l.content from app.lessons l$$, '42501', null,
  'anonymous cannot select lesson content by direct SQL (column privilege)');
select throws_ok($$select l.video_url from app.lessons l$$, '42501', null,
  'anonymous cannot select video_url by direct SQL');
select is_empty(format($$select * from internal.lesson_content(%L)$$, :'l1'), 'anonymous gets no content through the helper');
select throws_ok(format($$select api.lesson_get(%L)$$, :'l1'), 'LM401', null, 'anonymous lesson.get needs sign-in');
select is_empty(format($$update app.courses set title = 'x' where id = %L returning id$$, :'course'),
  'anonymous direct UPDATE of a course changes nothing');
select throws_ok($$select api.course_create(title => 'nope', price_cents => 0)$$, 'LM401', null, 'anonymous cannot create a course');

-- ==== student =================================================================================
select tests.authenticate_as('sam');
select throws_ok($$select api.course_create(title => 'mine', price_cents => 0)$$, 'LM403', null, 'a student cannot create a course');
select throws_ok(format($$insert into app.courses (instructor_id, title) values (%L, 'forged')$$, tests.user_id('sam')),
  '42501', null, 'a student cannot insert a course by direct SQL');
select throws_ok(format($$select api.course_update(course_id => %L, title => 'x')$$, :'course'), 'LM403', null,
  'a student who sees a published course gets 403 not_course_owner on update');
select throws_ok(format($$select api.lesson_get(%L)$$, :'l1'), 'LM403', null, 'a student not enrolled cannot read a lesson');
select throws_ok(format($$select api.lesson_get(%L)$$, :'l4'), 'LM404', null, 'a student cannot see a draft lesson');
select is((api.enrollment_enroll(:'course') ->> 'is_active'), 'true', 'the student enrolls in the free course');
select is(api.lesson_get(:'l1') ->> 'content', 'body one', 'an enrolled student reads the content');
select is((select count(*)::int from internal.lesson_content(:'l4')), 0, 'an enrolled student gets no content of a draft lesson');
select is(api.course_get(:'course') -> 'lessons' -> 0 ->> 'content', 'body one', 'course.get carries content for an enrollee');

-- ==== other instructor ========================================================================
select tests.authenticate_as('ivo');
select is_empty(format($$update app.courses set title = 'hijacked' where id = %L returning id$$, :'course'),
  'another instructor''s direct UPDATE of the course affects 0 rows');
select is_empty(format($$delete from app.courses where id = %L returning id$$, :'course'),
  'another instructor''s direct DELETE of the course affects 0 rows');
select is_empty(format($$update app.lessons set title = 'hijacked' where course_id = %L returning id$$, :'course'),
  'another instructor''s direct UPDATE of lessons affects 0 rows');
select throws_ok(format($$insert into app.lessons (course_id, title, lesson_order) values (%L, 'intruder', 9)$$, :'course'),
  '42501', null, 'another instructor cannot insert a lesson into the course');
select is_empty(format($$update app.courses set instructor_id = %L where instructor_id = %L returning id$$, tests.user_id('ivo'), tests.user_id('ina')),
  'an instructor cannot take over someone else''s courses');
select throws_ok(format($$select api.course_update(course_id => %L, title => 'x')$$, :'course'), 'LM403', null,
  'another instructor gets 403 not_course_owner for a published course');
select throws_ok(format($$select api.course_delete(%L)$$, :'draft'), 'LM404', null,
  'another instructor gets 404 for a draft they cannot see');
select throws_ok(format($$select api.lesson_update(lesson_id => %L, title => 'x')$$, :'l1'), 'LM403', null,
  'another instructor gets 403 updating a lesson of a published course');
select throws_ok(format($$select api.lesson_create(course_id => %L, title => 'x')$$, :'draft'), 'LM404', null,
  'another instructor gets 404 adding a lesson to a draft');
select throws_ok(format($$select l.content from app.lessons l where l.id = %L$$, :'l1'), '42501', null,
  'another instructor cannot read content by direct SQL either');
select is(jsonb_array_length(api.course_list(instructor_id => tests.user_id('ina'))), 1,
  'course.list with someone else''s instructor_id shows only their published courses');

-- ==== admin ===================================================================================
select tests.authenticate_as('ada');
select is((select count(*)::int from app.courses c where c.id in (:'course', :'draft')), 2, 'admin sees every course');
select is(api.course_update(course_id => :'draft', title => 'Reviewed draft') ->> 'title', 'Reviewed draft',
  'admin updates someone else''s draft');
select isnt_empty(format($$update app.lessons set duration_minutes = 5 where id = %L returning id$$, :'dl'),
  'admin updates a lesson by direct SQL');
select is((select content from internal.lesson_content(:'dl')), 'draft body', 'admin reads any lesson content');
select throws_ok($$select api.course_create(title => 'admin course', price_cents => 0)$$, 'LM422', null,
  'an admin without an instructor profile must name instructor_id');
select api.course_create(title => 'For Ivo', price_cents => 0, instructor_id => tests.user_id('ivo')) as ivo_course \gset
select is(:'ivo_course'::jsonb ->> 'instructor_id', tests.user_id('ivo')::text, 'an admin creates a course for an instructor');
select tests.authenticate_as('ivo');
select throws_ok(format($$update app.courses set instructor_id = %L where id = %L$$, tests.user_id('ina'), :'ivo_course'::jsonb ->> 'id'),
  '42501', null, 'an instructor cannot hand their course to someone else by direct SQL');
select tests.authenticate_as('ada');
select lives_ok(format($$select api.course_delete(%L)$$, :'draft'), 'admin deletes a course without enrollments');
select throws_ok(format($$select api.course_delete(%L)$$, :'course'), 'LM409', null,
  'a course with enrollments cannot be deleted (409)');

-- ==== search =================================================================================
select tests.clear_authentication();
select is(api.course_list(search => 'index') -> 0 ->> 'id', :'course', 'full-text search finds the course by stem');
select is(jsonb_array_length(api.course_list(search => 'knitting')), 0, 'a search without match returns nothing');
select is(jsonb_array_length(api.course_list(tag => 'SQL')), 1, 'tag filter is case-insensitive');
select throws_ok($$select api.course_list("limit" => 101)$$, 'LM422', null, 'limit above 100 is refused (422 invalid_limit, as in every domain)');
set local enable_seqscan = off;
select tests.index_scans('app.ix_courses_search_vector') as scans_before \gset
select lives_ok($$select api.course_list(search => 'gin')$$, 'anonymous searches the catalog');
select cmp_ok(tests.index_scans('app.ix_courses_search_vector'), '>', :'scans_before'::bigint,
  'the catalog search as lms_api scans the GIN index');

select * from finish();
rollback;
