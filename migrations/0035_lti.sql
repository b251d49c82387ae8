-- LTI 1.3 as the platform (issue 31): registered tools, the platform's signing keys (the private half
-- readable only by lms_definer), links in modules, single-use launches.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, prefer-text-field, require-concurrent-index-creation
-- (new tables only, their indexes built with them in the migration's transaction; migrate sets a lock_timeout
--  per statement itself and retries, rpc/db/migrate.py; the first signing key is made by migrate in Python)
-- depends: 0034_sso

set local role lms_owner;
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
  constraint pk_lti_launches primary key (id),
  constraint fk_lti_launches_user_id_users foreign key (user_id) references app.users (id) on delete cascade,
  constraint fk_lti_launches_tool_id_lti_tools foreign key (tool_id) references app.lti_tools (id) on delete cascade,
  constraint fk_lti_launches_link_id_lti_links foreign key (link_id) references app.lti_links (id) on delete cascade,
  constraint fk_lti_launches_course_id_courses foreign key (course_id) references app.courses (id) on delete cascade,
  constraint uq_lti_launches_hint_hash unique (hint_hash),
  constraint uq_lti_launches_tool_id_nonce unique (tool_id, nonce),
  constraint ck_lti_launches_expiry check (expires_at > created_at),
  constraint ck_lti_launches_consumed check ((consumed_at is null) = (nonce is null))
);
create index ix_lti_launches_user_id on app.lti_launches (user_id);
create index ix_lti_launches_link_id on app.lti_launches (link_id) where link_id is not null;
create index ix_lti_launches_course_id on app.lti_launches (course_id);
create index ix_lti_launches_expires_at on app.lti_launches (expires_at);
comment on table app.lti_launches is 'Launches under way (lti.launch): single use, 5 minutes; GET /lti/auth consumes one and signs its id_token. No client privileges.';
comment on column app.lti_launches.hint_hash is 'SHA-256 of the lti_message_hint the launch was given (the hint itself only travels to the tool and back).';
comment on column app.lti_launches.nonce is 'The tool''s nonce of the authentication request that consumed it: a nonce is used once per tool.';
comment on column app.lti_launches.expires_at is 'Five minutes after lti.launch: GET /lti/auth refuses it after.';
comment on column app.lti_launches.consumed_at is 'When GET /lti/auth signed its id_token (once).';
comment on column app.lti_tools.name is 'What instructors see when they pick the tool.';
comment on column app.lti_platform_keys.kid is 'The key id (kid) in the JWS header of the launches it signs.';
