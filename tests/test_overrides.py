"""Accommodations and overrides (issue 28 §2): one learner's own attempts, time, due date, penalty and
module unlock, used wherever the original would be — also under concurrent calls — and seen by that
learner only."""

from __future__ import annotations

import asyncio
import datetime as dt

from tests.helpers.assessment import make_quiz, shift_attempt, tf
from tests.helpers.catalog import make_course


def at(days: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat()


async def setup(rpc, users, **quiz_settings):
    ina = await users.make("instructor")
    course_id, lessons = await make_course(rpc, ina, lessons=1)
    quiz = await make_quiz(rpc, ina.token, course_id, [tf()], **quiz_settings)
    learner, other = await users.make(), await users.make()
    for s in (learner, other):
        await rpc.ok("enrollment.enroll", {"course_id": course_id}, s.token)
    return ina, course_id, lessons, quiz, learner, other


async def test_extra_attempts_hold_exactly_under_concurrent_starts(rpc, users, db):
    ina, course_id, _, quiz, learner, other = await setup(rpc, users, max_attempts=3)
    await rpc.ok("override.set", {"user_id": learner.id, "quiz_id": quiz.id, "extra_attempts": 2}, ina.token)
    answers = {quiz.question_ids[0]: "false"}

    async def worker():
        while True:
            started = await rpc.call("attempt.start", {"quiz_id": quiz.id}, learner.token)
            if "error" in started:
                assert started["error"]["data"]["reason"] == "attempt_limit_reached", started
                return
            await rpc.call("attempt.submit", {"attempt_id": started["result"]["attempt_id"], "answers": answers},
                           learner.token)

    await asyncio.gather(*(worker() for _ in range(24)))
    count = "select count(*) from app.quiz_attempts where quiz_id = %s and user_id = %s"
    assert db.execute(count, [quiz.id, learner.id]) == [(5,)]
    mine = await rpc.ok("quiz.get", {"quiz_id": quiz.id}, learner.token)
    theirs = await rpc.ok("quiz.get", {"quiz_id": quiz.id}, other.token)
    assert (mine["max_attempts"], theirs["max_attempts"]) == (5, 3), "each learner sees their own values"
    for _ in range(3):
        started = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, other.token)
        await rpc.call("attempt.submit", {"attempt_id": started["attempt_id"], "answers": answers}, other.token)
    error = await rpc.error("attempt.start", {"quiz_id": quiz.id}, other.token)
    assert error["data"]["reason"] == "attempt_limit_reached", "nobody else gets them"


async def test_time_multiplier_and_quiz_time_set_the_deadline_and_its_grace(rpc, users, db):
    ina, course_id, _, quiz, learner, other = await setup(rpc, users, time_limit_minutes=20)
    await rpc.ok("accommodation.set", {"course_id": course_id, "user_id": learner.id, "time_multiplier": 1.5},
                 ina.token)
    mine = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, learner.token)
    theirs = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, other.token)
    span = [dt.datetime.fromisoformat(a["deadline"]) - dt.datetime.fromisoformat(a["started_at"])
            for a in (mine, theirs)]
    assert span == [dt.timedelta(minutes=30), dt.timedelta(minutes=20)]
    assert mine["time_limit_minutes"] == 30
    # 25 minutes in: past the quiz's own limit and grace, inside the learner's.
    shift_attempt(db, mine["attempt_id"], "25 minutes")
    shift_attempt(db, theirs["attempt_id"], "25 minutes")
    answers = {quiz.question_ids[0]: "true"}
    assert (await rpc.ok("attempt.submit", {"attempt_id": mine["attempt_id"], "answers": answers},
                         learner.token))["passed"] is True
    late = await rpc.error("attempt.submit", {"attempt_id": theirs["attempt_id"], "answers": answers}, other.token)
    assert late["data"]["reason"] == "attempt_expired"
    # A quiz override sets the time itself, instead of the multiplier.
    await rpc.ok("override.set", {"user_id": learner.id, "quiz_id": quiz.id, "time_limit_minutes": 45}, ina.token)
    assert (await rpc.ok("quiz.get", {"quiz_id": quiz.id}, learner.token))["time_limit_minutes"] == 45
    again = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, learner.token)
    assert dt.datetime.fromisoformat(again["deadline"]) - dt.datetime.fromisoformat(again["started_at"]) \
        == dt.timedelta(minutes=45)
    error = await rpc.error("accommodation.set", {"course_id": course_id, "user_id": learner.id,
                                                  "time_multiplier": 6}, ina.token)
    assert (error["code"], error["data"]["field"]) == (-32602, "time_multiplier")


async def test_available_until_closes_the_quiz_for_that_learner(rpc, users):
    ina, course_id, _, quiz, learner, other = await setup(rpc, users, time_limit_minutes=600)
    await rpc.ok("override.set", {"user_id": learner.id, "quiz_id": quiz.id, "available_until": at(1 / 24)}, ina.token)
    started = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, learner.token)
    assert dt.datetime.fromisoformat(started["deadline"]) <= dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    await rpc.ok("attempt.submit", {"attempt_id": started["attempt_id"], "answers": {}}, learner.token)
    await rpc.ok("override.set", {"user_id": learner.id, "quiz_id": quiz.id, "available_until": at(-1)}, ina.token)
    error = await rpc.error("attempt.start", {"quiz_id": quiz.id}, learner.token)
    assert (error["code"], error["data"]["reason"]) == (422, "quiz_closed")
    assert "result" in await rpc.call("attempt.start", {"quiz_id": quiz.id}, other.token)


async def test_an_assignment_override_moves_the_due_date_and_waives_the_penalty(rpc, users, db):
    ina, course_id, _, _, learner, other = await setup(rpc, users)
    asg = await rpc.ok("assignment.create", {"course_id": course_id, "title": "Essay", "points": 10,
                                             "due_date": at(-1), "allow_late_submission": False,
                                             "late_penalty_percentage": 50}, ina.token)
    await rpc.ok("override.set", {"user_id": learner.id, "assignment_id": asg["id"], "due_date": at(2)}, ina.token)
    (mine,) = await rpc.ok("assignment.list", {"course_id": course_id}, learner.token)
    (theirs,) = await rpc.ok("assignment.list", {"course_id": course_id}, other.token)
    assert mine["due_date"] != theirs["due_date"] == asg["due_date"]
    submitted = await rpc.ok("submission.submit", {"assignment_id": asg["id"], "content": "x"}, learner.token)
    assert submitted["is_late"] is False
    refused = await rpc.error("submission.submit", {"assignment_id": asg["id"], "content": "x"}, other.token)
    assert refused["data"]["reason"] == "deadline_passed"

    # The waiver: late, graded, and the whole grade kept — in the API, the gradebook, its CSV export.
    await rpc.ok("assignment.update", {"assignment_id": asg["id"], "allow_late_submission": True}, ina.token)
    await rpc.ok("override.set", {"user_id": learner.id, "assignment_id": asg["id"], "waive_late_penalty": True},
                 ina.token)  # replaces the due-date override: late again
    late_sub = await rpc.ok("submission.submit", {"assignment_id": asg["id"], "content": "y"}, learner.token)
    other_sub = await rpc.ok("submission.submit", {"assignment_id": asg["id"], "content": "z"}, other.token)
    assert late_sub["is_late"] and other_sub["is_late"]
    graded = [await rpc.ok("submission.grade", {"submission_id": s["submission_id"], "grade": 8}, ina.token)
              for s in (late_sub, other_sub)]
    assert [float(g["effective_grade"]) for g in graded] == [8.0, 4.0]
    book = {row["user_id"]: row for row in await rpc.ok("gradebook.course", {"course_id": course_id}, ina.token)}
    assert float(book[learner.id]["assignments"][0]["effective_grade"]) == 8.0
    assert float(book[other.id]["assignments"][0]["effective_grade"]) == 4.0
    mine = await rpc.ok("submission.get_mine", {"assignment_id": asg["id"]}, learner.token)
    assert float(mine["effective_grade"]) == 8.0


async def test_a_module_override_opens_it_early_for_one_learner(rpc, users):
    ina, course_id, (lesson,), _, learner, other = await setup(rpc, users)
    module = await rpc.ok("module.create", {"course_id": course_id, "title": "Later", "unlock_at": at(10)}, ina.token)
    await rpc.ok("module.publish", {"module_id": module["id"]}, ina.token)
    await rpc.ok("module.move_item", {"module_id": module["id"], "item_type": "lesson", "item_id": lesson}, ina.token)
    await rpc.ok("override.set", {"user_id": learner.id, "module_id": module["id"], "unlock_at": at(-1)}, ina.token)
    assert (await rpc.ok("lesson.get", {"lesson_id": lesson}, learner.token))["id"] == lesson
    assert (await rpc.error("lesson.get", {"lesson_id": lesson}, other.token))["data"]["reason"] == "module_locked"
    listed = (await rpc.ok("course.get", {"course_id": course_id}, learner.token))["modules"]
    assert listed[0]["locked"] is False


async def test_who_may_set_list_and_clear_and_what_is_told(rpc, users, db):
    ina, course_id, _, quiz, learner, other = await setup(rpc, users)
    stranger, outsider = await users.make("instructor"), await users.make()
    params = {"user_id": learner.id, "quiz_id": quiz.id, "extra_attempts": 1}
    error = await rpc.error("override.set", params, stranger.token)
    assert (error["code"], error["data"]["reason"]) == (403, "not_course_owner")
    error = await rpc.error("override.set", {**params, "user_id": outsider.id}, ina.token)
    assert (error["code"], error["data"]["reason"], error["data"]["field"]) == (404, "not_found", "user_id")
    error = await rpc.error("override.set", {"user_id": learner.id, "extra_attempts": 1}, ina.token)
    assert error["data"]["reason"] == "one_target_required"
    error = await rpc.error("override.set", {**params, "due_date": at(1)}, ina.token)
    assert error["data"]["reason"] == "field_not_for_target"
    assert (await rpc.error("override.set", params, learner.token))["data"]["reason"] == "not_course_owner"

    first = await rpc.ok("override.set", params, ina.token)
    second = await rpc.ok("override.set", {**params, "extra_attempts": 2}, ina.token)
    assert first["override_id"] == second["override_id"] and second["extra_attempts"] == 2
    await rpc.ok("override.set", {"user_id": other.id, "quiz_id": quiz.id, "extra_attempts": 4}, ina.token)
    assert len(await rpc.ok("override.list", {"course_id": course_id}, ina.token)) == 2
    assert [o["user_id"] for o in await rpc.ok("override.list", {"course_id": course_id}, learner.token)] \
        == [learner.id], "a learner sees their own only"
    assert await rpc.ok("override.list", {"course_id": course_id, "user_id": other.id}, learner.token) == []

    assert (await rpc.error("override.clear", {"override_id": second["override_id"]}, learner.token))["code"] == 404
    assert (await rpc.ok("override.clear", {"override_id": second["override_id"]}, ina.token))["cleared"] is True
    assert (await rpc.ok("quiz.get", {"quiz_id": quiz.id}, learner.token))["max_attempts"] == 3
    events = db.execute("select data->>'action' from app.events where type = 'override.changed' and user_id = %s"
                        " order by seq", [learner.id])
    assert events == [("override.set",), ("override.set",), ("override.clear",)]
    audited = db.execute("select action from app.audit_log where subject_id = %s order by id", [learner.id])
    assert [a for (a,) in audited if a.startswith("override")] == ["override.set", "override.set", "override.clear"]


async def test_concurrent_sets_of_one_override_leave_one(rpc, users, db):
    ina, course_id, _, quiz, learner, _ = await setup(rpc, users)
    answers = await asyncio.gather(*(
        rpc.call("override.set", {"user_id": learner.id, "quiz_id": quiz.id, "extra_attempts": n}, ina.token)
        for n in range(10)))
    assert all("result" in a for a in answers), [a for a in answers if "error" in a][:2]
    assert db.execute("select count(*) from app.learner_overrides where user_id = %s", [learner.id]) == [(1,)]
