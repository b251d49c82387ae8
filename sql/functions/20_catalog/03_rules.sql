/*
 * Catalog — rules enforced by triggers and locks: publishing needs a published lesson, the last
 * published lesson stays, lesson order stays dense, changes lock the course row.
 */

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
volatile
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
volatile
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
volatile
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
  'Deferred constraint trigger on lessons: at commit the course''s lesson_order is 1..n (unique + max = count). LM422 invalid_lesson_order otherwise. SECURITY DEFINER: counts every lesson of the course whatever RLS shows the writer.';
drop trigger if exists _300_dense_order on app.lessons;
create constraint trigger _300_dense_order after insert or delete or update of lesson_order, course_id on app.lessons
  deferrable initially deferred
  for each row execute function internal.tg_lessons__dense_order();
