/*
 * Assessment — rubrics (issue 30 §2). An assignment has at most one current rubric: criteria, each with
 * levels worth points. submission.grade with a rubric names one level per criterion; the grade is the
 * sum of their points, computed here. A rubric that has graded something is immutable (the trigger
 * below, for every writer); rubric.create replaces it for the grading that follows, and the grades it
 * gave keep their levels.
 */

create or replace function internal.require_rubric_unused(p_rubric_id uuid)
returns void
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if exists (select from app.submission_rubric_levels l where l.rubric_id = p_rubric_id) then
    raise exception 'this rubric has graded submissions and cannot change; rubric.create replaces it for later grading'
      using errcode = 'LM409', detail = 'rubric_in_use', hint = 'rubric_id';
  end if;
end
$$;
comment on function internal.require_rubric_unused(uuid) is
  'LM409 rubric_in_use once a rubric has graded a submission. SECURITY DEFINER: reads the chosen levels whoever writes.';

create or replace function internal.tg_rubric_parts__immutable_once_used()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if tg_op = 'DELETE' then
    if exists (select from app.rubrics r where r.id = old.rubric_id) then  -- (not when its rubric is being deleted)
      perform internal.require_rubric_unused(old.rubric_id);
    end if;
    return old;
  end if;
  perform internal.require_rubric_unused(new.rubric_id);
  if tg_op = 'UPDATE' and new.rubric_id <> old.rubric_id then
    perform internal.require_rubric_unused(old.rubric_id);
  end if;
  return new;
end
$$;
comment on function internal.tg_rubric_parts__immutable_once_used() is
  'BEFORE INSERT/UPDATE/DELETE on rubric_criteria and rubric_levels: a rubric that has graded a submission never changes (LM409 rubric_in_use), whoever writes; deleting the whole rubric (with its assignment) is not a change. SECURITY DEFINER.';
drop trigger if exists _010_immutable_once_used on app.rubric_criteria;
create trigger _010_immutable_once_used before insert or update or delete on app.rubric_criteria
  for each row execute function internal.tg_rubric_parts__immutable_once_used();
drop trigger if exists _010_immutable_once_used on app.rubric_levels;
create trigger _010_immutable_once_used before insert or update or delete on app.rubric_levels
  for each row execute function internal.tg_rubric_parts__immutable_once_used();

create or replace function internal.tg_rubrics__immutable_once_used()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform internal.require_rubric_unused(old.id);
  return new;
end
$$;
comment on function internal.tg_rubrics__immutable_once_used() is
  'BEFORE UPDATE OF assignment_id, course_id on rubrics: a used rubric stays with its assignment (LM409 rubric_in_use); replaced_at may change. SECURITY DEFINER.';
drop trigger if exists _010_immutable_once_used on app.rubrics;
create trigger _010_immutable_once_used before update of id, assignment_id, course_id on app.rubrics
  for each row execute function internal.tg_rubrics__immutable_once_used();

create or replace function internal.rubric_json(p_rubric_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return (select jsonb_build_object(
            'id', r.id, 'rubric_id', r.id, 'assignment_id', r.assignment_id, 'course_id', r.course_id,
            'created_at', r.created_at, 'replaced_at', r.replaced_at,
            'points_possible', (select trim_scale(coalesce(sum(m.top), 0)) from (
                                  select max(l.points) as top from app.rubric_levels l where l.rubric_id = r.id
                                  group by l.criterion_id) m),
            'criteria', (select coalesce(jsonb_agg(jsonb_build_object(
                           'id', c.id, 'criterion_id', c.id, 'title', c.title, 'position', c.position,
                           'levels', (select jsonb_agg(jsonb_build_object('id', l.id, 'level_id', l.id, 'label', l.label,
                                                                          'points', trim_scale(l.points), 'position', l.position)
                                                       order by l.position)
                                      from app.rubric_levels l where l.criterion_id = c.id)) order by c.position), '[]')
                         from app.rubric_criteria c where c.rubric_id = r.id))
          from app.rubrics r where r.id = p_rubric_id);
end
$$;
comment on function internal.rubric_json(uuid) is
$$A rubric with its criteria and levels, in order (callers check who may see it). SECURITY DEFINER.
@shape rubric {id: uuid, rubric_id: uuid, assignment_id: uuid, course_id: uuid, created_at: timestamptz,
  replaced_at: timestamptz?, points_possible: number,
  criteria: {id: uuid, criterion_id: uuid, title: text, position: int,
    levels: {id: uuid, level_id: uuid, label: text, points: number, position: int}[]}[]}$$;

create or replace function api.rubric_create(assignment_id uuid, criteria jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_assignment app.assignments;
  v_rubric     app.rubrics;
  v_top        numeric;
begin
  perform internal.require_user();
  select a.* into v_assignment from app.assignments a where a.id = rubric_create.assignment_id for no key update;
  if v_assignment.id is null or not internal.can_manage_course(v_assignment.course_id) then
    raise exception 'assignment not found' using errcode = 'LM404', detail = 'not_found', hint = 'assignment_id';
  end if;
  if jsonb_typeof(rubric_create.criteria) is distinct from 'array'
     or jsonb_array_length(rubric_create.criteria) not between 1 and 50
     or exists (select from jsonb_array_elements(rubric_create.criteria) c(x)
                where jsonb_typeof(c.x) <> 'object' or jsonb_typeof(c.x -> 'title') is distinct from 'string'
                   or length(btrim(c.x ->> 'title')) not between 1 and 200
                   or jsonb_typeof(c.x -> 'levels') is distinct from 'array'
                   or jsonb_array_length(c.x -> 'levels') not between 1 and 20
                   or exists (select from jsonb_array_elements(c.x -> 'levels') l(y)
                              where jsonb_typeof(l.y) <> 'object' or jsonb_typeof(l.y -> 'label') is distinct from 'string'
                                 or length(btrim(l.y ->> 'label')) not between 1 and 200
                                 or jsonb_typeof(l.y -> 'points') is distinct from 'number'
                                 or (l.y ->> 'points')::numeric not between 0 and 999999.99)) then
    raise exception 'criteria: 1–50 of {title, levels: 1–20 of {label, points ≥ 0}}'
      using errcode = 'LM422', detail = 'invalid_rubric', hint = 'criteria';
  end if;
  v_top := (select sum((select max((l.y ->> 'points')::numeric) from jsonb_array_elements(c.x -> 'levels') l(y)))
            from jsonb_array_elements(rubric_create.criteria) c(x));
  if v_top > v_assignment.points then
    raise exception 'the rubric is worth % points, the assignment %', v_top, v_assignment.points
      using errcode = 'LM422', detail = 'invalid_rubric', hint = 'criteria';
  end if;
  -- The current rubric (if any) is replaced: it keeps the grades it gave, later grading uses this one.
  update app.rubrics r set replaced_at = now() where r.assignment_id = v_assignment.id and r.replaced_at is null;
  insert into app.rubrics as r (assignment_id, course_id, created_by)
  values (v_assignment.id, v_assignment.course_id, app.current_user_id())
  returning r.* into v_rubric;
  with c as (
    insert into app.rubric_criteria (rubric_id, position, title)
    select v_rubric.id, c.n, btrim(c.x ->> 'title') from jsonb_array_elements(rubric_create.criteria) with ordinality c(x, n)
    returning id, position
  )
  insert into app.rubric_levels (criterion_id, rubric_id, position, label, points)
  select c.id, v_rubric.id, l.n, btrim(l.y ->> 'label'), (l.y ->> 'points')::numeric
  from c join lateral jsonb_array_elements(rubric_create.criteria -> (c.position - 1) -> 'levels') with ordinality l(y, n) on true;
  perform internal.audit('rubric.created', 'assignment', v_assignment.id, jsonb_build_object('rubric_id', v_rubric.id));
  return internal.rubric_json(v_rubric.id);
end
$$;
comment on function api.rubric_create(uuid, jsonb) is
$$Give an assignment a rubric (the course's instructor, an admin): criteria [{title, levels: [{label, points}]}],
in order; worth at most the assignment's points (the best level of each criterion; else 422 invalid_rubric).
It replaces the assignment's current rubric, which keeps the grades it gave: a rubric that has graded
something never changes.
@result rubric
SECURITY DEFINER: checks the caller manages the course.$$;

create or replace function api.rubric_get(assignment_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_assignment app.assignments;
  v_rubric_id  uuid;
begin
  perform internal.require_user();
  select a.* into v_assignment from app.assignments a where a.id = rubric_get.assignment_id;
  if v_assignment.id is null
     or not (internal.can_manage_course(v_assignment.course_id)
             or internal.is_actively_enrolled(app.current_user_id(), v_assignment.course_id)) then
    raise exception 'assignment not found' using errcode = 'LM404', detail = 'not_found', hint = 'assignment_id';
  end if;
  select r.id into v_rubric_id from app.rubrics r where r.assignment_id = v_assignment.id and r.replaced_at is null;
  if v_rubric_id is null then
    raise exception 'this assignment has no rubric' using errcode = 'LM404', detail = 'not_found', hint = 'assignment_id';
  end if;
  return internal.rubric_json(v_rubric_id);
end
$$;
comment on function api.rubric_get(uuid) is
$$An assignment's current rubric (its course's instructor, admins, its enrolled learners — what they will be
graded on); 404 without one.
@result rubric
SECURITY DEFINER: checks the caller manages or takes the course.$$;

create or replace function internal.apply_rubric(p_submission app.submissions, p_assignment app.assignments, p_choice jsonb)
returns numeric
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_rubric_id uuid;
  v_bad       text;
  v_points    numeric;
begin
  if not internal.can_manage_course(p_assignment.course_id) then
    raise exception 'only the course''s instructor or an admin may do this' using errcode = 'LM403', detail = 'not_course_owner';
  end if;
  delete from app.submission_rubric_levels l where l.submission_id = p_submission.id;  -- a regrade replaces them
  if p_choice is null then  -- graded with a number
    update app.submissions s set rubric_id = null where s.id = p_submission.id and s.rubric_id is not null;
    return null;
  end if;
  select r.id into v_rubric_id from app.rubrics r where r.assignment_id = p_assignment.id and r.replaced_at is null;
  if v_rubric_id is null then
    raise exception 'this assignment has no rubric' using errcode = 'LM422', detail = 'invalid_rubric', hint = 'rubric';
  end if;
  if jsonb_typeof(p_choice) <> 'object' then
    raise exception 'rubric is an object {criterion_id: level_id}' using errcode = 'LM422', detail = 'invalid_rubric',
      hint = 'rubric';
  end if;
  -- A criterion of another rubric (or none), a level not of that criterion: the field is that criterion.
  select e.key into v_bad from jsonb_each(p_choice) e
  where e.key !~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$'
     or jsonb_typeof(e.value) <> 'string'
     or e.value #>> '{}' !~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$'
     or not exists (select from app.rubric_levels l
                    where l.rubric_id = v_rubric_id and l.criterion_id = e.key::uuid and l.id = (e.value #>> '{}')::uuid)
  limit 1;
  if v_bad is not null then
    raise exception 'not a level of criterion % of this assignment''s rubric', left(v_bad, 64)
      using errcode = 'LM422', detail = 'invalid_rubric', hint = 'rubric.' || left(v_bad, 64);
  end if;
  select c.id::text into v_bad from app.rubric_criteria c
  where c.rubric_id = v_rubric_id and not exists (select from jsonb_each(p_choice) e where e.key::uuid = c.id)
  order by c.position limit 1;
  if v_bad is not null then
    raise exception 'no level chosen for criterion %', v_bad
      using errcode = 'LM422', detail = 'invalid_rubric', hint = 'rubric.' || v_bad;
  end if;
  insert into app.submission_rubric_levels (submission_id, criterion_id, rubric_id, level_id, points)
  select p_submission.id, l.criterion_id, v_rubric_id, l.id, l.points
  from jsonb_each(p_choice) e join app.rubric_levels l on l.id = (e.value #>> '{}')::uuid;
  update app.submissions s set rubric_id = v_rubric_id where s.id = p_submission.id;
  v_points := (select sum(l.points) from app.submission_rubric_levels l where l.submission_id = p_submission.id);
  return v_points;
end
$$;
comment on function internal.apply_rubric(app.submissions, app.assignments, jsonb) is
  'Record the levels chosen for a submission with its assignment''s current rubric ({criterion_id: level_id}, every criterion once) and return their sum — the grade; null choice: graded with a number (the levels go). LM422 invalid_rubric with the field (rubric.<criterion_id>) for a level of another criterion or rubric, or a criterion without a level. SECURITY DEFINER: writes the levels after checking the caller manages the course.';
