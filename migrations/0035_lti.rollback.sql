-- Undo 0035_lti: no LTI. Links, launches, tools and the platform's keys go (a later migrate makes a new key).
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, ban-drop-table

set local role lms_owner;
drop table app.lti_launches;
drop table app.lti_links;
drop table app.lti_platform_keys;
drop table app.lti_tools;
