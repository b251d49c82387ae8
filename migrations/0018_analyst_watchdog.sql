-- Runaway analyst sessions are ended (issue 26 §3): an analyst may lift their own statement_timeout
-- and idle_in_transaction_session_timeout (ordinary settings), so internal.end_runaway_analyst_sessions
-- — run by every server process every 30 s and by `lms db maintain` — ends analyst sessions whose
-- transaction is older than the configured age. Seeing and signalling other roles' sessions needs
-- these two built-in roles for the definer that owns it.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
-- depends: 0017_repeatable_sql_state

grant pg_signal_backend, pg_read_all_stats to lms_definer;
