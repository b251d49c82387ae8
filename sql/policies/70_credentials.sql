/*
 * Credentials: grants and RLS for certificates.
 *
 * Holders see their certificates, instructors those of their courses, admins all. Nobody
 * inserts or deletes directly: internal.issue_certificate (SECURITY DEFINER, not executable by
 * clients) issues them when an enrollment completes. Admins may revoke (UPDATE of the two
 * revocation columns only).
 */
alter table app.certificates enable row level security;
alter table app.certificates force row level security;

grant select on app.certificates to lms_api;
-- Analysts: every column but the number, a bearer value (certificate.verify names the holder by
-- it). Without SELECT on the column it can be neither read nor used in a predicate, so no
-- EXPLAIN ANALYZE prefix walk over uq_certificates_certificate_number; a holder reads their own
-- number in analytics.my_certificates.
grant select (id, user_id, course_id, enrollment_id, holder_name, course_title, issued_at, revoked_at, revoked_reason)
  on app.certificates to lms_analyst;
grant update (revoked_at, revoked_reason) on app.certificates to lms_api;

create policy select_holder_instructor_admin on app.certificates for select to lms_api, lms_analyst
  using (user_id = (select app.current_user_id())
         or course_id in (select internal.my_course_ids())
         or (select internal.is_admin()));
create policy update_admin on app.certificates for update to lms_api
  using ((select internal.is_admin()))
  with check ((select internal.is_admin()));

grant execute on function internal.certificate_json(uuid) to lms_api;

grant execute on function api.certificate_list_mine(integer, integer) to lms_api;
grant execute on function api.certificate_verify(text) to lms_api;
grant execute on function api.certificate_revoke(text, text) to lms_api;
