-- Undo 0034_sso: no sign-in through OpenID providers. Accounts created at a first SSO sign-in stay (with no
-- password: they set one with auth.request_password_reset); their linked identities and the providers go.
-- The api functions go with the tables here; the previous release's repeatable SQL does not know them.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, ban-drop-table, ban-drop-function

set local role lms_owner;
drop function if exists api.sso_provider_create(text, text, text, text, text, text[], text[], boolean, text, text, boolean);
drop function if exists api.sso_provider_update(uuid, text, text, text, text, text[], text[], boolean, text, text, boolean, boolean);
drop function if exists api.sso_provider_delete(uuid);
drop function if exists api.sso_provider_list(integer, integer);
drop function if exists api.sso_link_start(text);
drop function if exists api.sso_identities_mine();
drop function if exists api.sso_unlink(uuid);
drop function if exists api.auth_sso_exchange(text, text);
drop function if exists internal.sso_login_begin(text, text);
drop function if exists internal.sso_provider_issuer(text);
drop function if exists internal.sso_clean_domains(text[]);
drop function if exists internal.sso_state_take(text, text);
drop function if exists internal.sso_sign_in(uuid, text, text, boolean, text, text, uuid, boolean);
drop function if exists internal.sso_provider_json(app.sso_providers);
drop table app.sso_codes;
drop table app.sso_identities;
drop table app.sso_states;
drop table app.sso_providers;
