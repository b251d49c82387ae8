-- Calendar feeds (issue 33 §4): a learner's private iCalendar URL (calendar.feed_url), its token kept as
-- its SHA-256 only, one per user, replaced or revoked (calendar.feed_reset).
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
-- (a new table, its indexes built with it in the migration's transaction; migrate sets a lock_timeout
--  per statement itself and retries, rpc/db/migrate.py)
-- depends: 0036_lti_services

set local role lms_owner;
create table app.calendar_feeds (
  user_id     uuid not null,
  token_hash  bytea not null,
  created_at  timestamptz not null default now(),
  constraint pk_calendar_feeds primary key (user_id),
  constraint fk_calendar_feeds_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint uq_calendar_feeds_token_hash unique (token_hash)
);
comment on table app.calendar_feeds is 'A user''s private calendar feed (GET /calendar/{token}.ics): the SHA-256 of its secret token, one per user; calendar.feed_url replaces it, calendar.feed_reset removes it. No client privileges.';
comment on column app.calendar_feeds.token_hash is 'SHA-256 of the token in the feed''s URL (the token itself is shown once, by calendar.feed_url).';
