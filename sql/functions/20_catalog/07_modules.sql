/*
 * Modules: a course's parts, released to each learner by date, by days since enrolment and by
 * prerequisite modules.
 *
 * internal.module_states(user, course) is the one definition of availability: one statement for
 * every module of a course, computed at the time of the call from the learner's enrolled_at, the
 * clock, the overrides and their completions — nothing stored that a job must keep up to date, so a
 * changed prerequisite or unlock date acts at once. The api functions (lesson.get, lesson.complete,
 * attempt.start/submit, submission.submit through internal.require_item_unlocked), course.get and
 * module.list read it; analysts read the same through analytics.module_availability.
 *
 * An item (lesson, quiz, assignment) of a locked module is refused with 423 module_locked
 * (data.unlocks_at, data.requires). An unpublished module is locked for learners with no date and
 * no requirement: its items are not yet part of the course. Instructors and admins are never locked out.
 */

drop function if exists internal.effective_unlock_at(uuid, app.modules, timestamptz);  -- now a table function
create or replace function internal.effective_unlock_at(p_user_id uuid, p_module app.modules, p_enrolled_at timestamptz)
returns table (unlock_at timestamptz)
language sql
stable
as $$
  select coalesce(
    (select o.unlock_at from app.learner_overrides o
     where o.user_id = p_user_id and o.module_id = p_module.id and o.unlock_at is not null),
    nullif(greatest(coalesce(p_module.unlock_at, '-infinity'),
                    coalesce(p_enrolled_at + make_interval(days => p_module.unlock_after_days), '-infinity')),
           '-infinity'))
$$;
comment on function internal.effective_unlock_at(uuid, app.modules, timestamptz) is
  'When a module opens by date for one learner (null: no date): their override''s unlock_at, else the later of the module''s unlock_at and their enrolled_at + unlock_after_days. The one place that reads them (prerequisites apply besides). An invoker SQL table function (one row), so it is inlined into the definer functions that call it (module_states, require_item_unlocked), which check who asks.';

create or replace function internal.modules_done(p_user_id uuid, p_module_ids uuid[])
returns setof uuid
language sql
stable
as $$
  with item as (
    select l.module_id,
           exists (select from app.lesson_progress lp where lp.lesson_id = l.id and lp.user_id = p_user_id) as done
    from app.lessons l where l.module_id = any (p_module_ids) and l.is_published
    union all
    select q.module_id,
           coalesce((select c.passed from app.quiz_attempt_counters c where c.user_id = p_user_id and c.quiz_id = q.id),
                    false) and not internal.grade_hidden(q.grade_posting, q.grades_posted_at)  -- held back: not yet
    from app.quizzes q where q.module_id = any (p_module_ids) and q.is_published
    union all
    select a.module_id, exists (select from app.submissions x where x.assignment_id = a.id and x.user_id = p_user_id)
    from app.assignments a where a.module_id = any (p_module_ids)
  )
  select m.id
  from app.modules m left join item i on i.module_id = m.id
  where m.id = any (p_module_ids)
  group by m.id
  having case min(m.requirement) when 'all' then coalesce(bool_and(i.done), true) else coalesce(bool_or(i.done), true) end
$$;
comment on function internal.modules_done(uuid, uuid[]) is
  'Which of these modules a learner has completed: requirement all (every published item done; a module without any counts as done) or any_one. A lesson is done when completed, a quiz when passed, an assignment when submitted. The one definition of module completion, set-based (one pass over the items of all the modules asked about). Invoker SQL: called by the definer functions module_states, require_item_unlocked and module_completed, which check who asks.';

create or replace function internal.module_lock(p_user_id uuid, p_module app.modules, p_enrolled_at timestamptz,
                                                p_done uuid[])
returns table (locked boolean, unlocks_at timestamptz, requires uuid[])
language sql
stable
as $$
  select not p_module.is_published or coalesce(t.at > now(), false) or cardinality(r.unmet) > 0,
         case when t.at > now() then t.at end,
         r.unmet
  from internal.effective_unlock_at(p_user_id, p_module, p_enrolled_at) t(at),
       (select coalesce(array_agg(p.prerequisite_id order by p.prerequisite_id), '{}') as unmet
        from app.module_prerequisites p
        where p.module_id = p_module.id and p.prerequisite_id <> all (p_done)) r
$$;
comment on function internal.module_lock(uuid, app.modules, timestamptz, uuid[]) is
  'Whether a module is locked for a learner now, given the modules they completed (p_done, from internal.modules_done): unpublished, before its unlock time for them (internal.effective_unlock_at), or a prerequisite not done — with unlocks_at (while in the future) and requires (the prerequisites not done). The one definition of a lock: module_states and the entry points'' check (require_item_unlocked) both read it. Invoker SQL like modules_done.';

create or replace function internal.module_states(p_user_id uuid, p_course_id uuid)
returns table (module_id uuid, locked boolean, unlocks_at timestamptz, requires uuid[], completed boolean)
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
declare
  v_module_ids  uuid[];
  v_enrolled_at timestamptz;
  v_done        uuid[];
begin
  if p_user_id is distinct from app.current_user_id() and not internal.can_manage_course(p_course_id) then
    return;
  end if;
  v_module_ids := array(select m.id from app.modules m where m.course_id = p_course_id);
  if cardinality(v_module_ids) = 0 then
    return;
  end if;
  select e.enrolled_at into v_enrolled_at from app.enrollments e
  where e.user_id = p_user_id and e.course_id = p_course_id;
  -- Plain arguments, so that the planner inlines modules_done and module_lock into these two
  -- statements. PL/pgSQL keeps their plans for the session (a SQL function's would be made anew at
  -- every call), and generic plans: a custom plan per call (the default, since the estimates for a
  -- given course beat the generic ones) costs more to make than to run (0.47 → 0.15 ms).
  v_done := array(select d.id from internal.modules_done(p_user_id, v_module_ids) d(id));
  return query
    select m.id, k.locked, k.unlocks_at, k.requires, m.id = any (v_done)
    from app.modules m
    cross join lateral internal.module_lock(p_user_id, m, v_enrolled_at, v_done) k
    where m.course_id = p_course_id;
end
$$;
comment on function internal.module_states(uuid, uuid) is
  'For one learner, every module of a course: locked, unlocks_at, requires (internal.module_lock) and completed (internal.modules_done, one pass for all). One statement for every module, whatever their number. For the learner themself, the course''s instructor or an admin (no rows for anyone else). SECURITY DEFINER: reads the learner''s progress for the instructor too.';

create or replace function internal.require_item_unlocked(p_course_id uuid, p_module_id uuid)
returns void
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id     uuid := app.current_user_id();
  v_module      app.modules;
  v_enrolled_at timestamptz;
  v_done        uuid[] := '{}';
  v_prereqs     uuid[];
  v_state       record;
begin
  if p_module_id is null then
    return;
  end if;
  -- Only the item's own module (and the completion of its prerequisites): its lock, computed by
  -- internal.module_lock as module_states computes every module's.
  select m.* into v_module from app.modules m where m.id = p_module_id;
  select e.enrolled_at into v_enrolled_at from app.enrollments e
  where e.user_id = v_user_id and e.course_id = p_course_id;
  v_prereqs := array(select p.prerequisite_id from app.module_prerequisites p where p.module_id = p_module_id);
  if cardinality(v_prereqs) > 0 then
    v_done := array(select d.id from internal.modules_done(v_user_id, v_prereqs) d(id));
  end if;
  select k.locked, k.unlocks_at, k.requires into v_state
  from internal.module_lock(v_user_id, v_module, v_enrolled_at, v_done) k;
  if v_state.locked and not internal.can_manage_course(p_course_id) then
    raise exception 'this part of the course is not open yet' using errcode = 'LM423', detail = 'module_locked',
      hint = jsonb_build_object('unlocks_at', v_state.unlocks_at, 'requires', to_jsonb(v_state.requires))::text;
  end if;
end
$$;
comment on function internal.require_item_unlocked(uuid, uuid) is
  'Raise 423 module_locked (data.unlocks_at, data.requires) when the caller is a learner and the module holding an item is locked for them (internal.module_states); nothing for items without a module, the course''s instructor and admins. SECURITY DEFINER: the lock is computed from rows (prerequisite modules unpublished for learners) the caller cannot read.';

/*
 * module.completed: the entry points that can complete an item (lesson.complete, a passed
 * attempt.submit, submission.submit) hold the learner's enrollment row, read whether the item's
 * module was completed before their write, and call this after it: the event is written in the
 * transaction that completes the module, once (the enrollment lock serialises the learner's calls).
 */
create or replace function internal.module_completed(p_user_id uuid, p_course_id uuid, p_module_id uuid)
returns boolean
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return exists (select from internal.modules_done(p_user_id, array[p_module_id]) d(id)
                 join app.modules m on m.id = d.id where m.course_id = p_course_id);
end
$$;
comment on function internal.module_completed(uuid, uuid, uuid) is
  'Whether the learner has met the requirement of this module now (internal.modules_done). SECURITY DEFINER like module_states.';

create or replace function internal.note_module_completion(p_user_id uuid, p_course_id uuid, p_module_id uuid,
                                                          p_was_completed boolean)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if p_module_id is not null and not p_was_completed
     and internal.module_completed(p_user_id, p_course_id, p_module_id) then
    perform internal.emit_event('module.completed', p_user_id, p_course_id,
      jsonb_build_object('module_id', p_module_id, 'course_id', p_course_id, 'user_id', p_user_id,
                         'completed_at', now()));
  end if;
end
$$;
comment on function internal.note_module_completion(uuid, uuid, uuid, boolean) is
  'After a learner''s write: emit module.completed when the module was not completed before it (p_was_completed) and is now. SECURITY DEFINER: writes app.events.';

-- ---------------------------------------------------------------------------------------------
-- JSON
-- ---------------------------------------------------------------------------------------------

drop function if exists internal.module_items_json(uuid);  -- folded into modules_json (one statement)

drop function if exists internal.modules_json(uuid);
create or replace function internal.modules_json(p_course_id uuid, p_with_items boolean default true)
returns jsonb
language plpgsql
stable
set plan_cache_mode = force_generic_plan
as $$
declare
  v_modules jsonb;
begin
    with mods as (
      select m.* from app.modules m where m.course_id = p_course_id
    ), item as (
      select l.module_id, 'lesson' as kind, l.id, l.title, l.module_position as pos, l.is_published
      from app.lessons l where l.course_id = p_course_id and l.module_id is not null and p_with_items
      union all
      select q.module_id, 'quiz', q.id, q.title, q.module_position, q.is_published
      from app.quizzes q where q.course_id = p_course_id and q.module_id is not null and p_with_items
      union all
      select a.module_id, 'assignment', a.id, a.title, a.module_position, true
      from app.assignments a where a.course_id = p_course_id and a.module_id is not null and p_with_items
    ), items as (
      select i.module_id,
             jsonb_agg(jsonb_build_object('item_type', i.kind, 'item_id', i.id, 'title', i.title, 'position', i.pos,
                                          'is_published', i.is_published) order by i.pos, i.kind, i.id) as list
      from item i group by i.module_id
    ), prereqs as (
      select p.module_id, array_agg(p.prerequisite_id order by pm.position) as ids
      from app.module_prerequisites p join mods pm on pm.id = p.prerequisite_id
      group by p.module_id
    )
    select coalesce(jsonb_agg(
             jsonb_build_object(
               'id', m.id, 'course_id', m.course_id, 'title', m.title, 'description', m.description,
               'position', m.position, 'is_published', m.is_published, 'unlock_at', m.unlock_at,
               'unlock_after_days', m.unlock_after_days, 'requirement', m.requirement,
               'prerequisite_module_ids', coalesce(pr.ids, '{}'),
               'created_at', m.created_at, 'updated_at', m.updated_at,
               'locked', coalesce(s.locked and not v.manager, false), 'unlocks_at', s.unlocks_at,
               'requires', coalesce(to_jsonb(s.requires), '[]'::jsonb), 'completed', coalesce(s.completed, false))
             || case when p_with_items then jsonb_build_object('items', coalesce(it.list, '[]'::jsonb)) else '{}' end
             order by m.position), '[]'::jsonb)
    into v_modules
    from mods m
    cross join (select internal.can_manage_course(p_course_id) as manager) v
    left join items it on it.module_id = m.id
    left join prereqs pr on pr.module_id = m.id
    left join internal.module_states(app.current_user_id(), p_course_id) s on s.module_id = m.id;
  return v_modules;
end
$$;
comment on function internal.modules_json(uuid, boolean) is
  'The modules of a course the caller can see (RLS), in order, each with its items (unless p_with_items is false: course.get, whose syllabus places the lessons) (those the caller can see, in module order) and — for the calling learner — locked, unlocks_at, requires, completed (instructors and admins: never locked). One statement.';

create or replace function internal.module_json(p_module_id uuid)
returns jsonb
language sql
stable
as $$
  select m from jsonb_array_elements(internal.modules_json(
    (select x.course_id from app.modules x where x.id = p_module_id))) m
  where m->>'id' = p_module_id::text
$$;
comment on function internal.module_json(uuid) is
  'One module as in module.list (the module shape).
@shape module {id: uuid, course_id: uuid, title: text, description: text?, position: int, is_published: bool,
  unlock_at: timestamptz?, unlock_after_days: int?, requirement: text, prerequisite_module_ids: uuid[],
  created_at: timestamptz, updated_at: timestamptz, locked: bool, unlocks_at: timestamptz?, requires: uuid[],
  completed: bool, items?: module_item[]}
@shape module_item {item_type: text, item_id: uuid, title: text, position: int?, is_published: bool}';

-- ---------------------------------------------------------------------------------------------
-- Rules: prerequisites stay acyclic (serialised per course), items stay in their course
-- ---------------------------------------------------------------------------------------------

create or replace function internal.tg_module_prerequisites__no_cycle()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  -- One writer of a course's prerequisites at a time (a cycle built in two concurrent calls is
  -- seen by the second): the course row, as every change of a course's structure takes it.
  perform from app.courses c where c.id = new.course_id for no key update;
  if exists (
    with recursive reach(id) as (
      select p.prerequisite_id from app.module_prerequisites p where p.module_id = new.prerequisite_id
      union
      select p.prerequisite_id from app.module_prerequisites p join reach r on p.module_id = r.id
    )
    select from reach where id = new.module_id
  ) or new.prerequisite_id = new.module_id then
    raise exception 'prerequisites would form a cycle' using errcode = 'LM422', detail = 'prerequisite_cycle',
      hint = 'prerequisite_module_ids';
  end if;
  return new;
end
$$;
comment on function internal.tg_module_prerequisites__no_cycle() is
  'BEFORE INSERT OR UPDATE on module_prerequisites: 422 prerequisite_cycle when the new edge closes a cycle; the course row lock serialises concurrent changes of one course, so no two calls build one together. SECURITY DEFINER: sees every edge whoever writes.';

drop trigger if exists _100_no_cycle on app.module_prerequisites;
create trigger _100_no_cycle before insert or update on app.module_prerequisites
  for each row execute function internal.tg_module_prerequisites__no_cycle();

create or replace function internal.tg_modules__progress_after_change()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
-- @plpgsql_check_options: oldtable = old_modules
declare
  v_course_id uuid;
begin
  for v_course_id in
    select distinct o.course_id from old_modules o where exists (select from app.courses c where c.id = o.course_id)
  loop
    perform internal.refresh_course_progress(v_course_id);
  end loop;
  return null;
end
$$;
comment on function internal.tg_modules__progress_after_change() is
  'AFTER UPDATE / DELETE (statement) on modules: recompute progress of their courses (progress counts the published items of published modules). SECURITY DEFINER like the lessons triggers: tells a deleted course from one RLS hides; internal.refresh_course_progress still checks the caller.';

drop trigger if exists _400_progress_after_update on app.modules;
create trigger _400_progress_after_update after update on app.modules
  referencing old table as old_modules
  for each statement execute function internal.tg_modules__progress_after_change();
drop trigger if exists _400_progress_after_delete on app.modules;
create trigger _400_progress_after_delete after delete on app.modules
  referencing old table as old_modules
  for each statement execute function internal.tg_modules__progress_after_change();

create or replace function internal.managed_module(p_module_id uuid)
returns app.modules
language plpgsql
volatile
as $$
declare
  v_course_id uuid;
  v_module    app.modules;
begin
  perform internal.require_user();
  select m.course_id into v_course_id from app.modules m where m.id = p_module_id;
  if v_course_id is null then
    raise exception 'module not found' using errcode = 'LM404', detail = 'not_found', hint = 'module_id';
  end if;
  perform internal.lock_course_for_change(v_course_id);
  select m.* into v_module from app.modules m where m.id = p_module_id;
  return v_module;
end
$$;
comment on function internal.managed_module(uuid) is
  'The module, its course locked for a change, if the caller manages the course; 404 not_found / 403 not_course_owner otherwise.';

create or replace function internal.set_prerequisites(p_module app.modules, p_ids uuid[])
returns void
language plpgsql
volatile
as $$
begin
  if exists (select from unnest(p_ids) x(id)
             where not exists (select from app.modules m where m.id = x.id and m.course_id = p_module.course_id)) then
    raise exception 'a prerequisite must be a module of the same course'
      using errcode = 'LM422', detail = 'invalid_prerequisite', hint = 'prerequisite_module_ids';
  end if;
  delete from app.module_prerequisites p
  where p.module_id = p_module.id and p.prerequisite_id <> all (p_ids);
  insert into app.module_prerequisites (module_id, prerequisite_id, course_id)
  select p_module.id, x.id, p_module.course_id from (select distinct u.id from unnest(p_ids) u(id)) x
  on conflict on constraint pk_module_prerequisites do nothing;
end
$$;
comment on function internal.set_prerequisites(app.modules, uuid[]) is
  'Make p_ids the prerequisites of a module: 422 invalid_prerequisite for a module of another course (the foreign keys hold it too), 422 prerequisite_cycle from the trigger.';

create or replace function internal.require_module_of_course(p_course_id uuid, p_module_id uuid)
returns void
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if p_module_id is not null
     and not exists (select from app.modules m where m.id = p_module_id and m.course_id = p_course_id) then
    raise exception 'the module is not one of this course''s' using errcode = 'LM422', detail = 'module_not_in_course',
      hint = 'module_id';
  end if;
end
$$;
comment on function internal.require_module_of_course(uuid, uuid) is
  'LM422 module_not_in_course unless the module (when given) is one of the course''s: where an item (a lesson, quiz, assignment, LTI link) may go. SECURITY DEFINER: a yes or no about one id, for the writers that place items.';

/*
 * Placing an item in a module: module_position is dense per module across its three kinds of item.
 * p_position null appends; a position moves the items at and after it down one.
 */
create or replace function internal.place_item(p_kind text, p_item_id uuid, p_course_id uuid, p_module_id uuid,
                                               p_position integer default null)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count integer;
  v_pos   integer;
begin
  if not internal.can_manage_course(p_course_id) then
    raise exception 'only the course''s instructor or an admin may change it'
      using errcode = 'LM403', detail = 'not_course_owner';
  end if;
  perform internal.require_module_of_course(p_course_id, p_module_id);
  -- Out of its old module first (the positions after it close up).
  update app.lessons l set module_id = null, module_position = null where p_kind = 'lesson' and l.id = p_item_id;
  update app.quizzes q set module_id = null, module_position = null where p_kind = 'quiz' and q.id = p_item_id;
  update app.assignments a set module_id = null, module_position = null
  where p_kind = 'assignment' and a.id = p_item_id;
  perform internal.renumber_module_items(m.id) from app.modules m where m.course_id = p_course_id;
  if p_module_id is null then
    return;
  end if;
  select (select count(*) from app.lessons l where l.module_id = p_module_id)
       + (select count(*) from app.quizzes q where q.module_id = p_module_id)
       + (select count(*) from app.assignments a where a.module_id = p_module_id)
  into v_count;
  v_pos := least(coalesce(p_position, v_count + 1), v_count + 1);
  update app.lessons l set module_position = l.module_position + 1
  where l.module_id = p_module_id and l.module_position >= v_pos;
  update app.quizzes q set module_position = q.module_position + 1
  where q.module_id = p_module_id and q.module_position >= v_pos;
  update app.assignments a set module_position = a.module_position + 1
  where a.module_id = p_module_id and a.module_position >= v_pos;
  update app.lessons l set module_id = p_module_id, module_position = v_pos where p_kind = 'lesson' and l.id = p_item_id;
  update app.quizzes q set module_id = p_module_id, module_position = v_pos where p_kind = 'quiz' and q.id = p_item_id;
  update app.assignments a set module_id = p_module_id, module_position = v_pos
  where p_kind = 'assignment' and a.id = p_item_id;
end
$$;
comment on function internal.place_item(text, uuid, uuid, uuid, integer) is
  'Put a lesson, quiz or assignment into a module of its course at a position (null: last), or out of any module (p_module_id null); positions stay dense. 422 module_not_in_course for a module of another course. SECURITY DEFINER: writes module_id/module_position of the three tables; checks the caller manages the course.';

create or replace function internal.renumber_module_items(p_module_id uuid)
returns void
language sql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
  with ordered as (
    select i.kind, i.id, row_number() over (order by i.pos nulls last, i.kind, i.id)::integer as pos
    from (select 'lesson' as kind, l.id, l.module_position as pos from app.lessons l where l.module_id = p_module_id
          union all
          select 'quiz', q.id, q.module_position from app.quizzes q where q.module_id = p_module_id
          union all
          select 'assignment', a.id, a.module_position from app.assignments a where a.module_id = p_module_id) i
  ), l as (
    update app.lessons x set module_position = o.pos from ordered o
    where o.kind = 'lesson' and x.id = o.id and x.module_position is distinct from o.pos
  ), q as (
    update app.quizzes x set module_position = o.pos from ordered o
    where o.kind = 'quiz' and x.id = o.id and x.module_position is distinct from o.pos
  )
  update app.assignments x set module_position = o.pos from ordered o
  where o.kind = 'assignment' and x.id = o.id and x.module_position is distinct from o.pos
$$;
comment on function internal.renumber_module_items(uuid) is
  'Close the gaps in a module''s item positions (1..n, in their order). Called by internal.place_item only. SECURITY DEFINER: writes module_position of the three item tables, which lms_api may not update directly.';

-- ---------------------------------------------------------------------------------------------
-- module.*
-- ---------------------------------------------------------------------------------------------

create or replace function internal.check_requirement(p_requirement text)
returns text
language plpgsql
immutable
as $$
begin
  if p_requirement is not null and p_requirement not in ('all', 'any_one') then
    raise exception 'requirement must be all or any_one' using errcode = '22023', column = 'requirement';
  end if;
  return p_requirement;
end
$$;
comment on function internal.check_requirement(text) is
  'A module requirement as given (all, any_one or null); -32602 invalid_value naming the field otherwise.';

create or replace function api.module_create(
  course_id uuid, title text, description text default null, "position" integer default null,
  unlock_at timestamptz default null, unlock_after_days integer default null,
  prerequisite_module_ids uuid[] default null, requirement text default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_course app.courses := internal.lock_course_for_change(module_create.course_id);
  v_count  integer;
  v_pos    integer;
  v_module app.modules;
begin
  select count(*) into v_count from app.modules m where m.course_id = v_course.id;
  v_pos := least(coalesce(module_create."position", v_count + 1), v_count + 1);
  update app.modules m set position = m.position + 1 where m.course_id = v_course.id and m.position >= v_pos;
  insert into app.modules as m (course_id, title, description, position, unlock_at, unlock_after_days, requirement)
  values (v_course.id, btrim(module_create.title), nullif(module_create.description, ''), v_pos,
          module_create.unlock_at, module_create.unlock_after_days, coalesce(internal.check_requirement(module_create.requirement), 'all'))
  returning m.* into v_module;
  perform internal.set_prerequisites(v_module, coalesce(module_create.prerequisite_module_ids, '{}'));
  return internal.module_json(v_module.id);
end
$$;
comment on function api.module_create(uuid, text, text, integer, timestamptz, integer, uuid[], text) is
  'Add a draft module to a course (its instructor or an admin); without position it goes last.
@result module
requirement: all (every published item completed; the default) or any_one. unlock_at: a fixed time; unlock_after_days: days after each learner''s enrolled_at; both → the later. prerequisite_module_ids: modules of the same course (422 invalid_prerequisite) that must be completed first; no cycle (422 prerequisite_cycle).
@param title minLength=1 maxLength=200
@param description maxLength=10000
@param position minimum=1
@param unlock_after_days minimum=0 maximum=3650
@param prerequisite_module_ids maxItems=100';

create or replace function api.module_update(
  module_id uuid, title text default null, description text default null, unlock_at timestamptz default null,
  unlock_after_days integer default null, prerequisite_module_ids uuid[] default null, requirement text default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_module app.modules := internal.managed_module(module_update.module_id);
begin
  update app.modules m set
    title = coalesce(btrim(module_update.title), m.title),
    description = case when internal.given('description', module_update.description)
                       then nullif(module_update.description, '') else m.description end,
    unlock_at = case when internal.given('unlock_at', module_update.unlock_at)
                     then module_update.unlock_at else m.unlock_at end,
    unlock_after_days = case when internal.given('unlock_after_days', module_update.unlock_after_days)
                             then module_update.unlock_after_days else m.unlock_after_days end,
    requirement = coalesce(internal.check_requirement(module_update.requirement), m.requirement),
    updated_at = now()
  where m.id = v_module.id
  returning m.* into v_module;
  if internal.given('prerequisite_module_ids', module_update.prerequisite_module_ids) then
    perform internal.set_prerequisites(v_module, coalesce(module_update.prerequisite_module_ids, '{}'));
  end if;
  return internal.module_json(v_module.id);
end
$$;
comment on function api.module_update(uuid, text, text, timestamptz, integer, uuid[], text) is
  'Change a module (the course''s instructor or an admin). Omitted fields stay; an explicit null clears description, unlock_at, unlock_after_days or the prerequisites. Takes effect for every learner at once (availability is computed at each call).
@result module
@patch
@param title minLength=1 maxLength=200
@param description nullable maxLength=10000
@param unlock_at nullable
@param unlock_after_days nullable minimum=0 maximum=3650
@param prerequisite_module_ids nullable maxItems=100
';

create or replace function api.module_publish(module_id uuid)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_module app.modules := internal.managed_module(module_publish.module_id);
begin
  update app.modules m set is_published = true, updated_at = now() where m.id = v_module.id and not m.is_published;
  return internal.module_json(v_module.id);
end
$$;
comment on function api.module_publish(uuid) is
  'Publish a module: its published items become part of the course for learners (progress counts them). Idempotent.
@result module';

create or replace function api.module_unpublish(module_id uuid)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_module app.modules := internal.managed_module(module_unpublish.module_id);
begin
  update app.modules m set is_published = false, updated_at = now() where m.id = v_module.id and m.is_published;
  return internal.module_json(v_module.id);
end
$$;
comment on function api.module_unpublish(uuid) is
  'Unpublish a module: learners meet its items as locked (423 module_locked) and progress no longer counts them. Idempotent.
@result module';

create or replace function api.module_delete(module_id uuid)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_module app.modules := internal.managed_module(module_delete.module_id);
begin
  if exists (select from app.lessons l where l.module_id = v_module.id)
     or exists (select from app.quizzes q where q.module_id = v_module.id)
     or exists (select from app.assignments a where a.module_id = v_module.id) then
    raise exception 'move or delete the module''s items first' using errcode = 'LM409', detail = 'module_not_empty';
  end if;
  delete from app.modules m where m.id = v_module.id;
  update app.modules m set position = m.position - 1
  where m.course_id = v_module.course_id and m.position > v_module.position;
  return jsonb_build_object('deleted', true, 'id', v_module.id);
end
$$;
comment on function api.module_delete(uuid) is
  'Delete an empty module (409 module_not_empty while it holds items; the foreign keys hold it too). Modules after it move up; prerequisites on it go with it.
@result {deleted: bool, id: uuid}';

create or replace function api.module_reorder(course_id uuid, module_ids uuid[])
returns jsonb
language plpgsql
volatile
as $$
declare
  v_course app.courses := internal.lock_course_for_change(module_reorder.course_id);
begin
  if cardinality(module_reorder.module_ids) is distinct from (select count(*) from app.modules m where m.course_id = v_course.id)
     or (select count(distinct x) from unnest(module_reorder.module_ids) x)
        <> cardinality(module_reorder.module_ids)
     or exists (select from unnest(module_reorder.module_ids) x(id)
                where not exists (select from app.modules m where m.id = x.id and m.course_id = v_course.id)) then
    raise exception 'module_ids must list every module of the course once' using errcode = 'LM422',
      detail = 'invalid_module_order', hint = 'module_ids';
  end if;
  update app.modules m set position = o.n::integer, updated_at = now()
  from unnest(module_reorder.module_ids) with ordinality o(id, n)
  where m.id = o.id and m.position <> o.n;
  return internal.modules_json(v_course.id);
end
$$;
comment on function api.module_reorder(uuid, uuid[]) is
  'Put a course''s modules in this order (a permutation of all of them, else 422 invalid_module_order).
@result module[]
@param module_ids maxItems=1000';

create or replace function api.module_list(course_id uuid)
returns jsonb
language plpgsql
stable
as $$
begin
  if not exists (select from app.courses c where c.id = module_list.course_id) then
    raise exception 'course not found' using errcode = 'LM404', detail = 'not_found', hint = 'course_id';
  end if;
  return internal.modules_json(module_list.course_id);
end
$$;
comment on function api.module_list(uuid) is
  'The modules of a course the caller can see, in order, with their items and — for a learner — locked, unlocks_at, requires (the prerequisite modules still to complete) and completed.
@result module[]
@public';

create or replace function api.module_move_item(module_id uuid, item_type text, item_id uuid,
                                                "position" integer default null)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_module    app.modules := internal.managed_module(module_move_item.module_id);
  v_course_id uuid;
begin
  if module_move_item.item_type not in ('lesson', 'quiz', 'assignment') then
    raise exception 'item_type must be lesson, quiz or assignment' using errcode = '22023', column = 'item_type';
  end if;
  v_course_id := case module_move_item.item_type
    when 'lesson' then (select l.course_id from app.lessons l where l.id = module_move_item.item_id)
    when 'quiz' then (select q.course_id from app.quizzes q where q.id = module_move_item.item_id)
    when 'assignment' then (select a.course_id from app.assignments a where a.id = module_move_item.item_id)
  end;
  if v_course_id is null then
    raise exception 'item not found' using errcode = 'LM404', detail = 'not_found', hint = 'item_id';
  end if;
  if v_course_id <> v_module.course_id then
    raise exception 'the module is not one of the item''s course' using errcode = 'LM422',
      detail = 'module_not_in_course', hint = 'module_id';
  end if;
  perform internal.place_item(module_move_item.item_type, module_move_item.item_id, v_course_id, v_module.id,
                              module_move_item."position");
  return internal.module_json(v_module.id);
end
$$;
comment on function api.module_move_item(uuid, text, uuid, integer) is
  'Move a lesson, quiz or assignment into a module of its course, at position (1..; omitted: last); the other items make room.
@result module
@param position minimum=1';
