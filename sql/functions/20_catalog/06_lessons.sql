/*
 * Catalog — lesson.*
 */

-- ---------------------------------------------------------------------------------------------
-- lesson.*
-- ---------------------------------------------------------------------------------------------

create or replace function api.lesson_create(
  course_id uuid,
  title text,
  content text default null,
  video_url text default null,
  duration_minutes integer default 0,
  lesson_order integer default null,
  module_id uuid default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_course app.courses := internal.lock_course_for_change(lesson_create.course_id);
  v_count  integer;
  v_order  integer;
  v_id     uuid;
begin
  select count(*) into v_count from app.lessons l where l.course_id = v_course.id;
  if lesson_create.lesson_order is not null and lesson_create.lesson_order < 1 then
    raise exception 'lesson_order must be 1 or more' using errcode = 'LM422', detail = 'invalid_lesson_order',
      hint = 'lesson_order';
  end if;
  v_order := least(coalesce(lesson_create.lesson_order, v_count + 1), v_count + 1);
  -- One statement: the deferrable unique constraint is checked at its end.
  update app.lessons l set lesson_order = l.lesson_order + 1
  where l.course_id = v_course.id and l.lesson_order >= v_order;
  insert into app.lessons as l (course_id, title, content, video_url, duration_minutes, lesson_order)
  values (v_course.id, btrim(lesson_create.title), lesson_create.content, nullif(btrim(lesson_create.video_url), ''),
          coalesce(lesson_create.duration_minutes, 0), v_order)
  returning l.id into v_id;
  if lesson_create.module_id is not null then
    perform internal.place_item('lesson', v_id, v_course.id, lesson_create.module_id);
  end if;
  return internal.lesson_json(v_id, true);
end
$$;
comment on function api.lesson_create(uuid, text, text, text, integer, integer, uuid) is
  'Add a draft lesson to a course (its instructor or an admin).
@result lesson
Without lesson_order it is appended; with one it is inserted there and later lessons move down (an order past the end appends). module_id: a module of the same course (422 module_not_in_course) it goes last in.
@param title minLength=1 maxLength=200
@param duration_minutes minimum=0
@param lesson_order minimum=1
@param content maxLength=500000
@param video_url maxLength=2048';

create or replace function api.lesson_update(
  lesson_id uuid,
  title text default null,
  content text default null,
  video_url text default null,
  duration_minutes integer default null,
  module_id uuid default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_course app.courses := internal.lesson_course_for_change(lesson_update.lesson_id);
begin
  update app.lessons l set
    title            = coalesce(btrim(lesson_update.title), l.title),
    duration_minutes = coalesce(lesson_update.duration_minutes, l.duration_minutes)
  where l.id = lesson_update.lesson_id;
  -- content and video_url are written without being read: lms_api has UPDATE but no SELECT on them.
  -- Given (an explicit null included) → written, a blank value as null; omitted → unchanged.
  if internal.given('content', lesson_update.content) then
    update app.lessons l set content = nullif(lesson_update.content, '') where l.id = lesson_update.lesson_id;
  end if;
  if internal.given('video_url', lesson_update.video_url) then
    update app.lessons l set video_url = nullif(btrim(lesson_update.video_url), '')
    where l.id = lesson_update.lesson_id;
  end if;
  if internal.given('module_id', lesson_update.module_id)
     and lesson_update.module_id is distinct from (select l.module_id from app.lessons l where l.id = lesson_update.lesson_id) then
    perform internal.place_item('lesson', lesson_update.lesson_id, v_course.id, lesson_update.module_id);
  end if;
  return internal.lesson_json(lesson_update.lesson_id, true);
end
$$;
comment on function api.lesson_update(uuid, text, text, text, integer, uuid) is
  'Change a lesson (the course''s instructor or an admin). Omitted fields stay; an explicit null clears content or video_url (a blank string is stored as null too) or module_id (out of its module); title and duration_minutes cannot be null. A new module_id puts it last in that module (module.move_item places it). Use lesson.reorder to move it, lesson.publish / lesson.unpublish to change is_published.
@result lesson
@patch
@param title minLength=1 maxLength=200
@param content nullable
@param video_url nullable
@param module_id nullable
@param duration_minutes minimum=0
@param content maxLength=500000
@param video_url maxLength=2048';

create or replace function api.lesson_publish(lesson_id uuid)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_course app.courses := internal.lesson_course_for_change(lesson_publish.lesson_id);
begin
  -- Enrollees' progress is recomputed by the lessons trigger _400_progress_after_update.
  update app.lessons l set is_published = true where l.id = lesson_publish.lesson_id and not l.is_published;
  return internal.lesson_json(lesson_publish.lesson_id, true);
end
$$;
comment on function api.lesson_publish(uuid) is
  'Publish a lesson (the course''s instructor or an admin); idempotent. Enrollees'' progress is recomputed.
@result lesson';

create or replace function api.lesson_unpublish(lesson_id uuid)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_course app.courses := internal.lesson_course_for_change(lesson_unpublish.lesson_id);
begin
  perform internal.require_published_lesson_left(v_course, lesson_unpublish.lesson_id);
  update app.lessons l set is_published = false where l.id = lesson_unpublish.lesson_id and l.is_published;
  return internal.lesson_json(lesson_unpublish.lesson_id, true);
end
$$;
comment on function api.lesson_unpublish(uuid) is
  'Take a lesson back to draft (the course''s instructor or an admin); idempotent. Enrollees'' progress is recomputed.
@result lesson
The last published lesson of a published course cannot be unpublished (422 last_published_lesson): unpublish the course first.';

create or replace function api.lesson_delete(lesson_id uuid)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_course app.courses := internal.lesson_course_for_change(lesson_delete.lesson_id);
  v_order  integer;
begin
  perform internal.require_published_lesson_left(v_course, lesson_delete.lesson_id);
  delete from app.lessons l where l.id = lesson_delete.lesson_id returning l.lesson_order into v_order;
  update app.lessons l set lesson_order = l.lesson_order - 1
  where l.course_id = v_course.id and l.lesson_order > v_order;
  return jsonb_build_object('deleted', true, 'lesson_id', lesson_delete.lesson_id,
                            'lessons', internal.syllabus_json(v_course.id, false));
end
$$;
comment on function api.lesson_delete(uuid) is
  'Delete a lesson (the course''s instructor or an admin); later lessons move up so the order stays 1..n. Enrollees'' progress is recomputed.
@result {deleted: bool, lesson_id: uuid, lessons: lesson[]}
The last published lesson of a published course cannot be deleted (422 last_published_lesson): unpublish the course first.';

create or replace function api.lesson_reorder(course_id uuid, lesson_ids uuid[])
returns jsonb
language plpgsql
volatile
as $$
declare
  v_course app.courses := internal.lock_course_for_change(lesson_reorder.course_id);
begin
  -- Checked under the course lock, so a concurrent create/delete/reorder cannot slip in between.
  if lesson_reorder.lesson_ids is null
     or cardinality(lesson_reorder.lesson_ids) <> (select count(distinct x) from unnest(lesson_reorder.lesson_ids) x)
     or cardinality(lesson_reorder.lesson_ids) <> (select count(*) from app.lessons l where l.course_id = v_course.id)
     or exists (select from unnest(lesson_reorder.lesson_ids) x
                where not exists (select from app.lessons l where l.id = x and l.course_id = v_course.id)) then
    raise exception 'lesson_ids must list every lesson of the course exactly once'
      using errcode = 'LM422', detail = 'invalid_permutation', hint = 'lesson_ids';
  end if;
  update app.lessons l set lesson_order = v.ord
  from unnest(lesson_reorder.lesson_ids) with ordinality as v(id, ord)
  where l.id = v.id and l.course_id = v_course.id and l.lesson_order <> v.ord;
  return internal.syllabus_json(v_course.id, false);
end
$$;
comment on function api.lesson_reorder(uuid, uuid[]) is
  'Put a course''s lessons in the given order (its instructor or an admin).
@result lesson[]
lesson_ids must be a permutation of all the course''s lessons (else 422 invalid_permutation); applied atomically; concurrent reorders of one course serialize on the course row.
@param lesson_ids maxItems=1000';

create or replace function api.lesson_get(lesson_id uuid)
returns jsonb
language plpgsql
stable
as $$
declare
  v_course_id    uuid;
  v_is_published boolean;
  v_module_id    uuid;
begin
  select l.course_id, l.is_published, l.module_id into v_course_id, v_is_published, v_module_id
  from app.lessons l where l.id = lesson_get.lesson_id;
  if v_course_id is null then
    raise exception 'lesson not found' using errcode = 'LM404', detail = 'not_found', hint = 'lesson_id';
  end if;
  if not internal.can_read_lesson_content(v_course_id, v_is_published) then
    if app.current_user_id() is null then
      raise exception 'sign in and enroll to read this lesson' using errcode = 'LM401', detail = 'not_authenticated';
    end if;
    raise exception 'enroll in the course to read this lesson' using errcode = 'LM403', detail = 'not_enrolled';
  end if;
  perform internal.require_item_unlocked(v_course_id, v_module_id);
  return internal.lesson_json(lesson_get.lesson_id, true);
end
$$;
comment on function api.lesson_get(uuid) is
  'A lesson with its content and video URL (active enrollees, the course''s instructor, admins).
@result lesson
Others who can see it in the syllabus get 403 not_enrolled; unseen lessons 404; a lesson of a module not open to the learner yet 423 module_locked.';
