-- Undo 0038_xapi: no xAPI delivery. The LRS subscription and its deliveries go; webhooks stay.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, ban-drop-column

set local role lms_owner;
delete from app.webhooks where format = 'xapi';
alter table app.webhooks drop column basic_auth;
alter table app.webhooks drop column format;
