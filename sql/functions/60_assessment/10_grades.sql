/*
 * Assessment — grades that add up (issue 30 §1): grade categories with weights and dropped lowest
 * items, a letter scheme per course, an instructor's final grade, and the course grade computed in one
 * place (internal.course_grades), which gradebook.course, gradebook.mine, the CSV export and
 * analytics.course_grades all read.
 *
 * The rules, in one place:
 * - An item counts once it is published (in a published module, or none): a quiz as its best score out
 *   of its points (internal.quiz_points_possible), an assignment as its effective grade (late penalty,
 *   unless an override waives it) out of its points. Ungraded work (no closed attempt, an essay waiting
 *   for a person, no or an ungraded submission) does not count; beside the grade, the same computed with
 *   ungraded work as 0.
 * - In each category the drop_lowest graded items with the lowest percentage do not count (one always
 *   does). A category's percent is its points earned ÷ possible.
 * - Weighted (some category has a weight): Σ weight × category percent ÷ Σ weight, over the categories
 *   with graded work — a category without graded work yet does not pull the grade down. Work in no
 *   category counts in an implicit one weighing what the weights leave (100 − Σ weights). Unweighted:
 *   all points earned ÷ all possible.
 * - The letter is the scheme's (the highest min_percent not above the percent, rounded to 2 decimals).
 *   A final grade set by the instructor (grade.override_final) wins.
 */

-- ---------------------------------------------------------------------------------------------
-- Weights never sum to more than 100 (checked at every write, concurrent ones queued on the course)
-- ---------------------------------------------------------------------------------------------
create or replace function internal.tg_grade_categories__weights()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_total numeric;
begin
  -- Two writers of one course's weights queue on its row, so each sees the other's committed weight.
  perform from app.courses c where c.id = new.course_id for no key update;
  v_total := coalesce(new.weight_percent, 0)
             + coalesce((select sum(g.weight_percent) from app.grade_categories g
                         where g.course_id = new.course_id and g.id <> new.id), 0);
  if v_total > 100 then
    raise exception 'the weights of a course''s grade categories sum to at most 100 (these would make %)', v_total
      using errcode = 'LM422', detail = 'invalid_weights', hint = 'weight_percent';
  end if;
  return new;
end
$$;
comment on function internal.tg_grade_categories__weights() is
  'BEFORE INSERT/UPDATE OF weight_percent, course_id on grade_categories: the weights of a course sum to at most 100 (LM422 invalid_weights), under the course row''s lock so concurrent writers cannot both slip under. SECURITY DEFINER: locks the course whoever writes.';
drop trigger if exists _010_weights on app.grade_categories;
create trigger _010_weights before insert or update of weight_percent, course_id on app.grade_categories
  for each row when (new.weight_percent is not null) execute function internal.tg_grade_categories__weights();

-- ---------------------------------------------------------------------------------------------
-- Categories
-- ---------------------------------------------------------------------------------------------
create or replace function internal.grade_category_json(p_category app.grade_categories)
returns jsonb
language sql
stable
as $$
  select jsonb_build_object(
    'id', p_category.id, 'category_id', p_category.id, 'course_id', p_category.course_id, 'name', p_category.name,
    'weight_percent', trim_scale(p_category.weight_percent), 'drop_lowest', p_category.drop_lowest,
    'created_at', p_category.created_at, 'updated_at', p_category.updated_at)
$$;
comment on function internal.grade_category_json(app.grade_categories) is
  '@shape grade_category {id: uuid, category_id: uuid, course_id: uuid, name: text, weight_percent: number?, drop_lowest: int, created_at: timestamptz, updated_at: timestamptz}';

create or replace function internal.managed_grade_category(p_category_id uuid)
returns app.grade_categories
language plpgsql
volatile
as $$
declare
  v_category app.grade_categories;
begin
  perform internal.require_user();
  select g.* into v_category from app.grade_categories g where g.id = p_category_id for update;
  if v_category.id is null or not internal.can_manage_course(v_category.course_id) then
    raise exception 'grade category not found' using errcode = 'LM404', detail = 'not_found', hint = 'category_id';
  end if;
  return v_category;
end
$$;
comment on function internal.managed_grade_category(uuid) is
  'The grade category, locked, if the caller manages its course; LM404 otherwise (whether it exists is not told).';

create or replace function internal.require_grade_category(p_course_id uuid, p_category_id uuid)
returns void
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if p_category_id is not null
     and not exists (select from app.grade_categories g where g.id = p_category_id and g.course_id = p_course_id) then
    raise exception 'the grade category does not belong to this course'
      using errcode = 'LM422', detail = 'category_not_in_course', hint = 'grade_category_id';
  end if;
end
$$;
comment on function internal.require_grade_category(uuid, uuid) is
  'LM422 category_not_in_course unless the category (when given) is one of the course''s. SECURITY DEFINER: a yes or no about one id, for the quiz or assignment writer.';

create or replace function internal.require_course_member(p_course_id uuid)
returns void
language plpgsql
stable
as $$
begin
  if not (internal.can_manage_course(p_course_id) or internal.is_actively_enrolled(app.current_user_id(), p_course_id)) then
    perform internal.require_course_manager(p_course_id);  -- the usual 401 / 404 / 403 not_course_owner
  end if;
end
$$;
comment on function internal.require_course_member(uuid) is
  'Raises as internal.require_course_manager unless the caller manages the course or is actively enrolled in it (what the course''s grading rules are is theirs to read).';

create or replace function api.grade_category_create(course_id uuid, name text, weight_percent numeric default null,
                                                     drop_lowest integer default 0)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_category app.grade_categories;
begin
  perform internal.require_course_manager(grade_category_create.course_id);
  insert into app.grade_categories as g (course_id, name, weight_percent, drop_lowest)
  values (grade_category_create.course_id, btrim(grade_category_create.name), grade_category_create.weight_percent,
          coalesce(grade_category_create.drop_lowest, 0))
  returning g.* into v_category;
  perform internal.audit('grade.category_created', 'grade_category', v_category.id, internal.grade_category_json(v_category));
  return internal.grade_category_json(v_category);
exception
  when unique_violation then
    raise exception 'the course already has a grade category of this name'
      using errcode = 'LM409', detail = 'conflict', hint = 'name';
end
$$;
comment on function api.grade_category_create(uuid, text, numeric, integer) is
$$A grade category of a course (its instructor, an admin). With weight_percent the course grade is weighted:
the weights of a course sum to at most 100 (422 invalid_weights; a category without a weight then weighs 0,
work in no category what the weights leave). drop_lowest: how many graded items with the lowest percentage do
not count (one always does). A name twice in a course: 409 conflict.
@result grade_category
@param name minLength=1 maxLength=100
@param weight_percent minimum=0 maximum=100
@param drop_lowest minimum=0 maximum=100
SECURITY DEFINER: checks the caller manages the course.$$;

create or replace function api.grade_category_update(category_id uuid, name text default null,
                                                     weight_percent numeric default null, drop_lowest integer default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_category app.grade_categories := internal.managed_grade_category(grade_category_update.category_id);
begin
  update app.grade_categories g set
    name = coalesce(btrim(grade_category_update.name), g.name),
    weight_percent = case when internal.given('weight_percent', grade_category_update.weight_percent)
                          then grade_category_update.weight_percent else g.weight_percent end,
    drop_lowest = coalesce(grade_category_update.drop_lowest, g.drop_lowest),
    updated_at = now()
  where g.id = v_category.id
  returning g.* into v_category;
  perform internal.audit('grade.category_updated', 'grade_category', v_category.id, internal.grade_category_json(v_category));
  return internal.grade_category_json(v_category);
exception
  when unique_violation then
    raise exception 'the course already has a grade category of this name'
      using errcode = 'LM409', detail = 'conflict', hint = 'name';
end
$$;
comment on function api.grade_category_update(uuid, text, numeric, integer) is
$$Change a grade category (the course's instructor, an admin); omitted fields stay, weight_percent null
unweights it. The course's weights still sum to at most 100 (422 invalid_weights).
@result grade_category
@param name minLength=1 maxLength=100
@param weight_percent minimum=0 maximum=100
@param drop_lowest minimum=0 maximum=100
SECURITY DEFINER: checks the caller manages the course.$$;

create or replace function api.grade_category_delete(category_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_category app.grade_categories := internal.managed_grade_category(grade_category_delete.category_id);
begin
  delete from app.grade_categories g where g.id = v_category.id;  -- its items: grade_category_id set null
  perform internal.audit('grade.category_deleted', 'grade_category', v_category.id, internal.grade_category_json(v_category));
  return jsonb_build_object('deleted', true, 'category_id', v_category.id);
end
$$;
comment on function api.grade_category_delete(uuid) is
$$Delete a grade category (the course's instructor, an admin); its quizzes and assignments count in no
category again (the implicit one).
@result {deleted: bool, category_id: uuid}
SECURITY DEFINER: checks the caller manages the course.$$;

create or replace function api.grade_category_list(course_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform internal.require_course_member(grade_category_list.course_id);
  return (select coalesce(jsonb_agg(internal.grade_category_json(g) order by g.created_at, g.id), '[]')
          from app.grade_categories g where g.course_id = grade_category_list.course_id);
end
$$;
comment on function api.grade_category_list(uuid) is
$$The grade categories of a course, oldest first (its instructor, an admin, its enrolled learners).
@result grade_category[]
SECURITY DEFINER: checks the caller manages or takes the course.$$;

-- ---------------------------------------------------------------------------------------------
-- Letters
-- ---------------------------------------------------------------------------------------------
create or replace function internal.grade_scheme(p_course_id uuid)
returns table (letter text, min_percent numeric)
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return query select s.letter, s.min_percent from app.grade_scheme_letters s where s.course_id = p_course_id;
  if not found then
    return query select d.letter, d.min_percent
                 from (values ('A', 90.0), ('B', 80.0), ('C', 70.0), ('D', 60.0), ('F', 0.0)) d(letter, min_percent);
  end if;
end
$$;
comment on function internal.grade_scheme(uuid) is
  'A course''s letter scheme (letter, min_percent), or the default A 90, B 80, C 70, D 60, F 0. SECURITY DEFINER: a course''s scheme is no secret to whoever sees its grades.';

create or replace function internal.grade_scheme_json(p_course_id uuid)
returns jsonb
language sql
stable
as $$
  select jsonb_build_object('course_id', p_course_id, 'scheme',
    (select jsonb_agg(jsonb_build_object('letter', s.letter, 'min_percent', trim_scale(s.min_percent)) order by s.min_percent desc)
     from internal.grade_scheme(p_course_id) s))
$$;
comment on function internal.grade_scheme_json(uuid) is
  '@shape grade_scheme {course_id: uuid, scheme: {letter: text, min_percent: number}[]}';

create or replace function api.grade_scheme_set(course_id uuid, scheme jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform internal.require_course_manager(grade_scheme_set.course_id);
  if jsonb_typeof(grade_scheme_set.scheme) is distinct from 'array' or jsonb_array_length(grade_scheme_set.scheme) not between 1 and 30
     or exists (select from jsonb_array_elements(grade_scheme_set.scheme) e(x)
                where jsonb_typeof(e.x) <> 'object' or jsonb_typeof(e.x -> 'letter') is distinct from 'string'
                   or jsonb_typeof(e.x -> 'min_percent') is distinct from 'number'
                   or (e.x ->> 'min_percent')::numeric not between 0 and 100
                   or length(btrim(e.x ->> 'letter')) not between 1 and 10)
     or (select count(distinct btrim(e.x ->> 'letter')) <> count(*) or count(distinct (e.x ->> 'min_percent')::numeric) <> count(*)
                or min((e.x ->> 'min_percent')::numeric) <> 0
         from jsonb_array_elements(grade_scheme_set.scheme) e(x)) then
    raise exception 'a scheme is a list of {letter, min_percent}: distinct letters (1–10 characters), distinct minimums 0–100, one of them 0'
      using errcode = 'LM422', detail = 'invalid_scheme', hint = 'scheme';
  end if;
  delete from app.grade_scheme_letters s where s.course_id = grade_scheme_set.course_id;
  insert into app.grade_scheme_letters (course_id, letter, min_percent)
  select grade_scheme_set.course_id, btrim(e.x ->> 'letter'), (e.x ->> 'min_percent')::numeric
  from jsonb_array_elements(grade_scheme_set.scheme) e(x);
  perform internal.audit('grade.scheme_set', 'course', grade_scheme_set.course_id, jsonb_build_object('scheme', grade_scheme_set.scheme));
  return internal.grade_scheme_json(grade_scheme_set.course_id);
end
$$;
comment on function api.grade_scheme_set(uuid, jsonb) is
$$Replace a course's letter scheme (its instructor, an admin): [{letter, min_percent}], distinct letters and
minimums, one at 0 (else 422 invalid_scheme). A percent earns the letter with the highest min_percent not above it.
@result grade_scheme
SECURITY DEFINER: checks the caller manages the course.$$;

create or replace function api.grade_scheme_get(course_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform internal.require_course_member(grade_scheme_get.course_id);
  return internal.grade_scheme_json(grade_scheme_get.course_id);
end
$$;
comment on function api.grade_scheme_get(uuid) is
$$A course's letter scheme, highest first (the default A 90, B 80, C 70, D 60, F 0 until grade.scheme_set);
its instructor, an admin, its enrolled learners.
@result grade_scheme
SECURITY DEFINER: checks the caller manages or takes the course.$$;

-- ---------------------------------------------------------------------------------------------
-- The course grade: once, here
-- ---------------------------------------------------------------------------------------------
create or replace function internal.quiz_points_possible(p_quiz_id uuid)
returns numeric
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  -- Its fixed questions' points, and per pool draw_count × points_each (without points_each: the
  -- average of the bank's drawable questions).
  return coalesce((select sum(q.points) from app.questions q where q.quiz_id = p_quiz_id), 0)
       + coalesce((select sum(p.draw_count * coalesce(p.points_each,
                                (select round(avg(q.points), 2) from app.questions q
                                 where q.bank_id = p.bank_id and q.bank_position is not null), 0))
                   from app.quiz_pools p where p.quiz_id = p_quiz_id), 0);
end
$$;
comment on function internal.quiz_points_possible(uuid) is
  'What a quiz is worth in the course grade: its fixed questions'' points plus, per pool, draw_count × points_each (or the average points of the bank''s drawable questions). SECURITY DEFINER: reads bank questions.';

drop function if exists internal.course_grades(uuid, uuid[], boolean);  -- before the cells (then the LTI ones) came with it
create or replace function internal.course_grades(p_course_id uuid, p_user_ids uuid[], p_learner_view boolean default false)
returns table (user_id uuid, categories jsonb, course_grade jsonb, quizzes jsonb, assignments jsonb, lti_items jsonb)
language plpgsql
stable
as $$
begin
  return query
  with cats as materialized (
    select g.id, g.name, g.weight_percent, g.drop_lowest, g.created_at from app.grade_categories g where g.course_id = p_course_id
  ), weighting as materialized (
    select coalesce(bool_or(c.weight_percent is not null), false) as weighted, coalesce(sum(c.weight_percent), 0) as total
    from cats c
  ), quizzes as materialized (  -- (a learner's own row lists published quizzes; counts: in the grade;
                                 --  hidden: held back from the learner looking at their own grade)
    select z.id, z.title, z.grade_category_id, internal.quiz_points_possible(z.id) as possible,
           internal.item_counts(z.is_published, z.module_id) as counts,
           p_learner_view and internal.grade_hidden(z.grade_posting, z.grades_posted_at) as hidden
    from app.quizzes z where z.course_id = p_course_id and (z.is_published or not p_learner_view)
  ), assignments as materialized (
    select a.id, a.title, a.grade_category_id, a.points, a.late_penalty_percentage,
           internal.item_counts(true, a.module_id) as counts,
           p_learner_view and internal.grade_hidden(a.grade_posting, a.grades_posted_at) as hidden
    from app.assignments a where a.course_id = p_course_id
  ), counters as materialized (  -- the page's learners' rows, found by learner (never a scan of the site's)
    select c.user_id, c.quiz_id, c.best_score, c.passed, c.closed_attempts
    from app.quiz_attempt_counters c
    where c.user_id = any (p_user_ids) and c.quiz_id in (select q.id from quizzes q)
  ), handed_in as materialized (
    select s.user_id, s.assignment_id, s.is_late, s.grade
    from app.submissions s
    where s.user_id = any (p_user_ids) and s.assignment_id in (select a.id from assignments a)
  ), line_items as materialized (  -- LTI tools' gradebook columns (AGS line items)
    select li.id, li.label, li.grade_category_id, li.score_maximum from app.lti_line_items li where li.course_id = p_course_id
  ), tool_results as materialized (
    select r.line_item_id, r.user_id, r.score_given, r.score_maximum, r.grading_progress, r.activity_progress, r.scored_at,
           r.comment, internal.lti_grade(r, li.score_maximum) as grade
    from app.lti_results r join line_items li on li.id = r.line_item_id
    where r.user_id = any (p_user_ids)
  ), quiz_cells as materialized (  -- per learner and item, read once: the gradebook's cells and the grade's items
    select u.uid, q.id, q.title, q.grade_category_id, q.possible, q.counts, q.hidden,
           c.best_score, c.passed, c.closed_attempts
    from unnest(p_user_ids) u(uid) cross join quizzes q
    left join counters c on c.user_id = u.uid and c.quiz_id = q.id
  ), assignment_cells as materialized (
    select u.uid, a.id, a.title, a.grade_category_id, a.points, a.counts, a.hidden,
           s.user_id is not null as submitted, s.is_late, s.grade,
           internal.effective_grade(s.grade, s.is_late,  -- (the penalty only matters, and is looked up, when late)
                                    case when s.is_late then internal.effective_late_penalty(u.uid, a.id, a.late_penalty_percentage) end)
             as effective_grade
    from unnest(p_user_ids) u(uid) cross join assignments a
    left join handed_in s on s.assignment_id = a.id and s.user_id = u.uid
  ), lti_cells as materialized (
    select u.uid, li.id, li.label, li.grade_category_id, li.score_maximum, r.grade, r.grading_progress,
           r.activity_progress, r.scored_at, r.comment
    from unnest(p_user_ids) u(uid) cross join line_items li
    left join tool_results r on r.line_item_id = li.id and r.user_id = u.uid
  ), items as materialized (  -- what counts: earned (null: ungraded, or held back) of possible
    select q.uid, q.grade_category_id as category_id, q.id as item_id, q.possible,
           case when not q.hidden then round(q.best_score * q.possible / 100.0, 2) end as earned
    from quiz_cells q where q.counts
    union all
    select a.uid, a.grade_category_id, a.id, a.points::numeric, case when not a.hidden then a.effective_grade end
    from assignment_cells a where a.counts
    union all
    select l.uid, l.grade_category_id, l.id, l.score_maximum, l.grade from lti_cells l
  ), counted as (  -- as_zero false: graded work only; true: ungraded work as 0. Lowest first per category.
    select v.*, row_number() over w as low, count(*) over (partition by v.uid, v.as_zero, v.category_id) as n
    from (select i.uid, i.category_id, i.item_id, i.possible, i.earned, false as as_zero from items i where i.earned is not null
          union all
          select i.uid, i.category_id, i.item_id, i.possible, coalesce(i.earned, 0), true from items i) v
    window w as (partition by v.uid, v.as_zero, v.category_id
                 order by v.earned / nullif(v.possible, 0) nulls last, v.item_id)
  ), subtotals as (
    select t.uid, t.as_zero, t.category_id, sum(t.earned) as earned, sum(t.possible) as possible,
           100 * sum(t.earned) / nullif(sum(t.possible), 0) as exact,  -- the course grade weighs these
           round(100 * sum(t.earned) / nullif(sum(t.possible), 0), 2) as percent,  -- shown
           case when w.weighted then case when t.category_id is null then greatest(0, 100 - w.total)
                                          else coalesce(c.weight_percent, 0) end end as weight
    from counted t
    left join cats c on c.id = t.category_id
    cross join weighting w
    where t.low > least(coalesce(c.drop_lowest, 0), t.n - 1)
    group by t.uid, t.as_zero, t.category_id, c.weight_percent, w.weighted, w.total
  ), totals as (
    select s.uid, s.as_zero,
           round(case when bool_or(s.weight is not null)
                      then sum(s.weight * s.exact) filter (where s.exact is not null)
                           / nullif(sum(s.weight) filter (where s.exact is not null), 0)
                      else 100 * sum(s.earned) / nullif(sum(s.possible), 0) end, 2) as percent
    from subtotals s group by s.uid, s.as_zero
  ), scheme as materialized (
    select sc.letter, sc.min_percent from internal.grade_scheme(p_course_id) sc
  ), listed as materialized (  -- the categories shown: the course's, and "Other" when some work is in none
    select c.id, coalesce(c.id, '00000000-0000-0000-0000-000000000000') as k, c.name, c.weight_percent, c.drop_lowest,
           c.created_at
    from cats c
    union all
    select null, '00000000-0000-0000-0000-000000000000', null, null, null, null
    where exists (select from quizzes q where q.counts and q.grade_category_id is null)
       or exists (select from assignments a where a.counts and a.grade_category_id is null)
       or exists (select from line_items li where li.grade_category_id is null)
  ), keyed as materialized (
    select t.*, coalesce(t.category_id, '00000000-0000-0000-0000-000000000000') as k from subtotals t
  ), per_learner as (  -- one pass: every learner × category, both subtotals by hash
    select u.uid,
           jsonb_agg(jsonb_build_object(
             'category_id', l.id, 'name', coalesce(l.name, 'Other'), 'weight_percent', trim_scale(l.weight_percent),
             'drop_lowest', coalesce(l.drop_lowest, 0),
             'earned', trim_scale(g.earned), 'possible', trim_scale(g.possible), 'percent', g.percent,
             'percent_ungraded_as_zero', z.percent) order by l.created_at nulls last, l.id) as categories
    from unnest(p_user_ids) u(uid)
    cross join listed l
    left join keyed g on g.uid = u.uid and not g.as_zero and g.k = l.k
    left join keyed z on z.uid = u.uid and z.as_zero and z.k = l.k
    group by u.uid
  ), quiz_json as (
    select q.uid, jsonb_agg(case when q.hidden then internal.hide_grade(q.cell) else q.cell end order by q.title, q.id) as cells
    from (select q0.*, jsonb_build_object(
                 'quiz_id', q0.id, 'title', q0.title, 'best_score', q0.best_score, 'passed', coalesce(q0.passed, false),
                 'attempts', coalesce(q0.closed_attempts, 0), 'grade_category_id', q0.grade_category_id) as cell
          from quiz_cells q0) q group by q.uid
  ), assignment_json as (
    select a.uid, jsonb_agg(case when a.hidden then internal.hide_grade(a.cell) else a.cell end order by a.title, a.id) as cells
    from (select a0.*, jsonb_build_object(
                 'assignment_id', a0.id, 'title', a0.title, 'points', a0.points, 'submitted', a0.submitted,
                 'is_late', a0.is_late, 'grade', a0.grade, 'effective_grade', a0.effective_grade,
                 'grade_category_id', a0.grade_category_id) as cell
          from assignment_cells a0) a group by a.uid
  ), lti_json as (
    select l.uid, jsonb_agg(jsonb_build_object(
             'line_item_id', l.id, 'label', l.label, 'points', trim_scale(l.score_maximum), 'grade', trim_scale(l.grade),
             'grading_progress', l.grading_progress, 'activity_progress', l.activity_progress, 'scored_at', l.scored_at,
             'comment', l.comment, 'grade_category_id', l.grade_category_id) order by l.label, l.id) as cells
    from lti_cells l group by l.uid
  )
  select u.uid, coalesce(pl.categories, '[]'),
         jsonb_build_object(
           'percent', coalesce(o.percent, tg.percent),
           'letter', coalesce(o.letter, (select s.letter from scheme s where s.min_percent <= coalesce(o.percent, tg.percent)
                                         order by s.min_percent desc limit 1)),
           'percent_ungraded_as_zero', tz.percent,
           'letter_ungraded_as_zero', (select s.letter from scheme s where s.min_percent <= tz.percent
                                       order by s.min_percent desc limit 1),
           'overridden', o.user_id is not null,
           'computed_percent', tg.percent,
           'computed_letter', (select s.letter from scheme s where s.min_percent <= tg.percent order by s.min_percent desc limit 1),
           'override_reason', case when o.user_id is not null then o.reason end),
         coalesce(qj.cells, '[]'), coalesce(aj.cells, '[]'), coalesce(lj.cells, '[]')
  from unnest(p_user_ids) u(uid)
  left join per_learner pl on pl.uid = u.uid
  left join totals tg on tg.uid = u.uid and not tg.as_zero
  left join totals tz on tz.uid = u.uid and tz.as_zero
  left join quiz_json qj on qj.uid = u.uid
  left join assignment_json aj on aj.uid = u.uid
  left join lti_json lj on lj.uid = u.uid
  left join app.final_grade_overrides o on o.course_id = p_course_id and o.user_id = u.uid;
end
$$;
comment on function internal.course_grades(uuid, uuid[], boolean) is
$$The course grade of each given learner, the one definition (gradebook.course, gradebook.mine, the CSV export,
analytics.course_grades): per category earned ÷ possible after dropping the lowest, weighted (Σ weight ×
percent ÷ Σ weight over categories with graded work; work in no category in an implicit "Other" weighing
100 − Σ weights) or by points; ungraded work excluded, and beside it counted as 0; the scheme's letter; a
final grade (grade.override_final) wins. Percentages rounded to 2 decimals. LTI tools' line items are columns like
assignments: a FullyGraded result is scoreGiven ÷ scoreMaximum of the line item's points (internal.lti_grade).
@shape course_grade {percent: number?, letter: text?, percent_ungraded_as_zero: number?, letter_ungraded_as_zero: text?,
  overridden: bool, computed_percent: number?, computed_letter: text?, override_reason: text?}
@shape grade_category_total {category_id: uuid?, name: text, weight_percent: number?, drop_lowest: int, earned: number?,
  possible: number?, percent: number?, percent_ungraded_as_zero: number?}
SECURITY INVOKER: its callers (definer functions) check who may see whose grades.$$;

create or replace function api.grade_override_final(course_id uuid, user_id uuid, letter text default null,
                                                    percent numeric default null, reason text default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_row record;
begin
  perform internal.require_course_manager(grade_override_final.course_id);
  if not exists (select from app.enrollments e
                 where e.course_id = grade_override_final.course_id and e.user_id = grade_override_final.user_id) then
    raise exception 'no such learner in this course' using errcode = 'LM404', detail = 'not_found', hint = 'user_id';
  end if;
  if grade_override_final.letter is null and grade_override_final.percent is null then
    delete from app.final_grade_overrides o
    where o.course_id = grade_override_final.course_id and o.user_id = grade_override_final.user_id;
    perform internal.audit('grade.final_cleared', 'user', grade_override_final.user_id,
                           jsonb_build_object('course_id', grade_override_final.course_id, 'reason', grade_override_final.reason));
  else
    if grade_override_final.letter is not null
       and not exists (select from internal.grade_scheme(grade_override_final.course_id) s
                       where s.letter = btrim(grade_override_final.letter)) then
      raise exception 'the letter is not in the course''s scheme' using errcode = 'LM422', detail = 'invalid_grade', hint = 'letter';
    end if;
    if coalesce(btrim(grade_override_final.reason), '') = '' then
      raise exception 'a final grade override needs a reason' using errcode = 'LM422', detail = 'reason_required', hint = 'reason';
    end if;
    insert into app.final_grade_overrides as o (course_id, user_id, percent, letter, reason, set_by)
    values (grade_override_final.course_id, grade_override_final.user_id, grade_override_final.percent,
            btrim(grade_override_final.letter), btrim(grade_override_final.reason), app.current_user_id())
    on conflict on constraint pk_final_grade_overrides do update
      set percent = excluded.percent, letter = excluded.letter, reason = excluded.reason, set_by = excluded.set_by,
          set_at = now();
    perform internal.audit('grade.final_overridden', 'user', grade_override_final.user_id,
                           jsonb_build_object('course_id', grade_override_final.course_id, 'letter', btrim(grade_override_final.letter),
                                              'percent', grade_override_final.percent, 'reason', btrim(grade_override_final.reason)));
  end if;
  select g.* into v_row
  from internal.course_grades(grade_override_final.course_id, array[grade_override_final.user_id]) g;
  return jsonb_build_object('course_id', grade_override_final.course_id, 'user_id', grade_override_final.user_id,
                            'course_grade', v_row.course_grade);
end
$$;
comment on function api.grade_override_final(uuid, uuid, text, numeric, text) is
$$Set a learner's final course grade (the course's instructor, an admin): a letter of the course's scheme
and/or a percent, with a reason (422 reason_required); it wins over the computed grade everywhere the grade
is shown, and the computed one stays beside it. letter and percent both null: back to the computed grade.
Audited (grade.final_overridden / grade.final_cleared). A user not enrolled in the course: 404.
@result {course_id: uuid, user_id: uuid, course_grade: course_grade}
@param letter minLength=1 maxLength=10
@param percent minimum=0 maximum=100
@param reason maxLength=1000
SECURITY DEFINER: checks the caller manages the course.$$;

-- ---------------------------------------------------------------------------------------------
-- Posting (issue 30 §3): grades held back from learners until grade.post
-- ---------------------------------------------------------------------------------------------
create or replace function internal.grades_held_back(p_data jsonb)
returns boolean
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return exists (select from app.quizzes z
                 where z.id = (p_data ->> 'quiz_id')::uuid and internal.grade_hidden(z.grade_posting, z.grades_posted_at))
      or exists (select from app.assignments a
                 where a.id = (p_data ->> 'assignment_id')::uuid and internal.grade_hidden(a.grade_posting, a.grades_posted_at));
end
$$;
comment on function internal.grades_held_back(jsonb) is
  'Whether an event''s quiz_id or assignment_id names work whose grades are held back (internal.emit_event strips them). SECURITY DEFINER: reads the item whoever emits.';

create or replace function internal.held_back_item_ids()
returns uuid[]
language plpgsql
stable
parallel safe
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return array(select z.id from app.quizzes z
               where z.course_id in (select internal.my_enrolled_course_ids())
                 and internal.grade_hidden(z.grade_posting, z.grades_posted_at)
               union all
               select a.id from app.assignments a
               where a.course_id in (select internal.my_enrolled_course_ids())
                 and internal.grade_hidden(a.grade_posting, a.grades_posted_at));
end
$$;
comment on function internal.held_back_item_ids() is
  'Ids of the quizzes and assignments of the caller''s courses whose grades are held back: the analysts'' policies on attempts, submissions and manual grades leave the caller''s own rows of those out until grade.post. SECURITY DEFINER: ids only.';

create or replace function api.grade_post(quiz_id uuid default null, assignment_id uuid default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_quiz       app.quizzes;
  v_assignment app.assignments;
  v_course_id  uuid;
  v_learners   integer;
begin
  perform internal.require_user();
  if num_nonnulls(grade_post.quiz_id, grade_post.assignment_id) <> 1 then
    raise exception 'give exactly one of quiz_id and assignment_id'
      using errcode = 'LM422', detail = 'one_target_required';
  end if;
  if grade_post.quiz_id is not null then
    v_quiz := internal.managed_quiz(grade_post.quiz_id, true);
    v_course_id := v_quiz.course_id;
    update app.quizzes z set grades_posted_at = now() where z.id = v_quiz.id returning z.* into v_quiz;
    -- Each learner with a closed attempt learns their score now.
    select count(internal.emit_event('grade.posted', c.user_id, v_course_id,
             jsonb_build_object('quiz_id', v_quiz.id, 'course_id', v_course_id, 'user_id', c.user_id,
                                'best_score', c.best_score, 'passed', c.passed)))::integer
    into v_learners
    from app.quiz_attempt_counters c where c.quiz_id = v_quiz.id and c.closed_attempts > 0;
  else
    v_assignment := internal.managed_row(null::app.assignments, grade_post.assignment_id, 'assignment', true);
    v_course_id := v_assignment.course_id;
    update app.assignments a set grades_posted_at = now() where a.id = v_assignment.id returning a.* into v_assignment;
    select count(internal.emit_event('grade.posted', s.user_id, v_course_id,
             jsonb_build_object('assignment_id', v_assignment.id, 'course_id', v_course_id, 'user_id', s.user_id,
                                'grade', s.grade, 'effective_grade', internal.effective_grade(s.grade, s.is_late,
                                  internal.effective_late_penalty(s.user_id, v_assignment.id, v_assignment.late_penalty_percentage)))))::integer
    into v_learners
    from app.submissions s where s.assignment_id = v_assignment.id and s.grade is not null;
  end if;
  -- A quiz passed while held back counts for completion from now (certificates follow).
  perform internal.refresh_course_progress(v_course_id);
  perform internal.audit('grade.posted', case when v_quiz.id is not null then 'quiz' else 'assignment' end,
                         coalesce(v_quiz.id, v_assignment.id), jsonb_build_object('learners', v_learners));
  return jsonb_build_object('quiz_id', v_quiz.id, 'assignment_id', v_assignment.id, 'course_id', v_course_id,
                            'grades_posted_at', coalesce(v_quiz.grades_posted_at, v_assignment.grades_posted_at),
                            'learners', v_learners);
end
$$;
comment on function api.grade_post(uuid, uuid) is
$$Release the grades of a quiz or an assignment (the course's instructor, an admin): its learners see their
scores, grades and feedback from now on — in attempt.*, submission.get_mine, gradebook.mine, analytics — and
each learner with a grade gets a grade.posted event with it; a quiz passed meanwhile now counts for course
completion (certificates follow). Grades given later are shown at once, until grade_posting is set to manual
again. Give exactly one of quiz_id and assignment_id (422 one_target_required).
@result {quiz_id: uuid?, assignment_id: uuid?, course_id: uuid, grades_posted_at: timestamptz, learners: int}
SECURITY DEFINER: emits events and completes learners' enrollments after checking the caller manages the course.$$;
