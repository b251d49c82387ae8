-- Undo 0029_bank_positions: the draw reads the whole bank again (the release before numbers nothing).
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, ban-drop-column, ban-drop-constraint, require-concurrent-index-deletion
-- (the column, its check and its index were added by 0029 and nothing before it reads them)

set local role lms_owner;
drop index app.uq_questions_bank_position;
alter table app.questions drop constraint ck_questions_bank_position;
alter table app.questions drop column bank_position;
