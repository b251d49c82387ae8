-- Storage: who may attach a file where, who sees it, and that deleted rows queue their bytes — as
-- lms_api exactly as the RPC layer (rpc/http/files.py) calls the upload functions.
begin;
select tests.plan(16);

select tests.create_user('inst', 'instructor');
select tests.create_user('inst2', 'instructor');
select tests.create_user('stu');
select tests.create_user('outsider');
select tests.as_owner(format($$
  insert into app.courses (id, instructor_id, title) values ('c3000000-0000-4000-8000-000000000001', %L, 'Files');
  insert into app.lessons (course_id, title, lesson_order, is_published)
    values ('c3000000-0000-4000-8000-000000000001', 'L1', 1, true);
  update app.courses set is_published = true, published_at = now();
  insert into app.enrollments (user_id, course_id) values (%L, 'c3000000-0000-4000-8000-000000000001');
  insert into app.assignments (id, course_id, title)
    values ('a3000000-0000-4000-8000-000000000001', 'c3000000-0000-4000-8000-000000000001', 'Essay');
  $$, tests.user_id('inst'), tests.user_id('stu')));

select tests.clear_authentication();
select policies_are('app', 'files', array['select_visible', 'insert_own_allowed', 'delete_uploader_or_manager'],
                    'files: select, insert and delete policies only');
select ok(not has_table_privilege('lms_api', 'app.files', 'update'), 'lms_api cannot update file rows');
select ok(not has_table_privilege('lms_analyst', 'app.storage_pending', 'select'), 'analysts do not see uploads under way');
select tests.as_owner($$update app.settings set value = 1000 where name = 'file_quota_bytes'$$);
select throws_ok($$select internal.file_upload_begin('c3000000-0000-4000-8000-000000000001', null, 'local', 'aa01')$$,
                 'LM401', null, 'anonymous callers cannot upload');

-- Course material: the instructor may, an enrolled student may not.
select tests.authenticate_as('stu');
select throws_ok($$select internal.file_upload_begin('c3000000-0000-4000-8000-000000000001', null, 'local', 'aa02')$$,
                 'LM403', 'only the course''s instructor or an admin may add course material', 'a student adds no course material');
select throws_ok($$insert into app.files (uploaded_by, course_id, original_filename, storage_path, content_type, file_size)
                   values (tests.user_id('stu'), 'c3000000-0000-4000-8000-000000000001', 'x.pdf', 'aa03', 'application/pdf', 1)$$,
                 '42501', null, 'RLS refuses a direct insert of course material by a student');
select tests.authenticate_as('inst');
select lives_ok($$select set_config('t.upload', internal.file_upload_begin('c3000000-0000-4000-8000-000000000001', null, 'local', 'bb01') ->> 'upload_id', false)$$,
                'the instructor begins an upload');
select is((internal.file_upload_finish(current_setting('t.upload')::uuid, 'c3000000-0000-4000-8000-000000000001', null,
                                       'slides.pdf', 'application/pdf', 400, repeat('ab', 32))) ->> 'filename',
          'slides.pdf', 'and finishes it: the row is written');
select tests.as_owner($$update app.settings set value = 400 where name = 'file_quota_bytes'$$);
select throws_ok($$select internal.file_upload_begin('c3000000-0000-4000-8000-000000000001', null, 'local', 'bb02')$$,
                 'LM422', 'your storage quota is used up', 'a used-up quota refuses the next upload');

-- Assignment attachments: the enrolled student may, the instructor (not enrolled) may not.
select throws_ok($$select internal.file_upload_begin(null, 'a3000000-0000-4000-8000-000000000001', 'local', 'bb03')$$,
                 'LM403', 'you are not enrolled in this course', 'the instructor attaches nothing to a submission');
select tests.authenticate_as('stu');
select tests.as_owner($$update app.settings set value = 1000 where name = 'file_quota_bytes'$$);
select is(jsonb_typeof(internal.file_upload_begin(null, 'a3000000-0000-4000-8000-000000000001', 'local', 'cc01')),
          'object', 'the enrolled student begins an attachment upload');
select is((select count(*)::integer from app.files), 1, 'the student sees the course material');
select tests.authenticate_as('outsider');
select is((select count(*)::integer from app.files), 0, 'an outsider sees no file');
select is((select count(*)::integer from app.storage_pending), 0, 'nor anyone''s upload under way');
select tests.authenticate_as('inst2');
select is((select count(*)::integer from app.files), 0, 'another instructor sees no file');

-- Deleting a row queues its bytes.
select tests.authenticate_as('inst');
delete from app.files;
select is(tests.owner_scalar($$select string_agg(kind || ':' || storage_path, ',' order by storage_path) from app.storage_pending$$),
          'delete:bb01,upload:cc01', 'the deleted file''s object is queued for removal; the student''s upload is still under way');

select * from finish();
rollback;
