"""A course's instructor loses control of it the moment they stop being an active instructor:
demoted (admin.set_role) or deactivated (admin.set_active) — by RPC and by direct SQL."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("change", ["demote", "deactivate"])
async def test_former_instructor_cannot_manage_their_course(rpc, users, db, change):
    admin, teacher, student = await users.make("admin"), await users.make("instructor"), await users.make()
    course = await rpc.ok("course.create", {"title": "Owned", "price_cents": 0}, teacher.token)
    lesson = await rpc.ok("lesson.create", {"course_id": course["id"], "title": "L1"}, teacher.token)
    await rpc.ok("lesson.publish", {"lesson_id": lesson["id"]}, teacher.token)
    await rpc.ok("course.publish", {"course_id": course["id"]}, teacher.token)
    await rpc.ok("enrollment.enroll", {"course_id": course["id"]}, student.token)
    assert len(await rpc.ok("enrollment.list_for_course", {"course_id": course["id"]}, teacher.token)) == 1

    if change == "demote":
        await rpc.ok("admin.set_role", {"user_id": teacher.id, "role": "student"}, admin.token)
    else:
        await rpc.ok("admin.set_active", {"user_id": teacher.id, "is_active": False}, admin.token)

    # demoted: no longer the course's instructor (403); deactivated: the token's user is inactive (401)
    refused = (403, "not_course_owner") if change == "demote" else (401, "account_inactive")
    for method, params in (("course.update", {"course_id": course["id"], "title": "hijacked"}),
                           ("enrollment.list_for_course", {"course_id": course["id"]}),
                           ("gradebook.course", {"course_id": course["id"]})):
        err = await rpc.error(method, params, teacher.token)
        assert (err["code"], err["data"]["reason"]) == refused, (method, err)
    assert db.execute("select title from app.courses where id = %s", [course["id"]]) == [("Owned",)]

    # Direct SQL through the same identity mechanism: RLS refuses too.
    with db.connect("lms_authenticator") as conn:
        with conn.transaction():
            conn.execute("select set_config('role', 'lms_api', true), set_config('lms.user_id', %s, true)",
                         [teacher.id])
            changed = conn.execute("update app.courses set title = 'hijacked' where id = %s", [course["id"]])
            assert changed.rowcount == 0
            assert conn.execute("select count(*) from app.enrollments where course_id = %s",
                                [course["id"]]).fetchone() == (0,)
    # An admin still manages it.
    await rpc.ok("course.update", {"course_id": course["id"], "title": "Renamed by admin"}, admin.token)
