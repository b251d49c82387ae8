-- The draw without a scan (issue 29, performance): every drawable (not retired) question of a bank has
-- a position 1..n, dense, so attempt.start picks draw_count random positions and looks them up by key
-- instead of reading all n questions of the bank. Kept dense by a trigger on questions (a new question
-- takes n + 1; a retired or deleted one's place is taken by the question at n).
-- squawk-ignore-file require-lock-timeout, require-statement-timeout, require-concurrent-index-creation, constraint-missing-not-valid
-- (a nullable column without a default; the existing bank questions are numbered in one statement and
--  the check is added after it — questions is a catalog table, read in milliseconds; the index is built
--  in the migration's transaction; migrate sets a lock_timeout per statement itself and retries,
--  rpc/db/migrate.py)
-- depends: 0028_question_banks

set local role lms_owner;
alter table app.questions add column bank_position integer;
update app.questions q set bank_position = n.position
from (select x.id, row_number() over (partition by x.bank_id order by x.question_order, x.id) as position
      from app.questions x where x.bank_id is not null and x.retired_at is null) n
where q.id = n.id;
alter table app.questions add constraint ck_questions_bank_position
  check ((bank_position is not null) = (bank_id is not null and retired_at is null) and bank_position >= 1);
create unique index uq_questions_bank_position on app.questions (bank_id, bank_position) where bank_position is not null;
comment on column app.questions.bank_position is 'A drawable bank question''s place among its bank''s drawable questions, 1..n without gaps (kept by a trigger): the draw picks random places. Null for a fixed or retired question.';
