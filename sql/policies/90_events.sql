/*
 * Events: grants and RLS. An event is seen by the user it is about, the instructor of its course
 * and admins — through the API (event.list, the WebSocket) and by analysts alike. Nobody writes
 * events but the triggers (internal.emit_event). Webhooks and deliveries hold signing secrets and
 * receivers' URLs: no client privileges at all; the admin-only webhook.* methods are SECURITY
 * DEFINER.
 */
alter table app.events enable row level security;
alter table app.events force row level security;
alter table app.webhooks enable row level security;
alter table app.webhooks force row level security;
alter table app.webhook_deliveries enable row level security;
alter table app.event_sequencer enable row level security;  -- no policy, no grant: lms_definer's only
alter table app.event_sequencer force row level security;
alter table app.webhook_deliveries force row level security;

grant select on app.events to lms_api, lms_analyst;
-- internal.event_audience (sql/functions/90_events/04_live.sql) mirrors these arms as a superset: keep in step.
create policy select_subject_instructor_admin on app.events for select to lms_api, lms_analyst
  using (user_id = (select app.current_user_id())
         or course_id in (select internal.my_course_ids())
         or (select internal.is_admin()));

grant execute on function internal.event_json(app.events) to lms_api, lms_definer;
grant execute on function internal.check_event_types(text[]) to lms_api, lms_definer;
grant execute on function internal.events_sequence(integer) to lms_api, lms_definer;
grant execute on function internal.events_visible_to(bigint[], uuid[]) to lms_api;
grant execute on function internal.event_audience(bigint[], uuid[]) to lms_api;
grant execute on function internal.event_ids_after(bigint, integer) to lms_api;
grant execute on function internal.sessions_ended_since(uuid[], timestamptz[]) to lms_api;
-- What the SECURITY DEFINER webhook methods, triggers and the delivery worker's functions call.
grant execute on function internal.emit_event(text, uuid, uuid, jsonb) to lms_definer;
grant execute on function internal.check_webhook_url(text) to lms_definer;
grant execute on function internal.check_webhook_events(text[]) to lms_definer;
grant execute on function internal.webhook_json(app.webhooks) to lms_definer;
grant execute on function internal.new_webhook_secret() to lms_definer;
grant execute on function internal.xapi_uuid(text), internal.xapi_activity(text, text, uuid, text),
  internal.xapi_statement(app.events, text) to lms_definer;  -- (xAPI: the worker's statements, via webhook_claim)
grant execute on function internal.managed_webhook(uuid) to lms_definer;
grant execute on function internal.delivery_json(app.webhook_deliveries, text) to lms_definer;

grant execute on function api.event_list(bigint, integer, text[]) to lms_api;
grant execute on function api.webhook_create(text, text[], text) to lms_api;
grant execute on function api.webhook_list(integer, integer) to lms_api;
grant execute on function api.webhook_update(uuid, text, text[], text, boolean) to lms_api;
grant execute on function api.webhook_delete(uuid) to lms_api;
grant execute on function api.webhook_rotate_secret(uuid) to lms_api;
grant execute on function api.webhook_deliveries(uuid, text, integer, integer) to lms_api;
grant execute on function api.webhook_redeliver(uuid) to lms_api;
