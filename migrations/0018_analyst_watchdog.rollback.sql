-- Undo 0018_analyst_watchdog.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout

revoke pg_signal_backend, pg_read_all_stats from lms_definer;
