/*
 * LTI Advantage services (issue 31): the tool as a caller.
 *
 * A tool gets an access token at POST /lti/token (client credentials; rpc/http/lti_services.py checks
 * its signed assertion with the tool's keys, internal.lti_token_grant uses its jti once and grants the
 * scopes it is registered with). With the token, each request to /lti/courses/{id}/… runs one function
 * below as lms_api; the function first makes the token's tool the caller (internal.set_tool_caller:
 * lms.tool_id and lms.tool_scopes, transaction-local, like internal.set_caller for people), and then
 * reads and writes app.lti_line_items and app.lti_results under their row-level security: a tool sees
 * and changes its own line items in courses where it has a link, and the results of those
 * (sql/policies/20_catalog.sql) — the functions do not filter by tool themselves.
 */

-- ---------------------------------------------------------------------------------------------
-- The tool as the caller
-- ---------------------------------------------------------------------------------------------
create or replace function app.current_tool_id()
returns uuid
language plpgsql
stable
parallel safe
as $$
begin
  if session_user = 'lms_authenticator' then
    return nullif(current_setting('lms.tool_id', true), '')::uuid;
  end if;
  return null;
end
$$;
comment on function app.current_tool_id() is
  'The LTI tool on whose behalf this transaction runs (its access token, POST /lti/token), or null. Trusts lms.tool_id only in the server''s sessions (lms_authenticator), set by internal.set_tool_caller after the token is found; an analyst never is a tool.';

create or replace function internal.tool_has_scope(p_scope text)
returns boolean
language plpgsql
stable
as $$
begin
  return app.current_tool_id() is not null
     and position(',' || p_scope || ',' in coalesce(current_setting('lms.tool_scopes', true), '')) > 0;
end
$$;
comment on function internal.tool_has_scope(text) is 'True when the calling tool''s access token was granted the scope.';

create or replace function internal.tool_links_course(p_course_id uuid)
returns boolean
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return exists (select from app.lti_links l where l.course_id = p_course_id and l.tool_id = app.current_tool_id());
end
$$;
comment on function internal.tool_links_course(uuid) is
  'True when the calling tool has a link in the course: where its services may act. SECURITY DEFINER: app.lti_links has no client privileges; it reveals one boolean about the caller''s own links.';

create or replace function internal.tool_course_learner(p_course_id uuid, p_user_id uuid)
returns boolean
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return internal.tool_links_course(p_course_id) and internal.is_actively_enrolled(p_user_id, p_course_id);
end
$$;
comment on function internal.tool_course_learner(uuid, uuid) is
  'True when the user is actively enrolled in a course the calling tool has a link in: whom its scores may be for. SECURITY DEFINER: enrollments are not visible to a tool; it reveals one boolean about a course of the caller''s.';

create or replace function internal.lti_token_tool(p_token text)
returns app.lti_access_tokens
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_token app.lti_access_tokens;
begin
  select * into v_token from app.lti_access_tokens a
  where a.token_hash = internal.sha256(coalesce(p_token, '')) and a.expires_at > now()
    and exists (select from app.lti_tools t where t.id = a.tool_id and t.is_active);
  if not found then
    raise exception 'the access token is unknown, expired, or its tool was deactivated' using errcode = 'LM401',
      detail = 'token_invalid', hint = 'Authorization';
  end if;
  return v_token;
end
$$;
comment on function internal.lti_token_tool(text) is
  'The access token a tool presents (by its SHA-256), unexpired and its tool active; LM401 token_invalid otherwise. SECURITY DEFINER: app.lti_access_tokens has no client privileges.';

create or replace function internal.set_tool_caller(p_token text)
returns uuid
language plpgsql
volatile
as $$
declare
  v_token app.lti_access_tokens := internal.lti_token_tool(p_token);
begin
  perform set_config('lms.tool_id', v_token.tool_id::text, true);
  perform set_config('lms.tool_scopes', ',' || array_to_string(v_token.scopes, ',') || ',', true);
  return v_token.tool_id;
end
$$;
comment on function internal.set_tool_caller(text) is
  'Makes the tool of an access token the caller of this transaction (lms.tool_id, lms.tool_scopes, transaction-local) and returns its id; LM401 token_invalid. Invoker (a definer function could not set transaction-local settings that outlive it).';

create or replace function internal.require_tool_scope(variadic p_scopes text[])
returns void
language plpgsql
stable
as $$
begin
  if not exists (select from unnest(p_scopes) s where internal.tool_has_scope(s)) then
    raise exception 'the access token was not granted %', array_to_string(p_scopes, ' or ') using errcode = 'LM403',
      detail = 'insufficient_scope', hint = 'scope';
  end if;
end
$$;
comment on function internal.require_tool_scope(text[]) is 'LM403 insufficient_scope unless the calling tool holds one of the scopes.';

-- ---------------------------------------------------------------------------------------------
-- POST /lti/token: client credentials
-- ---------------------------------------------------------------------------------------------
create or replace function internal.lti_client(p_client_id text)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_tool app.lti_tools;
begin
  select * into v_tool from app.lti_tools t where t.client_id = p_client_id and t.is_active;
  if not found then
    raise exception 'no active tool has this client_id' using errcode = 'LM400', detail = 'invalid_client',
      hint = 'client_id';
  end if;
  return jsonb_build_object('tool_id', v_tool.id, 'client_id', v_tool.client_id, 'jwks_url', v_tool.jwks_url,
                            'deployment_id', v_tool.deployment_id);
end
$$;
comment on function internal.lti_client(text) is
  'POST /lti/token, POST /lti/deep-link: where the keys of the tool with this client_id are (its jwks_url), to verify what it signed; LM400 invalid_client. SECURITY DEFINER: app.lti_tools has no client privileges; it reveals only what the tool''s registration made public.';

create or replace function internal.lti_token_grant(p_client_id text, p_jti text, p_expires_at timestamptz, p_scopes text[])
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_tool    app.lti_tools;
  v_granted text[];
  v_token   text := internal.random_token(32);
begin
  select * into v_tool from app.lti_tools t where t.client_id = p_client_id and t.is_active;
  if not found then
    raise exception 'no active tool has this client_id' using errcode = 'LM400', detail = 'invalid_client',
      hint = 'client_id';
  end if;
  if length(coalesce(p_jti, '')) not between 1 and 255 then
    raise exception 'the client assertion has no jti' using errcode = 'LM400', detail = 'invalid_grant',
      hint = 'client_assertion';
  end if;
  delete from app.lti_assertions a where a.expires_at < now() - interval '5 minutes';
  delete from app.lti_access_tokens a where a.expires_at < now() - interval '1 day';
  begin
    insert into app.lti_assertions (tool_id, jti, expires_at)
    values (v_tool.id, p_jti, greatest(p_expires_at, now()) + interval '5 minutes');
  exception when unique_violation then
    raise exception 'this client assertion was used before' using errcode = 'LM400', detail = 'invalid_grant',
      hint = 'client_assertion';
  end;
  v_granted := array(select distinct s from unnest(coalesce(p_scopes, '{}')) s where s = any (v_tool.scopes) order by s);
  if cardinality(v_granted) = 0 then
    raise exception 'none of the scopes asked for is granted to this tool' using errcode = 'LM400',
      detail = 'invalid_scope', hint = 'scope';
  end if;
  insert into app.lti_access_tokens (token_hash, tool_id, scopes) values (internal.sha256(v_token), v_tool.id, v_granted);
  insert into app.audit_log (action, subject_type, subject_id, details)
  values ('lti.token_granted', 'lti_tool', v_tool.id, jsonb_build_object('scopes', v_granted));
  return jsonb_build_object('access_token', v_token, 'token_type', 'Bearer', 'expires_in', 3600,
                            'scope', array_to_string(v_granted, ' '));
end
$$;
comment on function internal.lti_token_grant(text, text, timestamptz, text[]) is
  'POST /lti/token after the client assertion''s signature, iss, sub, aud and exp were checked (rpc/http/lti_services.py): uses its jti once (LM400 invalid_grant when seen before), grants the asked scopes the tool is registered with (LM400 invalid_scope when none), and returns a bearer token for an hour (kept as its SHA-256). Audited. SECURITY DEFINER: writes tokens no client may read.';

-- ---------------------------------------------------------------------------------------------
-- AGS line items (Assignment and Grade Services 2.0 §3.2)
-- ---------------------------------------------------------------------------------------------
create or replace function internal.lti_line_item_json(p_item app.lti_line_items, p_base text)
returns jsonb
language plpgsql
stable
as $$
begin
  return jsonb_strip_nulls(jsonb_build_object(
    'id', p_base || '/lti/courses/' || p_item.course_id || '/lineitems/' || p_item.id,
    'label', p_item.label, 'scoreMaximum', trim_scale(p_item.score_maximum), 'resourceLinkId', p_item.link_id,
    'resourceId', p_item.resource_id, 'tag', p_item.tag,
    'startDateTime', p_item.start_at, 'endDateTime', p_item.end_at));
end
$$;
comment on function internal.lti_line_item_json(app.lti_line_items, text) is
  'A line item as AGS shows it (application/vnd.ims.lis.v2.lineitem+json): its id is its URL under p_base.';

create or replace function internal.lti_line_item_fields(p_body jsonb)
returns table (label text, score_maximum numeric, resource_id text, tag text, start_at timestamptz, end_at timestamptz)
language plpgsql
immutable
as $$
begin
  if jsonb_typeof(p_body) is distinct from 'object' then
    raise exception 'the line item is a JSON object' using errcode = 'LM422', detail = 'invalid_argument', hint = 'body';
  end if;
  if jsonb_typeof(p_body -> 'label') is distinct from 'string' or length(btrim(p_body ->> 'label')) not between 1 and 200 then
    raise exception 'label: 1 to 200 characters' using errcode = 'LM422', detail = 'invalid_argument', hint = 'label';
  end if;
  if jsonb_typeof(p_body -> 'scoreMaximum') is distinct from 'number' or (p_body ->> 'scoreMaximum')::numeric <= 0
     or (p_body ->> 'scoreMaximum')::numeric >= 1e8 then
    raise exception 'scoreMaximum: a number above 0' using errcode = 'LM422', detail = 'invalid_argument', hint = 'scoreMaximum';
  end if;
  if exists (select from unnest(array['resourceId', 'tag', 'startDateTime', 'endDateTime']) k
             where p_body ? k and jsonb_typeof(p_body -> k) not in ('string', 'null')) then
    raise exception 'resourceId, tag, startDateTime and endDateTime are strings' using errcode = 'LM422',
      detail = 'invalid_argument', hint = 'body';
  end if;
  return query select btrim(p_body ->> 'label'), round((p_body ->> 'scoreMaximum')::numeric, 2),
                      p_body ->> 'resourceId', p_body ->> 'tag',
                      (p_body ->> 'startDateTime')::timestamptz, (p_body ->> 'endDateTime')::timestamptz;
exception when invalid_datetime_format or datetime_field_overflow then
  raise exception 'startDateTime and endDateTime are ISO 8601 date-times' using errcode = 'LM422',
    detail = 'invalid_argument', hint = 'startDateTime';
end
$$;
comment on function internal.lti_line_item_fields(jsonb) is 'The fields of a line item a tool sends (label, scoreMaximum, resourceId, tag, startDateTime, endDateTime), checked; LM422 invalid_argument naming the field.';

create or replace function internal.lti_own_line_item(p_course_id uuid, p_line_item_id uuid)
returns app.lti_line_items
language plpgsql
stable
as $$
declare
  v_item app.lti_line_items;
begin
  select * into v_item from app.lti_line_items l where l.id = p_line_item_id and l.course_id = p_course_id;
  if not found then
    raise exception 'line item not found' using errcode = 'LM404', detail = 'not_found', hint = 'line_item_id';
  end if;
  return v_item;
end
$$;
comment on function internal.lti_own_line_item(uuid, uuid) is
  'The calling tool''s line item of the course, or LM404 not_found — for another tool''s too: row-level security decides which it sees (invoker).';

create or replace function internal.lti_line_items_list(p_token text, p_base text, p_course_id uuid,
                                                        p_resource_link_id text default null,
                                                        p_resource_id text default null, p_tag text default null,
                                                        p_limit integer default 100, p_offset integer default 0)
returns jsonb
language plpgsql
volatile
as $$
begin
  perform internal.set_tool_caller(p_token);
  perform internal.require_tool_scope('https://purl.imsglobal.org/spec/lti-ags/scope/lineitem',
                                      'https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly');
  perform internal.check_page(p_limit, p_offset, 1000);
  return coalesce((
    select jsonb_agg(internal.lti_line_item_json(li, p_base) order by li.created_at, li.id)
    from (select * from app.lti_line_items l  -- row-level security: the tool's own, in courses it is linked in
          where l.course_id = p_course_id
            and (p_resource_link_id is null or l.link_id::text = p_resource_link_id)
            and (p_resource_id is null or l.resource_id = p_resource_id)
            and (p_tag is null or l.tag = p_tag)
          order by l.created_at, l.id limit p_limit offset p_offset) li), '[]');
end
$$;
comment on function internal.lti_line_items_list(text, text, uuid, text, text, text, integer, integer) is
  'GET /lti/courses/{id}/lineitems: the calling tool''s line items in the course (filters resource_link_id, resource_id, tag; paged), oldest first. Scope lineitem or lineitem.readonly. Invoker: row-level security decides which.';

create or replace function internal.lti_line_item_get(p_token text, p_base text, p_course_id uuid, p_line_item_id uuid)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_item app.lti_line_items;
begin
  perform internal.set_tool_caller(p_token);
  perform internal.require_tool_scope('https://purl.imsglobal.org/spec/lti-ags/scope/lineitem',
                                      'https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly',
                                      'https://purl.imsglobal.org/spec/lti-ags/scope/score');
  v_item := internal.lti_own_line_item(p_course_id, p_line_item_id);
  return internal.lti_line_item_json(v_item, p_base);
end
$$;
comment on function internal.lti_line_item_get(text, text, uuid, uuid) is
  'GET /lti/courses/{id}/lineitems/{line_item_id}: one of the calling tool''s line items (LM404 for any other). Invoker: row-level security decides.';

create or replace function internal.lti_line_item_create(p_token text, p_base text, p_course_id uuid, p_body jsonb)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_tool_id uuid := internal.set_tool_caller(p_token);
  v_item    app.lti_line_items;
  v_link_id uuid;
begin
  perform internal.require_tool_scope('https://purl.imsglobal.org/spec/lti-ags/scope/lineitem');
  if not internal.tool_links_course(p_course_id) then
    raise exception 'the tool has no link in this course' using errcode = 'LM404', detail = 'not_found', hint = 'course_id';
  end if;
  if jsonb_typeof(p_body -> 'resourceLinkId') = 'string' then
    v_link_id := internal.lti_tool_link(p_body ->> 'resourceLinkId', p_course_id);
  end if;
  insert into app.lti_line_items (course_id, tool_id, link_id, label, score_maximum, resource_id, tag, start_at, end_at)
  select p_course_id, v_tool_id, v_link_id, f.label, f.score_maximum, f.resource_id, f.tag, f.start_at, f.end_at
  from internal.lti_line_item_fields(p_body) f
  returning * into v_item;
  perform internal.audit('lti.line_item_create', 'lti_line_item', v_item.id,
                         jsonb_build_object('tool_id', v_tool_id, 'course_id', p_course_id));
  return internal.lti_line_item_json(v_item, p_base);
end
$$;
comment on function internal.lti_line_item_create(text, text, uuid, jsonb) is
  'POST /lti/courses/{id}/lineitems: a new gradebook column of the calling tool (scope lineitem), in the course''s implicit grade category until its instructor moves it. resourceLinkId must be one of the tool''s links in the course. Audited. Invoker: row-level security checks the row.';

create or replace function internal.lti_tool_link(p_resource_link_id text, p_course_id uuid)
returns uuid
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_id uuid;
begin
  select l.id into v_id from app.lti_links l
  where l.id::text = p_resource_link_id and l.course_id = p_course_id and l.tool_id = app.current_tool_id();
  if v_id is null then
    raise exception 'resourceLinkId is not a link of this tool in this course' using errcode = 'LM422',
      detail = 'invalid_argument', hint = 'resourceLinkId';
  end if;
  return v_id;
end
$$;
comment on function internal.lti_tool_link(text, uuid) is
  'The calling tool''s link with this id in the course (a line item''s resourceLinkId), else LM422. SECURITY DEFINER: app.lti_links has no client privileges; only the caller''s own links are found.';

create or replace function internal.lti_line_item_update(p_token text, p_base text, p_course_id uuid, p_line_item_id uuid,
                                                         p_body jsonb)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_tool_id uuid := internal.set_tool_caller(p_token);
  v_item    app.lti_line_items;
begin
  perform internal.require_tool_scope('https://purl.imsglobal.org/spec/lti-ags/scope/lineitem');
  update app.lti_line_items l set label = f.label, score_maximum = f.score_maximum, resource_id = f.resource_id,
                                  tag = f.tag, start_at = f.start_at, end_at = f.end_at, updated_at = now()
  from internal.lti_line_item_fields(p_body) f
  where l.id = p_line_item_id and l.course_id = p_course_id
  returning l.* into v_item;
  if not found then
    raise exception 'line item not found' using errcode = 'LM404', detail = 'not_found', hint = 'line_item_id';
  end if;
  perform internal.audit('lti.line_item_update', 'lti_line_item', v_item.id, jsonb_build_object('tool_id', v_tool_id));
  return internal.lti_line_item_json(v_item, p_base);
end
$$;
comment on function internal.lti_line_item_update(text, text, uuid, uuid, jsonb) is
  'PUT /lti/courses/{id}/lineitems/{line_item_id}: the calling tool changes its line item (label, scoreMaximum, resourceId, tag, dates; scope lineitem; the resource link stays). Audited. Invoker: row-level security decides (LM404 for another tool''s).';

create or replace function internal.lti_line_item_delete(p_token text, p_course_id uuid, p_line_item_id uuid)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_tool_id uuid := internal.set_tool_caller(p_token);
begin
  perform internal.require_tool_scope('https://purl.imsglobal.org/spec/lti-ags/scope/lineitem');
  delete from app.lti_line_items l where l.id = p_line_item_id and l.course_id = p_course_id;
  if not found then
    raise exception 'line item not found' using errcode = 'LM404', detail = 'not_found', hint = 'line_item_id';
  end if;
  perform internal.audit('lti.line_item_delete', 'lti_line_item', p_line_item_id, jsonb_build_object('tool_id', v_tool_id));
  return jsonb_build_object('deleted', true);
end
$$;
comment on function internal.lti_line_item_delete(text, uuid, uuid) is
  'DELETE /lti/courses/{id}/lineitems/{line_item_id}: the calling tool removes its line item and its results (scope lineitem). Audited. Invoker: row-level security decides (LM404 for another tool''s).';

-- ---------------------------------------------------------------------------------------------
-- AGS scores and results (§3.3, §3.4)
-- ---------------------------------------------------------------------------------------------
create or replace function internal.lti_score_post(p_token text, p_course_id uuid, p_line_item_id uuid, p_body jsonb)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_tool_id  uuid := internal.set_tool_caller(p_token);
  v_item     app.lti_line_items;
  v_user_id  uuid;
  v_given    numeric;
  v_maximum  numeric;
  v_at       timestamptz;
  v_result   app.lti_results;
begin
  perform internal.require_tool_scope('https://purl.imsglobal.org/spec/lti-ags/scope/score');
  v_item := internal.lti_own_line_item(p_course_id, p_line_item_id);
  if jsonb_typeof(p_body) is distinct from 'object' then
    raise exception 'the score is a JSON object' using errcode = 'LM422', detail = 'invalid_argument', hint = 'body';
  end if;
  begin
    v_user_id := (p_body ->> 'userId')::uuid;
    v_at := (p_body ->> 'timestamp')::timestamptz;
  exception when invalid_text_representation or invalid_datetime_format or datetime_field_overflow then
    raise exception 'userId is a user id of this platform and timestamp an ISO 8601 date-time' using errcode = 'LM422',
      detail = 'invalid_argument', hint = 'userId';
  end;
  if v_user_id is null or v_at is null then
    raise exception 'userId and timestamp are required' using errcode = 'LM422', detail = 'invalid_argument', hint = 'userId';
  end if;
  if (p_body ? 'scoreGiven' and jsonb_typeof(p_body -> 'scoreGiven') not in ('number', 'null'))
     or (p_body ? 'scoreMaximum' and jsonb_typeof(p_body -> 'scoreMaximum') not in ('number', 'null')) then
    raise exception 'scoreGiven and scoreMaximum are numbers' using errcode = 'LM422', detail = 'invalid_argument',
      hint = 'scoreGiven';
  end if;
  v_given := (p_body ->> 'scoreGiven')::numeric;
  v_maximum := (p_body ->> 'scoreMaximum')::numeric;
  if v_given is not null and (v_maximum is null or v_maximum <= 0 or v_given < 0 or v_maximum >= 1e8 or v_given >= 1e8) then
    raise exception 'scoreGiven needs a scoreMaximum above 0, and is at least 0' using errcode = 'LM422',
      detail = 'invalid_argument', hint = 'scoreMaximum';
  end if;
  if coalesce(p_body ->> 'activityProgress', '') not in ('Initialized', 'Started', 'InProgress', 'Submitted', 'Completed')
     or coalesce(p_body ->> 'gradingProgress', '') not in ('FullyGraded', 'Pending', 'PendingManual', 'Failed', 'NotReady') then
    raise exception 'activityProgress and gradingProgress are required, from the AGS vocabulary' using errcode = 'LM422',
      detail = 'invalid_argument', hint = 'gradingProgress';
  end if;
  if length(p_body ->> 'comment') > 4000 then
    raise exception 'comment: at most 4000 characters' using errcode = 'LM422', detail = 'invalid_argument', hint = 'comment';
  end if;
  if not internal.tool_course_learner(v_item.course_id, v_user_id) then
    raise exception 'userId is not a learner of this course' using errcode = 'LM403', detail = 'not_enrolled',
      hint = 'userId';
  end if;
  -- The spec's timestamp rule (AGS §3.4.6): a score older than (or as old as) the one kept changes nothing.
  insert into app.lti_results as r (line_item_id, user_id, score_given, score_maximum, activity_progress,
                                    grading_progress, comment, scored_at)
  values (v_item.id, v_user_id, round(v_given, 4), case when v_given is not null then round(v_maximum, 4) end,
          p_body ->> 'activityProgress', p_body ->> 'gradingProgress', p_body ->> 'comment', v_at)
  on conflict (line_item_id, user_id) do update
    set score_given = excluded.score_given, score_maximum = excluded.score_maximum,
        activity_progress = excluded.activity_progress, grading_progress = excluded.grading_progress,
        comment = excluded.comment, scored_at = excluded.scored_at, received_at = now()
    where excluded.scored_at > r.scored_at
  returning r.* into v_result;
  if not found then
    raise exception 'a score with a later timestamp is kept for this learner' using errcode = 'LM409',
      detail = 'stale_score', hint = 'timestamp';
  end if;
  perform internal.audit('lti.score_received', 'lti_line_item', v_item.id, jsonb_build_object(
    'tool_id', v_tool_id, 'user_id', v_user_id, 'score_given', v_result.score_given,
    'score_maximum', v_result.score_maximum, 'grading_progress', v_result.grading_progress));
  return jsonb_build_object('line_item_id', v_item.id, 'user_id', v_user_id);
end
$$;
comment on function internal.lti_score_post(text, uuid, uuid, jsonb) is
  'POST /lti/courses/{id}/lineitems/{line_item_id}/scores (application/vnd.ims.lis.v1.score+json, scope score): the learner''s result in the calling tool''s line item; a FullyGraded score is their grade in that gradebook column. A score whose timestamp is not later than the kept one: LM409 stale_score. The learner must be enrolled. Audited; event lti.score_received (trigger). Invoker: row-level security checks line item and result.';

create or replace function internal.lti_grade(p_result app.lti_results, p_points numeric)
returns numeric
language plpgsql
immutable
as $$
begin
  if p_result.grading_progress <> 'FullyGraded' or p_result.score_given is null then
    return null;
  end if;
  return round(p_result.score_given * p_points / p_result.score_maximum, 2);
end
$$;
comment on function internal.lti_grade(app.lti_results, numeric) is
  'The points a result is worth in its line item of p_points: scoreGiven ÷ scoreMaximum × p_points once FullyGraded, else null (ungraded).';

create or replace function internal.lti_results_list(p_token text, p_base text, p_course_id uuid, p_line_item_id uuid,
                                                     p_user_id uuid default null, p_limit integer default 100,
                                                     p_offset integer default 0)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_item app.lti_line_items;
begin
  perform internal.set_tool_caller(p_token);
  perform internal.require_tool_scope('https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly');
  perform internal.check_page(p_limit, p_offset, 1000);
  v_item := internal.lti_own_line_item(p_course_id, p_line_item_id);
  return coalesce((
    select jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
             'id', p_base || '/lti/courses/' || p_course_id || '/lineitems/' || v_item.id || '/results/' || r.user_id,
             'scoreOf', p_base || '/lti/courses/' || p_course_id || '/lineitems/' || v_item.id,
             'userId', r.user_id, 'resultScore', trim_scale(internal.lti_grade(r, v_item.score_maximum)),
             'resultMaximum', trim_scale(v_item.score_maximum), 'comment', r.comment)) order by r.user_id)
    from (select * from app.lti_results r0
          where r0.line_item_id = v_item.id and (p_user_id is null or r0.user_id = p_user_id)
          order by r0.user_id limit p_limit offset p_offset) r), '[]');
end
$$;
comment on function internal.lti_results_list(text, text, uuid, uuid, uuid, integer, integer) is
  'GET /lti/courses/{id}/lineitems/{line_item_id}/results (scope result.readonly): the learners'' current results in the calling tool''s line item (resultScore on the line item''s scale, once FullyGraded). Invoker: row-level security decides.';

-- ---------------------------------------------------------------------------------------------
-- NRPS: the course's members (Names and Role Provisioning Services 2.0)
-- ---------------------------------------------------------------------------------------------
create or replace function internal.lti_memberships(p_token text, p_base text, p_course_id uuid, p_role text default null,
                                                    p_limit integer default 100, p_offset integer default 0)
returns jsonb
language plpgsql
volatile
as $$
begin
  perform internal.set_tool_caller(p_token);
  perform internal.require_tool_scope('https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly');
  perform internal.check_page(p_limit, p_offset, 1000);
  return internal.lti_course_members(p_base, p_course_id, p_role, p_limit, p_offset);
end
$$;
comment on function internal.lti_memberships(text, text, uuid, text, integer, integer) is
  'GET /lti/courses/{id}/memberships (scope contextmembership.readonly): the course''s members for the calling tool (internal.lti_course_members).';

create or replace function internal.lti_course_members(p_base text, p_course_id uuid, p_role text, p_limit integer,
                                                       p_offset integer)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_course app.courses;
begin
  if not (internal.tool_has_scope('https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly')
          and internal.tool_links_course(p_course_id)) then
    raise exception 'course not found' using errcode = 'LM404', detail = 'not_found', hint = 'course_id';
  end if;
  select * into v_course from app.courses c where c.id = p_course_id;
  return jsonb_build_object(
    'id', p_base || '/lti/courses/' || p_course_id || '/memberships',
    'context', jsonb_build_object('id', v_course.id, 'label', left(v_course.title, 60), 'title', v_course.title),
    'members', coalesce((
      select jsonb_agg(jsonb_build_object('status', m.status, 'user_id', m.user_id, 'name', m.full_name, 'email', m.email,
                                          'roles', jsonb_build_array(m.role_uri)) order by m.ord, m.enrolled_at, m.user_id)
      from (select * from (
              select 0 as ord, u.id as user_id, u.full_name, u.email, 'Active' as status, null::timestamptz as enrolled_at,
                     'http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor' as role_uri
              from app.users u where u.id = v_course.instructor_id
              union all
              select 1, u.id, u.full_name, u.email, case when e.is_active and u.is_active then 'Active' else 'Inactive' end,
                     e.enrolled_at, 'http://purl.imsglobal.org/vocab/lis/v2/membership#Learner'
              from app.enrollments e join app.users u on u.id = e.user_id
              where e.course_id = p_course_id) a
            where p_role is null or a.role_uri = p_role or a.role_uri like '%#' || p_role
            order by a.ord, a.enrolled_at, a.user_id
            limit coalesce(p_limit, 100) offset coalesce(p_offset, 0)) m), '[]'));
end
$$;
comment on function internal.lti_course_members(text, uuid, text, integer, integer) is
  'NRPS membership container of a course: its instructor and its learners (Inactive once dropped or deactivated), with LIS role URIs, paged (role filter: a URI or its short name, e.g. Learner). Only for a calling tool with the contextmembership.readonly scope and a link in the course (LM404 otherwise). SECURITY DEFINER: names and emails of the course''s members, after that check.';

create or replace function internal.tg_lti_results__event()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_item app.lti_line_items;
begin
  select * into v_item from app.lti_line_items l where l.id = new.line_item_id;
  perform internal.emit_event('lti.score_received', new.user_id, v_item.course_id, jsonb_build_object(
    'line_item_id', v_item.id, 'label', v_item.label, 'link_id', v_item.link_id, 'tool_id', v_item.tool_id,
    'score_given', new.score_given, 'score_maximum', new.score_maximum,
    'activity_progress', new.activity_progress, 'grading_progress', new.grading_progress,
    'grade', internal.lti_grade(new, v_item.score_maximum), 'points', v_item.score_maximum));
  return null;
end
$$;
comment on function internal.tg_lti_results__event() is
  'AFTER INSERT/UPDATE on app.lti_results: the event lti.score_received (to the learner and the course''s instructor) with the score and the grade it makes. SECURITY DEFINER: clients may not write app.events.';

drop trigger if exists _900_event on app.lti_results;
create trigger _900_event after insert or update on app.lti_results
  for each row execute function internal.tg_lti_results__event();
