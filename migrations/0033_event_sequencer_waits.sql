-- The event sequencer's readers wait for one another instead of skipping (internal.events_sequence):
-- event.list right after a write lists it even while the server's hub is numbering. Only the table's
-- comment changes here; the function comes from the repeatable SQL.
-- depends: 0032_rubrics
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
-- (a comment only: migrate sets a lock_timeout per statement itself and retries, rpc/db/migrate.py)

set local role lms_owner;
comment on table app.event_sequencer is 'One row: the last event id given. Its row lock serialises the sequencer (a reader that finds another numbering waits for it, at most 200 ms, so it reads its own writes); only lms_definer may read or lock it, so no client''s or analyst''s session can hold it.';
