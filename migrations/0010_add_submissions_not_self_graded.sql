-- Nobody grades their own submission: add ck_submissions_not_self_graded to app.submissions (issue 13).
-- squawk-ignore-file constraint-missing-not-valid, require-lock-timeout, require-statement-timeout
-- (submissions is small and the check is validated at once, in the same transaction that first
--  takes self-graded rows back to ungraded; NOT VALID + VALIDATE would hold the same lock anyway)
-- depends: 0009_create_rate_limits

set local role lms_owner;

-- A self-given grade is not a grade: take such submissions back to "submitted, not graded" so the
-- course's instructor (or an admin) grades them, and keep what was there in the audit log.
-- RLS is forced on both tables (sql/policies/) and binds their owner too: lift it for this fix only.
alter table app.submissions no force row level security;
alter table app.audit_log no force row level security;

insert into app.audit_log (action, subject_type, subject_id, details)
select 'submission.self_grade_removed', 'submission', s.id,
       jsonb_build_object('user_id', s.user_id, 'old_grade', s.grade, 'old_graded_at', s.graded_at,
                          'old_feedback', s.feedback, 'migration', '0010_add_submissions_not_self_graded')
from app.submissions s
where s.graded_by = s.user_id;

update app.submissions s
set grade = null, graded_at = null, graded_by = null
where s.graded_by = s.user_id;

alter table app.submissions force row level security;
alter table app.audit_log force row level security;

alter table app.submissions
  add constraint ck_submissions_not_self_graded check (graded_by is null or graded_by <> user_id);
comment on constraint ck_submissions_not_self_graded on app.submissions is 'Nobody grades their own submission (also an instructor enrolled in their own course).';
