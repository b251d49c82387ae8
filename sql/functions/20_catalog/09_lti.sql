/*
 * LTI 1.3 as the platform (issue 31): tools, links in modules, launches.
 *
 * A launch is two steps without cookies: lti.launch (the signed-in person, by bearer token) records a
 * single-use launch and returns the third-party-initiated login parameters; the tool's authentication
 * request at GET /lti/auth (rpc/http/lti.py) is checked against that record here (internal.lti_auth),
 * which consumes it and returns the claims and the platform key that signs them. Who may launch what is
 * the course's rule: its enrolled learners (the link's module open to them) and those who manage it.
 */

create or replace function internal.lti_tool_json(p_tool app.lti_tools)
returns jsonb
language plpgsql
stable
as $$
begin
  return jsonb_build_object(
    'tool_id', p_tool.id, 'name', p_tool.name, 'client_id', p_tool.client_id, 'deployment_id', p_tool.deployment_id,
    'login_url', p_tool.login_url, 'launch_url', p_tool.launch_url, 'jwks_url', p_tool.jwks_url,
    'deep_linking_url', p_tool.deep_linking_url, 'scopes', to_jsonb(p_tool.scopes), 'is_active', p_tool.is_active,
    'created_at', p_tool.created_at, 'updated_at', p_tool.updated_at);
end
$$;
comment on function internal.lti_tool_json(app.lti_tools) is
$$An LTI tool as admins see it; the RPC layer adds what the tool's admin needs of the platform (issuer,
platform_jwks_url, auth_url, token_url).
@shape lti_tool {tool_id: uuid, name: text, client_id: text, deployment_id: text, login_url: text, launch_url: text,
  jwks_url: text, deep_linking_url: text?, scopes: text[], is_active: bool, created_at: timestamptz, updated_at: timestamptz,
  issuer: text, platform_jwks_url: text, auth_url: text, token_url: text}$$;

create or replace function api.lti_tool_register(name text, login_url text, launch_url text, jwks_url text,
                                                 client_id text default null, deep_linking_url text default null,
                                                 scopes text[] default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_tool app.lti_tools;
begin
  perform internal.require_role('admin');
  insert into app.lti_tools (name, client_id, login_url, launch_url, jwks_url, deep_linking_url, scopes)
  values (btrim(lti_tool_register.name), coalesce(nullif(btrim(lti_tool_register.client_id), ''), gen_random_uuid()::text),
          lti_tool_register.login_url, lti_tool_register.launch_url, lti_tool_register.jwks_url,
          lti_tool_register.deep_linking_url, coalesce(lti_tool_register.scopes, '{}'))
  returning * into v_tool;
  perform internal.audit('lti.tool_register', 'lti_tool', v_tool.id, jsonb_build_object('name', v_tool.name,
                                                                                        'client_id', v_tool.client_id));
  return internal.lti_tool_json(v_tool);
exception when unique_violation then
  raise exception 'a tool with this client_id is registered' using errcode = 'LM409', detail = 'conflict', hint = 'client_id';
end
$$;
comment on function api.lti_tool_register(text, text, text, text, text, text, text[]) is
$$Register an LTI 1.3 tool (admin): its OIDC login initiation URL, launch URL, public keys (JWKS URL), and
optionally a deep-linking URL and the LTI Advantage scopes it may use. client_id: given, or generated. The answer
has what the tool's admin enters on their side: issuer, client_id, deployment_id, platform_jwks_url, auth_url
(the OIDC authorization endpoint) and token_url.
@result lti_tool
@param name minLength=1 maxLength=200
@param login_url minLength=8 maxLength=1000
@param launch_url minLength=8 maxLength=1000
@param jwks_url minLength=8 maxLength=1000
@param client_id maxLength=255
@param deep_linking_url maxLength=1000
@param scopes maxItems=5 itemMaxLength=100
SECURITY DEFINER: checks the caller is an admin.$$;

create or replace function api.lti_tool_update(tool_id uuid, name text default null, login_url text default null,
                                               launch_url text default null, jwks_url text default null,
                                               deep_linking_url text default null, scopes text[] default null,
                                               is_active boolean default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_tool app.lti_tools;
begin
  perform internal.require_role('admin');
  update app.lti_tools t set
    name = coalesce(btrim(lti_tool_update.name), t.name),
    login_url = coalesce(lti_tool_update.login_url, t.login_url),
    launch_url = coalesce(lti_tool_update.launch_url, t.launch_url),
    jwks_url = coalesce(lti_tool_update.jwks_url, t.jwks_url),
    deep_linking_url = case when lti_tool_update.deep_linking_url is null then t.deep_linking_url
                            else nullif(lti_tool_update.deep_linking_url, '') end,
    scopes = coalesce(lti_tool_update.scopes, t.scopes),
    is_active = coalesce(lti_tool_update.is_active, t.is_active),
    updated_at = now()
  where t.id = lti_tool_update.tool_id
  returning * into v_tool;
  if not found then
    raise exception 'tool not found' using errcode = 'LM404', detail = 'not_found', hint = 'tool_id';
  end if;
  perform internal.audit('lti.tool_update', 'lti_tool', v_tool.id, '{}');
  return internal.lti_tool_json(v_tool);
end
$$;
comment on function api.lti_tool_update(uuid, text, text, text, text, text, text[], boolean) is
$$Change a registered tool (admin): what is given changes (deep_linking_url '' clears it); is_active false
stops its launches.
@result lti_tool
@param name minLength=1 maxLength=200
@param login_url minLength=8 maxLength=1000
@param launch_url minLength=8 maxLength=1000
@param jwks_url minLength=8 maxLength=1000
@param deep_linking_url maxLength=1000
@param scopes maxItems=5 itemMaxLength=100
SECURITY DEFINER: checks the caller is an admin.$$;

create or replace function api.lti_tool_delete(tool_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform internal.require_role('admin');
  delete from app.lti_tools t where t.id = lti_tool_delete.tool_id;
  if not found then
    raise exception 'tool not found' using errcode = 'LM404', detail = 'not_found', hint = 'tool_id';
  end if;
  perform internal.audit('lti.tool_delete', 'lti_tool', lti_tool_delete.tool_id, '{}');
  return jsonb_build_object('tool_id', lti_tool_delete.tool_id, 'deleted', true);
end
$$;
comment on function api.lti_tool_delete(uuid) is
$$Remove a tool (admin), and with it its links in every course and its launches under way.
@result {tool_id: uuid, deleted: bool}
SECURITY DEFINER: checks the caller is an admin.$$;

create or replace function api.lti_tool_list("limit" integer default 50, "offset" integer default 0)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform internal.require_role('admin');
  perform internal.check_page(lti_tool_list."limit", lti_tool_list."offset", 200);
  return coalesce((select jsonb_agg(internal.lti_tool_json(t) order by t.name, t.id)
                   from (select * from app.lti_tools t0 order by t0.name, t0.id
                         limit coalesce(lti_tool_list."limit", 50) offset coalesce(lti_tool_list."offset", 0)) t), '[]');
end
$$;
comment on function api.lti_tool_list(integer, integer) is
$$The registered tools, by name (admin).
@result lti_tool[]
@param limit minimum=1 maximum=200
@param offset minimum=0
SECURITY DEFINER: checks the caller is an admin.$$;

-- ---------------------------------------------------------------------------------------------
-- Links: course items that launch a tool
-- ---------------------------------------------------------------------------------------------
create or replace function internal.lti_link_json(p_link app.lti_links)
returns jsonb
language plpgsql
stable
as $$
begin
  return jsonb_build_object('link_id', p_link.id, 'course_id', p_link.course_id, 'module_id', p_link.module_id,
                            'tool_id', p_link.tool_id, 'title', p_link.title, 'url', p_link.url, 'custom', p_link.custom,
                            'line_item', p_link.line_item, 'created_at', p_link.created_at,
                            'line_item_id', (select li.id from app.lti_line_items li where li.link_id = p_link.id
                                             order by li.created_at, li.id limit 1));
end
$$;
comment on function internal.lti_link_json(app.lti_links) is
$$An LTI link as its course's instructor sees it.
@shape lti_link {link_id: uuid, course_id: uuid, module_id: uuid?, tool_id: uuid, title: text, url: text?, custom: object,
  line_item: object?, created_at: timestamptz, line_item_id: uuid?}$$;

create or replace function internal.lti_link_add(p_course_id uuid, p_module_id uuid, p_tool_id uuid, p_title text,
                                             p_url text, p_custom jsonb, p_line_item jsonb)
returns app.lti_links
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_link app.lti_links;
begin
  perform internal.require_module_of_course(p_course_id, p_module_id);
  if p_custom is not null and (jsonb_typeof(p_custom) <> 'object' or exists (
       select from jsonb_each(p_custom) c where jsonb_typeof(c.value) <> 'string')) then
    raise exception 'custom is an object of strings' using errcode = 'LM422', detail = 'invalid_argument', hint = 'custom';
  end if;
  if p_line_item is not null and (jsonb_typeof(p_line_item) <> 'object'
       or jsonb_typeof(p_line_item -> 'score_maximum') is distinct from 'number'
       or (p_line_item ->> 'score_maximum')::numeric not between 0.01 and 99999999
       or (p_line_item ? 'label' and (jsonb_typeof(p_line_item -> 'label') <> 'string'
                                      or length(btrim(p_line_item ->> 'label')) not between 1 and 200))) then
    raise exception 'line_item is {score_maximum: a number above 0, label?, grade_category_id?, tag?, resource_id?}'
      using errcode = 'LM422', detail = 'invalid_argument', hint = 'line_item';
  end if;
  insert into app.lti_links (course_id, module_id, tool_id, title, url, custom, line_item)
  values (p_course_id, p_module_id, p_tool_id, btrim(p_title), p_url, coalesce(p_custom, '{}'), p_line_item)
  returning * into v_link;
  if p_line_item is not null then
    begin
      insert into app.lti_line_items (course_id, tool_id, link_id, label, score_maximum, resource_id, tag, grade_category_id)
      values (p_course_id, p_tool_id, v_link.id, coalesce(btrim(p_line_item ->> 'label'), v_link.title),
              round((p_line_item ->> 'score_maximum')::numeric, 2), left(p_line_item ->> 'resource_id', 255),
              left(p_line_item ->> 'tag', 255), (p_line_item ->> 'grade_category_id')::uuid);
    exception when foreign_key_violation or invalid_text_representation then
      raise exception 'grade_category_id names no grade category of this course' using errcode = 'LM422',
        detail = 'category_not_in_course', hint = 'line_item';
    end;
  end if;
  return v_link;
end
$$;
comment on function internal.lti_link_add(uuid, uuid, uuid, text, text, jsonb, jsonb) is
  'A new LTI link in a course (lti.link_create, and the links a deep-linking response returns), checked: the module of the course, custom an object of strings; with line_item {score_maximum, label?, grade_category_id?, tag?, resource_id?} also its gradebook column (an AGS line item of the link). SECURITY DEFINER: writes links and line items, which have no client privileges; its callers check who may.';

create or replace function api.lti_link_create(course_id uuid, tool_id uuid, title text, module_id uuid default null,
                                               url text default null, custom jsonb default null,
                                               line_item jsonb default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_link app.lti_links;
begin
  perform internal.require_course_manager(lti_link_create.course_id);
  if not exists (select from app.lti_tools t where t.id = lti_link_create.tool_id and t.is_active) then
    raise exception 'tool not found' using errcode = 'LM404', detail = 'not_found', hint = 'tool_id';
  end if;
  v_link := internal.lti_link_add(lti_link_create.course_id, lti_link_create.module_id, lti_link_create.tool_id,
                                  lti_link_create.title, lti_link_create.url, lti_link_create.custom,
                                  lti_link_create.line_item);
  perform internal.audit('lti.link_create', 'lti_link', v_link.id, jsonb_build_object('tool_id', v_link.tool_id));
  return internal.lti_link_json(v_link);
end
$$;
comment on function api.lti_link_create(uuid, uuid, text, uuid, text, jsonb, jsonb) is
$$Add a link that launches a registered tool to a course (its instructor, an admin), in a module like a lesson
(locked with it for learners). url: the tool's page to open (default: its launch_url); custom: parameters sent
with each launch (strings); line_item {score_maximum, label?, grade_category_id?}: a gradebook column the tool
reports scores to (AGS), named in the launch.
@result lti_link
@param title minLength=1 maxLength=200
@param url maxLength=1000
SECURITY DEFINER: checks the caller manages the course.$$;

-- ---------------------------------------------------------------------------------------------
-- Launch: record (lti.launch), then check and consume (GET /lti/auth)
-- ---------------------------------------------------------------------------------------------
create or replace function internal.lti_launch_start(p_tool app.lti_tools, p_user_id uuid, p_course_id uuid,
                                                 p_link_id uuid, p_module_id uuid, p_message_type text,
                                                 p_target_link_uri text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_hint text := internal.random_token(32);
begin
  delete from app.lti_launches l where l.expires_at < now() - interval '1 hour';
  insert into app.lti_launches (hint_hash, user_id, tool_id, link_id, course_id, module_id, message_type)
  values (internal.sha256(v_hint), p_user_id, p_tool.id, p_link_id, p_course_id, p_module_id, p_message_type);
  return jsonb_build_object('login_url', p_tool.login_url, 'params', jsonb_build_object(
    'login_hint', p_user_id, 'lti_message_hint', v_hint, 'target_link_uri', p_target_link_uri,
    'client_id', p_tool.client_id, 'lti_deployment_id', p_tool.deployment_id));
end
$$;
comment on function internal.lti_launch_start(app.lti_tools, uuid, uuid, uuid, uuid, text, text) is
  'Records a single-use launch (5 minutes; its hint kept as its SHA-256) and returns the third-party-initiated login to send the browser to: lti.launch (a resource link) and lti.deep_link (a deep-linking request), after they checked who may. SECURITY DEFINER: app.lti_launches has no client privileges.';

create or replace function api.lti_launch(link_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id uuid := internal.require_user();
  v_link    app.lti_links;
  v_tool    app.lti_tools;
begin
  select * into v_link from app.lti_links l where l.id = lti_launch.link_id;
  if not found then
    raise exception 'link not found' using errcode = 'LM404', detail = 'not_found', hint = 'link_id';
  end if;
  if not internal.can_manage_course(v_link.course_id) then
    if not internal.is_actively_enrolled(v_user_id, v_link.course_id) then
      raise exception 'enroll in the course first' using errcode = 'LM403', detail = 'not_enrolled', hint = 'link_id';
    end if;
    perform internal.require_item_unlocked(v_link.course_id, v_link.module_id);
  end if;
  select * into v_tool from app.lti_tools t where t.id = v_link.tool_id and t.is_active;
  if not found then
    raise exception 'the tool of this link is not available' using errcode = 'LM404', detail = 'not_found', hint = 'link_id';
  end if;
  return internal.lti_launch_start(v_tool, v_user_id, v_link.course_id, v_link.id, null, 'LtiResourceLinkRequest',
                                   coalesce(v_link.url, v_tool.launch_url));
end
$$;
comment on function api.lti_launch(uuid) is
$$Launch an LTI link (an enrolled learner — its module open to them — or who manages the course): a single-use
launch of 5 minutes. Send the browser to login_url with params (GET query or form POST): the tool's OIDC login
initiation, which comes back to GET /lti/auth for the signed id_token.
@result {login_url: text, params: {iss: text, login_hint: text, lti_message_hint: text, target_link_uri: text, client_id: text, lti_deployment_id: text}}
SECURITY DEFINER: records the launch for the caller.$$;

drop function if exists internal.lti_auth(text, text, text, text, text);  -- before it was given the platform's base URL
create or replace function internal.lti_auth(p_hint text, p_client_id text, p_redirect_uri text, p_login_hint text,
                                             p_nonce text, p_base text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_launch  app.lti_launches;
  v_tool    app.lti_tools;
  v_link    app.lti_links;
  v_user    app.users;
  v_course  app.courses;
  v_key     app.lti_platform_keys;
  v_roles   text[];
  v_data    text;
  v_claims  jsonb;
  v_ags     text[];
  v_course_url text;
begin
  select * into v_launch from app.lti_launches l where l.hint_hash = internal.sha256(coalesce(p_hint, '')) for update;
  if not found or v_launch.consumed_at is not null or v_launch.expires_at <= now() then
    raise exception 'this launch is unknown, used or older than 5 minutes' using errcode = 'LM400',
      detail = 'invalid_launch', hint = 'lti_message_hint';
  end if;
  select * into v_tool from app.lti_tools t where t.id = v_launch.tool_id;
  if not v_tool.is_active or v_tool.client_id is distinct from p_client_id then
    raise exception 'client_id is not the tool of this launch' using errcode = 'LM400', detail = 'invalid_client',
      hint = 'client_id';
  end if;
  select * into v_link from app.lti_links l where l.id = v_launch.link_id;
  if p_redirect_uri is null or p_redirect_uri not in (v_tool.launch_url, coalesce(v_tool.deep_linking_url, v_tool.launch_url),
                                                      coalesce(v_link.url, v_tool.launch_url)) then
    raise exception 'redirect_uri is not one registered for the tool' using errcode = 'LM400',
      detail = 'invalid_redirect_uri', hint = 'redirect_uri';
  end if;
  if p_login_hint is distinct from v_launch.user_id::text then
    raise exception 'login_hint is not the user of this launch' using errcode = 'LM400', detail = 'invalid_launch',
      hint = 'login_hint';
  end if;
  if length(coalesce(p_nonce, '')) not between 1 and 255 then
    raise exception 'a nonce is required' using errcode = 'LM400', detail = 'invalid_request', hint = 'nonce';
  end if;
  if v_launch.message_type = 'LtiDeepLinkingRequest' then
    v_data := internal.random_token(32);
  end if;
  begin
    update app.lti_launches l set consumed_at = now(), nonce = p_nonce, return_hash = internal.sha256(v_data)
    where l.id = v_launch.id;
  exception when unique_violation then
    raise exception 'this nonce was used before' using errcode = 'LM400', detail = 'invalid_request', hint = 'nonce';
  end;
  select * into v_user from app.users u where u.id = v_launch.user_id;
  if not v_user.is_active then
    raise exception 'this account is deactivated' using errcode = 'LM401', detail = 'account_inactive', hint = 'login_hint';
  end if;
  select * into v_course from app.courses c where c.id = v_launch.course_id;
  v_roles := case
    when exists (select from app.admins a where a.user_id = v_user.id)
      then array['http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator',
                 'http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor']
    when v_course.instructor_id = v_user.id then array['http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor']
    else array['http://purl.imsglobal.org/vocab/lis/v2/membership#Learner'] end;
  select * into v_key from app.lti_platform_keys k where k.retired_at is null;
  if not found then
    raise exception 'the platform has no signing key: run lms db migrate or lms lti rotate-keys' using errcode = 'LM503',
      detail = 'lti_unavailable';
  end if;
  v_claims := jsonb_build_object(
    'aud', v_tool.client_id, 'azp', v_tool.client_id, 'sub', v_user.id, 'nonce', p_nonce,
    'name', v_user.full_name, 'email', v_user.email,
    'https://purl.imsglobal.org/spec/lti/claim/message_type', v_launch.message_type,
    'https://purl.imsglobal.org/spec/lti/claim/version', '1.3.0',
    'https://purl.imsglobal.org/spec/lti/claim/deployment_id', v_tool.deployment_id,
    'https://purl.imsglobal.org/spec/lti/claim/roles', to_jsonb(v_roles),
    'https://purl.imsglobal.org/spec/lti/claim/context', jsonb_build_object(
      'id', v_course.id, 'title', v_course.title,
      'type', jsonb_build_array('http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering')));
  if v_launch.message_type = 'LtiDeepLinkingRequest' then
    v_claims := v_claims || jsonb_build_object(
      'https://purl.imsglobal.org/spec/lti/claim/target_link_uri', v_tool.deep_linking_url,
      'https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings', jsonb_build_object(
        'deep_link_return_url', p_base || '/lti/deep-link', 'accept_types', jsonb_build_array('ltiResourceLink'),
        'accept_presentation_document_targets', jsonb_build_array('iframe', 'window'),
        'accept_multiple', true, 'auto_create', true, 'data', v_data));
  else
    v_claims := v_claims || jsonb_build_object(
      'https://purl.imsglobal.org/spec/lti/claim/target_link_uri', coalesce(v_link.url, v_tool.launch_url),
      'https://purl.imsglobal.org/spec/lti/claim/resource_link', jsonb_build_object('id', v_link.id, 'title', v_link.title),
      'https://purl.imsglobal.org/spec/lti/claim/custom', v_link.custom);
  end if;
  -- The services the tool is registered for, at this course (AGS §3.1, NRPS §3.6.1)
  v_course_url := p_base || '/lti/courses/' || v_course.id;
  v_ags := array(select s from unnest(v_tool.scopes) s where s like 'https://purl.imsglobal.org/spec/lti-ags/scope/%' order by s);
  if cardinality(v_ags) > 0 then
    v_claims := v_claims || jsonb_build_object('https://purl.imsglobal.org/spec/lti-ags/claim/endpoint', jsonb_strip_nulls(
      jsonb_build_object('scope', to_jsonb(v_ags), 'lineitems', v_course_url || '/lineitems',
                         'lineitem', (select v_course_url || '/lineitems/' || li.id from app.lti_line_items li
                                      where li.link_id = v_link.id order by li.created_at, li.id limit 1))));
  end if;
  if 'https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly' = any (v_tool.scopes) then
    v_claims := v_claims || jsonb_build_object('https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice',
      jsonb_build_object('context_memberships_url', v_course_url || '/memberships',
                         'service_versions', jsonb_build_array('2.0')));
  end if;
  insert into app.audit_log (actor_id, action, subject_type, subject_id, details)
  values (v_user.id, 'lti.launched', 'lti_tool', v_tool.id, jsonb_build_object('link_id', v_link.id, 'course_id', v_course.id,
                                                                              'message_type', v_launch.message_type));
  perform internal.emit_event('lti.launched', v_user.id, v_course.id, jsonb_build_object(
    'tool_id', v_tool.id, 'tool', v_tool.name, 'link_id', v_link.id, 'title', v_link.title,
    'message_type', v_launch.message_type));
  return jsonb_build_object('private_jwk', v_key.private_jwk, 'claims', v_claims);
end
$$;
comment on function internal.lti_auth(text, text, text, text, text, text) is
  'GET /lti/auth: checks the tool''s authentication request against the launch its lti_message_hint names (unused, under 5 minutes; client_id the tool''s; redirect_uri one registered for it exactly; login_hint the launch''s user; a nonce not used before by this tool), consumes it, and returns the launch''s claims (a resource link launch, or a deep-linking request with its one-time data; the AGS and NRPS endpoints at p_base when the tool has their scopes) and the current platform key to sign them (the only place the private key leaves the database). Audited; event lti.launched. LM400 invalid_launch, invalid_client, invalid_redirect_uri, invalid_request. SECURITY DEFINER: reads keys and launches no client may.';

-- ---------------------------------------------------------------------------------------------
-- Deep linking (Deep Linking 2.0): the instructor picks content in the tool, the tool sends links back
-- ---------------------------------------------------------------------------------------------
create or replace function api.lti_deep_link(tool_id uuid, course_id uuid, module_id uuid default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id uuid := internal.require_user();
  v_tool    app.lti_tools;
begin
  perform internal.require_course_manager(lti_deep_link.course_id);
  select * into v_tool from app.lti_tools t where t.id = lti_deep_link.tool_id and t.is_active;
  if not found then
    raise exception 'tool not found' using errcode = 'LM404', detail = 'not_found', hint = 'tool_id';
  end if;
  if v_tool.deep_linking_url is null then
    raise exception 'this tool offers no deep linking' using errcode = 'LM422', detail = 'no_deep_linking', hint = 'tool_id';
  end if;
  perform internal.require_module_of_course(lti_deep_link.course_id, lti_deep_link.module_id);
  return internal.lti_launch_start(v_tool, v_user_id, lti_deep_link.course_id, null, lti_deep_link.module_id,
                                   'LtiDeepLinkingRequest', v_tool.deep_linking_url);
end
$$;
comment on function api.lti_deep_link(uuid, uuid, uuid) is
$$Start a deep-linking launch (who manages the course): the tool shows its content to pick, and its answer
(POST /lti/deep-link) adds the chosen items as LTI links to the course, in module_id when given. Like lti.launch,
single use within 5 minutes: send the browser to login_url with params. The tool must have a deep_linking_url
(422 no_deep_linking).
@result {login_url: text, params: {iss: text, login_hint: text, lti_message_hint: text, target_link_uri: text, client_id: text, lti_deployment_id: text}}
SECURITY DEFINER: records the launch for the caller, after checking they manage the course.$$;

create or replace function internal.lti_deep_link_return(p_client_id text, p_deployment_id text, p_data text,
                                                         p_items jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_launch  app.lti_launches;
  v_tool    app.lti_tools;
  v_item    jsonb;
  v_link    app.lti_links;
  v_links   jsonb := '[]';
  v_ignored integer := 0;
begin
  select * into v_launch from app.lti_launches l where l.return_hash = internal.sha256(coalesce(p_data, '')) for update;
  select * into v_tool from app.lti_tools t where t.id = v_launch.tool_id;
  if v_launch.id is null or v_launch.message_type <> 'LtiDeepLinkingRequest' or v_launch.returned_at is not null
     or v_launch.consumed_at < now() - interval '1 hour' or v_tool.client_id is distinct from p_client_id
     or v_tool.deployment_id is distinct from p_deployment_id or not v_tool.is_active then
    raise exception 'the response names no deep-linking launch of this tool awaiting an answer' using errcode = 'LM400',
      detail = 'invalid_deep_link', hint = 'data';
  end if;
  if not exists (select from app.users u where u.id = v_launch.user_id and u.is_active
                 and (u.id = (select c.instructor_id from app.courses c where c.id = v_launch.course_id)
                      or exists (select from app.admins a where a.user_id = u.id))) then
    raise exception 'whoever started the deep link no longer manages the course' using errcode = 'LM403',
      detail = 'not_course_owner', hint = 'data';
  end if;
  if jsonb_typeof(p_items) is distinct from 'array' or jsonb_array_length(p_items) > 50 then
    raise exception 'content_items: an array of at most 50 items' using errcode = 'LM400', detail = 'invalid_deep_link',
      hint = 'content_items';
  end if;
  update app.lti_launches l set returned_at = now() where l.id = v_launch.id;
  for v_item in select x from jsonb_array_elements(p_items) x loop
    if v_item ->> 'type' is distinct from 'ltiResourceLink' then
      v_ignored := v_ignored + 1;
      continue;
    end if;
    v_link := internal.lti_link_add(
      v_launch.course_id, v_launch.module_id, v_tool.id, coalesce(left(nullif(btrim(v_item ->> 'title'), ''), 200), v_tool.name),
      nullif(v_item ->> 'url', ''), case when jsonb_typeof(v_item -> 'custom') = 'object' then v_item -> 'custom' end,
      case when jsonb_typeof(v_item -> 'lineItem') = 'object' then jsonb_strip_nulls(jsonb_build_object(
        'score_maximum', v_item -> 'lineItem' -> 'scoreMaximum', 'label', v_item -> 'lineItem' -> 'label',
        'resource_id', v_item -> 'lineItem' ->> 'resourceId', 'tag', v_item -> 'lineItem' ->> 'tag')) end);
    v_links := v_links || internal.lti_link_json(v_link);
  end loop;
  insert into app.audit_log (actor_id, action, subject_type, subject_id, details)
  values (v_launch.user_id, 'lti.deep_link', 'lti_tool', v_tool.id,
          jsonb_build_object('course_id', v_launch.course_id, 'links', jsonb_array_length(v_links), 'ignored', v_ignored));
  return jsonb_build_object('course_id', v_launch.course_id, 'module_id', v_launch.module_id, 'links', v_links,
                            'ignored', v_ignored);
exception when check_violation then
  raise exception 'a content item is not a valid link (title, url)' using errcode = 'LM400', detail = 'invalid_deep_link',
    hint = 'content_items';
end
$$;
comment on function internal.lti_deep_link_return(text, text, text, jsonb) is
  'POST /lti/deep-link, after the LtiDeepLinkingResponse''s signature (the tool''s keys), iss, aud, exp and nonce were checked (rpc/http/lti.py): the deep-linking launch its data names (this tool and deployment, consumed within the hour, answered once) gets its ltiResourceLink items as links in its course and module (a lineItem with each becomes its gradebook column); other item types are counted as ignored. All or nothing. Audited as the instructor who started it. LM400 invalid_deep_link. SECURITY DEFINER: writes links for a caller who is a tool, not a signed-in user.';

create or replace function internal.lti_jwks()
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return jsonb_build_object('keys', coalesce((
    select jsonb_agg(k.public_jwk order by k.retired_at nulls first, k.created_at desc)
    from app.lti_platform_keys k where k.retired_at is null or k.retired_at > now() - interval '1 day'), '[]'));
end
$$;
comment on function internal.lti_jwks() is 'GET /lti/jwks: the platform''s public keys — the current one and those retired in the last day (a launch signed before a rotation still verifies). SECURITY DEFINER: app.lti_platform_keys has no client privileges.';

create or replace function internal.lti_key_add(p_kid text, p_private_jwk jsonb, p_public_jwk jsonb)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  update app.lti_platform_keys k set retired_at = now() where k.retired_at is null;
  insert into app.lti_platform_keys (kid, private_jwk, public_jwk) values (p_kid, p_private_jwk, p_public_jwk);
  insert into app.audit_log (action, subject_type, details) values ('lti.key_rotated', 'lti_platform_key', jsonb_build_object('kid', p_kid));
end
$$;
comment on function internal.lti_key_add(text, jsonb, jsonb) is 'A new current platform key (made in Python: lms db migrate when there is none, lms lti rotate-keys); the previous one retires and stays published for a day. Not granted to clients: the DBA connection runs it. SECURITY DEFINER: the keys belong to lms_definer, whoever rotates them.';

-- ---------------------------------------------------------------------------------------------
-- Links and their gradebook columns, as the course sees them
-- ---------------------------------------------------------------------------------------------
create or replace function api.lti_link_list(course_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id uuid := internal.require_user();
  v_manages boolean := internal.can_manage_course(lti_link_list.course_id);
begin
  if not v_manages and not internal.is_actively_enrolled(v_user_id, lti_link_list.course_id) then
    raise exception 'enroll in the course first' using errcode = 'LM403', detail = 'not_enrolled', hint = 'course_id';
  end if;
  -- Who manages the course: every link. A learner: those of published modules (and of none) whose tool is
  -- active, each with whether its module is locked to them.
  return coalesce((
    select jsonb_agg(internal.lti_link_json(l) || jsonb_build_object('tool', t.name,
                       'locked', not v_manages and coalesce(s.locked, false)) order by l.created_at, l.id)
    from app.lti_links l
    join app.lti_tools t on t.id = l.tool_id
    left join app.modules m on m.id = l.module_id
    left join internal.module_states(case when not v_manages then v_user_id end, lti_link_list.course_id) s
      on s.module_id = l.module_id
    where l.course_id = lti_link_list.course_id
      and (v_manages or (t.is_active and (l.module_id is null or m.is_published)))), '[]');
end
$$;
comment on function api.lti_link_list(uuid) is
$$The course's LTI links, oldest first, with the tool's name: all of them for who manages the course; for an
enrolled learner those of published modules (and of none) with an active tool, locked when their module is not
open to them yet (lti.launch answers 423 module_locked).
@result {link_id: uuid, course_id: uuid, module_id: uuid?, tool_id: uuid, title: text, url: text?, custom: object,
  line_item: object?, created_at: timestamptz, line_item_id: uuid?, tool: text, locked: bool}[]
SECURITY DEFINER: checks the caller manages the course or is enrolled in it.$$;

create or replace function api.lti_link_delete(link_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_link app.lti_links;
begin
  select * into v_link from app.lti_links l where l.id = lti_link_delete.link_id;
  if not found then
    raise exception 'link not found' using errcode = 'LM404', detail = 'not_found', hint = 'link_id';
  end if;
  perform internal.require_course_manager(v_link.course_id);
  delete from app.lti_line_items li where li.link_id = v_link.id;  -- its column (and the scores in it) go with it
  delete from app.lti_links l where l.id = v_link.id;
  perform internal.audit('lti.link_delete', 'lti_link', v_link.id, jsonb_build_object('tool_id', v_link.tool_id));
  return jsonb_build_object('link_id', v_link.id, 'deleted', true);
end
$$;
comment on function api.lti_link_delete(uuid) is
$$Remove an LTI link from its course (who manages it), with its gradebook column and the scores the tool posted
in it. Columns the tool made for itself stay (lti.line_item_delete).
@result {link_id: uuid, deleted: bool}
SECURITY DEFINER: checks the caller manages the course.$$;

create or replace function internal.lti_column_json(p_item app.lti_line_items)
returns jsonb
language plpgsql
stable
as $$
begin
  return jsonb_build_object('line_item_id', p_item.id, 'course_id', p_item.course_id, 'tool_id', p_item.tool_id,
                            'link_id', p_item.link_id, 'label', p_item.label, 'points', trim_scale(p_item.score_maximum),
                            'grade_category_id', p_item.grade_category_id, 'tag', p_item.tag,
                            'resource_id', p_item.resource_id, 'created_at', p_item.created_at,
                            'updated_at', p_item.updated_at);
end
$$;
comment on function internal.lti_column_json(app.lti_line_items) is
$$An LTI line item as the course's instructor sees it: a gradebook column a tool reports scores to.
@shape lti_line_item {line_item_id: uuid, course_id: uuid, tool_id: uuid, link_id: uuid?, label: text, points: number,
  grade_category_id: uuid?, tag: text?, resource_id: text?, created_at: timestamptz, updated_at: timestamptz}$$;

create or replace function api.lti_line_item_list(course_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform internal.require_course_manager(lti_line_item_list.course_id);
  return coalesce((select jsonb_agg(internal.lti_column_json(li) order by li.created_at, li.id)
                   from app.lti_line_items li where li.course_id = lti_line_item_list.course_id), '[]');
end
$$;
comment on function api.lti_line_item_list(uuid) is
$$The gradebook columns LTI tools report to in a course (who manages it): those of links, and those tools made.
@result lti_line_item[]
SECURITY DEFINER: checks the caller manages the course.$$;

create or replace function api.lti_line_item_update(line_item_id uuid, label text default null,
                                                    grade_category_id uuid default null, points numeric default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_item app.lti_line_items;
begin
  select * into v_item from app.lti_line_items li where li.id = lti_line_item_update.line_item_id;
  if not found then
    raise exception 'line item not found' using errcode = 'LM404', detail = 'not_found', hint = 'line_item_id';
  end if;
  perform internal.require_course_manager(v_item.course_id);
  perform internal.require_grade_category(v_item.course_id, lti_line_item_update.grade_category_id);
  if lti_line_item_update.points is not null and lti_line_item_update.points not between 0.01 and 99999999 then
    raise exception 'points: above 0' using errcode = 'LM422', detail = 'invalid_argument', hint = 'points';
  end if;
  update app.lti_line_items li set
    label = coalesce(btrim(lti_line_item_update.label), li.label),
    grade_category_id = case when internal.given('grade_category_id', lti_line_item_update.grade_category_id)
                             then lti_line_item_update.grade_category_id else li.grade_category_id end,
    score_maximum = coalesce(round(lti_line_item_update.points, 2), li.score_maximum),
    updated_at = now()
  where li.id = v_item.id
  returning * into v_item;
  perform internal.audit('lti.line_item_update', 'lti_line_item', v_item.id,
                         jsonb_build_object('grade_category_id', v_item.grade_category_id, 'points', v_item.score_maximum));
  return internal.lti_column_json(v_item);
end
$$;
comment on function api.lti_line_item_update(uuid, text, uuid, numeric) is
$$Change an LTI gradebook column (who manages the course): its label, its grade category (grade_category_id
null: back to the implicit one), the points it is worth (the tool's scores are scaled to them).
@result lti_line_item
@param label minLength=1 maxLength=200
SECURITY DEFINER: checks the caller manages the course.$$;
