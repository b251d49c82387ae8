/*
 * Credentials functions: issuing, listing, verifying and revoking certificates.
 *
 * Certificates are issued only by internal.refresh_progress (through issue_certificate) in the
 * transaction that completes an enrollment; no client role can insert them. Verification is
 * public and reveals only holder name, course title, issue date and validity.
 */

create or replace function internal.issue_certificate(p_enrollment_id uuid)
returns uuid
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_enrollment app.enrollments;
  v_id         uuid;
  v_hex        text;
  v_tries      integer := 0;
begin
  select e.* into v_enrollment from app.enrollments e where e.id = p_enrollment_id;
  if not found then
    raise exception 'enrollment not found' using errcode = 'LM404', detail = 'not_found';
  end if;
  if v_enrollment.completed_at is null then
    raise exception 'the course is not completed' using errcode = 'LM422', detail = 'course_not_completed';
  end if;
  select c.id into v_id from app.certificates c where c.enrollment_id = p_enrollment_id;
  while v_id is null loop
    v_tries := v_tries + 1;
    if v_tries > 5 then
      raise exception 'could not draw a unique certificate number' using errcode = 'LM409', detail = 'conflict';
    end if;
    v_hex := upper(encode(public.gen_random_bytes(8), 'hex'));
    begin
      insert into app.certificates as c (certificate_number, user_id, course_id, enrollment_id, holder_name,
                                         course_title, issued_at)
      values (format('LMS-%s-%s-%s-%s', substr(v_hex, 1, 4), substr(v_hex, 5, 4), substr(v_hex, 9, 4),
                     substr(v_hex, 13, 4)),
              v_enrollment.user_id, v_enrollment.course_id, v_enrollment.id,
              (select u.full_name from app.users u where u.id = v_enrollment.user_id),
              (select co.title from app.courses co where co.id = v_enrollment.course_id),
              v_enrollment.completed_at)
      on conflict on constraint uq_certificates_enrollment_id do nothing
      returning c.id into v_id;
      if v_id is null then  -- issued concurrently
        select c.id into v_id from app.certificates c where c.enrollment_id = p_enrollment_id;
      end if;
    exception when unique_violation then
      null;  -- a number collision (2^-64): draw another
    end;
  end loop;
  return v_id;
end
$$;
comment on function internal.issue_certificate(uuid) is
  'Issue the certificate of a completed enrollment (idempotent: returns the existing one). Number: LMS- and four groups of four hex digits from 64 random bits. SECURITY DEFINER: no client role may insert certificates; not executable by clients (called by internal.refresh_progress).';

create or replace function internal.certificate_json(p_certificate_id uuid)
returns jsonb
language plpgsql  -- not SQL: a SQL function that is not inlined is planned again at every call
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return (select jsonb_build_object(
              'id', c.id, 'certificate_number', c.certificate_number, 'user_id', c.user_id,
              'holder_name', c.holder_name, 'course_id', c.course_id, 'course_title', c.course_title,
              'enrollment_id', c.enrollment_id, 'issued_at', c.issued_at, 'valid', c.revoked_at is null,
              'revoked_at', c.revoked_at, 'revoked_reason', c.revoked_reason)
            from app.certificates c
            where c.id = p_certificate_id
              and (c.user_id = app.current_user_id() or internal.can_manage_course(c.course_id)));
end
$$;
comment on function internal.certificate_json(uuid) is
  'A certificate with holder name and course title as issued, for its holder, the course''s instructor and admins (null otherwise). SECURITY DEFINER: certificates of others'' courses are not visible to the caller through RLS.
@shape certificate {id: uuid, certificate_number: text, user_id: uuid, holder_name: text, course_id: uuid,
  course_title: text, enrollment_id: uuid, issued_at: timestamptz, valid: bool, revoked_at: timestamptz?,
  revoked_reason: text?}';

create or replace function api.certificate_list_mine("limit" integer default 50, "offset" integer default 0)
returns jsonb
language plpgsql
stable
as $$
declare
  v_user_id uuid := internal.require_user();
begin
  perform internal.check_page(certificate_list_mine."limit", certificate_list_mine."offset", 100);
  return coalesce((
    select jsonb_agg(internal.certificate_json(x.id) order by x.issued_at desc, x.id)
    from (select c.id, c.issued_at from app.certificates c where c.user_id = v_user_id
          order by c.issued_at desc, c.id
          limit coalesce(certificate_list_mine."limit", 50) offset coalesce(certificate_list_mine."offset", 0)) x), '[]'::jsonb);
end
$$;
comment on function api.certificate_list_mine(integer, integer) is
  'Your certificates, newest first (revoked ones show valid: false).
@result certificate[]
@param limit minimum=1 maximum=100
@param offset minimum=0
Ordered by issued_at descending, then id. limit: default 50, at most 100; offset: default 0.';

create or replace function api.certificate_verify(certificate_number text)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_result jsonb;
begin
  select jsonb_build_object(
           'certificate_number', c.certificate_number, 'valid', c.revoked_at is null,
           'holder_name', c.holder_name, 'course_title', c.course_title, 'issued_at', c.issued_at,
           'revoked_at', c.revoked_at)
  into v_result
  from app.certificates c
  where c.certificate_number = upper(btrim(certificate_verify.certificate_number));
  if v_result is null then
    raise exception 'no certificate with this number' using errcode = 'LM404', detail = 'not_found',
      hint = 'certificate_number';
  end if;
  return v_result;
end
$$;
comment on function api.certificate_verify(text) is
  'Check a certificate number → {certificate_number, valid, holder_name, course_title, issued_at, revoked_at}.
@shape certificate_status {certificate_number: text, valid: bool, holder_name: text, course_title: text,
  issued_at: timestamptz, revoked_at: timestamptz?}
@result certificate_status
@public
Unknown numbers give 404. A revoked certificate is reported with valid: false. SECURITY DEFINER: anyone may verify, and sees only these fields.
@param certificate_number maxLength=64';

create or replace function api.certificate_revoke(certificate_number text, reason text)
returns jsonb
language plpgsql
volatile
as $$
declare
  v_id uuid;
begin
  perform internal.require_role('admin');
  if nullif(btrim(certificate_revoke.reason), '') is null then
    raise exception 'a reason is required' using errcode = 'LM422', detail = 'reason_required', hint = 'reason';
  end if;
  select c.id into v_id from app.certificates c
  where c.certificate_number = upper(btrim(certificate_revoke.certificate_number))
  for update;
  if v_id is null then
    raise exception 'no certificate with this number' using errcode = 'LM404', detail = 'not_found',
      hint = 'certificate_number';
  end if;
  update app.certificates c set revoked_at = now(), revoked_reason = btrim(certificate_revoke.reason)
  where c.id = v_id and c.revoked_at is null;
  if found then
    perform internal.audit('certificate.revoked', 'certificate', v_id,
                           jsonb_build_object('reason', btrim(certificate_revoke.reason)));
  end if;
  return internal.certificate_json(v_id);
end
$$;
comment on function api.certificate_revoke(text, text) is
  'Revoke a certificate (admin) with a reason; verify then reports valid: false. Idempotent (the first reason stays).
@result certificate
@param certificate_number maxLength=64
@param reason maxLength=1000';
