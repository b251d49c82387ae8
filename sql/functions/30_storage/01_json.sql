/*
 * Storage — the file JSON every file method returns (POST /files, file.list, file.delete).
 * Shared with no other domain.
 */
create or replace function internal.file_json(p_file app.files)
returns jsonb
language sql
stable
as $$
  select jsonb_build_object(
    'file_id', p_file.id, 'filename', p_file.original_filename, 'file_size', p_file.file_size,
    'content_type', p_file.content_type, 'sha256', encode(p_file.sha256, 'hex'),
    'course_id', p_file.course_id, 'assignment_id', p_file.assignment_id,
    'uploaded_by', p_file.uploaded_by, 'created_at', p_file.created_at)
$$;
comment on function internal.file_json(app.files) is
$$A file's metadata as the API returns it (never where its bytes are).
@shape file {file_id: uuid, filename: text, file_size: int, content_type: text, sha256: text?, course_id: uuid?, assignment_id: uuid?, uploaded_by: uuid, created_at: timestamptz}$$;
