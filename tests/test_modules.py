"""Modules (issue 28 §1): a course in parts, released by date, by days since enrolment and behind
prerequisite modules — decided in the database at the time of each call, the same for the API,
course.get and analysts; items of a locked module refused with 423 module_locked."""

from __future__ import annotations

import asyncio
import datetime as dt

from tests.helpers.assessment import make_quiz, tf
from tests.helpers.catalog import make_course


def later(days: float = 7) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat()


async def two_module_course(rpc, users):
    """Module 1 (lesson a, a quiz) open; module 2 (lesson b, an assignment) behind module 1."""
    ina = await users.make("instructor")
    course_id, (a, b) = await make_course(rpc, ina, lessons=2)
    m1 = await rpc.ok("module.create", {"course_id": course_id, "title": "Week 1"}, ina.token)
    m2 = await rpc.ok("module.create", {"course_id": course_id, "title": "Week 2",
                                        "prerequisite_module_ids": [m1["id"]]}, ina.token)
    await rpc.ok("module.move_item", {"module_id": m1["id"], "item_type": "lesson", "item_id": a}, ina.token)
    await rpc.ok("lesson.update", {"lesson_id": b, "module_id": m2["id"]}, ina.token)
    asg = await rpc.ok("assignment.create", {"course_id": course_id, "title": "Essay", "module_id": m2["id"]},
                       ina.token)
    for m in (m1, m2):
        await rpc.ok("module.publish", {"module_id": m["id"]}, ina.token)
    return ina, course_id, m1["id"], m2["id"], a, b, asg["id"]


async def test_a_prerequisite_locks_every_entry_point_until_it_is_completed(rpc, users, db):
    ina, course_id, m1, m2, a, b, asg = await two_module_course(rpc, users)
    stu = await users.make()
    await rpc.ok("enrollment.enroll", {"course_id": course_id}, stu.token)

    modules = {m["id"]: m for m in (await rpc.ok("course.get", {"course_id": course_id}, stu.token))["modules"]}
    assert (modules[m1]["locked"], modules[m2]["locked"]) == (False, True)
    assert modules[m2]["requires"] == [m1] and modules[m2]["unlocks_at"] is None
    listed = {m["id"]: m for m in await rpc.ok("module.list", {"course_id": course_id}, stu.token)}
    assert [i["item_id"] for i in listed[m2]["items"]] == [b, asg] and "items" not in modules[m2]
    assert {(m["locked"], tuple(m["requires"])) for m in listed.values()} \
        == {(m["locked"], tuple(m["requires"])) for m in modules.values()}, "module.list and course.get agree"

    for method, params in (("lesson.get", {"lesson_id": b}), ("lesson.complete", {"lesson_id": b}),
                           ("submission.submit", {"assignment_id": asg, "content": "early"})):
        error = await rpc.error(method, params, stu.token)
        assert (error["code"], error["data"]["reason"]) == (423, "module_locked"), (method, error)
        assert error["data"]["requires"] == [m1] and error["data"]["unlocks_at"] is None
    assert db.execute("select count(*) from app.submissions where assignment_id = %s", [asg]) == [(0,)]
    assert (await rpc.ok("lesson.get", {"lesson_id": b}, ina.token))["id"] == b, "the instructor is never locked out"

    await rpc.ok("lesson.complete", {"lesson_id": a}, stu.token)  # module 1 done: module 2 opens at once
    assert (await rpc.ok("lesson.get", {"lesson_id": b}, stu.token))["id"] == b
    modules = {m["id"]: m for m in await rpc.ok("module.list", {"course_id": course_id}, stu.token)}
    assert modules[m1]["completed"] and not modules[m2]["locked"] and modules[m2]["requires"] == []


async def test_a_new_prerequisite_or_unlock_date_acts_at_once(rpc, users):
    ina, course_id, m1, m2, a, b, asg = await two_module_course(rpc, users)
    stu = await users.make()
    await rpc.ok("enrollment.enroll", {"course_id": course_id}, stu.token)
    await rpc.ok("module.update", {"module_id": m2, "prerequisite_module_ids": None}, ina.token)
    assert (await rpc.ok("lesson.get", {"lesson_id": b}, stu.token))["id"] == b
    when = later(3)
    await rpc.ok("module.update", {"module_id": m2, "unlock_at": when}, ina.token)
    error = await rpc.error("lesson.get", {"lesson_id": b}, stu.token)
    assert error["data"]["reason"] == "module_locked" and error["data"]["requires"] == []
    assert dt.datetime.fromisoformat(error["data"]["unlocks_at"]) == dt.datetime.fromisoformat(when)
    await rpc.ok("module.update", {"module_id": m2, "unlock_at": None}, ina.token)
    assert (await rpc.ok("lesson.get", {"lesson_id": b}, stu.token))["id"] == b
    await rpc.ok("module.unpublish", {"module_id": m2}, ina.token)  # a draft module: locked, no date, no requirement
    error = await rpc.error("lesson.get", {"lesson_id": b}, stu.token)
    assert (error["code"], error["data"]["unlocks_at"], error["data"]["requires"]) == (423, None, [])


async def test_drip_release_counts_days_from_each_learners_enrolment(rpc, users, db):
    ina, course_id, m1, m2, a, b, asg = await two_module_course(rpc, users)
    await rpc.ok("module.update", {"module_id": m2, "prerequisite_module_ids": None, "unlock_after_days": 7},
                 ina.token)
    early, late = await users.make(), await users.make()
    for s in (early, late):
        await rpc.ok("enrollment.enroll", {"course_id": course_id}, s.token)
    db.execute("update app.enrollments set enrolled_at = now() - interval '8 days' where user_id = %s", [early.id])
    assert (await rpc.ok("lesson.get", {"lesson_id": b}, early.token))["id"] == b
    error = await rpc.error("lesson.get", {"lesson_id": b}, late.token)
    opens = dt.datetime.fromisoformat(error["data"]["unlocks_at"])
    assert dt.timedelta(days=6, hours=23) < opens - dt.datetime.now(dt.UTC) <= dt.timedelta(days=7)
    # unlock_at and unlock_after_days together: the later of the two.
    await rpc.ok("module.update", {"module_id": m2, "unlock_at": later(30)}, ina.token)
    assert (await rpc.error("lesson.get", {"lesson_id": b}, early.token))["data"]["reason"] == "module_locked"


async def test_a_quiz_of_a_locked_module_cannot_be_started_but_a_started_attempt_can_be_submitted(rpc, users, db):
    ina, course_id, m1, m2, a, b, asg = await two_module_course(rpc, users)
    quiz = await make_quiz(rpc, ina.token, course_id, [tf()])
    await rpc.ok("module.move_item", {"module_id": m2, "item_type": "quiz", "item_id": quiz.id, "position": 1},
                 ina.token)
    assert [i["item_type"] for i in (await rpc.ok("module.list", {"course_id": course_id}, ina.token))[1]["items"]] \
        == ["quiz", "lesson", "assignment"]
    stu = await users.make()
    await rpc.ok("enrollment.enroll", {"course_id": course_id}, stu.token)
    error = await rpc.error("attempt.start", {"quiz_id": quiz.id}, stu.token)
    assert (error["code"], error["data"]["reason"]) == (423, "module_locked")
    await rpc.ok("lesson.complete", {"lesson_id": a}, stu.token)
    attempt = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, stu.token)
    await rpc.ok("module.update", {"module_id": m2, "unlock_at": later(5)}, ina.token)  # locked again
    result = await rpc.ok("attempt.submit", {"attempt_id": attempt["attempt_id"],
                                             "answers": {quiz.question_ids[0]: "true"}}, stu.token)
    assert result["passed"] is True, "work begun under an open module is not lost"
    assert (await rpc.error("attempt.start", {"quiz_id": quiz.id}, stu.token))["data"]["reason"] == "module_locked"


async def test_prerequisites_stay_acyclic_and_inside_the_course(rpc, users):
    ina = await users.make("instructor")
    course_id, _ = await make_course(rpc, ina, lessons=1)
    other_id, _ = await make_course(rpc, ina, lessons=1)
    m = [(await rpc.ok("module.create", {"course_id": course_id, "title": f"M{i}"}, ina.token))["id"] for i in range(3)]
    foreign = (await rpc.ok("module.create", {"course_id": other_id, "title": "X"}, ina.token))["id"]
    await rpc.ok("module.update", {"module_id": m[1], "prerequisite_module_ids": [m[0]]}, ina.token)
    await rpc.ok("module.update", {"module_id": m[2], "prerequisite_module_ids": [m[1]]}, ina.token)
    for module, prereqs, reason in ((m[0], [m[2]], "prerequisite_cycle"), (m[0], [m[0]], "prerequisite_cycle"),
                                    (m[0], [foreign], "invalid_prerequisite")):
        error = await rpc.error("module.update", {"module_id": module, "prerequisite_module_ids": prereqs}, ina.token)
        assert (error["code"], error["data"]["reason"]) == (422, reason)
    error = await rpc.error("module.create", {"course_id": course_id, "title": "Y", "unlock_after_days": -1},
                            ina.token)
    assert (error["code"], error["data"]["field"]) == (-32602, "unlock_after_days")
    error = await rpc.error("module.create", {"course_id": course_id, "title": "Y", "requirement": "most"}, ina.token)
    assert (error["code"], error["data"]["field"]) == (-32602, "requirement")


async def test_a_cycle_built_by_two_concurrent_calls_is_refused_to_one_of_them(rpc, users, db):
    ina = await users.make("instructor")
    for _ in range(5):
        course_id, _ = await make_course(rpc, ina, lessons=1)
        x, y = [(await rpc.ok("module.create", {"course_id": course_id, "title": t}, ina.token))["id"] for t in "xy"]
        answers = await asyncio.gather(
            rpc.call("module.update", {"module_id": x, "prerequisite_module_ids": [y]}, ina.token),
            rpc.call("module.update", {"module_id": y, "prerequisite_module_ids": [x]}, ina.token))
        reasons = sorted(a.get("error", {}).get("data", {}).get("reason", "ok") for a in answers)
        assert reasons == ["ok", "prerequisite_cycle"], answers
        assert db.execute("select count(*) from app.module_prerequisites where course_id = %s", [course_id]) == [(1,)]


async def test_progress_counts_published_items_of_published_modules_and_module_completed_is_told(rpc, users, db):
    ina, course_id, m1, m2, a, b, asg = await two_module_course(rpc, users)
    await rpc.ok("module.update", {"module_id": m2, "prerequisite_module_ids": None}, ina.token)
    await rpc.ok("module.unpublish", {"module_id": m2}, ina.token)
    stu = await users.make()
    await rpc.ok("enrollment.enroll", {"course_id": course_id}, stu.token)
    done = await rpc.ok("lesson.complete", {"lesson_id": a}, stu.token)
    assert done == {"progress_percentage": 100, "completed": True}, "lesson b's module is a draft: not counted"
    events = db.execute("select data from app.events where type = 'module.completed' and user_id = %s", [stu.id])
    assert [e["module_id"] for (e,) in events] == [m1]
    await rpc.ok("lesson.complete", {"lesson_id": a}, stu.token)  # again: no second event
    assert db.execute("select count(*) from app.events where type = 'module.completed' and user_id = %s",
                      [stu.id]) == [(1,)]

    other = await users.make()
    await rpc.ok("enrollment.enroll", {"course_id": course_id}, other.token)
    await rpc.ok("module.publish", {"module_id": m2}, ina.token)  # now lesson b counts, for every learner at once
    await rpc.ok("lesson.complete", {"lesson_id": a}, other.token)
    row = db.execute("select progress_percentage from app.enrollments where user_id = %s", [other.id])
    assert row == [(50,)]
    await rpc.ok("submission.submit", {"assignment_id": asg, "content": "essay"}, other.token)
    assert db.execute("select count(*) from app.events where type = 'module.completed' and user_id = %s",
                      [other.id]) == [(1,)], "module 2 needs lesson b too (requirement all)"
    await rpc.ok("module.update", {"module_id": m2, "requirement": "any_one"}, ina.token)
    assert (await rpc.ok("module.list", {"course_id": course_id}, other.token))[1]["completed"] is True


async def test_module_delete_reorder_and_move(rpc, users, db):
    ina, course_id, m1, m2, a, b, asg = await two_module_course(rpc, users)
    error = await rpc.error("module.delete", {"module_id": m2}, ina.token)
    assert (error["code"], error["data"]["reason"]) == (409, "module_not_empty")
    listed = await rpc.ok("module.reorder", {"course_id": course_id, "module_ids": [m2, m1]}, ina.token)
    assert [m["id"] for m in listed] == [m2, m1] and [m["position"] for m in listed] == [1, 2]
    error = await rpc.error("module.reorder", {"course_id": course_id, "module_ids": [m2]}, ina.token)
    assert error["data"]["reason"] == "invalid_module_order"
    for item_type, item_id in (("lesson", b), ("assignment", asg)):
        await rpc.ok("module.move_item", {"module_id": m1, "item_type": item_type, "item_id": item_id}, ina.token)
    assert [i["position"] for i in (await rpc.ok("module.list", {"course_id": course_id}, ina.token))[1]["items"]] \
        == [1, 2, 3]
    assert (await rpc.ok("module.delete", {"module_id": m2}, ina.token))["deleted"] is True
    assert db.execute("select position from app.modules where id = %s", [m1]) == [(1,)]
    other_id, (other_lesson,) = await make_course(rpc, ina, lessons=1)
    error = await rpc.error("module.move_item", {"module_id": m1, "item_type": "lesson", "item_id": other_lesson},
                            ina.token)
    assert (error["code"], error["data"]["reason"]) == (422, "module_not_in_course")
    error = await rpc.error("lesson.update", {"lesson_id": other_lesson, "module_id": m1}, ina.token)
    assert (error["code"], error["data"]["reason"]) == (422, "module_not_in_course")
    stranger = await users.make("instructor")
    error = await rpc.error("module.create", {"course_id": course_id, "title": "Mine"}, stranger.token)
    assert (error["code"], error["data"]["reason"]) == (403, "not_course_owner")


async def test_a_course_without_modules_behaves_as_before(rpc, users):
    ina = await users.make("instructor")
    course_id, (a,) = await make_course(rpc, ina, lessons=1)
    stu = await users.make()
    await rpc.ok("enrollment.enroll", {"course_id": course_id}, stu.token)
    course = await rpc.ok("course.get", {"course_id": course_id}, stu.token)
    assert course["modules"] == [] and course["syllabus"][0]["module_id"] is None
    assert await rpc.ok("lesson.complete", {"lesson_id": a}, stu.token) == {"progress_percentage": 100,
                                                                            "completed": True}


async def test_an_analyst_sees_the_same_availability(rpc, users, db, analyst):
    ina, course_id, m1, m2, a, b, asg = await two_module_course(rpc, users)
    stu = await users.make()
    await rpc.ok("enrollment.enroll", {"course_id": course_id}, stu.token)
    with db.connect(analyst(ina.id)) as conn:
        rows = conn.execute("select module_id::text, locked, requires::text[] from analytics.module_availability"
                            " where user_id = %s order by locked", [stu.id]).fetchall()
    assert rows == [(m1, False, []), (m2, True, [m1])]
    with db.connect(analyst(stu.id)) as conn:
        assert conn.execute("select count(*) from analytics.module_availability").fetchone() == (2,)
    other = await users.make()
    with db.connect(analyst(other.id)) as conn:
        assert conn.execute("select count(*) from analytics.module_availability").fetchone() == (0,)
        assert conn.execute("select count(*) from internal.module_states(%s, %s)", [stu.id, course_id]).fetchone() \
            == (0,), "nobody else's"


async def test_two_direct_sql_writers_cannot_build_a_cycle_together(rpc, users, db):
    """The rule holds for a second client with psql too: the trigger takes the course row, so the second
    writer waits for the first to commit and then sees its edge."""
    import psycopg

    ina = await users.make("instructor")
    course_id, _ = await make_course(rpc, ina, lessons=1)
    x, y = [(await rpc.ok("module.create", {"course_id": course_id, "title": t}, ina.token))["id"] for t in "xy"]
    edge = "insert into app.module_prerequisites (module_id, prerequisite_id, course_id) values (%s, %s, %s)"
    with db.connect(autocommit=False) as first, db.connect(autocommit=False) as second:
        first.execute(edge, [x, y, course_id])

        def second_writer():
            try:
                second.execute(edge, [y, x, course_id])
                second.commit()
                return "committed"
            except psycopg.Error as exc:
                second.rollback()
                return exc.diag.message_detail

        pending = asyncio.get_running_loop().run_in_executor(None, second_writer)
        for _ in range(500):  # the second writer waits on the first (or, without the rule, has finished)
            if pending.done() or db.execute("select count(*) from pg_locks where not granted")[0][0]:
                break
            await asyncio.sleep(0.01)
        first.commit()
        assert await pending == "prerequisite_cycle"
    assert db.execute("select count(*) from app.module_prerequisites where course_id = %s", [course_id]) == [(1,)]
