/*
 * Credentials: certificates of completion. Numbers are random (not guessable) and unique;
 * a revoked certificate keeps its row with the reason, so verify can say it is not valid.
 */
set local role lms_owner;

create table app.certificates (
  id                 uuid not null default gen_random_uuid(),
  certificate_number text not null,
  user_id            uuid not null,
  course_id          uuid not null,
  enrollment_id      uuid not null,
  holder_name        text not null,
  course_title       text not null,
  issued_at          timestamptz not null default now(),
  revoked_at         timestamptz,
  revoked_reason     text,
  constraint pk_certificates primary key (id),
  constraint fk_certificates_user_id_users foreign key (user_id) references app.users (id) on delete restrict,
  constraint fk_certificates_course_id_courses foreign key (course_id) references app.courses (id) on delete restrict,
  constraint fk_certificates_enrollment_id_enrollments foreign key (enrollment_id) references app.enrollments (id) on delete restrict,
  constraint uq_certificates_certificate_number unique (certificate_number),
  constraint uq_certificates_user_id_course_id unique (user_id, course_id),
  constraint uq_certificates_enrollment_id unique (enrollment_id),
  constraint ck_certificates_number_format check (certificate_number ~ '^LMS-[0-9A-F]{4}(-[0-9A-F]{4}){3}$'),
  constraint ck_certificates_revocation check ((revoked_at is null) = (revoked_reason is null))
);
create index ix_certificates_course_id on app.certificates (course_id);
comment on table app.certificates is 'Proof that a student completed a course; issued in the completing transaction.';
comment on column app.certificates.certificate_number is 'LMS- then four groups of four upper-case hex digits (64 random bits): unique and not guessable.';
comment on column app.certificates.enrollment_id is 'The completed enrollment this certifies; one certificate per enrollment.';
comment on column app.certificates.holder_name is 'The holder''s name when issued: a later profile change does not rewrite a certificate.';
comment on column app.certificates.course_title is 'The course''s title when issued.';
comment on column app.certificates.issued_at is 'When the certificate was issued: in the transaction that completed the enrollment.';
comment on column app.certificates.revoked_at is 'When an admin revoked it (certificate.revoke); null = valid.';
comment on column app.certificates.revoked_reason is 'The reason given to certificate.revoke; set exactly when revoked_at is.';
