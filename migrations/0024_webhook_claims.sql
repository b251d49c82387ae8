-- A webhook worker claims a subscription for a while (a lease it commits) instead of holding a
-- transaction open across its POSTs: claim, commit, post, record each attempt in its own short
-- transaction, release (issue 35 §2). A worker that dies leaves a lease that simply runs out.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
-- (nullable columns without a default: a catalog change, no rewrite; migrate sets a lock_timeout per
--  statement itself and retries, rpc/db/migrate.py)
-- depends: 0023_policy_settings

set local role lms_owner;

alter table app.webhooks add column claim_token uuid;
alter table app.webhooks add column claimed_until timestamptz;
alter table app.webhooks add constraint ck_webhooks_claim
  check ((claim_token is null) = (claimed_until is null)) not valid;
alter table app.webhooks validate constraint ck_webhooks_claim;
comment on column app.webhooks.claim_token is 'The worker lease on this subscription (internal.webhook_claim): only the holder of this token records attempts until claimed_until.';
comment on column app.webhooks.claimed_until is 'When the current worker lease runs out; after it another worker may claim the subscription (a worker that died leaves nothing locked).';
