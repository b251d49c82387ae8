/*
 * Events — written by triggers on the tables whose changes they tell, in the same transaction,
 * so an event exists exactly when its change does (a rollback takes both away).
 *
 * A writer only inserts its row: no lock, no NOTIFY, nothing that serialises writers or that a
 * session of another role could hold. The public id is given after commit by the sequencer
 * (internal.events_sequence), called by every reader before it reads (event.list, the server's
 * event hub, the webhook worker): under the row lock of app.event_sequencer — which only
 * lms_definer may take; a reader that finds another at it waits for it (at most 200 ms), so it reads its own
 * writes — it numbers the committed events still without an id, last_id + 1, + 2 …, and queues their webhook deliveries.
 * Ids so follow commit order without gaps: a late commit simply gets a later id, and a reader
 * that resumes from the last id it saw misses nothing.
 */

drop function if exists internal.events_horizon();  -- replaced by internal.events_sequence (0016)

create or replace function internal.emit_event(p_type text, p_user_id uuid, p_course_id uuid, p_data jsonb)
returns bigint
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_seq bigint;
begin
  -- The grades of work whose grades are held back (grade_posting manual, not posted) never go out in an
  -- event, to the learner, the course's instructor, a webhook or the WebSocket; grade.posted tells them.
  if p_type in ('attempt.submitted', 'attempt.graded', 'attempt.regraded', 'submission.graded')
     and internal.grades_held_back(p_data) then
    p_data := internal.hide_grade(p_data);
  end if;
  insert into app.events (type, user_id, course_id, data)
  values (p_type, p_user_id, p_course_id, p_data)
  returning seq into v_seq;
  return v_seq;
end
$$;
comment on function internal.emit_event(text, uuid, uuid, jsonb) is
  'Appends an event in the calling transaction (without an id: internal.events_sequence gives it one after commit) and returns its write-order seq. SECURITY DEFINER: clients may not write app.events; called only by the event triggers. Not granted to clients.';

create or replace function internal.events_sequence(p_limit integer default 10000)
returns bigint
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
set lock_timeout = '200ms'
as $$
declare
  v_last  bigint;
  v_seqs  bigint[];
begin
  if not exists (select from app.events e where e.id is null)
     or current_setting('transaction_read_only') = 'on' then  -- nothing to number, or a replica
    return (select s.last_id from app.event_sequencer s);
  end if;
  select s.last_id into v_last from app.event_sequencer s for update skip locked;
  if not found then
    -- Another reader is numbering. Wait for it (its transaction lasts a few ms) rather than return
    -- without it: once the lock is ours this session sees every event committed before it asked, so
    -- a client reads its own writes (event.list right after enrollment.enroll lists it). The wait is
    -- bounded (lock_timeout, set on this function): a numberer that stalls delays readers by 200 ms,
    -- and they then answer with the last id given, as a reader on a replica would.
    begin
      select s.last_id into v_last from app.event_sequencer s for update;
    exception when lock_not_available then
      return (select s.last_id from app.event_sequencer s);
    end;
  end if;
  select array_agg(x.seq order by x.seq) into v_seqs
  from (select e.seq from app.events e where e.id is null order by e.seq limit p_limit for update skip locked) x;
  if v_seqs is null then
    return v_last;
  end if;
  update app.events e set id = v_last + n.ord
  from unnest(v_seqs) with ordinality as n(seq, ord)
  where e.seq = n.seq;
  insert into app.webhook_deliveries (webhook_id, event_id)
  select w.id, e.id
  from app.events e join app.webhooks w on w.is_active and e.type = any (w.events)
  where e.seq = any (v_seqs)
    and e.occurred_at >= w.created_at;  -- a subscription hears what happens from its creation on
  v_last := v_last + cardinality(v_seqs);
  update app.event_sequencer s set last_id = v_last, sequenced_at = now();
  return v_last;
end
$$;
comment on function internal.events_sequence(integer) is
  'Numbers the committed events that have no id yet (at most p_limit, in write order) after the last id given, queues their webhook deliveries (to the active subscriptions created before the event occurred), and returns the highest id given. Serialised by the row lock of app.event_sequencer: a reader that finds another session numbering waits for it to commit (at most 200 ms, then it returns the last id given) and numbers what is left, so every event committed before the call is numbered when it returns (a client reads its own writes). In a read-only transaction (a replica) it only reads. Every id at or below the result is taken and none will ever be given below it, so a reader resuming from the last id it saw misses nothing. SECURITY DEFINER: only lms_definer may update events or lock the sequencer. Granted to lms_api (readers call it first).';

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
