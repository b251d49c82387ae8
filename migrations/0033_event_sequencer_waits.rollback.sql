-- Undo 0033_event_sequencer_waits: the comment of the skipping sequencer (the previous release's
-- repeatable SQL brings its function back).
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
-- (a comment only: migrate sets a lock_timeout per statement itself and retries, rpc/db/migrate.py)

set local role lms_owner;
comment on table app.event_sequencer is 'One row: the last event id given. Its row lock serialises the sequencer (taken with SKIP LOCKED: a reader never waits for another); only lms_definer may read or lock it, so no client''s or analyst''s session can hold it.';
