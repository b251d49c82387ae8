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


async def test_certificate_pdf_renders_valid_and_revoked_and_404s_unknown(rpc, users, db, tmp_path):
    import shutil
    import subprocess

    student, teacher, admin = await users.make(full_name="Grace Hopper"), await users.make("instructor"), \
        await users.make("admin")
    (course_id,) = db.execute("insert into app.courses (instructor_id, title) values (%s, 'Compilers') "
                              "returning id", [teacher.id])[0]
    (enrollment_id,) = db.execute("insert into app.enrollments (user_id, course_id, progress_percentage, completed_at) "
                                  "values (%s, %s, 100, now()) returning id", [student.id, course_id])[0]
    db.execute("select internal.issue_certificate(%s)", [enrollment_id])
    (number,) = db.execute("select certificate_number from app.certificates")[0]

    assert shutil.which("pdftotext"), "pdftotext (poppler-utils) reads the PDF back: scripts/ensure-test-deps"
    status, body = await rpc.get(f"/certificates/{number}.pdf")
    assert status == 200 and body.startswith(b"%PDF-")
    (tmp_path / "c.pdf").write_bytes(body)
    text = subprocess.run(["pdftotext", str(tmp_path / "c.pdf"), "-"], capture_output=True, text=True).stdout
    assert "Grace Hopper" in text and "Compilers" in text and number in text and "REVOKED" not in text

    await rpc.ok("certificate.revoke", {"certificate_number": number, "reason": "issued in error"}, admin.token)
    status, revoked = await rpc.get(f"/certificates/{number}.pdf")
    assert status == 200
    (tmp_path / "r.pdf").write_bytes(revoked)
    text = subprocess.run(["pdftotext", str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True).stdout
    assert "REVOKED" in text and "Grace Hopper" in text

    assert (await rpc.get("/certificates/LMS-0000-0000-0000-0000.pdf"))[0] == 404
    assert (await rpc.get("/certificates/not-a-number.pdf"))[0] == 404
