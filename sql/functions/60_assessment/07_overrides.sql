/*
 * Accommodations and overrides: one learner's own settings for a quiz, an assignment or a module,
 * and a course-wide time multiplier.
 *
 * Each effective value is computed in one place, and every rule that used the original reads it
 * from there: internal.effective_quiz (max_attempts + extra_attempts; time_limit_minutes from the
 * override, else × the course's time_multiplier), internal.quiz_available_until, internal.
 * effective_assignment (due_date) and internal.effective_late_penalty (0 when waived), and
 * internal.effective_unlock_at (catalog, module locks). They are SECURITY INVOKER: the override rows
 * are read under RLS, so a learner (or their analyst) sees their own, an instructor their course's.
 * Writes go through override.set / override.clear / accommodation.set (SECURITY DEFINER: the
 * instructor of the course or an admin; audited; override.changed events).
 */

create or replace function internal.effective_quiz(p_user_id uuid, p_quiz app.quizzes)
returns app.quizzes
language plpgsql
stable
as $$
declare
  v_quiz       app.quizzes := p_quiz;
  v_extra      integer;
  v_minutes    integer;
  v_multiplier numeric;
begin
  if p_user_id is null or p_quiz.id is null then
    return v_quiz;
  end if;
  select o.extra_attempts, o.time_limit_minutes into v_extra, v_minutes
  from app.learner_overrides o where o.user_id = p_user_id and o.quiz_id = p_quiz.id;
  select a.time_multiplier into v_multiplier
  from app.accommodations a where a.course_id = p_quiz.course_id and a.user_id = p_user_id;
  if v_quiz.max_attempts is not null and v_extra is not null then
    v_quiz.max_attempts := v_quiz.max_attempts + v_extra;
  end if;
  if v_minutes is not null then
    v_quiz.time_limit_minutes := v_minutes;
  elsif v_quiz.time_limit_minutes is not null and v_multiplier is not null then
    v_quiz.time_limit_minutes := ceil(v_quiz.time_limit_minutes * v_multiplier)::integer;
  end if;
  return v_quiz;
end
$$;
comment on function internal.effective_quiz(uuid, app.quizzes) is
  'The quiz as it applies to one learner: max_attempts + their extra_attempts (unlimited stays unlimited); time_limit_minutes from their quiz override, else the quiz''s × their course time_multiplier (rounded up), else the quiz''s. The one place these are computed (attempt.start, quiz.get). Reads overrides under RLS.';

create or replace function internal.effective_assignment(p_user_id uuid, p_assignment app.assignments)
returns app.assignments
language plpgsql
stable
as $$
declare
  v_assignment app.assignments := p_assignment;
  v_due        timestamptz;
  v_has_due    boolean;
begin
  if p_user_id is null or p_assignment.id is null then
    return v_assignment;
  end if;
  select o.due_date, o.due_date is not null into v_due, v_has_due
  from app.learner_overrides o where o.user_id = p_user_id and o.assignment_id = p_assignment.id;
  if v_has_due then
    v_assignment.due_date := v_due;
  end if;
  v_assignment.late_penalty_percentage :=
    internal.effective_late_penalty(p_user_id, p_assignment.id, p_assignment.late_penalty_percentage);
  return v_assignment;
end
$$;
comment on function internal.effective_assignment(uuid, app.assignments) is
  'The assignment as it applies to one learner: due_date from their override (late marking and the deadline), late_penalty_percentage 0 when waived. The one place (submission.submit, assignment.list). Reads overrides under RLS.';

-- ---------------------------------------------------------------------------------------------
-- JSON
-- ---------------------------------------------------------------------------------------------

create or replace function internal.override_json(p_override app.learner_overrides)
returns jsonb
language sql
stable
as $$
  select jsonb_build_object(
    'id', p_override.id, 'override_id', p_override.id, 'course_id', p_override.course_id,
    'user_id', p_override.user_id, 'quiz_id', p_override.quiz_id, 'assignment_id', p_override.assignment_id,
    'module_id', p_override.module_id, 'extra_attempts', p_override.extra_attempts,
    'time_limit_minutes', p_override.time_limit_minutes, 'available_until', p_override.available_until,
    'due_date', p_override.due_date, 'waive_late_penalty', p_override.waive_late_penalty,
    'unlock_at', p_override.unlock_at, 'created_by', p_override.created_by,
    'created_at', p_override.created_at, 'updated_at', p_override.updated_at)
$$;
comment on function internal.override_json(app.learner_overrides) is
$$An override as override.* returns it.
@shape override {id: uuid, override_id: uuid, course_id: uuid, user_id: uuid, quiz_id: uuid?, assignment_id: uuid?,
  module_id: uuid?, extra_attempts: int?, time_limit_minutes: int?, available_until: timestamptz?,
  due_date: timestamptz?, waive_late_penalty: bool?, unlock_at: timestamptz?, created_by: uuid?,
  created_at: timestamptz, updated_at: timestamptz}$$;

/*
 * The learner must be enrolled in the course (an active or dropped enrollment: an accommodation
 * outlives a pause), else 404 on user_id — a stranger's account is not confirmed either.
 */
create or replace function internal.require_override_rights(p_course_id uuid, p_user_id uuid)
returns void
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform internal.require_course_manager(p_course_id);
  if not exists (select from app.enrollments e where e.user_id = p_user_id and e.course_id = p_course_id) then
    raise exception 'no such learner in this course' using errcode = 'LM404', detail = 'not_found', hint = 'user_id';
  end if;
end
$$;
comment on function internal.require_override_rights(uuid, uuid) is
  'The caller manages the course (404 not_found if they cannot see it, 403 not_course_owner) and the learner is enrolled in it (404 not_found on user_id). SECURITY DEFINER: reads the learner''s enrollment for the instructor.';

create or replace function internal.override_changed(p_action text, p_course_id uuid, p_user_id uuid, p_data jsonb)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform internal.audit(p_action, 'learner', p_user_id, p_data || jsonb_build_object('course_id', p_course_id));
  perform internal.emit_event('override.changed', p_user_id, p_course_id,
    p_data || jsonb_build_object('action', p_action, 'course_id', p_course_id, 'user_id', p_user_id,
                                 'changed_by', app.current_user_id(), 'changed_at', now()));
end
$$;
comment on function internal.override_changed(text, uuid, uuid, jsonb) is
  'Audit an override or accommodation change and emit override.changed (to the learner, the course''s instructor, admins). SECURITY DEFINER: writes app.events. Called by the override functions only.';

-- ---------------------------------------------------------------------------------------------
-- override.* and accommodation.set
-- ---------------------------------------------------------------------------------------------

create or replace function api.override_set(
  user_id uuid, quiz_id uuid default null, assignment_id uuid default null, module_id uuid default null,
  extra_attempts integer default null, time_limit_minutes integer default null,
  available_until timestamptz default null, due_date timestamptz default null,
  waive_late_penalty boolean default null, unlock_at timestamptz default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_caller    uuid := internal.require_user();
  v_course_id uuid;
  v_override  app.learner_overrides;
begin
  if num_nonnulls(override_set.quiz_id, override_set.assignment_id, override_set.module_id) <> 1 then
    raise exception 'give exactly one of quiz_id, assignment_id and module_id'
      using errcode = 'LM422', detail = 'one_target_required';
  end if;
  if override_set.quiz_id is null
     and num_nonnulls(override_set.extra_attempts, override_set.time_limit_minutes, override_set.available_until) > 0
     or override_set.assignment_id is null
     and num_nonnulls(override_set.due_date, override_set.waive_late_penalty) > 0
     or override_set.module_id is null and override_set.unlock_at is not null then
    raise exception 'a field of another kind of target: quiz (extra_attempts, time_limit_minutes, available_until), assignment (due_date, waive_late_penalty), module (unlock_at)'
      using errcode = 'LM422', detail = 'field_not_for_target';
  end if;
  v_course_id := coalesce((select q.course_id from app.quizzes q where q.id = override_set.quiz_id),
                          (select a.course_id from app.assignments a where a.id = override_set.assignment_id),
                          (select m.course_id from app.modules m where m.id = override_set.module_id));
  if v_course_id is null or not (internal.can_see_course(v_course_id) or internal.can_manage_course(v_course_id)) then
    raise exception 'not found' using errcode = 'LM404', detail = 'not_found',
      hint = case when override_set.quiz_id is not null then 'quiz_id'
                  when override_set.assignment_id is not null then 'assignment_id' else 'module_id' end;
  end if;
  perform internal.require_override_rights(v_course_id, override_set.user_id);
  -- One writer of a learner's overrides in a course at a time: setting one twice at once replaces it.
  perform from app.enrollments e where e.user_id = override_set.user_id and e.course_id = v_course_id
  for no key update;
  -- Setting again replaces the whole override (fields not given are cleared).
  delete from app.learner_overrides o
  where o.user_id = override_set.user_id
    and (o.quiz_id = override_set.quiz_id or o.assignment_id = override_set.assignment_id
         or o.module_id = override_set.module_id)
  returning o.id into v_override.id;
  insert into app.learner_overrides as o (id, course_id, user_id, quiz_id, assignment_id, module_id, extra_attempts,
                                          time_limit_minutes, available_until, due_date, waive_late_penalty,
                                          unlock_at, created_by)
  values (coalesce(v_override.id, gen_random_uuid()), v_course_id, override_set.user_id, override_set.quiz_id,
          override_set.assignment_id, override_set.module_id, override_set.extra_attempts,
          override_set.time_limit_minutes, override_set.available_until, override_set.due_date,
          override_set.waive_late_penalty, override_set.unlock_at, v_caller)
  returning o.* into v_override;
  perform internal.override_changed('override.set', v_course_id, override_set.user_id, internal.override_json(v_override));
  return internal.override_json(v_override);
end
$$;
comment on function api.override_set(uuid, uuid, uuid, uuid, integer, integer, timestamptz, timestamptz, boolean, timestamptz) is
  'Give one enrolled learner their own settings for one quiz (extra_attempts, time_limit_minutes, available_until), assignment (due_date, waive_late_penalty) or module (unlock_at) — the instructor of the course or an admin. Setting again replaces the override (fields not given are cleared; its id stays). Used wherever the original is: attempt limits (also under concurrent starts), deadlines and the 30 s grace, late marking and penalties, module unlocks, gradebooks, exports, analytics. Audited; emits override.changed. Exactly one target (422 one_target_required); a field of another kind of target: 422 field_not_for_target; a learner not enrolled: 404.
@result override
@param extra_attempts minimum=0 maximum=100
@param time_limit_minutes minimum=1 maximum=10080
SECURITY DEFINER: writes app.learner_overrides (no client write privilege); checks the caller manages the course.';

create or replace function api.override_clear(override_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_override app.learner_overrides;
begin
  perform internal.require_user();
  select o.* into v_override from app.learner_overrides o where o.id = override_clear.override_id;
  if v_override.id is null or not internal.can_manage_course(v_override.course_id) then
    raise exception 'override not found' using errcode = 'LM404', detail = 'not_found', hint = 'override_id';
  end if;
  delete from app.learner_overrides o where o.id = v_override.id;
  perform internal.override_changed('override.clear', v_override.course_id, v_override.user_id,
                                    internal.override_json(v_override));
  return jsonb_build_object('cleared', true, 'override_id', v_override.id);
end
$$;
comment on function api.override_clear(uuid) is
  'Remove an override (the instructor of its course or an admin; others 404): the learner has the original settings again. Audited; emits override.changed.
@result {cleared: bool, override_id: uuid}
SECURITY DEFINER: writes app.learner_overrides; checks the caller manages the course.';

create or replace function api.override_list(course_id uuid, user_id uuid default null,
                                             "limit" integer default 50, "offset" integer default 0)
returns jsonb
language plpgsql
stable
as $$
begin
  perform internal.require_user();
  perform internal.check_page(override_list."limit", override_list."offset", 500);
  if not (internal.can_see_course(override_list.course_id) or internal.can_manage_course(override_list.course_id)) then
    raise exception 'course not found' using errcode = 'LM404', detail = 'not_found', hint = 'course_id';
  end if;
  -- RLS: a learner reads their own overrides only; the instructor and admins all of the course.
  return (select coalesce(jsonb_agg(internal.override_json(o) order by o.created_at, o.id), '[]')
          from (select o0.* from app.learner_overrides o0
                where o0.course_id = override_list.course_id
                  and (override_list.user_id is null or o0.user_id = override_list.user_id)
                order by o0.created_at, o0.id
                limit override_list."limit" offset override_list."offset") o);
end
$$;
comment on function api.override_list(uuid, uuid, integer, integer) is
  'Overrides of a course (optionally of one learner), oldest first: all of them for the course''s instructor and admins, a learner''s own for a learner, nothing of anyone else''s.
@result override[]
@param limit minimum=1 maximum=500
@param offset minimum=0';

create or replace function api.accommodation_set(course_id uuid, user_id uuid, time_multiplier numeric)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_caller uuid := internal.require_user();
  v_row    app.accommodations;
begin
  perform internal.require_override_rights(accommodation_set.course_id, accommodation_set.user_id);
  if accommodation_set.time_multiplier is null or accommodation_set.time_multiplier not between 1 and 5 then
    raise exception 'time_multiplier must be 1.0 to 5.0' using errcode = '22023', column = 'time_multiplier';
  end if;
  insert into app.accommodations as a (course_id, user_id, time_multiplier, created_by)
  values (accommodation_set.course_id, accommodation_set.user_id, accommodation_set.time_multiplier, v_caller)
  on conflict on constraint pk_accommodations do update
    set time_multiplier = excluded.time_multiplier, created_by = excluded.created_by, updated_at = now()
  returning a.* into v_row;
  perform internal.override_changed('accommodation.set', v_row.course_id, v_row.user_id,
                                    jsonb_build_object('time_multiplier', v_row.time_multiplier));
  return jsonb_build_object('course_id', v_row.course_id, 'user_id', v_row.user_id,
                            'time_multiplier', v_row.time_multiplier, 'created_by', v_row.created_by,
                            'updated_at', v_row.updated_at);
end
$$;
comment on function api.accommodation_set(uuid, uuid, numeric) is
  'Give one enrolled learner more time on every timed quiz of a course: time_limit × time_multiplier (1.0–5.0, rounded up to whole minutes), unless a quiz override sets their time itself; 1.0 is no accommodation. The instructor of the course or an admin. Open attempts keep their deadline. Audited; emits override.changed.
@result {course_id: uuid, user_id: uuid, time_multiplier: number, created_by: uuid?, updated_at: timestamptz}
@param time_multiplier minimum=1 maximum=5
SECURITY DEFINER: writes app.accommodations; checks the caller manages the course.';
