/*
 * Returned errors: a function that must keep its effects despite an error (a failed login is
 * counted) returns internal.error(...) instead of raising; the RPC layer raises it after the commit.
 */
create or replace function internal.error(p_code integer, p_reason text, p_message text)
returns jsonb
language sql
immutable
as $$
  select jsonb_build_object('error', jsonb_build_object('code', p_code, 'reason', p_reason, 'message', p_message))
$$;
comment on function internal.error(integer, text, text) is
  'A returned error: the RPC layer raises it as a JSON-RPC error after the transaction commits.';

/*
 * The error catalogue: every (code, reason) a client can receive, with its meaning. The one list:
 * the RPC layer publishes it in the OpenRPC document (components.errors, and per method the
 * reasons its function and the helpers it calls can raise), GET / renders it, and a test fails
 * when a function raises or returns a reason missing here. Codes: JSON-RPC's own (-32xxx) and
 * API.md's application codes; SQL raises them as SQLSTATE LM<code> with the reason in DETAIL.
 */
create or replace function internal.error_catalogue()
returns table (code integer, reason text, meaning text)
language sql
immutable
as $$
  values
    (-32700, 'invalid_json', 'The body is not JSON (or not UTF-8, or a number too long to parse).'),
    (-32600, 'not_an_object', 'A request (or batch member) is not a JSON object.'),
    (-32600, 'jsonrpc_must_be_2.0', '"jsonrpc" is not "2.0".'),
    (-32600, 'method_must_be_a_string', '"method" is missing or not a string.'),
    (-32600, 'invalid_method', 'The method name is not valid Unicode.'),
    (-32600, 'invalid_id', '"id" is not a string, a finite number or null.'),
    (-32600, 'params_must_be_object_or_array', '"params" is neither an object nor an array.'),
    (-32600, 'unknown_members', 'The request has members other than jsonrpc, method, params and id.'),
    (-32600, 'empty_batch', 'An empty batch.'),
    (-32600, 'batch_too_large', 'More calls in one batch than LMS_MAX_BATCH_SIZE.'),
    (-32600, 'too_deep', 'The body nests deeper than 64 levels.'),
    (-32600, 'body_too_large', 'The body is larger than LMS_MAX_BODY_BYTES (HTTP 413).'),
    (-32601, 'method_not_found', 'No such method.'),
    (400, 'bad_request', 'HTTP: a request aiohttp could not read (a malformed header or body).'),
    (405, 'method_not_allowed', 'HTTP: the path exists, not with this method (the Allow header lists those it takes).'),
    (400, 'http_error', 'HTTP: any other error status the HTTP layer answers itself (the status says which).'),
    (400, 'invalid_upload', 'POST /files: not multipart/form-data, no `file` part, or course_id/assignment_id after the file or not a uuid.'),
    (413, 'file_too_large', 'POST /files: the file is larger than LMS_MAX_UPLOAD_BYTES (nothing is kept).'),
    (415, 'unsupported_type', 'POST /files: the file''s leading bytes are of no type in the allow-list (LMS_UPLOAD_ALLOWED_TYPES).'),
    (416, 'range_not_satisfiable', 'GET /files/{id}: the Range starts past the end of the file (Content-Range: bytes */size).'),
    (503, 'storage_unavailable', 'GET /files/{id}: the file''s storage is not configured on this server.'),
    (415, 'type_mismatch', 'POST /files: the leading bytes contradict the Content-Type the client gave.'),
    (-32602, 'missing_param', 'A required param is missing (data.field).'),
    (-32602, 'unknown_param', 'A param the method does not take (data.field).'),
    (-32602, 'invalid_param', 'A param of the wrong type, format, length or range (data.field).'),
    (-32602, 'null_not_allowed', 'null for a field an update cannot clear (data.field).'),
    (-32602, 'too_many_params', 'More positional params than the method takes.'),
    (-32602, 'invalid_value', 'A value the database cannot take (text, number or time it cannot represent).'),
    (-32602, 'out_of_range', 'A number or time out of the range its column holds.'),
    (-32602, 'too_long', 'A value longer than its column or index holds.'),
    (-32603, 'internal_error', 'A bug: reported with a log_id only.'),
    (-32000, 'database_unavailable', 'The database is unreachable: retry later.'),
    (-32000, 'statement_timeout', 'The call took longer than LMS_STATEMENT_TIMEOUT_MS: retry later.'),
    (-32000, 'provider_unavailable', 'The payment provider did not answer or refused the request: retry later.'),
    (401, 'not_authenticated', 'The method needs a signed-in caller.'),
    (401, 'token_invalid', 'The access or refresh token is not valid (forged, malformed, unknown, or its account is gone).'),
    (401, 'token_expired', 'The access or refresh token has expired.'),
    (401, 'account_inactive', 'The token belongs to a deactivated account.'),
    (401, 'invalid_credentials', 'Wrong email or password (also for unknown and inactive accounts), or a wrong current password.'),
    (401, 'mfa_required', 'MFA is on: send totp_code.'),
    (401, 'invalid_mfa_code', 'The one-time or recovery code is not valid.'),
    (401, 'refresh_token_reused', 'A rotated refresh token was presented again: every session of the account was revoked.'),
    (403, 'forbidden', 'The caller may see this but not do this.'),
    (403, 'not_enrolled', 'The caller is not actively enrolled in the course.'),
    (403, 'not_course_owner', 'Only the course''s instructor (or an admin) may do this.'),
    (404, 'not_found', 'No such thing visible to the caller.'),
    (409, 'conflict', 'A unique constraint: the thing exists already.'),
    (409, 'in_use', 'The thing is still referenced by others.'),
    (409, 'lock_not_available', 'A row is locked by another session beyond LMS_LOCK_TIMEOUT_MS: retry.'),
    (409, 'serialization_failure', 'A concurrent change: retry.'),
    (409, 'deadlock_detected', 'A concurrent change: retry.'),
    (409, 'email_taken', 'An account with this email exists.'),
    (409, 'already_enrolled', 'The caller is actively enrolled in the course already (order.create).'),
    (409, 'has_enrollments', 'The course has enrollments and cannot be deleted.'),
    (409, 'already_submitted', 'The attempt was submitted already.'),
    (409, 'already_graded', 'A graded submission cannot be replaced (nor its file deleted by the student).'),
    (409, 'upload_expired', 'POST /files took longer than the upload grace and was cleaned up: upload again.'),
    (409, 'mfa_already_enabled', 'MFA is on already.'),
    (409, 'mfa_not_enabled', 'MFA is not on.'),
    (409, 'mfa_not_set_up', 'Call auth.mfa_setup first.'),
    (422, 'constraint_violation', 'A table CHECK refused the value.'),
    (422, 'missing_value', 'A required column got null.'),
    (422, 'weak_password', 'The password is too short, contains the email or is too common.'),
    (422, 'invalid_email', 'Not an email address.'),
    (422, 'invalid_full_name', 'The name is empty or too long.'),
    (422, 'invalid_metadata', 'metadata is not a JSON object or too large.'),
    (422, 'invalid_role', 'Not one of student, instructor, admin.'),
    (422, 'invalid_token', 'The email or reset token is unknown, used or expired.'),
    (422, 'cannot_change_self', 'Admins cannot demote or deactivate themselves.'),
    (422, 'invalid_limit', 'limit out of its documented range.'),
    (422, 'invalid_event_type', 'An event type that does not exist (event.list, event.subscribe, webhook.create/update types/events).'),
    (422, 'invalid_url', 'A webhook URL that is not http(s)://host… or carries user:password.'),
    (422, 'invalid_status', 'A status filter that is not one of the listed values.'),
    (422, 'invalid_offset', 'offset below 0.'),
    (422, 'invalid_argument', 'An argument out of range (upkeep functions).'),
    (422, 'instructor_required', 'The course owner must be an active instructor.'),
    (422, 'not_an_instructor', 'The user is not an instructor.'),
    (422, 'course_not_published', 'The course is not published.'),
    (422, 'no_published_lessons', 'A course needs a published lesson to be published.'),
    (422, 'last_published_lesson', 'The last published lesson of a published course stays: unpublish the course first.'),
    (422, 'lesson_not_published', 'The lesson is not published.'),
    (422, 'lesson_not_in_course', 'The lesson belongs to another course.'),
    (422, 'invalid_lesson_order', 'lesson_order out of range.'),
    (422, 'invalid_order', 'lesson_order/question_order out of range.'),
    (422, 'invalid_permutation', 'lesson_ids is not a permutation of the course''s lessons.'),
    (422, 'payment_required', 'A paid course is enrolled through a completed order.'),
    (422, 'course_is_free', 'A free course is not bought: enroll with enrollment.enroll.'),
    (422, 'order_not_refundable', 'Only a completed, paid order can be refunded.'),
    (422, 'order_not_cancelable', 'Only a pending order can be canceled (order.cancel).'),
    (422, 'own_course', 'An instructor does not buy their own course (order.create).'),
    (422, 'invalid_event', 'A payment provider event without id, type or data.object (the webhook answers HTTP 400).'),
    (422, 'course_not_completed', 'The course is not completed (no certificate).'),
    (422, 'reason_required', 'A reason is required.'),
    (422, 'quiz_not_published', 'The quiz is not published.'),
    (422, 'quiz_has_no_questions', 'A quiz needs a question or a pool to be published.'),
    (422, 'invalid_question_type', 'Not one of multiple_choice, true_false, short_answer.'),
    (422, 'invalid_options', 'A choice question (multiple_choice, multiple_answer) needs at least two distinct options; other types have none.'),
    (422, 'invalid_correct_answer', 'The correct answer is not among the options (or not true/false).'),
    (422, 'invalid_points', 'Points out of range.'),
    (422, 'points_below_grade', 'Points cannot go below a grade already given.'),
    (422, 'attempt_limit_reached', 'No attempts left for this quiz.'),
    (422, 'attempt_expired', 'The time ran out; the attempt was closed with score 0.'),
    (422, 'invalid_answer', 'An answer for a question not in the quiz, or of the wrong shape.'),
    (422, 'deadline_passed', 'The due date passed and late submissions are not allowed.'),
    (422, 'empty_submission', 'Give content or a file.'),
    (422, 'one_target_required', 'Give exactly one target: a file goes to one of course_id and assignment_id, an override to one of quiz_id, assignment_id and module_id.'),
    (422, 'quota_exceeded', 'The caller''s uploads would exceed their storage quota (LMS_FILE_QUOTA_BYTES).'),
    (422, 'invalid_grade', 'The grade is below 0 or above the points.'),
    (422, 'metadata_too_large', 'Profile metadata is limited to 16 KiB as JSON text.'),
    (423, 'account_locked', 'Too many failed attempts from this address: data.retry_after seconds.'),
    (422, 'quiz_closed', 'The quiz closed for the caller (their override''s available_until): no attempt starts.'),
    (422, 'field_not_for_target', 'An override field of another kind of target: extra_attempts, time_limit_minutes and available_until are for a quiz, due_date and waive_late_penalty for an assignment, unlock_at for a module.'),
    (423, 'module_locked', 'The item belongs to a module not open to the caller yet: data.unlocks_at (when it opens by date, or null) and data.requires (the prerequisite module ids still to complete).'),
    (422, 'prerequisite_cycle', 'The prerequisites would form a cycle of modules.'),
    (422, 'invalid_prerequisite', 'A prerequisite is not a module of the same course.'),
    (422, 'module_not_in_course', 'The module is not one of the item''s course.'),
    (422, 'invalid_module_order', 'module_ids must list every module of the course exactly once.'),
    (409, 'module_not_empty', 'The module still holds lessons, quizzes or assignments: move or delete them first.'),
    (422, 'pool_too_large', 'A quiz''s pools ask a bank for more questions than it has (at quiz.publish, quiz.add_pool on a published quiz, attempt.start).'),
    (422, 'invalid_tolerance', 'tolerance is for numeric questions and at least 0.'),
    (409, 'question_in_use', 'Attempts drew this bank question (only its key may change: add a new question), or essay answers to it were graded or wait for a grade.'),
    (422, 'not_manually_graded', 'Only essay answers are graded by a person; this one was graded automatically.'),
    (422, 'not_auto_graded', 'An essay question is graded by a person (attempt.grade_answer), not regraded.'),
    (429, 'rate_limited', 'Over a rate limit: retry after data.retry_after seconds (HTTP Retry-After when the whole request was refused).'),
    (429, 'export_in_progress', 'One export per user at a time: yours is still under way.'),
    (429, 'too_many_subscriptions', 'At most 50 live event subscriptions per user (per server process).'),
    (429, 'too_many_sockets', 'Too many open GET /ws sockets for this user (LMS_WS_MAX_SOCKETS_PER_USER) or address (LMS_WS_MAX_SOCKETS_PER_ADDRESS), per server process.')
$$;
comment on function internal.error_catalogue() is
  'Every error a client can receive: (code, reason, meaning). Read by the RPC layer (OpenRPC, GET /) and checked by the test suite against every raise site.';
