/*
 * Events — written by triggers on the tables whose changes they tell, in the same transaction,
 * so an event exists exactly when its change does (a rollback takes both away). Each event also
 * queues one delivery per active webhook subscribed to its type, and NOTIFYs lms_events with its
 * id (delivered at commit, so live listeners never hear of a change that did not commit).
 *
 * Ids come from the identity's sequence, so two concurrent transactions may commit their ids out
 * of order. So that a reader can resume from the last id it saw and miss nothing, each writing
 * transaction fences its first id: it holds the advisory lock (bigint key = that id) until it
 * ends. internal.events_horizon returns the highest id below every fence (and at most the
 * sequence's last value): every id at or below it belongs to a finished transaction. The instant
 * between taking an id and fencing it is guarded by the session-level gate (90, 1), held shared
 * by writers for those microseconds and exclusively by the reader while it looks.
 */

create or replace function internal.emit_event(p_type text, p_user_id uuid, p_course_id uuid, p_data jsonb)
returns bigint
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_id bigint;
begin
  if coalesce(current_setting('lms.event_fence', true), '') = '' then
    begin  -- the transaction's first event: take an id and fence it, inside the gate
      perform pg_advisory_lock_shared(90, 1);
      v_id := nextval('app.events_id_seq');
      perform pg_advisory_xact_lock_shared(v_id);
      perform set_config('lms.event_fence', v_id::text, true);
      perform pg_advisory_unlock_shared(90, 1);
    exception when others or query_canceled then
      perform pg_advisory_unlock_shared(90, 1);  -- never leave the session-level gate held
      raise;
    end;
  else
    v_id := nextval('app.events_id_seq');  -- above this transaction's fence: covered by it
  end if;
  insert into app.events (id, type, user_id, course_id, data) overriding system value
  values (v_id, p_type, p_user_id, p_course_id, p_data);
  insert into app.webhook_deliveries (webhook_id, event_id)
  select w.id, v_id from app.webhooks w where w.is_active and p_type = any (w.events);
  perform pg_notify('lms_events', v_id::text);
  return v_id;
end
$$;
comment on function internal.emit_event(text, uuid, uuid, jsonb) is
  'Appends an event (and its webhook deliveries) in the calling transaction and notifies lms_events with its id at commit; the transaction''s first event fences its id until the transaction ends (see the file header). SECURITY DEFINER: clients may not write app.events or app.webhook_deliveries; called only by the event triggers. Not granted to clients.';

create or replace function internal.events_horizon()
returns bigint
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_last  bigint;
  v_fence bigint;
begin
  begin
    perform pg_advisory_lock(90, 1);  -- waits only for writers between taking an id and fencing it
    select case when s.is_called then s.last_value else 0 end into v_last from app.events_id_seq s;
    select min((l.classid::bigint << 32) | l.objid::bigint) into v_fence
    from pg_locks l
    where l.locktype = 'advisory' and l.objsubid = 1 and l.granted
      and l.database = (select d.oid from pg_database d where d.datname = current_database());
    perform pg_advisory_unlock(90, 1);
  exception when others or query_canceled then
    perform pg_advisory_unlock(90, 1);  -- never leave the session-level gate held in a pooled connection
    raise;
  end;
  return least(v_last, v_fence - 1);
end
$$;
comment on function internal.events_horizon() is
  'The highest event id at or below which every id is settled (its transaction committed or rolled back): the sequence''s last value, or just below the lowest id still fenced by a running transaction. Readers never return an id above it, so resuming from the last id seen misses nothing; they never wait for a running transaction. SECURITY DEFINER: reads the events sequence, which clients may not.';

-- ---------------------------------------------------------------------------------------------
-- The triggers: one per table, AFTER ROW (they see the row as written).
-- ---------------------------------------------------------------------------------------------

create or replace function internal.tg_enrollments__events()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_data jsonb := jsonb_build_object('enrollment_id', new.id, 'course_id', new.course_id, 'user_id', new.user_id);
begin
  if tg_op = 'INSERT' then
    if new.is_active then
      perform internal.emit_event('enrollment.created', new.user_id, new.course_id, v_data || jsonb_build_object('reactivated', false));
    end if;
    return null;
  end if;
  if old.is_active and not new.is_active then
    perform internal.emit_event('enrollment.dropped', new.user_id, new.course_id, v_data);
  elsif not old.is_active and new.is_active then
    perform internal.emit_event('enrollment.created', new.user_id, new.course_id, v_data || jsonb_build_object('reactivated', true));
  end if;
  if old.completed_at is null and new.completed_at is not null then
    perform internal.emit_event('course.completed', new.user_id, new.course_id,
                                v_data || jsonb_build_object('completed_at', new.completed_at));
  end if;
  return null;
end
$$;
comment on function internal.tg_enrollments__events() is
  'AFTER INSERT/UPDATE on app.enrollments: enrollment.created (also when a dropped one is re-activated), enrollment.dropped, course.completed. SECURITY DEFINER: writes app.events whoever made the change.';

create or replace function internal.tg_lesson_progress__events()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_course_id uuid := (select l.course_id from app.lessons l where l.id = new.lesson_id);
begin
  perform internal.emit_event('lesson.completed', new.user_id, v_course_id,
    jsonb_build_object('lesson_id', new.lesson_id, 'course_id', v_course_id, 'enrollment_id', new.enrollment_id,
                       'user_id', new.user_id, 'completed_at', new.completed_at));
  return null;
end
$$;
comment on function internal.tg_lesson_progress__events() is
  'AFTER INSERT on app.lesson_progress (a row is a completed lesson): lesson.completed. SECURITY DEFINER: writes app.events and reads the lesson''s course whoever made the change.';

create or replace function internal.tg_certificates__events()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_data jsonb := jsonb_build_object('certificate_id', new.id, 'course_id', new.course_id, 'user_id', new.user_id,
                                     'enrollment_id', new.enrollment_id);
begin
  if tg_op = 'INSERT' then
    perform internal.emit_event('certificate.issued', new.user_id, new.course_id,
                                v_data || jsonb_build_object('issued_at', new.issued_at));
  elsif old.revoked_at is null and new.revoked_at is not null then
    perform internal.emit_event('certificate.revoked', new.user_id, new.course_id,
                                v_data || jsonb_build_object('revoked_at', new.revoked_at, 'reason', new.revoked_reason));
  end if;
  return null;
end
$$;
comment on function internal.tg_certificates__events() is
  'AFTER INSERT/UPDATE on app.certificates: certificate.issued, certificate.revoked (never the certificate number: it is a bearer value). SECURITY DEFINER: writes app.events whoever made the change.';

create or replace function internal.tg_quiz_attempts__events()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_course_id uuid;
begin
  if old.status = 'in_progress' and new.status <> 'in_progress' then
    v_course_id := (select q.course_id from app.quizzes q where q.id = new.quiz_id);
    perform internal.emit_event('attempt.submitted', new.user_id, v_course_id,
      jsonb_build_object('attempt_id', new.id, 'quiz_id', new.quiz_id, 'course_id', v_course_id, 'user_id', new.user_id,
                         'attempt_number', new.attempt_number, 'status', new.status, 'score', new.score,
                         'passed', new.passed, 'submitted_at', new.submitted_at));
  end if;
  return null;
end
$$;
comment on function internal.tg_quiz_attempts__events() is
  'AFTER UPDATE OF status on app.quiz_attempts: attempt.submitted when an attempt closes (status submitted, or expired with score 0). SECURITY DEFINER: writes app.events and reads the quiz''s course whoever made the change.';

create or replace function internal.tg_submissions__events()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_course_id uuid := (select a.course_id from app.assignments a where a.id = new.assignment_id);
  v_data jsonb := jsonb_build_object('submission_id', new.id, 'assignment_id', new.assignment_id,
                                     'course_id', v_course_id, 'user_id', new.user_id);
begin
  if tg_op = 'INSERT' or new.submitted_at is distinct from old.submitted_at then
    perform internal.emit_event('submission.submitted', new.user_id, v_course_id,
      v_data || jsonb_build_object('submitted_at', new.submitted_at, 'is_late', new.is_late,
                                   'resubmitted', tg_op = 'UPDATE'));
  end if;
  if tg_op = 'UPDATE' and new.grade is not null
     and (new.graded_at is distinct from old.graded_at or new.grade is distinct from old.grade) then
    perform internal.emit_event('submission.graded', new.user_id, v_course_id,
      v_data || jsonb_build_object('grade', new.grade, 'graded_at', new.graded_at,
                                   'regraded', old.grade is not null));
  end if;
  return null;
end
$$;
comment on function internal.tg_submissions__events() is
  'AFTER INSERT/UPDATE on app.submissions: submission.submitted (first submission or a replacement), submission.graded (graded or regraded). SECURITY DEFINER: writes app.events and reads the assignment''s course whoever made the change.';

create or replace function internal.tg_orders__events()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_data jsonb := jsonb_build_object('order_id', new.id, 'course_id', new.course_id, 'user_id', new.user_id,
                                     'amount_cents', new.amount_cents, 'currency', new.currency);
begin
  if new.status = 'completed' and (tg_op = 'INSERT' or old.status <> 'completed') then
    perform internal.emit_event('order.completed', new.user_id, new.course_id,
                                v_data || jsonb_build_object('completed_at', new.completed_at));
  elsif new.status = 'refunded' and (tg_op = 'INSERT' or old.status <> 'refunded') then
    perform internal.emit_event('order.refunded', new.user_id, new.course_id, v_data);
  end if;
  return null;
end
$$;
comment on function internal.tg_orders__events() is
  'AFTER INSERT/UPDATE OF status on app.orders: order.completed, order.refunded. SECURITY DEFINER: writes app.events whoever made the change.';

create or replace function internal.tg_users__events()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if tg_op = 'INSERT' then
    perform internal.emit_event('user.created', new.id, null,
      jsonb_build_object('user_id', new.id, 'email', new.email, 'full_name', new.full_name, 'role', new.role));
  elsif old.is_active and not new.is_active then
    perform internal.emit_event('user.deactivated', new.id, null, jsonb_build_object('user_id', new.id));
  end if;
  return null;
end
$$;
comment on function internal.tg_users__events() is
  'AFTER INSERT/UPDATE OF is_active on app.users: user.created (id, email, name, role — seen by that user and admins), user.deactivated. SECURITY DEFINER: writes app.events whoever made the change.';

drop trigger if exists _900_events on app.enrollments;
create trigger _900_events after insert or update of is_active, completed_at on app.enrollments
  for each row execute function internal.tg_enrollments__events();
drop trigger if exists _900_events on app.lesson_progress;
create trigger _900_events after insert on app.lesson_progress
  for each row execute function internal.tg_lesson_progress__events();
drop trigger if exists _900_events on app.certificates;
create trigger _900_events after insert or update of revoked_at on app.certificates
  for each row execute function internal.tg_certificates__events();
drop trigger if exists _900_events on app.quiz_attempts;
create trigger _900_events after update of status on app.quiz_attempts
  for each row execute function internal.tg_quiz_attempts__events();
drop trigger if exists _900_events on app.submissions;
create trigger _900_events after insert or update on app.submissions
  for each row execute function internal.tg_submissions__events();
drop trigger if exists _900_events on app.orders;
create trigger _900_events after insert or update of status on app.orders
  for each row execute function internal.tg_orders__events();
drop trigger if exists _900_events on app.users;
create trigger _900_events after insert or update of is_active on app.users
  for each row execute function internal.tg_users__events();
