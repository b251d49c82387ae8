/*
 * Catalog functions: courses and lessons, and the membership helpers every domain's policies use.
 *
 * Shape: the api functions are SECURITY INVOKER, so RLS on app.courses / app.lessons is what
 * enforces ownership (only the course's instructor or an admin may change a course or its
 * lessons) — for JSON-RPC calls and for direct SQL alike. The functions add the precise
 * errors: 404 not_found when the caller cannot see the course, 403 not_course_owner when they
 * can see it but do not own it.
 *
 * Lesson content (content, video_url) is a column-privilege split: lms_api / lms_analyst may
 * select every lessons column except those two (sql/policies/20_catalog.sql). They are read
 * through internal.lesson_content(), a SECURITY DEFINER function that returns them only to the
 * course's instructor, admins and active enrollees (published lessons).
 *
 * The membership helpers (my_course_ids, my_enrolled_course_ids) are SECURITY DEFINER sets so
 * that policies can say `course_id in (select internal.my_course_ids())` without one table's
 * policy recursing into another's.
 */

-- ---------------------------------------------------------------------------------------------
-- Shared helpers (names and signatures are used by other domains: keep them).
-- ---------------------------------------------------------------------------------------------

create or replace function internal.my_course_ids()
returns setof uuid
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select c.id from app.courses c
  where c.instructor_id = app.current_user_id() and internal.current_user_role() in ('instructor', 'admin')
$$;
comment on function internal.my_course_ids() is
  'Ids of the courses the calling user teaches — only while they are an active instructor (or admin): a demoted or deactivated instructor keeps no control. SECURITY DEFINER so policies can use it without recursing through courses RLS; reveals only the caller''s own courses.';

create or replace function internal.can_manage_course(p_course_id uuid)
returns boolean
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select internal.is_admin()
      or (internal.current_user_role() = 'instructor'
          and exists (select from app.courses c
                      where c.id = p_course_id and c.instructor_id = app.current_user_id()))
$$;
comment on function internal.can_manage_course(uuid) is
  'True when the calling user is an active admin, or an active instructor (current role) who teaches the course. SECURITY DEFINER: answers for the caller only, whatever RLS shows.';

/*
 * Visibility of a course, the same rule as the courses select policy
 * (sql/policies/20_catalog.sql, keep the two in step): published, or taught by the caller, or the
 * caller is an admin or actively enrolled. SECURITY DEFINER so that definer functions (which
 * bypass RLS) can tell "invisible: 404" from "visible but not allowed: 403" exactly as invoker
 * functions do by reading app.courses under RLS.
 */
create or replace function internal.can_see_course(p_course_id uuid)
returns boolean
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select exists (
    select from app.courses c
    where c.id = p_course_id
      and (c.is_published
           or c.instructor_id = app.current_user_id()
           or internal.is_admin()
           or exists (select from app.enrollments e
                      where e.user_id = app.current_user_id() and e.course_id = c.id and e.is_active)))
$$;
comment on function internal.can_see_course(uuid) is
  'True when the calling user may see the course (the courses select policy): published, their own, admin, or actively enrolled. False for unknown ids. SECURITY DEFINER: answers for the caller only; used where RLS does not apply to tell 404 from 403.';

create or replace function internal.my_enrolled_course_ids()
returns setof uuid
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select e.course_id from app.enrollments e
  where e.user_id = app.current_user_id() and e.is_active
$$;
comment on function internal.my_enrolled_course_ids() is
  'Ids of the courses the calling user is actively enrolled in. SECURITY DEFINER (policy helper, no recursion); reveals only the caller''s own enrollments.';

create or replace function internal.is_actively_enrolled(p_user_id uuid, p_course_id uuid)
returns boolean
language sql
stable
as $$
  select exists (select from app.enrollments e
                 where e.user_id = p_user_id and e.course_id = p_course_id and e.is_active)
$$;
comment on function internal.is_actively_enrolled(uuid, uuid) is
  'True when p_user_id has an active enrollment in p_course_id. SECURITY INVOKER: under lms_api RLS it can only confirm enrollments the caller may see (own, own courses'', admin); inside SECURITY DEFINER functions it sees all.';

create or replace function internal.is_instructor(p_user_id uuid)
returns boolean
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select exists (select from app.instructors i join app.users u on u.id = i.user_id
                 where i.user_id = p_user_id and u.role = 'instructor' and u.is_active)
$$;
comment on function internal.is_instructor(uuid) is
  'True when p_user_id is an active user whose role is instructor (with an instructor profile), i.e. may own new courses. SECURITY DEFINER: the tables'' RLS belongs to identity; who teaches is public anyway.';

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
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select u.full_name from app.users u
  where u.id = p_user_id and exists (select from app.instructors i where i.user_id = u.id)
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
comment on function internal.course_json(app.courses) is 'The JSON shape of a course in api results.';

create or replace function internal.can_read_lesson_content(p_course_id uuid, p_is_published boolean)
returns boolean
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select internal.can_manage_course(p_course_id)
      or (p_is_published and exists (select from app.enrollments e
                                     where e.user_id = app.current_user_id()
                                       and e.course_id = p_course_id and e.is_active))
$$;
comment on function internal.can_read_lesson_content(uuid, boolean) is
  'Whether the caller may read the content of a lesson of p_course_id: instructor/admin always, active enrollees for published lessons.';

create or replace function internal.lesson_content(p_lesson_id uuid)
returns table (content text, video_url text)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select l.content, l.video_url from app.lessons l
  where l.id = p_lesson_id and internal.can_read_lesson_content(l.course_id, l.is_published)
$$;
comment on function internal.lesson_content(uuid) is
  'Content and video URL of a lesson, for the course''s instructor, admins and active enrollees (published lessons); no row for anyone else. SECURITY DEFINER because lms_api/lms_analyst have no SELECT on these columns (column-privilege split).';

create or replace function internal.lesson_json(p_lesson_id uuid, p_with_content boolean)
returns jsonb
language sql
stable
as $$
  select jsonb_build_object(
           'id', l.id, 'course_id', l.course_id, 'title', l.title, 'lesson_order', l.lesson_order,
           'duration_minutes', l.duration_minutes, 'is_published', l.is_published,
           'created_at', l.created_at, 'updated_at', l.updated_at)
         || case when p_with_content then coalesce(
              (select jsonb_build_object('content', lc.content, 'video_url', lc.video_url)
               from internal.lesson_content(l.id) lc), '{}'::jsonb)
            else '{}'::jsonb end
  from app.lessons l where l.id = p_lesson_id
$$;
comment on function internal.lesson_json(uuid, boolean) is
  'The JSON shape of a lesson visible to the caller; with content and video_url when asked and allowed.';

create or replace function internal.syllabus_json(p_course_id uuid, p_with_content boolean)
returns jsonb
language sql
stable
as $$
  select coalesce(jsonb_agg(internal.lesson_json(l.id, p_with_content) order by l.lesson_order), '[]'::jsonb)
  from app.lessons l where l.course_id = p_course_id
$$;
comment on function internal.syllabus_json(uuid, boolean) is
  'The lessons of a course the caller can see (RLS), in order; content only where allowed.';

/*
 * Locate a course for a change: 404 when the caller cannot see it, 403 not_course_owner when
 * they can but do not manage it; then lock the row (no key update: enrollments' foreign-key
 * checks are not blocked) so lesson-order changes of one course serialize.
 */
create or replace function internal.lock_course_for_change(p_course_id uuid)
returns app.courses
language plpgsql
volatile
as $$
declare
  v_course app.courses;
begin
  perform internal.require_user();
  if not exists (select from app.courses c where c.id = p_course_id) then
    raise exception 'course not found' using errcode = 'LM404', detail = 'not_found', hint = 'course_id';
  end if;
  if not internal.can_manage_course(p_course_id) then
    raise exception 'only the course''s instructor or an admin may change it'
      using errcode = 'LM403', detail = 'not_course_owner';
  end if;
  select c.* into v_course from app.courses c where c.id = p_course_id for no key update;
  if not found then
    raise exception 'course not found' using errcode = 'LM404', detail = 'not_found', hint = 'course_id';
  end if;
  return v_course;
end
$$;
comment on function internal.lock_course_for_change(uuid) is
  'The course row, locked, if the caller may change it; LM404 not_found / LM403 not_course_owner otherwise.';

create or replace function internal.lesson_course_for_change(p_lesson_id uuid)
returns app.courses
language plpgsql
volatile
as $$
declare
  v_course_id uuid;
begin
  perform internal.require_user();
  select l.course_id into v_course_id from app.lessons l where l.id = p_lesson_id;
  if v_course_id is null then
    raise exception 'lesson not found' using errcode = 'LM404', detail = 'not_found', hint = 'lesson_id';
  end if;
  return internal.lock_course_for_change(v_course_id);
end
$$;
comment on function internal.lesson_course_for_change(uuid) is
  'The locked course of a lesson the caller may change; LM404 / LM403 otherwise.';

/*
 * Publishing rule, for every path (functions and direct SQL): a course can only be published
 * while it has at least one published lesson. published_at keeps the first publication time.
 */
create or replace function internal.tg_courses__publish_rule()
returns trigger
language plpgsql
as $$
begin
  if new.is_published and (tg_op = 'INSERT' or not old.is_published) then
    if not exists (select from app.lessons l where l.course_id = new.id and l.is_published) then
      raise exception 'a course needs at least one published lesson before it is published'
        using errcode = 'LM422', detail = 'no_published_lessons', hint = 'course_id';
    end if;
    new.published_at := coalesce(new.published_at, now());
  end if;
  return new;
end
$$;
comment on function internal.tg_courses__publish_rule() is
  'BEFORE INSERT/UPDATE on courses: publishing needs >= 1 published lesson (LM422 no_published_lessons); sets published_at.';
drop trigger if exists _200_publish_rule on app.courses;
create trigger _200_publish_rule before insert or update of is_published on app.courses
  for each row execute function internal.tg_courses__publish_rule();

/*
 * The other half of the publishing rule: a published course keeps at least one published lesson.
 * Unpublishing or deleting its last published lesson is refused (422 last_published_lesson):
 * unpublish the course first. Refusing, rather than unpublishing the course as a side effect,
 * keeps a course from silently leaving the catalog (and from being no longer purchasable).
 * lesson.unpublish / lesson.delete check it up front (internal.require_published_lesson_left);
 * a deferred constraint trigger holds it for every other path (direct SQL may unpublish the
 * lesson and the course in either order within one transaction). Deleting the course itself
 * (its lessons go by cascade) is not affected.
 */
create or replace function internal.require_published_lesson_left(p_course app.courses, p_lesson_id uuid)
returns void
language plpgsql
stable
as $$
begin
  if p_course.is_published
     and exists (select from app.lessons l where l.id = p_lesson_id and l.is_published)
     and not exists (select from app.lessons l
                     where l.course_id = p_course.id and l.is_published and l.id <> p_lesson_id) then
    raise exception 'this is the last published lesson of a published course; unpublish the course first'
      using errcode = 'LM422', detail = 'last_published_lesson', hint = 'lesson_id';
  end if;
end
$$;
comment on function internal.require_published_lesson_left(app.courses, uuid) is
  'Raises LM422 last_published_lesson when p_lesson_id is the only published lesson of the published course p_course (called by lesson.unpublish / lesson.delete under the course lock, by its manager, who sees every lesson).';

create or replace function internal.tg_lessons__published_course_keeps_lesson()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  -- Lock the course like the api functions do, then look: two transactions that each take away
  -- one of the last two published lessons serialize here, and the second one sees the first.
  perform from app.courses c where c.id = old.course_id and c.is_published for no key update;
  if found and not exists (select from app.lessons l where l.course_id = old.course_id and l.is_published) then
    raise exception 'a published course keeps at least one published lesson; unpublish the course first'
      using errcode = 'LM422', detail = 'last_published_lesson', hint = 'lesson_id';
  end if;
  return null;
end
$$;
comment on function internal.tg_lessons__published_course_keeps_lesson() is
  'Deferred constraint trigger on lessons (a published lesson unpublished, moved or deleted): at commit a published course still has a published lesson, else LM422 last_published_lesson. SECURITY DEFINER: counts every lesson whatever RLS shows the writer.';
drop trigger if exists _310_published_course_keeps_lesson on app.lessons;
create constraint trigger _310_published_course_keeps_lesson after update of is_published, course_id on app.lessons
  deferrable initially deferred
  for each row when (old.is_published and (not new.is_published or new.course_id <> old.course_id))
  execute function internal.tg_lessons__published_course_keeps_lesson();
drop trigger if exists _311_published_course_keeps_lesson on app.lessons;
create constraint trigger _311_published_course_keeps_lesson after delete on app.lessons
  deferrable initially deferred
  for each row when (old.is_published)
  execute function internal.tg_lessons__published_course_keeps_lesson();

/*
 * Dense lesson order, for every path: at commit, each course touched has lesson_order exactly
 * 1..n. A deferred constraint trigger, so the functions may shift lessons within a transaction
 * (and the deferrable unique constraint keeps positions distinct). SECURITY DEFINER to count
 * every lesson of the course whatever RLS shows the writer.
 */
create or replace function internal.tg_lessons__dense_order()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_course_id uuid := case when tg_op = 'DELETE' then old.course_id else new.course_id end;
  v_count     integer;
  v_max       integer;
begin
  select count(*)::integer, max(l.lesson_order) into v_count, v_max
  from app.lessons l where l.course_id = v_course_id;
  if v_count > 0 and v_max <> v_count then
    raise exception 'lesson_order of a course must be 1..n without gaps (use lesson.reorder)'
      using errcode = 'LM422', detail = 'invalid_lesson_order', hint = 'lesson_order';
  end if;
  if tg_op = 'UPDATE' and old.course_id <> new.course_id then
    select count(*)::integer, max(l.lesson_order) into v_count, v_max
    from app.lessons l where l.course_id = old.course_id;
    if v_count > 0 and v_max <> v_count then
      raise exception 'lesson_order of a course must be 1..n without gaps (use lesson.reorder)'
        using errcode = 'LM422', detail = 'invalid_lesson_order', hint = 'lesson_order';
    end if;
  end if;
  return null;
end
$$;
comment on function internal.tg_lessons__dense_order() is
  'Deferred constraint trigger on lessons: at commit the course''s lesson_order is 1..n (unique + max = count). LM422 invalid_lesson_order otherwise.';
drop trigger if exists _300_dense_order on app.lessons;
create constraint trigger _300_dense_order after insert or delete or update of lesson_order, course_id on app.lessons
  deferrable initially deferred
  for each row execute function internal.tg_lessons__dense_order();

/*
 * Catalog search. Full-text `@@` (and array `@>`) are not leakproof, so under RLS the planner
 * may not use ix_courses_search_vector for lms_api. This SECURITY DEFINER function applies the
 * visibility rule itself (published, or the named instructor's drafts for that instructor or an
 * admin), so the GIN index is usable; api.course_list then reads the rows through RLS by id.
 */
create or replace function internal.find_courses(
  p_search text, p_category text, p_tag text, p_instructor_id uuid, p_limit integer, p_offset integer)
returns table (course_id uuid, rank real)
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id uuid := app.current_user_id();
  v_drafts  boolean := p_instructor_id is not null and (p_instructor_id = v_user_id or internal.is_admin());
  v_query   tsquery;
  v_tag     text := nullif(lower(btrim(p_tag)), '');
begin
  if nullif(btrim(p_search), '') is not null then
    v_query := pg_catalog.websearch_to_tsquery('english'::regconfig, p_search);
    if pg_catalog.numnode(v_query) = 0 then
      v_query := null;  -- only stop words / punctuation: no text filter
    end if;
  end if;
  if v_query is null then
    return query
      select c.id, 0::real from app.courses c
      where (c.is_published or (v_drafts and c.instructor_id = p_instructor_id))
        and (p_instructor_id is null or c.instructor_id = p_instructor_id)
        and (p_category is null or c.category = p_category)
        and (v_tag is null or c.tags @> array[v_tag])
      order by c.created_at desc, c.id
      limit p_limit offset p_offset;
  else
    return query
      select c.id, pg_catalog.ts_rank(c.search_vector, v_query) as r from app.courses c
      where c.search_vector @@ v_query
        and (c.is_published or (v_drafts and c.instructor_id = p_instructor_id))
        and (p_instructor_id is null or c.instructor_id = p_instructor_id)
        and (p_category is null or c.category = p_category)
        and (v_tag is null or c.tags @> array[v_tag])
      order by r desc, c.created_at desc, c.id
      limit p_limit offset p_offset;
  end if;
end
$$;
comment on function internal.find_courses(text, text, text, uuid, integer, integer) is
  'Ids and ranks of the catalog page asked for. SECURITY DEFINER so full-text search can use the GIN index (non-leakproof @@ under RLS cannot); applies the visibility rule itself: published courses, plus the named instructor''s drafts when the caller is that instructor or an admin.';

-- ---------------------------------------------------------------------------------------------
-- course.*
-- ---------------------------------------------------------------------------------------------

create or replace function api.course_create(
  title text,
  price_cents integer,
  description text default null,
  short_description text default null,
  category text default null,
  tags text[] default null,
  thumbnail_url text default null,
  currency text default 'USD',
  instructor_id uuid default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_user_id       uuid := internal.require_role('instructor', 'admin');
  v_instructor_id uuid := coalesce(course_create.instructor_id, v_user_id);
  v_course        app.courses;
begin
  if v_instructor_id <> v_user_id and not internal.is_admin() then
    raise exception 'only an admin may create a course for another instructor'
      using errcode = 'LM403', detail = 'forbidden', hint = 'instructor_id';
  end if;
  if not internal.is_instructor(v_instructor_id) then
    if course_create.instructor_id is null then
      raise exception 'an admin without an instructor profile must name the course''s instructor_id'
        using errcode = 'LM422', detail = 'instructor_required', hint = 'instructor_id';
    end if;
    raise exception 'instructor_id is not an instructor'
      using errcode = 'LM422', detail = 'not_an_instructor', hint = 'instructor_id';
  end if;
  insert into app.courses as c (instructor_id, title, description, short_description, price_cents, currency,
                                category, tags, thumbnail_url)
  values (v_instructor_id, btrim(course_create.title), nullif(course_create.description, ''),
          nullif(course_create.short_description, ''), course_create.price_cents,
          coalesce(course_create.currency, 'USD'), nullif(btrim(course_create.category), ''),
          internal.normalize_tags(coalesce(course_create.tags, '{}')), nullif(btrim(course_create.thumbnail_url), ''))
  returning c.* into v_course;
  perform internal.audit('course.created', 'course', v_course.id, jsonb_build_object('instructor_id', v_instructor_id));
  return internal.course_json(v_course);
end
$$;
comment on function api.course_create(text, integer, text, text, text, text[], text, text, uuid) is
  'Create a draft course (instructor or admin).
The caller becomes its instructor. An admin may name another instructor with instructor_id; an admin without an instructor profile must. is_free is true exactly when price_cents is 0.
@param title minLength=1 maxLength=200
@param short_description maxLength=500
@param price_cents minimum=0
@param tags maxItems=20
@param category maxLength=100
@param tags itemMaxLength=100
@param thumbnail_url maxLength=2048
@param currency maxLength=3';

create or replace function api.course_update(
  course_id uuid,
  title text default null,
  description text default null,
  short_description text default null,
  price_cents integer default null,
  category text default null,
  tags text[] default null,
  thumbnail_url text default null,
  currency text default null,
  instructor_id uuid default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_course app.courses := internal.lock_course_for_change(course_update.course_id);
begin
  if course_update.instructor_id is not null and course_update.instructor_id <> v_course.instructor_id then
    if not internal.is_admin() then
      raise exception 'only an admin may move a course to another instructor'
        using errcode = 'LM403', detail = 'forbidden', hint = 'instructor_id';
    end if;
    if not internal.is_instructor(course_update.instructor_id) then
      raise exception 'instructor_id is not an instructor'
        using errcode = 'LM422', detail = 'not_an_instructor', hint = 'instructor_id';
    end if;
  end if;
  -- API.md "Updates": an omitted field stays; an explicit null clears a nullable one
  -- (internal.given). A blank value of a nullable text field is stored as null, as course.create does.
  -- Required fields keep coalesce: the RPC layer refuses an explicit null for them (-32602).
  update app.courses c set
    title             = coalesce(btrim(course_update.title), c.title),
    description       = case when internal.given('description', course_update.description)
                             then nullif(course_update.description, '') else c.description end,
    short_description = case when internal.given('short_description', course_update.short_description)
                             then nullif(course_update.short_description, '') else c.short_description end,
    price_cents       = coalesce(course_update.price_cents, c.price_cents),
    category          = case when internal.given('category', course_update.category)
                             then nullif(btrim(course_update.category), '') else c.category end,
    tags              = coalesce(internal.normalize_tags(course_update.tags), c.tags),
    thumbnail_url     = case when internal.given('thumbnail_url', course_update.thumbnail_url)
                             then nullif(btrim(course_update.thumbnail_url), '') else c.thumbnail_url end,
    currency          = coalesce(course_update.currency, c.currency),
    instructor_id     = coalesce(course_update.instructor_id, c.instructor_id)
  where c.id = course_update.course_id
  returning c.* into v_course;
  return internal.course_json(v_course);
end
$$;
comment on function api.course_update(uuid, text, text, text, integer, text, text[], text, text, uuid) is
  'Change a course''s fields (its instructor or an admin).
Omitted fields stay unchanged; an explicit null clears description, short_description, category or thumbnail_url (a blank string is stored as null too); the other fields cannot be null. Only an admin may change instructor_id.
@patch
@param title minLength=1 maxLength=200
@param description nullable
@param short_description nullable maxLength=500
@param category nullable
@param thumbnail_url nullable
@param price_cents minimum=0
@param tags maxItems=20
@param category maxLength=100
@param tags itemMaxLength=100
@param thumbnail_url maxLength=2048
@param currency maxLength=3';

create or replace function api.course_publish(course_id uuid)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_course app.courses := internal.lock_course_for_change(course_publish.course_id);
begin
  if not v_course.is_published then
    update app.courses c set is_published = true where c.id = course_publish.course_id
    returning c.* into v_course;
    perform internal.audit('course.published', 'course', v_course.id);
  end if;
  return internal.course_json(v_course);
end
$$;
comment on function api.course_publish(uuid) is
  'Publish a course (its instructor or an admin); idempotent.
Needs at least one published lesson, else 422 no_published_lessons.';

create or replace function api.course_unpublish(course_id uuid)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_course app.courses := internal.lock_course_for_change(course_unpublish.course_id);
begin
  if v_course.is_published then
    update app.courses c set is_published = false where c.id = course_unpublish.course_id
    returning c.* into v_course;
    perform internal.audit('course.unpublished', 'course', v_course.id);
  end if;
  return internal.course_json(v_course);
end
$$;
comment on function api.course_unpublish(uuid) is
  'Take a course out of the catalog (its instructor or an admin); idempotent.
Active enrollees keep access to its published lessons.';

create or replace function api.course_delete(course_id uuid)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_course app.courses := internal.lock_course_for_change(course_delete.course_id);
begin
  -- The manager sees every enrollment of the course (RLS), active or dropped.
  if exists (select from app.enrollments e where e.course_id = course_delete.course_id) then
    raise exception 'a course with enrollments cannot be deleted; unpublish it instead'
      using errcode = 'LM409', detail = 'has_enrollments', hint = 'course_id';
  end if;
  delete from app.courses c where c.id = course_delete.course_id;
  perform internal.audit('course.deleted', 'course', v_course.id, jsonb_build_object('title', v_course.title));
  return jsonb_build_object('deleted', true, 'course_id', v_course.id);
end
$$;
comment on function api.course_delete(uuid) is
  'Delete a course with its lessons (its instructor or an admin).
Refused with 409 has_enrollments while any enrollment (active or dropped) exists.';

create or replace function api.course_get(course_id uuid)
returns jsonb
language plpgsql
stable
as $$
declare
  v_course  app.courses;
  v_manager boolean;
  v_syllabus jsonb;
begin
  select c.* into v_course from app.courses c where c.id = course_get.course_id;
  if not found then
    raise exception 'course not found' using errcode = 'LM404', detail = 'not_found', hint = 'course_id';
  end if;
  v_manager := internal.can_manage_course(v_course.id);
  v_syllabus := internal.syllabus_json(v_course.id, true);
  return internal.course_json(v_course) || jsonb_build_object(
    'can_manage', v_manager,
    'is_enrolled', coalesce(internal.is_actively_enrolled(app.current_user_id(), v_course.id), false),
    'lessons', v_syllabus,
    'syllabus', v_syllabus);
end
$$;
comment on function api.course_get(uuid) is
  'A course with its syllabus.
@public
Published courses for everyone; drafts for their instructor and admins (else 404). The syllabus lists the lessons the caller may see (published ones; all for the instructor/admin) with id, title, lesson_order, duration_minutes; content and video_url only for active enrollees, the instructor and admins.';

create or replace function api.course_list(
  category text default null,
  tag text default null,
  search text default null,
  instructor_id uuid default null,
  "limit" integer default 20,
  "offset" integer default 0)
returns jsonb
language plpgsql
stable
as $$
declare
  v_limit  integer := coalesce(course_list."limit", 20);
  v_offset integer := coalesce(course_list."offset", 0);
begin
  if v_limit < 1 or v_limit > 100 then
    raise exception 'limit must be between 1 and 100' using errcode = '22023', column = 'limit';
  end if;
  if v_offset < 0 then
    raise exception 'offset must not be negative' using errcode = '22023', column = 'offset';
  end if;
  return coalesce((
    select jsonb_agg(internal.course_json(c) || jsonb_build_object('rank', f.rank) order by f.ord)
    from (select fc.course_id, fc.rank, row_number() over () as ord
          from internal.find_courses(course_list.search, nullif(btrim(course_list.category), ''),
                                     course_list.tag, course_list.instructor_id, v_limit, v_offset) fc) f
    join app.courses c on c.id = f.course_id), '[]'::jsonb);
end
$$;
comment on function api.course_list(text, text, text, uuid, integer, integer) is
  'The course catalog, one page.
@public
Published courses; with instructor_id = yourself (or as an admin) that instructor''s drafts too. search is full-text (websearch syntax: words, "phrases", -exclusions, or). Ordered by search rank, then newest first, then id. limit 1..100 (default 20), offset >= 0.
@param limit minimum=1 maximum=100
@param offset minimum=0
@param category maxLength=100
@param tag maxLength=100
@param search maxLength=200';

-- ---------------------------------------------------------------------------------------------
-- lesson.*
-- ---------------------------------------------------------------------------------------------

create or replace function api.lesson_create(
  course_id uuid,
  title text,
  content text default null,
  video_url text default null,
  duration_minutes integer default 0,
  lesson_order integer default null)
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
  return internal.lesson_json(v_id, true);
end
$$;
comment on function api.lesson_create(uuid, text, text, text, integer, integer) is
  'Add a draft lesson to a course (its instructor or an admin).
Without lesson_order it is appended; with one it is inserted there and later lessons move down (an order past the end appends).
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
  duration_minutes integer default null)
returns jsonb
language plpgsql
volatile
as $$
begin
  perform internal.lesson_course_for_change(lesson_update.lesson_id);
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
  return internal.lesson_json(lesson_update.lesson_id, true);
end
$$;
comment on function api.lesson_update(uuid, text, text, text, integer) is
  'Change a lesson (the course''s instructor or an admin). Omitted fields stay; an explicit null clears content or video_url (a blank string is stored as null too); title and duration_minutes cannot be null. Use lesson.reorder to move it, lesson.publish / lesson.unpublish to change is_published.
@patch
@param title minLength=1 maxLength=200
@param content nullable
@param video_url nullable
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
  'Publish a lesson (the course''s instructor or an admin); idempotent. Enrollees'' progress is recomputed.';

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
begin
  select l.course_id, l.is_published into v_course_id, v_is_published
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
  return internal.lesson_json(lesson_get.lesson_id, true);
end
$$;
comment on function api.lesson_get(uuid) is
  'A lesson with its content and video URL (active enrollees, the course''s instructor, admins).
Others who can see it in the syllabus get 403 not_enrolled; unseen lessons 404.';
