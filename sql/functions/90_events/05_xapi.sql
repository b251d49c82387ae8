/*
 * xAPI (issue 33 §1): events as xAPI 1.0.3 statements for a Learning Record Store.
 *
 * The LRS is a subscription of format xapi (internal.xapi_subscription, made by lms xapi deliver from
 * LMS_XAPI_ENDPOINT): the sequencer queues its deliveries like any webhook's, and the same worker
 * (rpc/workers/webhook_delivery.py) posts them in order, once each, with the webhooks' retries and
 * back-off. What it posts is decided here: internal.xapi_statement maps an event to its statement.
 */

create or replace function internal.xapi_uuid(p_name text)
returns uuid
language plpgsql
immutable
as $$
declare
  v_hex text := md5(p_name);
begin
  -- An MD5 name-based UUID (RFC 4122 §4.3: version 3, the variant bits 10): the same name, the same id.
  return (substr(v_hex, 1, 8) || '-' || substr(v_hex, 9, 4) || '-3' || substr(v_hex, 14, 3) || '-'
          || to_hex((('x' || substr(v_hex, 17, 1))::bit(4)::integer & 3) | 8) || substr(v_hex, 18, 3) || '-'
          || substr(v_hex, 21, 12))::uuid;
end
$$;
comment on function internal.xapi_uuid(text) is 'A version-3 (MD5 name-based) UUID of a name: how a statement''s id is derived from its event, so a redelivery is the same statement.';

create or replace function internal.xapi_activity(p_home text, p_kind text, p_id uuid, p_name text)
returns jsonb
language plpgsql
immutable
as $$
begin
  return jsonb_build_object(
    'objectType', 'Activity', 'id', p_home || '/xapi/activities/' || p_kind || '/' || p_id,
    'definition', jsonb_build_object(
      'type', case p_kind when 'course' then 'http://adlnet.gov/expapi/activities/course'
                          when 'lesson' then 'http://adlnet.gov/expapi/activities/lesson'
                          else 'http://adlnet.gov/expapi/activities/assessment' end,
      'name', jsonb_build_object('en-US', coalesce(p_name, p_kind))));
end
$$;
comment on function internal.xapi_activity(text, text, uuid, text) is 'An xAPI activity for a course, lesson, quiz, assignment or LTI line item: a stable IRI under the site''s home page ({home}/xapi/activities/{kind}/{id}) and its ADL activity type.';

create or replace function internal.xapi_statement(p_event app.events, p_home text)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_data    jsonb := p_event.data;
  v_course  app.courses;
  v_verb    text;
  v_object  jsonb;
  v_result  jsonb;
  v_raw     numeric;
  v_max     numeric;
  v_title   text;
begin
  if p_event.user_id is null or p_home is null then
    return null;
  end if;
  select * into v_course from app.courses c where c.id = p_event.course_id;
  case p_event.type
    when 'enrollment.created' then
      v_verb := 'registered';
      v_object := internal.xapi_activity(p_home, 'course', v_course.id, v_course.title);
    when 'course.completed' then
      v_verb := 'completed';
      v_object := internal.xapi_activity(p_home, 'course', v_course.id, v_course.title);
      v_result := jsonb_build_object('completion', true);
    when 'lesson.completed' then
      v_verb := 'completed';
      select l.title into v_title from app.lessons l where l.id = (v_data ->> 'lesson_id')::uuid;
      v_object := internal.xapi_activity(p_home, 'lesson', (v_data ->> 'lesson_id')::uuid, v_title);
      v_result := jsonb_build_object('completion', true);
    when 'attempt.submitted', 'attempt.graded', 'attempt.regraded' then
      if v_data ->> 'score' is null then  -- waiting for a person's grade, or held back: nothing to say yet
        return null;
      end if;
      v_verb := case when (v_data ->> 'passed')::boolean then 'passed' else 'failed' end;
      select z.title into v_title from app.quizzes z where z.id = (v_data ->> 'quiz_id')::uuid;
      v_object := internal.xapi_activity(p_home, 'quiz', (v_data ->> 'quiz_id')::uuid, v_title);
      v_raw := (v_data ->> 'score')::numeric;
      v_result := jsonb_build_object('score', jsonb_build_object('scaled', round(v_raw / 100, 4), 'raw', v_raw,
                                                                 'min', 0, 'max', 100),
                                     'success', (v_data ->> 'passed')::boolean, 'completion', true);
    when 'submission.graded' then
      if v_data ->> 'grade' is null then
        return null;
      end if;
      v_verb := 'scored';
      select a.title, a.points into v_title, v_max from app.assignments a where a.id = (v_data ->> 'assignment_id')::uuid;
      v_object := internal.xapi_activity(p_home, 'assignment', (v_data ->> 'assignment_id')::uuid, v_title);
      v_raw := least((v_data ->> 'grade')::numeric, v_max);
      v_result := jsonb_build_object('score', jsonb_build_object('scaled', round(v_raw / nullif(v_max, 0), 4),
                                                                 'raw', v_raw, 'min', 0, 'max', v_max));
    when 'lti.score_received' then
      if v_data ->> 'grade' is null then
        return null;
      end if;
      v_verb := 'scored';
      v_object := internal.xapi_activity(p_home, 'lti', (v_data ->> 'line_item_id')::uuid, v_data ->> 'label');
      v_raw := (v_data ->> 'grade')::numeric;
      v_max := (v_data ->> 'points')::numeric;
      v_result := jsonb_build_object('score', jsonb_build_object('scaled', round(least(v_raw / v_max, 1), 4),
                                                                 'raw', least(v_raw, v_max), 'min', 0, 'max', v_max));
    else
      return null;
  end case;
  return jsonb_strip_nulls(jsonb_build_object(
    'id', internal.xapi_uuid(p_home || '/events/' || p_event.id),
    'actor', jsonb_build_object('objectType', 'Agent',
                                'account', jsonb_build_object('homePage', p_home, 'name', p_event.user_id)),
    'verb', jsonb_build_object('id', 'http://adlnet.gov/expapi/verbs/' || v_verb,
                               'display', jsonb_build_object('en-US', v_verb)),
    'object', v_object,
    'result', v_result,
    'context', jsonb_build_object('platform', 'LMS') || case when p_event.type not in ('enrollment.created', 'course.completed')
      then jsonb_build_object('contextActivities', jsonb_build_object(  -- an item of the course: the course is its parent
        'parent', jsonb_build_array(internal.xapi_activity(p_home, 'course', v_course.id, v_course.title))))
      else '{}' end,
    'timestamp', to_char(p_event.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')));
end
$$;
comment on function internal.xapi_statement(app.events, text) is
  'The xAPI 1.0.3 statement of an event, or null when it has none: enrollment.created → registered (the course); lesson.completed, course.completed → completed; attempt.submitted/graded/regraded with a score → passed or failed (result.score scaled, raw of 100, success); submission.graded → scored (of the assignment''s points); lti.score_received once graded → scored. Actor: an account {homePage: p_home, name: the user id} — never an email; objects: stable IRIs under p_home with the course as context parent; id: a UUID derived from the event id (internal.xapi_uuid), so a redelivery is the same statement. Held-back grades never reach it (the event carries none). SECURITY DEFINER: titles of the course''s items, for the delivery worker.';

create or replace function internal.xapi_subscription(p_endpoint text, p_basic_auth text)
returns uuid
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_id uuid;
begin
  update app.webhooks w set is_active = false, updated_at = now()
  where w.format = 'xapi' and w.url <> p_endpoint and w.is_active;
  select w.id into v_id from app.webhooks w where w.format = 'xapi' and w.url = p_endpoint for update;
  if v_id is null then
    insert into app.webhooks (url, events, description, secret, format, basic_auth)
    values (p_endpoint, array['enrollment.created', 'lesson.completed', 'course.completed', 'attempt.submitted',
                              'attempt.graded', 'attempt.regraded', 'submission.graded', 'lti.score_received'],
            'xAPI statements to the LRS (lms xapi deliver)',
            internal.new_webhook_secret(), 'xapi', p_basic_auth)  -- (unused: an LRS checks basic_auth)
    returning id into v_id;
    insert into app.audit_log (action, subject_type, subject_id, details)
    values ('xapi.subscribe', 'webhook', v_id, jsonb_build_object('url', p_endpoint));
  else
    update app.webhooks w set basic_auth = p_basic_auth, is_active = true, disabled_at = null, disabled_reason = null,
                              updated_at = now()
    where w.id = v_id and (w.basic_auth is distinct from p_basic_auth or not w.is_active);
  end if;
  return v_id;
end
$$;
comment on function internal.xapi_subscription(text, text) is
  'The LRS subscription for an endpoint (lms xapi deliver, from LMS_XAPI_ENDPOINT and its credentials): made once — it hears the events from then on —, its credentials kept current, any other LRS subscription deactivated. Not granted to clients: the DBA connection runs it. SECURITY DEFINER: writes the subscription and its secret credentials.';
