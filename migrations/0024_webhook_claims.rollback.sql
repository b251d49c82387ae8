-- Undo 0024_webhook_claims (dropping the columns drops ck_webhooks_claim with them).
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, ban-drop-column

set local role lms_owner;
alter table app.webhooks drop column claimed_until;
alter table app.webhooks drop column claim_token;
