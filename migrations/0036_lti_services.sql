-- LTI Advantage services (issue 31): tools' access tokens (client credentials with a signed assertion,
-- each assertion's jti used once), AGS line items (gradebook columns) and their results, deep-linking
-- launches; two event types, lti.launched and lti.score_received.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, prefer-text-field, require-concurrent-index-creation, adding-field-with-default, ban-drop-constraint, constraint-missing-not-valid, adding-foreign-key-constraint, disallowed-unique-constraint
-- (new tables with their indexes built in the migration's transaction; app.lti_launches is a table of
--  minutes-old rows: its new columns (one with a constant default, no rewrite), foreign key and unique
--  constraint are checked and built at once; the event-type checks are replaced by wider ones, added NOT VALID and validated;
--  migrate sets a lock_timeout per statement itself and retries, rpc/db/migrate.py)
-- depends: 0035_lti

set local role lms_owner;
alter table app.lti_launches add column message_type text not null default 'LtiResourceLinkRequest';
alter table app.lti_launches add column module_id uuid;
alter table app.lti_launches add column return_hash bytea;
alter table app.lti_launches add column returned_at timestamptz;
alter table app.lti_launches add constraint ck_lti_launches_message_type
  check (message_type in ('LtiResourceLinkRequest', 'LtiDeepLinkingRequest'));
alter table app.lti_launches add constraint fk_lti_launches_module_id_modules foreign key (module_id)
  references app.modules (id) on delete cascade;
alter table app.lti_launches add constraint uq_lti_launches_return_hash unique (return_hash);
create index ix_lti_launches_module_id on app.lti_launches (module_id) where module_id is not null;
comment on column app.lti_launches.message_type is 'LtiResourceLinkRequest (lti.launch of a link) or LtiDeepLinkingRequest (lti.deep_link: the instructor picks content in the tool).';
comment on column app.lti_launches.module_id is 'Deep linking: the module the links the tool returns go in (null: the course, no module).';
comment on column app.lti_launches.return_hash is 'Deep linking: SHA-256 of the data claim the tool must send back with its LtiDeepLinkingResponse (once).';
comment on column app.lti_launches.returned_at is 'Deep linking: when the tool''s response (POST /lti/deep-link) created its links; a second response is refused.';

create table app.lti_access_tokens (
  token_hash  bytea not null,
  tool_id     uuid not null,
  scopes      text[] not null,
  created_at  timestamptz not null default now(),
  expires_at  timestamptz not null default now() + interval '1 hour',
  constraint pk_lti_access_tokens primary key (token_hash),
  constraint fk_lti_access_tokens_tool_id_lti_tools foreign key (tool_id) references app.lti_tools (id) on delete cascade,
  constraint ck_lti_access_tokens_scopes check (cardinality(scopes) between 1 and 5),
  constraint ck_lti_access_tokens_expiry check (expires_at > created_at)
);
create index ix_lti_access_tokens_tool_id on app.lti_access_tokens (tool_id);
create index ix_lti_access_tokens_expires_at on app.lti_access_tokens (expires_at);
comment on table app.lti_access_tokens is 'Access tokens of the LTI Advantage services (POST /lti/token, client credentials): a tool''s identity at /lti/courses/… for an hour, with the scopes granted. Only their SHA-256 is kept. No client privileges.';
comment on column app.lti_access_tokens.token_hash is 'SHA-256 of the bearer token (the token itself is only in the answer of POST /lti/token).';
comment on column app.lti_access_tokens.expires_at is 'An hour after it was granted: refused after (401 token_invalid); deleted a day later.';
comment on column app.lti_access_tokens.scopes is 'The scopes granted: those asked for that the tool is registered with.';

create table app.lti_assertions (
  tool_id     uuid not null,
  jti         text not null,
  expires_at  timestamptz not null,
  constraint pk_lti_assertions primary key (tool_id, jti),
  constraint fk_lti_assertions_tool_id_lti_tools foreign key (tool_id) references app.lti_tools (id) on delete cascade,
  constraint ck_lti_assertions_jti check (length(jti) between 1 and 255)
);
create index ix_lti_assertions_expires_at on app.lti_assertions (expires_at);
comment on column app.lti_assertions.expires_at is 'A few minutes after the assertion''s own exp: until then its jti is refused again.';
comment on column app.lti_assertions.jti is 'The assertion''s JWT ID: one use per tool.';
comment on table app.lti_assertions is 'The jti of every client assertion a tool exchanged for a token, until it expires: an assertion is used once (1EdTech Security Framework §4.1.1). No client privileges.';

create table app.lti_line_items (
  id                 uuid not null default gen_random_uuid(),
  course_id          uuid not null,
  tool_id            uuid not null,
  link_id            uuid,
  label              text not null,
  score_maximum      numeric(10,2) not null,
  resource_id        text,
  tag                text,
  grade_category_id  uuid,
  start_at           timestamptz,
  end_at             timestamptz,
  created_at         timestamptz not null default now(),
  updated_at         timestamptz not null default now(),
  constraint pk_lti_line_items primary key (id),
  constraint fk_lti_line_items_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint fk_lti_line_items_tool_id_lti_tools foreign key (tool_id) references app.lti_tools (id) on delete cascade,
  constraint fk_lti_line_items_link_id_lti_links foreign key (link_id) references app.lti_links (id) on delete set null,
  constraint fk_lti_line_items_grade_category_in_course foreign key (grade_category_id, course_id)
    references app.grade_categories (id, course_id) on delete set null (grade_category_id),
  constraint ck_lti_line_items_label check (length(btrim(label)) between 1 and 200),
  constraint ck_lti_line_items_score_maximum check (score_maximum > 0),
  constraint ck_lti_line_items_resource_id check (length(resource_id) <= 255),
  constraint ck_lti_line_items_tag check (length(tag) <= 255),
  constraint ck_lti_line_items_dates check (end_at is null or start_at is null or end_at >= start_at)
);
create index ix_lti_line_items_course_id on app.lti_line_items (course_id);
create index ix_lti_line_items_tool_id on app.lti_line_items (tool_id);
create index ix_lti_line_items_link_id on app.lti_line_items (link_id) where link_id is not null;
create index ix_lti_line_items_grade_category_id on app.lti_line_items (grade_category_id) where grade_category_id is not null;
comment on table app.lti_line_items is 'AGS line items: gradebook columns a tool reports scores to (made with a link, by deep linking, or by the tool). Row-level security: a tool (its access token) sees and changes only its own, in courses where it has a link.';
comment on column app.lti_line_items.label is 'The column''s title in the gradebook (label).';
comment on column app.lti_line_items.link_id is 'The resource link it belongs to (resourceLinkId); null: the tool''s own column in the course.';
comment on column app.lti_line_items.score_maximum is 'What the column is worth in the course grade, in points (scoreMaximum).';
comment on column app.lti_line_items.resource_id is 'The tool''s own id of the activity (resourceId).';
comment on column app.lti_line_items.tag is 'The tool''s label for the kind of column (tag), e.g. final or originality.';
comment on column app.lti_line_items.grade_category_id is 'The grade category it counts in; null: the implicit one.';
comment on column app.lti_line_items.start_at is 'startDateTime, as the tool gave it.';
comment on column app.lti_line_items.end_at is 'endDateTime, as the tool gave it.';

create table app.lti_results (
  line_item_id       uuid not null,
  user_id            uuid not null,
  score_given        numeric(12,4),
  score_maximum      numeric(12,4),
  activity_progress  text not null,
  grading_progress   text not null,
  comment            text,
  scored_at          timestamptz not null,
  received_at        timestamptz not null default now(),
  constraint pk_lti_results primary key (line_item_id, user_id),
  constraint fk_lti_results_line_item_id_lti_line_items foreign key (line_item_id) references app.lti_line_items (id) on delete cascade,
  constraint fk_lti_results_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint ck_lti_results_score check ((score_given is null) = (score_maximum is null) and score_maximum > 0
                                         and score_given >= 0),
  constraint ck_lti_results_activity check (activity_progress in ('Initialized', 'Started', 'InProgress', 'Submitted', 'Completed')),
  constraint ck_lti_results_grading check (grading_progress in ('FullyGraded', 'Pending', 'PendingManual', 'Failed', 'NotReady')),
  constraint ck_lti_results_comment check (length(comment) <= 4000)
);
create index ix_lti_results_user_id on app.lti_results (user_id);
comment on table app.lti_results is 'The latest score a tool posted for a learner in a line item (AGS scores; a score with an older timestamp than the one kept is refused). FullyGraded: scoreGiven ÷ scoreMaximum of the line item''s points is the learner''s grade in that gradebook column.';
comment on column app.lti_results.score_given is 'scoreGiven, on the score''s own scale (score_maximum).';
comment on column app.lti_results.score_maximum is 'scoreMaximum of the score (not necessarily the line item''s).';
comment on column app.lti_results.activity_progress is 'activityProgress: Initialized, Started, InProgress, Submitted, Completed.';
comment on column app.lti_results.grading_progress is 'gradingProgress: only FullyGraded counts in the course grade.';
comment on column app.lti_results.comment is 'The tool''s comment for the learner.';
comment on column app.lti_results.scored_at is 'The score''s timestamp, as the tool gave it: a later score must have a later one.';
comment on column app.lti_results.received_at is 'When the platform received it.';

alter table app.events drop constraint ck_events_type;
alter table app.events add constraint ck_events_type check (type in (
    'enrollment.created', 'enrollment.dropped', 'lesson.completed', 'course.completed',
    'certificate.issued', 'certificate.revoked', 'attempt.submitted', 'submission.submitted',
    'submission.graded', 'order.completed', 'order.refunded', 'user.created', 'user.deactivated',
    'module.completed', 'override.changed', 'attempt.graded', 'attempt.regraded', 'grade.posted',
    'lti.launched', 'lti.score_received')) not valid;
alter table app.events validate constraint ck_events_type;
alter table app.webhooks drop constraint ck_webhooks_events;
alter table app.webhooks add constraint ck_webhooks_events check (cardinality(events) between 1 and 20
    and array_position(events, null) is null
    and events <@ array['enrollment.created', 'enrollment.dropped', 'lesson.completed', 'course.completed',
      'certificate.issued', 'certificate.revoked', 'attempt.submitted', 'submission.submitted',
      'submission.graded', 'order.completed', 'order.refunded', 'user.created', 'user.deactivated',
      'module.completed', 'override.changed', 'attempt.graded', 'attempt.regraded', 'grade.posted',
      'lti.launched', 'lti.score_received']) not valid;
alter table app.webhooks validate constraint ck_webhooks_events;
comment on column app.events.type is 'What happened: enrollment.created, enrollment.dropped, lesson.completed, course.completed, certificate.issued, certificate.revoked, attempt.submitted, submission.submitted, submission.graded, order.completed, order.refunded, user.created, user.deactivated, module.completed, override.changed, attempt.graded, attempt.regraded, grade.posted, lti.launched, lti.score_received.';
