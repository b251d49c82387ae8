/*
 * Catalog — course.*
 */

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
@result course
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
@result course
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
@result course
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
@result course
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
@result {deleted: bool, course_id: uuid}
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
    'syllabus', v_syllabus,
    'modules', internal.modules_json(v_course.id, false));
end
$$;
comment on function api.course_get(uuid) is
  'A course with its syllabus.
@result course_detail
@shape course_detail {id: uuid, instructor_id: uuid, instructor_name: text, title: text, short_description: text?,
  description: text?, price_cents: int, currency: text, is_free: bool, category: text?, tags: text[],
  thumbnail_url: text?, is_published: bool, published_at: timestamptz?, created_at: timestamptz,
  updated_at: timestamptz,
  can_manage: bool, is_enrolled: bool, lessons: lesson[], syllabus: lesson[], modules: module[]}
@public
Published courses for everyone; drafts for their instructor and admins (else 404). The syllabus lists the lessons the caller may see (published ones; all for the instructor/admin) with id, title, lesson_order, duration_minutes; content and video_url only for active enrollees, the instructor and admins. modules: the course''s modules in order (without their items: each syllabus lesson carries its module_id and module_position; module.list gives the items) and, for the calling learner, locked / unlocks_at / requires / completed. Deprecated: `lessons` is the same list as `syllabus`, kept for clients written against it; read `syllabus` — `lessons` is removed on 2027-06-30.';

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
  v_ids    uuid[];
  v_ranks  real[];
begin
  perform internal.check_page(v_limit, v_offset, 100);
  select coalesce(array_agg(fc.course_id order by fc.n), '{}'), coalesce(array_agg(fc.rank order by fc.n), '{}')
  into v_ids, v_ranks
  from internal.find_courses(course_list.search, nullif(btrim(course_list.category), ''),
                             course_list.tag, course_list.instructor_id, v_limit, v_offset)
       with ordinality fc (course_id, rank, n);
  -- The page's rows by primary key (`c.id = any (v_ids)`): at 2,000 courses a join to the function's
  -- rows was still planned as a seq scan of the catalog under its policy.
  return coalesce((
    select jsonb_agg(internal.course_json(c) || jsonb_build_object('rank', u.rank) order by u.ord)
    from unnest(v_ids, v_ranks) with ordinality u (id, rank, ord)
    join app.courses c on c.id = u.id
    where c.id = any (v_ids)), '[]'::jsonb);
end
$$;
comment on function api.course_list(text, text, text, uuid, integer, integer) is
  'The course catalog, one page.
@result {id: uuid, instructor_id: uuid, instructor_name: text, title: text, short_description: text?,
  description: text?, price_cents: int, currency: text, is_free: bool, category: text?, tags: text[],
  thumbnail_url: text?, is_published: bool, published_at: timestamptz?, created_at: timestamptz,
  updated_at: timestamptz,
  rank: number}[]
@public
Published courses; with instructor_id = yourself (or as an admin) that instructor''s drafts too. search is full-text (websearch syntax: words, "phrases", -exclusions, or). Ordered by search rank, then newest first, then id. limit 1..100 (default 20), offset >= 0.
@param limit minimum=1 maximum=100
@param offset minimum=0
@param category maxLength=100
@param tag maxLength=100
@param search maxLength=200';
