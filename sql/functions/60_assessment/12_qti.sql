/*
 * Assessment — QTI packages in and out (issue 33 §3).
 *
 * PostgreSQL reads no zip, so the server reads and writes the XML (rpc/workers/qti.py); every rule stays
 * here. quiz.import_qti is two calls as the same caller: api.quiz_import_qti decides whether the caller
 * may import that uploaded file into that course and says where its bytes are; the server maps the
 * package's items to questions; internal.quiz_import_qti_finish writes the quiz (or bank) and every
 * question through quiz.add_question / bank.add_question — the same validation as a client's — in one
 * transaction. An item the database refuses is listed with the reason, never half-written.
 */

create or replace function api.quiz_import_qti(course_id uuid, file_id uuid, target text default 'quiz',
                                               title text default null)
returns jsonb
language plpgsql
stable
as $$
declare
  v_file app.files;
begin
  perform internal.require_course_manager(quiz_import_qti.course_id);
  if quiz_import_qti.target not in ('quiz', 'bank') then
    raise exception 'target is quiz or bank' using errcode = 'LM422', detail = 'invalid_target', hint = 'target';
  end if;
  select f.* into v_file from app.files f where f.id = quiz_import_qti.file_id;  -- under RLS
  if v_file.id is null or v_file.course_id is distinct from quiz_import_qti.course_id then
    raise exception 'file not found among this course''s material' using errcode = 'LM404', detail = 'not_found',
      hint = 'file_id';
  end if;
  return jsonb_build_object('course_id', v_file.course_id, 'file_id', v_file.id, 'target', quiz_import_qti.target,
                            'title', nullif(btrim(quiz_import_qti.title), ''),
                            'filename', v_file.original_filename, 'file_size', v_file.file_size,
                            'storage_provider', v_file.storage_provider, 'storage_path', v_file.storage_path);
end
$$;
comment on function api.quiz_import_qti(uuid, uuid, text, text) is
$$Import a QTI package (a zip uploaded with POST /files as material of the course, or a single item's XML)
as a new draft quiz (target quiz) or question bank (target bank) of the course (its instructor or an
admin). Read: QTI 1.2 as Canvas and text2qti write it, QTI 2.1 and QTI 3.0 — multiple choice, multiple
answers, true/false, short answer, numeric (with its margin as tolerance) and essay (a scorer rubric
block as grading guidance). Items of other kinds (matching, ordering, fill in several blanks, several
interactions in one item…), and items the database refuses, are listed in unsupported with the reason;
simplifications (a second accepted answer, fractional points) in warnings. The title defaults to the
package's, else the file name. Hostile packages are refused as a whole: 422 qti_unsafe (DTDs or
entities, paths outside the archive, absurd nesting), 422 qti_too_large (a member over 10 MiB inflated,
the archive over 100 MiB, over 1,000 items), 422 qti_invalid (not a QTI package), 422 qti_no_questions.
Nothing is created unless at least one question is.
@param target minLength=4 maxLength=4
@param title minLength=1 maxLength=200
@result {quiz_id: uuid?, bank_id: uuid?, course_id: uuid, target: text, title: text, imported: int,
  questions: {item: text?, question_id: uuid, question_type: text}[],
  unsupported: {item: text?, title: text?, reason: text}[], warnings: text[]}$$;

create or replace function internal.quiz_import_qti_finish(
  p_course_id uuid, p_target text, p_title text, p_description text, p_items jsonb, p_unsupported jsonb,
  p_warnings jsonb)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_owner       uuid;
  v_item        jsonb;
  v_question    jsonb;
  v_imported    jsonb := '[]';
  v_unsupported jsonb := coalesce(p_unsupported, '[]');
  v_message     text;
  v_reason      text;
begin
  perform internal.require_course_manager(p_course_id);
  if jsonb_typeof(p_items) is distinct from 'array' or jsonb_array_length(p_items) > 1000 then
    raise exception 'at most 1000 items' using errcode = 'LM422', detail = 'qti_too_large', hint = 'file_id';
  end if;
  if p_target = 'bank' then
    v_owner := (api.bank_create(p_course_id, p_title) ->> 'id')::uuid;
  else
    v_owner := (api.quiz_create(p_course_id, p_title, p_description) ->> 'id')::uuid;
  end if;
  for v_item in select i.value from jsonb_array_elements(p_items) i loop
    begin
      if p_target = 'bank' then
        v_question := api.bank_add_question(
          v_owner, v_item ->> 'question_text', v_item ->> 'question_type', v_item -> 'correct_answer',
          nullif(v_item -> 'options', 'null'), (v_item ->> 'points')::integer, (v_item ->> 'tolerance')::numeric);
      else
        v_question := api.quiz_add_question(
          v_owner, v_item ->> 'question_text', v_item ->> 'question_type', v_item -> 'correct_answer',
          nullif(v_item -> 'options', 'null'), (v_item ->> 'points')::integer, null, (v_item ->> 'tolerance')::numeric);
      end if;
      v_imported := v_imported || jsonb_build_object('item', v_item ->> 'item', 'question_id', v_question ->> 'id',
                                                     'question_type', v_question ->> 'question_type');
    exception
      when sqlstate 'LM422' or check_violation or invalid_text_representation or numeric_value_out_of_range then
        get stacked diagnostics v_message = message_text, v_reason = pg_exception_detail;
        v_unsupported := v_unsupported || jsonb_build_object(
          'item', v_item ->> 'item', 'title', v_item ->> 'title',
          'reason', 'refused: ' || coalesce(nullif(v_reason, '') || ' — ', '') || v_message);
    end;
  end loop;
  if jsonb_array_length(v_imported) = 0 then
    raise exception 'the package holds no question this LMS can import (% unsupported)',
      jsonb_array_length(v_unsupported)
      using errcode = 'LM422', detail = 'qti_no_questions', hint = 'file_id';
  end if;
  return jsonb_build_object(
    'quiz_id', case when p_target = 'quiz' then v_owner end, 'bank_id', case when p_target = 'bank' then v_owner end,
    'course_id', p_course_id, 'target', p_target, 'title', p_title,
    'imported', jsonb_array_length(v_imported), 'questions', v_imported,
    'unsupported', v_unsupported, 'warnings', coalesce(p_warnings, '[]'));
end
$$;
comment on function internal.quiz_import_qti_finish(uuid, text, text, text, jsonb, jsonb, jsonb) is
  'quiz.import_qti''s second call (the server, as the same caller, after reading the package): the quiz or bank and each mapped question through quiz.add_question / bank.add_question (each in a subtransaction: a question the database refuses is listed in unsupported with its reason); 422 qti_no_questions when none is written, and then nothing is.';

create or replace function internal.qti_export(p_kind text, p_id uuid)
returns jsonb
language plpgsql
stable
as $$
declare
  v_quiz app.quizzes;
  v_bank app.question_banks;
begin
  perform internal.require_user();
  if p_kind = 'bank' then
    select b.* into v_bank from app.question_banks b where b.id = p_id;  -- under RLS
    if v_bank.id is null then
      raise exception 'bank not found' using errcode = 'LM404', detail = 'not_found', hint = 'bank_id';
    end if;
    perform internal.require_course_manager(v_bank.course_id);
    return jsonb_build_object('id', v_bank.id, 'title', v_bank.title, 'description', null, 'questions',
      (select coalesce(jsonb_agg(q.value order by q.ordinality), '[]')
       from jsonb_array_elements(internal.bank_questions(v_bank.id)) with ordinality q
       where not coalesce((q.value ->> 'retired')::boolean, false)));
  end if;
  select z.* into v_quiz from app.quizzes z where z.id = p_id;  -- under RLS
  if v_quiz.id is null then
    raise exception 'quiz not found' using errcode = 'LM404', detail = 'not_found', hint = 'quiz_id';
  end if;
  perform internal.require_course_manager(v_quiz.course_id);
  return jsonb_build_object('id', v_quiz.id, 'title', v_quiz.title, 'description', v_quiz.description,
                            'questions', internal.quiz_questions(v_quiz.id),
                            'pools', (select count(*) from app.quiz_pools p where p.quiz_id = v_quiz.id));
end
$$;
comment on function internal.qti_export(text, uuid) is
  'GET /export/quizzes/{id}/qti.zip and /export/banks/{id}/qti.zip: the quiz''s fixed questions (or the bank''s current ones) with their keys, for the course''s instructor or an admin (401/403/404 otherwise); pools counts the quiz''s pools, whose drawn questions are not part of the package.';
