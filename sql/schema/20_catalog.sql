/*
 * Catalog: courses and their lessons. A course belongs to one instructor; price in integer
 * cents (is_free is derived, never stored separately). Lesson order is dense (1..n) per
 * course; the unique constraint is deferrable so a reorder can swap positions in one statement.
 */
set local role lms_owner;

create table app.courses (
  id                uuid not null default gen_random_uuid(),
  instructor_id     uuid not null,
  title             text not null,
  short_description text,
  description       text,
  price_cents       integer not null default 0,
  currency          text not null default 'USD',
  is_free           boolean generated always as (price_cents = 0) stored,
  category          text,
  tags              text[] not null default '{}',
  thumbnail_url     text,
  is_published      boolean not null default false,
  published_at      timestamptz,
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now(),
  search_vector     tsvector generated always as (
                      setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') ||
                      setweight(to_tsvector('english'::regconfig, coalesce(short_description, '')), 'B') ||
                      setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C')) stored,
  constraint pk_courses primary key (id),
  constraint fk_courses_instructor_id_instructors foreign key (instructor_id) references app.instructors (user_id) on delete restrict,
  constraint ck_courses_title_length check (length(btrim(title)) between 1 and 200),
  constraint ck_courses_short_description_length check (length(short_description) <= 500),
  constraint ck_courses_price_nonnegative check (price_cents >= 0),
  constraint ck_courses_currency check (currency ~ '^[A-Z]{3}$'),
  constraint ck_courses_published_at check (not is_published or published_at is not null),
  constraint ck_courses_tags_count check (cardinality(tags) <= 20)
);
create index ix_courses_instructor_id on app.courses (instructor_id);
create index ix_courses_published_created_at on app.courses (created_at desc, id) where is_published;
create index ix_courses_category on app.courses (category) where is_published;
create index ix_courses_tags on app.courses using gin (tags);
create index ix_courses_search_vector on app.courses using gin (search_vector);
comment on table app.courses is 'A course offered by one instructor; visible to everyone once published.';
comment on column app.courses.instructor_id is 'The owning instructor (app.instructors.user_id: the profile row outlives a role change); an instructor with courses cannot be deleted.';
comment on column app.courses.price_cents is 'Price in integer cents of currency; 0 means free.';
comment on column app.courses.currency is 'ISO 4217 code, upper case (default USD), of price_cents.';
comment on column app.courses.is_free is 'Derived: price_cents = 0.';
comment on column app.courses.category is 'Free-text category for browsing (course.list filters on it exactly); null = none.';
comment on column app.courses.tags is 'Tags trimmed, lower-cased, de-duplicated and sorted (internal.normalize_tags); at most 20.';
comment on column app.courses.thumbnail_url is 'Cover image URL as the instructor gave it; null = none.';
comment on column app.courses.is_published is 'Listed and visible to everyone; publishing needs at least one published lesson (trigger _200_publish_rule).';
comment on column app.courses.published_at is 'When the course was first published; kept through unpublishing and publishing again. Null = never published.';
comment on column app.courses.search_vector is 'Full-text search over title (A), short description (B) and description (C).';

create table app.modules (
  id                uuid not null default gen_random_uuid(),
  course_id         uuid not null,
  title             text not null,
  description       text,
  position          integer not null,
  is_published      boolean not null default false,
  unlock_at         timestamptz,
  unlock_after_days integer,
  requirement       text not null default 'all',
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now(),
  constraint pk_modules primary key (id),
  constraint fk_modules_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint uq_modules_id_course_id unique (id, course_id),
  constraint uq_modules_course_id_position unique (course_id, position) deferrable initially immediate,
  constraint ck_modules_title_length check (length(btrim(title)) between 1 and 200),
  constraint ck_modules_description_length check (length(description) <= 10000),
  constraint ck_modules_position_positive check (position >= 1),
  constraint ck_modules_unlock_after_days_range check (unlock_after_days between 0 and 3650),
  constraint ck_modules_requirement check (requirement in ('all', 'any_one'))
);
comment on table app.modules is 'A part of a course: its items (lessons, quizzes, assignments) in order, released to a learner at unlock_at and/or unlock_after_days after their enrolment, and once the prerequisite modules are completed (internal.module_states decides, at the time of the call).';
comment on column app.modules.position is 'Order of the module in its course, 1.. (dense, unique per course).';
comment on column app.modules.is_published is 'Learners see the items of published modules only; progress and completion count the published items of published modules (and items without a module).';
comment on column app.modules.unlock_at is 'The module opens at this time (null: no fixed date). With unlock_after_days too, the later of the two.';
comment on column app.modules.unlock_after_days is 'The module opens this many days after the learner''s enrolled_at (null: no drip).';
comment on column app.modules.requirement is 'When the module counts as completed: all (every published item done) or any_one (one of them). A quiz is done when passed, an assignment when submitted, a lesson when completed.';

create table app.module_prerequisites (
  module_id       uuid not null,
  prerequisite_id uuid not null,
  course_id       uuid not null,
  created_at      timestamptz not null default now(),
  constraint pk_module_prerequisites primary key (module_id, prerequisite_id),
  constraint fk_module_prerequisites_module foreign key (module_id, course_id)
    references app.modules (id, course_id) on delete cascade,
  constraint fk_module_prerequisites_prerequisite foreign key (prerequisite_id, course_id)
    references app.modules (id, course_id) on delete cascade,
  constraint ck_module_prerequisites_not_self check (module_id <> prerequisite_id)
);
create index ix_module_prerequisites_prerequisite_id on app.module_prerequisites (prerequisite_id);
comment on column app.module_prerequisites.module_id is 'The module that waits (of course_id).';
comment on column app.module_prerequisites.prerequisite_id is 'The module to complete first (of the same course_id: fk_module_prerequisites_prerequisite).';
comment on column app.module_prerequisites.course_id is 'The course of both modules: the two foreign keys through it keep a prerequisite inside its course.';
comment on table app.module_prerequisites is 'Module module_id opens only once prerequisite_id is completed; both of course_id (the foreign keys hold it: no prerequisite from another course). No cycles (a trigger, serialised per course).';

create table app.lessons (
  id               uuid not null default gen_random_uuid(),
  course_id        uuid not null,
  title            text not null,
  content          text,
  video_url        text,
  duration_minutes integer not null default 0,
  lesson_order     integer not null,
  is_published     boolean not null default false,
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now(),
  constraint pk_lessons primary key (id),
  constraint fk_lessons_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint uq_lessons_course_id_lesson_order unique (course_id, lesson_order) deferrable initially immediate,
  constraint uq_lessons_id_course_id unique (id, course_id),
  constraint ck_lessons_title_length check (length(btrim(title)) between 1 and 200),
  constraint ck_lessons_duration_nonnegative check (duration_minutes >= 0),
  constraint ck_lessons_order_positive check (lesson_order >= 1),
  module_id        uuid,
  module_position  integer,
  constraint fk_lessons_module_in_course foreign key (module_id, course_id) references app.modules (id, course_id)
);
create index ix_lessons_module_id on app.lessons (module_id) where module_id is not null;
comment on column app.lessons.module_id is 'The module of the same course holding this lesson (fk_lessons_module_in_course); null: the course''s own, as before modules.';
comment on column app.lessons.module_position is 'Order within the module, across its lessons, quizzes and assignments.';
comment on table app.lessons is 'A lesson of a course. The syllabus (title, order, duration) of a published course is public; content is for enrollees, the instructor and admins.';
comment on column app.lessons.content is 'The lesson text. No client role may select it directly: internal.lesson_content() returns it to the instructor, admins and active enrollees.';
comment on column app.lessons.video_url is 'Link to the lesson''s video; protected like content.';
comment on column app.lessons.duration_minutes is 'Estimated length in minutes, shown in the syllabus; 0 = not given.';
comment on column app.lessons.lesson_order is 'Position 1..n in the course, dense; unique per course (deferrable for reorders).';
comment on column app.lessons.is_published is 'Visible to enrollees and in a published course''s syllabus; only published lessons count towards progress.';
comment on constraint uq_lessons_id_course_id on app.lessons is 'Target of (lesson_id, course_id) foreign keys: a quiz or assignment''s lesson must be in its course.';

create table app.lti_tools (
  id                uuid not null default gen_random_uuid(),
  name              text not null,
  client_id         text not null default gen_random_uuid()::text,
  deployment_id     text not null default gen_random_uuid()::text,
  login_url         text not null,
  launch_url        text not null,
  jwks_url          text not null,
  deep_linking_url  text,
  scopes            text[] not null default '{}',
  is_active         boolean not null default true,
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now(),
  constraint pk_lti_tools primary key (id),
  constraint uq_lti_tools_client_id unique (client_id),
  constraint uq_lti_tools_deployment_id unique (deployment_id),
  constraint ck_lti_tools_name check (length(btrim(name)) between 1 and 200),
  constraint ck_lti_tools_client_id check (length(client_id) between 1 and 255),
  constraint ck_lti_tools_urls check (login_url ~ '^https?://[^\s#]+$' and launch_url ~ '^https?://[^\s#]+$'
                                      and jwks_url ~ '^https?://[^\s#]+$'
                                      and (deep_linking_url is null or deep_linking_url ~ '^https?://[^\s#]+$')
                                      and length(login_url) <= 1000 and length(launch_url) <= 1000
                                      and length(jwks_url) <= 1000 and length(coalesce(deep_linking_url, '')) <= 1000),
  constraint ck_lti_tools_scopes check (scopes <@ array[
    'https://purl.imsglobal.org/spec/lti-ags/scope/lineitem',
    'https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly',
    'https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly',
    'https://purl.imsglobal.org/spec/lti-ags/scope/score',
    'https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly'])
);
comment on table app.lti_tools is 'LTI 1.3 tools this platform launches (lti.tool_register, admins): the OAuth client a tool is, its one deployment, and where it is reached.';
comment on column app.lti_tools.client_id is 'The OAuth client id of the tool at this platform (given by the admin, or generated): the aud of every launch.';
comment on column app.lti_tools.deployment_id is 'The deployment id (one per tool here): the deployment_id claim of every launch.';
comment on column app.lti_tools.login_url is 'The tool''s OIDC login initiation URL (third-party-initiated login).';
comment on column app.lti_tools.launch_url is 'The tool''s launch URL: the target_link_uri of links without their own url, and a registered redirect_uri.';
comment on column app.lti_tools.jwks_url is 'The tool''s public keys (deep-linking responses and service client assertions are verified with them).';
comment on column app.lti_tools.deep_linking_url is 'Where deep-linking requests go (also a registered redirect_uri); null: the tool offers none.';
comment on column app.lti_tools.scopes is 'The LTI Advantage service scopes the tool may be granted (AGS, NRPS).';
comment on column app.lti_tools.is_active is 'False: no launch of this tool (lti.tool_update).';

create table app.lti_platform_keys (
  kid          text not null,
  private_jwk  jsonb not null,
  public_jwk   jsonb not null,
  created_at   timestamptz not null default now(),
  retired_at   timestamptz,
  constraint pk_lti_platform_keys primary key (kid),
  constraint ck_lti_platform_keys_kid check (length(kid) between 8 and 100),
  constraint ck_lti_platform_keys_public check (public_jwk ->> 'kid' = kid and not public_jwk ? 'd')
);
create unique index uq_lti_platform_keys_current on app.lti_platform_keys ((true)) where retired_at is null;
comment on table app.lti_platform_keys is 'The platform''s RS256 signing keys (made by lms db migrate and lms lti rotate-keys). The current one (retired_at null) signs launches; retired ones stay published at GET /lti/jwks for a day, so a launch signed just before a rotation still verifies.';
comment on column app.lti_platform_keys.private_jwk is 'The private key (JWK). Secret: readable only by lms_definer; it leaves the database only to sign a launch (internal.lti_auth).';
comment on column app.lti_platform_keys.public_jwk is 'Its public half as published at GET /lti/jwks.';
comment on column app.lti_platform_keys.retired_at is 'When a newer key replaced it (lms lti rotate-keys); published until a day after.';

create table app.lti_links (
  id          uuid not null default gen_random_uuid(),
  course_id   uuid not null,
  module_id   uuid,
  tool_id     uuid not null,
  title       text not null,
  url         text,
  custom      jsonb not null default '{}',
  line_item   jsonb,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now(),
  constraint pk_lti_links primary key (id),
  constraint fk_lti_links_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint fk_lti_links_module_id_modules foreign key (module_id) references app.modules (id) on delete set null,
  constraint fk_lti_links_tool_id_lti_tools foreign key (tool_id) references app.lti_tools (id) on delete cascade,
  constraint ck_lti_links_title check (length(btrim(title)) between 1 and 200),
  constraint ck_lti_links_url check (url is null or (url ~ '^https?://[^\s#]+$' and length(url) <= 1000)),
  constraint ck_lti_links_custom check (jsonb_typeof(custom) = 'object' and pg_column_size(custom) <= 4096),
  constraint ck_lti_links_line_item check (line_item is null or jsonb_typeof(line_item) = 'object')
);
create index ix_lti_links_course_id on app.lti_links (course_id);
create index ix_lti_links_module_id on app.lti_links (module_id) where module_id is not null;
create index ix_lti_links_tool_id on app.lti_links (tool_id);
comment on table app.lti_links is 'A course item that launches an LTI tool (lti.link_create): in a module like a lesson, locked with it.';
comment on column app.lti_links.url is 'The target_link_uri of the launch; null: the tool''s launch_url.';
comment on column app.lti_links.custom is 'Custom parameters sent in the launch (the custom claim): an object of strings.';
comment on column app.lti_links.line_item is 'A gradebook column the tool reports to (AGS), as asked when the link was made ({label, score_maximum}); null: none.';

create table app.lti_launches (
  id            uuid not null default gen_random_uuid(),
  hint_hash     bytea not null,
  user_id       uuid not null,
  tool_id       uuid not null,
  link_id       uuid,
  course_id     uuid not null,
  nonce         text,
  created_at    timestamptz not null default now(),
  expires_at    timestamptz not null default now() + interval '5 minutes',
  consumed_at   timestamptz,
  message_type  text not null default 'LtiResourceLinkRequest',
  module_id     uuid,
  return_hash   bytea,
  returned_at   timestamptz,
  constraint pk_lti_launches primary key (id),
  constraint fk_lti_launches_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint fk_lti_launches_tool_id_lti_tools foreign key (tool_id) references app.lti_tools (id) on delete cascade,
  constraint fk_lti_launches_link_id_lti_links foreign key (link_id) references app.lti_links (id) on delete cascade,
  constraint fk_lti_launches_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint uq_lti_launches_hint_hash unique (hint_hash),
  constraint uq_lti_launches_tool_id_nonce unique (tool_id, nonce),
  constraint ck_lti_launches_expiry check (expires_at > created_at),
  constraint ck_lti_launches_consumed check ((consumed_at is null) = (nonce is null)),
  constraint ck_lti_launches_message_type check (message_type in ('LtiResourceLinkRequest', 'LtiDeepLinkingRequest')),
  constraint fk_lti_launches_module_id_modules foreign key (module_id) references app.modules (id) on delete cascade,
  constraint uq_lti_launches_return_hash unique (return_hash)
);
create index ix_lti_launches_user_id on app.lti_launches (user_id);
create index ix_lti_launches_link_id on app.lti_launches (link_id) where link_id is not null;
create index ix_lti_launches_course_id on app.lti_launches (course_id);
create index ix_lti_launches_expires_at on app.lti_launches (expires_at);
create index ix_lti_launches_module_id on app.lti_launches (module_id) where module_id is not null;
comment on table app.lti_launches is 'Launches under way (lti.launch): single use, 5 minutes; GET /lti/auth consumes one and signs its id_token. No client privileges.';
comment on column app.lti_launches.hint_hash is 'SHA-256 of the lti_message_hint the launch was given (the hint itself only travels to the tool and back).';
comment on column app.lti_launches.nonce is 'The tool''s nonce of the authentication request that consumed it: a nonce is used once per tool.';
comment on column app.lti_launches.expires_at is 'Five minutes after lti.launch: GET /lti/auth refuses it after.';
comment on column app.lti_launches.consumed_at is 'When GET /lti/auth signed its id_token (once).';
comment on column app.lti_tools.name is 'What instructors see when they pick the tool.';
comment on column app.lti_platform_keys.kid is 'The key id (kid) in the JWS header of the launches it signs.';
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
