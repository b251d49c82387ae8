"""Certificates record the holder's name and the course title as they were when issued."""

from __future__ import annotations


async def test_verify_shows_the_name_at_issue_time_not_a_later_rename(rpc, users, db):
    student, teacher = await users.make(full_name="Ada Lovelace"), await users.make("instructor")
    (course_id,) = db.execute("insert into app.courses (instructor_id, title) values (%s, 'Analytical Engines') "
                              "returning id", [teacher.id])[0]
    (enrollment_id,) = db.execute("insert into app.enrollments (user_id, course_id, progress_percentage, completed_at) "
                                  "values (%s, %s, 100, now()) returning id", [student.id, course_id])[0]
    (cert_id,) = db.execute("select internal.issue_certificate(%s)", [enrollment_id])[0]
    (number,) = db.execute("select certificate_number from app.certificates where id = %s", [cert_id])[0]

    await rpc.ok("user.update_profile", {"full_name": "Jane Doe"}, student.token)
    db.execute("update app.courses set title = 'Something else' where id = %s", [course_id])

    verified = await rpc.ok("certificate.verify", {"certificate_number": number})
    assert verified["valid"] is True
    assert (verified["holder_name"], verified["course_title"]) == ("Ada Lovelace", "Analytical Engines")
    mine = await rpc.ok("certificate.list_mine", {}, student.token)
    assert [c["holder_name"] for c in mine] == ["Ada Lovelace"]
