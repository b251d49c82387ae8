/*
 * Catalog — the JSON of courses, lessons and syllabi, and who may read lesson content.
 * Shared with other domains: internal.course_json (learning, credentials).
 */

create or replace function internal.normalize_tags(p_tags text[])
returns text[]
language sql
immutable
strict
as $$
  select coalesce(array_agg(distinct lower(btrim(t)) order by lower(btrim(t))), '{}')
  from unnest(p_tags) t
  where t is not null and btrim(t) <> ''
$$;
comment on function internal.normalize_tags(text[]) is 'Tags trimmed, lower-cased, de-duplicated and sorted; blanks dropped. Null stays null (strict): an update without tags keeps them.';

create or replace function internal.instructor_name(p_user_id uuid)
returns text
language plpgsql  -- not SQL: a SQL function that is not inlined is planned again at every call
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return (select u.full_name from app.users u
            where u.id = p_user_id and exists (select from app.instructors i where i.user_id = u.id));
end
$$;
comment on function internal.instructor_name(uuid) is
  'Full name of an instructor (public on their courses); null for anyone who is not one. SECURITY DEFINER: users RLS shows other users to nobody but admins.';

create or replace function internal.course_json(p_course app.courses)
returns jsonb
language sql
stable
as $$
  select jsonb_build_object(
    'id', p_course.id, 'instructor_id', p_course.instructor_id,
    'instructor_name', internal.instructor_name(p_course.instructor_id), 'title', p_course.title,
    'short_description', p_course.short_description, 'description', p_course.description,
    'price_cents', p_course.price_cents, 'currency', p_course.currency, 'is_free', p_course.is_free,
    'category', p_course.category, 'tags', to_jsonb(p_course.tags), 'thumbnail_url', p_course.thumbnail_url,
    'is_published', p_course.is_published, 'published_at', p_course.published_at,
    'created_at', p_course.created_at, 'updated_at', p_course.updated_at)
$$;
comment on function internal.course_json(app.courses) is 'The JSON shape of a course in api results.
@shape course {id: uuid, instructor_id: uuid, instructor_name: text, title: text, short_description: text?,
  description: text?, price_cents: int, currency: text, is_free: bool, category: text?, tags: text[],
  thumbnail_url: text?, is_published: bool, published_at: timestamptz?, created_at: timestamptz,
  updated_at: timestamptz}';

create or replace function internal.can_read_lesson_content(p_course_id uuid, p_is_published boolean)
returns boolean
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return (select internal.can_manage_course(p_course_id)
              or (p_is_published and exists (select from app.enrollments e
                                             where e.user_id = app.current_user_id()
                                               and e.course_id = p_course_id and e.is_active)));
end
$$;
comment on function internal.can_read_lesson_content(uuid, boolean) is
  'Whether the caller may read the content of a lesson of p_course_id: instructor/admin always, active enrollees for published lessons. SECURITY DEFINER: answers for the caller only, whatever RLS shows (like can_manage_course).';

create or replace function internal.lesson_content(p_lesson_id uuid)
returns table (content text, video_url text)
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return query
    select l.content, l.video_url from app.lessons l
    where l.id = p_lesson_id and internal.can_read_lesson_content(l.course_id, l.is_published);
end
$$;
comment on function internal.lesson_content(uuid) is
  'Content and video URL of a lesson, for the course''s instructor, admins and active enrollees (published lessons); no row for anyone else. SECURITY DEFINER because lms_api/lms_analyst have no SELECT on these columns (column-privilege split).';

create or replace function internal.lesson_json(p_lesson_id uuid, p_with_content boolean)
returns jsonb
language plpgsql
stable
as $$
begin
  return (select jsonb_build_object(
                   'id', l.id, 'course_id', l.course_id, 'title', l.title, 'lesson_order', l.lesson_order,
                   'duration_minutes', l.duration_minutes, 'is_published', l.is_published,
                   'created_at', l.created_at, 'updated_at', l.updated_at,
                   'module_id', l.module_id, 'module_position', l.module_position)
                 || case when p_with_content then coalesce(
                      (select jsonb_build_object('content', lc.content, 'video_url', lc.video_url)
                       from internal.lesson_content(l.id) lc), '{}'::jsonb)
                    else '{}'::jsonb end
          from app.lessons l where l.id = p_lesson_id);
end
$$;
comment on function internal.lesson_json(uuid, boolean) is
  'The JSON shape of a lesson visible to the caller; with content and video_url when asked and allowed.
@shape lesson {id: uuid, course_id: uuid, title: text, lesson_order: int, duration_minutes: int, is_published: bool,
  created_at: timestamptz, updated_at: timestamptz, module_id: uuid?, module_position: int?, content?: text?,
  video_url?: text?}';

/*
 * Lesson content of a whole course in one call: the caller's right is decided once (manager, or
 * active enrollee for the published lessons), not once per lesson.
 */
create or replace function internal.course_lesson_contents(p_course_id uuid)
returns table (lesson_id uuid, content text, video_url text)
language plpgsql
stable
rows 20
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return query
    with caller as materialized (
      select internal.can_manage_course(p_course_id) as manages,
             exists (select from app.enrollments e
                     where e.user_id = app.current_user_id() and e.course_id = p_course_id and e.is_active) as enrolled
    )
    select l.id, l.content, l.video_url
    from caller w join app.lessons l on l.course_id = p_course_id
    where w.manages or (w.enrolled and l.is_published);
end
$$;
comment on function internal.course_lesson_contents(uuid) is
  'Content and video URL of the lessons of a course the caller may read (internal.can_read_lesson_content, decided once for the course: instructor/admin all, active enrollees the published ones). SECURITY DEFINER because lms_api/lms_analyst have no SELECT on these columns.';

create or replace function internal.syllabus_json(p_course_id uuid, p_with_content boolean)
returns jsonb
language plpgsql
stable
as $$
begin
  return (select coalesce(jsonb_agg(
                   jsonb_build_object(
                     'id', l.id, 'course_id', l.course_id, 'title', l.title, 'lesson_order', l.lesson_order,
                     'duration_minutes', l.duration_minutes, 'is_published', l.is_published,
                     'created_at', l.created_at, 'updated_at', l.updated_at,
                     'module_id', l.module_id, 'module_position', l.module_position)
                   || case when lc.lesson_id is not null
                           then jsonb_build_object('content', lc.content, 'video_url', lc.video_url)
                           else '{}'::jsonb end
                   order by l.lesson_order), '[]'::jsonb)
          from app.lessons l
          left join (select x.lesson_id, x.content, x.video_url
                     from internal.course_lesson_contents(p_course_id) x where p_with_content) lc on lc.lesson_id = l.id
          where l.course_id = p_course_id);
end
$$;
comment on function internal.syllabus_json(uuid, boolean) is
  'The lessons of a course the caller can see (RLS), in order (the lesson shape); content only where allowed. One statement: the content right is decided once per course (internal.course_lesson_contents).';
