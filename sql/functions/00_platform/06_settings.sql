/*
 * Platform — policy settings (app.settings): one value per limit, the same for every process.
 */
create or replace function internal.setting(p_name text)
returns bigint
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_value bigint;
begin
  select s.value into v_value from app.settings s where s.name = p_name;
  if v_value is null then
    raise exception 'no setting % in app.settings', p_name;  -- a bug: every name has its row
  end if;
  return v_value;
end
$$;
comment on function internal.setting(text) is
  'The value of one policy setting (app.settings), e.g. internal.setting(''file_quota_bytes''): what the rules enforce, whichever process asks. SECURITY DEFINER: readable from every role''s functions (lms_api''s uploads, lms_definer''s webhook delivery, lms_owner''s upkeep) without granting each the table.';
