-- xAPI statements to a Learning Record Store (issue 33 §1), on the webhook machinery: a subscription has a
-- format — standard_webhooks (signed event JSON, as before) or xapi (the event as an xAPI 1.0.3 statement,
-- POSTed to an LRS with HTTP Basic credentials). Deliveries, order, retries and back-off are the webhooks'.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, adding-field-with-default, constraint-missing-not-valid
-- (a column with a constant default — no rewrite since PostgreSQL 11 — and a nullable one on the small
--  subscriptions table; the check is added NOT VALID and validated; migrate sets a lock_timeout per
--  statement itself and retries, rpc/db/migrate.py)
-- depends: 0037_calendar_feeds

set local role lms_owner;
alter table app.webhooks add column format text not null default 'standard_webhooks';
alter table app.webhooks add column basic_auth text;
alter table app.webhooks add constraint ck_webhooks_format check (format in ('standard_webhooks', 'xapi')
  and (basic_auth is null or format = 'xapi') and length(basic_auth) <= 1000) not valid;
alter table app.webhooks validate constraint ck_webhooks_format;
comment on column app.webhooks.format is 'standard_webhooks: the event JSON, signed (webhook.create); xapi: the event as an xAPI statement to a Learning Record Store (lms xapi deliver, LMS_XAPI_ENDPOINT).';
comment on column app.webhooks.basic_auth is 'xapi: the LRS''s HTTP Basic credentials (user:password). Secret: readable only by lms_definer, handed to the worker by internal.webhook_claim.';
