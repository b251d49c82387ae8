"""Assessments through the real JSON-RPC server: scoring, attempt limits and time limits under
concurrency, late work, the gradebook, and who may read what (RPC and direct SQL).

Setup (courses, lessons, enrollments) is done with SQL as superuser; time is shifted, not slept.
"""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from psycopg import sql

from tests.helpers.assessment import make_course, make_quiz, mc, shift_attempt, tf

pytestmark = pytest.mark.asyncio


# ------------------------------------------------------------------------------- helpers










def sa(correct: str, points: int = 1) -> dict:
    return {"question_type": "short_answer", "correct_answer": correct, "points": points}




def attempt_row(db, attempt_id: str) -> tuple:
    (row,) = db.execute("select status, score, passed, points_earned from app.quiz_attempts where id = %s",
                        [attempt_id])
    return row


@pytest.fixture
async def cast(db, users):
    """An instructor, two enrolled students, one outsider, and their course."""
    inst = await users.make("instructor")
    stu = await users.make("student")
    stu2 = await users.make("student")
    outsider = await users.make("student")
    course_id = make_course(db, inst.id, [stu.id, stu2.id])
    return inst, stu, stu2, outsider, course_id


# ------------------------------------------------------------------------------- scoring
# (questions, answers by question index, passing score, expected (points_earned, points_total, score, passed))
SCORING = [
    ("2 of 3 rounds half up to 67; pass exactly at the passing score",
     [mc(), mc(), mc()], {0: "b", 1: "b", 2: "a"}, 67, (2, 3, 67, True)),
    ("2 of 3 = 67 fails a passing score of 68", [mc(), mc(), mc()], {0: "b", 1: "b"}, 68, (2, 3, 67, False)),
    ("1 of 3 rounds down to 33", [mc(), mc(), mc()], {0: "b", 1: "c", 2: "a"}, 33, (1, 3, 33, True)),
    ("1 of 8 is 12.5, rounds half up to 13", [mc(points=1), mc(points=7)], {0: "b", 1: "a"}, 13, (1, 8, 13, True)),
    ("7 of 8 is 87.5, rounds half up to 88", [mc(points=1), mc(points=7)], {1: "b"}, 90, (7, 8, 88, False)),
    ("mixed types all right; short answer trimmed, case-folded, white space collapsed",
     [mc(points=1), tf("false", points=2), sa("Paris  France", points=3)],
     {0: "b", 1: "false", 2: "  paris \t FRANCE "}, 100, (6, 6, 100, True)),
    ("mixed types, partial marks: 4 of 6 = 66.67 → 67",
     [mc(points=1), tf("false", points=2), sa("Paris France", points=3)],
     {0: "b", 1: "true", 2: "PARIS FRANCE"}, 70, (4, 6, 67, False)),
    ("short answer needs the same words", [sa("Paris France")], {0: "ParisFrance"}, 50, (0, 1, 0, False)),
    ("true/false accepts a JSON boolean and any case", [tf("true"), tf("false")], {0: True, 1: "FALSE"}, 100,
     (2, 2, 100, True)),
    ("multiple choice is exact (case matters)", [mc("b")], {0: "B"}, 50, (0, 1, 0, False)),
    ("nothing answered scores 0; passing score 0 still passes", [mc(), tf()], {}, 0, (0, 2, 0, True)),
]


async def test_scoring_table(rpc, cast):
    inst, stu, _, _, course_id = cast
    for name, questions, answers, passing, expected in SCORING:
        quiz = await make_quiz(rpc, inst.token, course_id, questions, passing_score_percentage=passing)
        attempt = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, stu.token)
        given = {quiz.question_ids[i]: a for i, a in answers.items()}
        result = await rpc.ok("attempt.submit", {"attempt_id": attempt["attempt_id"], "answers": given}, stu.token)
        got = (result["points_earned"], result["points_total"], result["score"], result["passed"])
        assert got == expected, name


async def test_unknown_question_in_answers_is_invalid_answer(rpc, cast):
    inst, stu, _, _, course_id = cast
    quiz = await make_quiz(rpc, inst.token, course_id, [mc()])
    other = await make_quiz(rpc, inst.token, course_id, [mc()])
    attempt = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, stu.token)
    for answers in ({other.question_ids[0]: "b"}, {"not-a-uuid": "b"}, {quiz.question_ids[0]: ["b"]}):
        error = await rpc.error("attempt.submit", {"attempt_id": attempt["attempt_id"], "answers": answers}, stu.token)
        assert (error["code"], error["data"]["reason"]) == (422, "invalid_answer")
    # The attempt is still open and can be submitted properly.
    result = await rpc.ok("attempt.submit", {"attempt_id": attempt["attempt_id"],
                                             "answers": {quiz.question_ids[0]: "b"}}, stu.token)
    assert result["score"] == 100


async def test_editing_a_quiz_does_not_change_recorded_scores(rpc, cast):
    inst, stu, _, _, course_id = cast
    quiz = await make_quiz(rpc, inst.token, course_id, [mc("b"), tf("true")])
    attempt = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, stu.token)
    await rpc.ok("attempt.submit", {"attempt_id": attempt["attempt_id"],
                                    "answers": {quiz.question_ids[0]: "b", quiz.question_ids[1]: "false"}}, stu.token)
    await rpc.ok("quiz.update_question", {"question_id": quiz.question_ids[0], "correct_answer": "a", "points": 5},
                 inst.token)
    await rpc.ok("quiz.delete_question", {"question_id": quiz.question_ids[1]}, inst.token)
    await rpc.ok("quiz.add_question", {"quiz_id": quiz.id, "question_text": "new", **sa("x")}, inst.token)
    (mine,) = await rpc.ok("attempt.list_mine", {"quiz_id": quiz.id}, stu.token)
    assert (mine["score"], mine["points_earned"], mine["points_total"]) == (50, 1, 2)
    assert mine["answers"] == {quiz.question_ids[0]: "b", quiz.question_ids[1]: "false"}
    (graded,) = await rpc.ok("attempt.list_for_quiz", {"quiz_id": quiz.id}, inst.token)
    assert graded["grading"][quiz.question_ids[0]] == {"answer": "b", "correct": True, "points_earned": 1, "points": 1}
    assert (graded["score"], graded["points_earned"], graded["points_total"]) == (50, 1, 2)


# ------------------------------------------------------------------------------- attempt limits, concurrency
async def test_50_parallel_starts_share_one_open_attempt(rpc, db, cast):
    """Rule checked: "an open, unexpired attempt is returned instead of a new one" — 50 concurrent
    attempt.start calls of one student create exactly one attempt and all return it."""
    inst, stu, _, _, course_id = cast
    quiz = await make_quiz(rpc, inst.token, course_id, [mc()], max_attempts=3)
    results = await asyncio.gather(*[rpc.call("attempt.start", {"quiz_id": quiz.id}, stu.token) for _ in range(50)])
    assert all("result" in r for r in results), [r for r in results if "result" not in r][:3]
    assert len({r["result"]["attempt_id"] for r in results}) == 1
    assert db.execute("select count(*) from app.quiz_attempts where quiz_id = %s", [quiz.id]) == [(1,)]
    assert db.execute("select attempts_used from app.quiz_attempt_counters where quiz_id = %s", [quiz.id]) == [(1,)]
    # Again once the counter row exists: submit, then 50 parallel starts make exactly one second attempt.
    await rpc.ok("attempt.submit", {"attempt_id": results[0]["result"]["attempt_id"], "answers": {}}, stu.token)
    results = await asyncio.gather(*[rpc.call("attempt.start", {"quiz_id": quiz.id}, stu.token) for _ in range(50)])
    assert {r["result"]["attempt_number"] for r in results} == {2}
    assert db.execute("select count(*) from app.quiz_attempts where quiz_id = %s", [quiz.id]) == [(2,)]


async def test_attempt_limit_under_concurrency_with_expiring_attempts(rpc, db, cast):
    """Rule checked: at most max_attempts (3) attempts per student and quiz. Each round, 50 parallel
    starts get one attempt; it is then made to expire (started_at/deadline_at shifted), so the next
    round must start a new one. After 3 attempts, 50 parallel starts all get 422
    attempt_limit_reached and exactly 3 attempts exist, all closed with score 0."""
    inst, stu, _, _, course_id = cast
    quiz = await make_quiz(rpc, inst.token, course_id, [mc()], max_attempts=3, time_limit_minutes=5)
    seen = []
    for _ in range(3):
        results = await asyncio.gather(*[rpc.call("attempt.start", {"quiz_id": quiz.id}, stu.token)
                                         for _ in range(50)])
        ids = {r["result"]["attempt_id"] for r in results}
        assert len(ids) == 1
        seen.append(ids.pop())
        shift_attempt(db, seen[-1], "1 hour")
    results = await asyncio.gather(*[rpc.call("attempt.start", {"quiz_id": quiz.id}, stu.token) for _ in range(50)])
    assert {(r["error"]["code"], r["error"]["data"]["reason"]) for r in results} == {(422, "attempt_limit_reached")}
    rows = db.execute("select id::text, attempt_number, status, score from app.quiz_attempts "
                      "where quiz_id = %s order by attempt_number", [quiz.id])
    assert [r[0] for r in rows] == seen
    assert [(r[1], r[2], r[3]) for r in rows] == [(1, "expired", 0), (2, "expired", 0), (3, "expired", 0)]


async def test_attempt_limit_with_submits_in_between(rpc, db, cast):
    inst, stu, stu2, _, course_id = cast
    quiz = await make_quiz(rpc, inst.token, course_id, [mc()], max_attempts=3)
    for n in range(1, 4):
        attempt = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, stu.token)
        assert attempt["attempt_number"] == n
        await rpc.ok("attempt.submit", {"attempt_id": attempt["attempt_id"], "answers": {}}, stu.token)
    error = await rpc.error("attempt.start", {"quiz_id": quiz.id}, stu.token)
    assert (error["code"], error["data"]["reason"]) == (422, "attempt_limit_reached")
    # The limit is per student: another student still starts.
    await rpc.ok("attempt.start", {"quiz_id": quiz.id}, stu2.token)
    assert db.execute("select count(*) from app.quiz_attempts where quiz_id = %s and user_id = %s",
                      [quiz.id, stu.id]) == [(3,)]


async def test_concurrent_double_submit_exactly_one_wins(rpc, db, cast):
    inst, stu, _, _, course_id = cast
    quiz = await make_quiz(rpc, inst.token, course_id, [mc()])
    attempt = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, stu.token)
    params = {"attempt_id": attempt["attempt_id"], "answers": {quiz.question_ids[0]: "b"}}
    results = await asyncio.gather(*[rpc.call("attempt.submit", params, stu.token) for _ in range(10)])
    ok = [r for r in results if "result" in r]
    errors = [(r["error"]["code"], r["error"]["data"]["reason"]) for r in results if "error" in r]
    assert len(ok) == 1 and ok[0]["result"]["score"] == 100
    assert errors == [(409, "already_submitted")] * 9
    assert attempt_row(db, attempt["attempt_id"]) == ("submitted", 100, True, 1)


async def test_not_enrolled_and_unpublished(rpc, db, cast):
    inst, stu, _, outsider, course_id = cast
    quiz = await make_quiz(rpc, inst.token, course_id, [mc()])
    error = await rpc.error("attempt.start", {"quiz_id": quiz.id}, outsider.token)
    assert (error["code"], error["data"]["reason"]) == (403, "not_enrolled")
    draft = await make_quiz(rpc, inst.token, course_id, [mc()], publish=False)
    error = await rpc.error("attempt.start", {"quiz_id": draft.id}, stu.token)
    assert error["code"] == 404
    db.execute("update app.enrollments set is_active = false, dropped_at = now() where user_id = %s", [stu.id])
    error = await rpc.error("attempt.start", {"quiz_id": quiz.id}, stu.token)
    assert (error["code"], error["data"]["reason"]) == (403, "not_enrolled")


# ------------------------------------------------------------------------------- time limit
async def test_submit_inside_grace_is_graded(rpc, db, cast):
    inst, stu, _, _, course_id = cast
    quiz = await make_quiz(rpc, inst.token, course_id, [mc()], time_limit_minutes=10)
    attempt = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, stu.token)
    assert attempt["deadline"] is not None
    shift_attempt(db, attempt["attempt_id"], "10 minutes 20 seconds")  # 20 s past the deadline, inside the grace
    result = await rpc.ok("attempt.submit", {"attempt_id": attempt["attempt_id"],
                                             "answers": {quiz.question_ids[0]: "b"}}, stu.token)
    assert (result["score"], result["passed"]) == (100, True)


async def test_submit_after_grace_expires_with_score_zero(rpc, db, cast):
    inst, stu, _, _, course_id = cast
    quiz = await make_quiz(rpc, inst.token, course_id, [mc()], time_limit_minutes=10)
    attempt = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, stu.token)
    shift_attempt(db, attempt["attempt_id"], "10 minutes 40 seconds")  # 40 s past the deadline
    params = {"attempt_id": attempt["attempt_id"], "answers": {quiz.question_ids[0]: "b"}}
    error = await rpc.error("attempt.submit", params, stu.token)
    assert (error["code"], error["data"]["reason"]) == (422, "attempt_expired")
    assert attempt_row(db, attempt["attempt_id"]) == ("expired", 0, False, 0)  # committed despite the error
    error = await rpc.error("attempt.submit", params, stu.token)
    assert (error["code"], error["data"]["reason"]) == (422, "attempt_expired")
    # A new start gives a new attempt (the expired one counts against the limit).
    again = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, stu.token)
    assert again["attempt_id"] != attempt["attempt_id"] and again["attempt_number"] == 2


async def test_maintain_attempts_closes_expired(rpc, db, cast):
    inst, stu, _, _, course_id = cast
    quiz = await make_quiz(rpc, inst.token, course_id, [mc()], time_limit_minutes=5)
    old = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, stu.token)
    shift_attempt(db, old["attempt_id"], "40 days")  # lands in an older partition (or DEFAULT)
    stu2_quiz = await make_quiz(rpc, inst.token, course_id, [mc()], time_limit_minutes=5)
    fresh = await rpc.ok("attempt.start", {"quiz_id": stu2_quiz.id}, stu.token)
    with db.connect() as conn:
        conn.execute("set role lms_owner")
        (report,) = conn.execute("select internal.maintain_attempts()").fetchone()
    assert report == {"attempts_expired": 1}
    assert attempt_row(db, old["attempt_id"]) == ("expired", 0, False, 0)
    assert attempt_row(db, fresh["attempt_id"])[0] == "in_progress"


# ------------------------------------------------------------------------------- quiz visibility
async def test_students_never_receive_correct_answer(rpc, cast):
    inst, stu, _, outsider, course_id = cast
    quiz = await make_quiz(rpc, inst.token, course_id, [mc(), tf(), sa("x")])
    as_student = await rpc.ok("quiz.get", {"quiz_id": quiz.id}, stu.token)
    assert len(as_student["questions"]) == 3
    assert all("correct_answer" not in q for q in as_student["questions"])
    started = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, stu.token)
    assert all("correct_answer" not in q for q in started["questions"])
    as_instructor = await rpc.ok("quiz.get", {"quiz_id": quiz.id}, inst.token)
    assert [q["correct_answer"] for q in as_instructor["questions"]] == ["b", "true", "x"]
    assert (await rpc.error("quiz.get", {"quiz_id": quiz.id}, outsider.token))["code"] == 404


async def test_question_validation_and_dense_order(rpc, cast):
    inst, _, _, _, course_id = cast
    quiz = await make_quiz(rpc, inst.token, course_id, [mc(), tf(), sa("x")], publish=False)
    bad = [
        {"question_type": "multiple_choice", "options": ["a", "a"], "correct_answer": "a"},
        {"question_type": "multiple_choice", "options": ["a", "b"], "correct_answer": "c"},
        {"question_type": "true_false", "correct_answer": "yes"},
        {"question_type": "matching", "correct_answer": "x"},
    ]
    for params in bad:
        error = await rpc.error("quiz.add_question", {"quiz_id": quiz.id, "question_text": "?", **params}, inst.token)
        assert error["code"] == 422, params
    # Out of range without needing the database (declared bound): -32602 naming the field.
    error = await rpc.error("quiz.add_question", {"quiz_id": quiz.id, "question_text": "?", "points": 0,
                                                  "question_type": "short_answer", "correct_answer": "x"}, inst.token)
    assert (error["code"], error["data"]["field"]) == (-32602, "points")
    await rpc.ok("quiz.delete_question", {"question_id": quiz.question_ids[0]}, inst.token)
    got = await rpc.ok("quiz.get", {"quiz_id": quiz.id}, inst.token)
    assert [(q["id"], q["question_order"]) for q in got["questions"]] == [
        (quiz.question_ids[1], 1), (quiz.question_ids[2], 2)]
    await rpc.ok("quiz.update_question", {"question_id": quiz.question_ids[2], "question_order": 1}, inst.token)
    got = await rpc.ok("quiz.get", {"quiz_id": quiz.id}, inst.token)
    assert [q["id"] for q in got["questions"]] == [quiz.question_ids[2], quiz.question_ids[1]]
    single = await make_quiz(rpc, inst.token, course_id, [mc()])
    error = await rpc.error("quiz.delete_question", {"question_id": single.question_ids[0]}, inst.token)
    assert (error["code"], error["data"]["reason"]) == (422, "quiz_has_no_questions")


async def test_lesson_of_another_course_is_422(rpc, db, users, cast):
    inst, _, _, _, course_id = cast
    other_course = make_course(db, inst.id)
    ((lesson_id,),) = db.execute("select id::text from app.lessons where course_id = %s", [other_course])
    error = await rpc.error("quiz.create", {"course_id": course_id, "title": "Q", "lesson_id": lesson_id}, inst.token)
    assert (error["code"], error["data"]["reason"]) == (422, "lesson_not_in_course")
    other_inst = await users.make("instructor")
    error = await rpc.error("quiz.create", {"course_id": course_id, "title": "Q"}, other_inst.token)
    assert (error["code"], error["data"]["reason"]) == (403, "not_course_owner")


# ------------------------------------------------------------------------------- assignments
async def test_late_work_penalty_and_deadline(rpc, db, cast):
    inst, stu, stu2, _, course_id = cast
    past = "2020-01-01T00:00:00+00:00"
    strict = await rpc.ok("assignment.create", {"course_id": course_id, "title": "Strict", "due_date": past},
                          inst.token)
    error = await rpc.error("submission.submit", {"assignment_id": strict["id"], "content": "late"}, stu.token)
    assert (error["code"], error["data"]["reason"]) == (422, "deadline_passed")

    lenient = await rpc.ok("assignment.create", {"course_id": course_id, "title": "Lenient", "due_date": past,
                                                 "points": 50, "allow_late_submission": True,
                                                 "late_penalty_percentage": 20}, inst.token)
    first = await rpc.ok("submission.submit", {"assignment_id": lenient["id"], "content": "v1"}, stu.token)
    second = await rpc.ok("submission.submit", {"assignment_id": lenient["id"], "content": "v2"}, stu.token)
    assert second["id"] == first["id"] and second["content"] == "v2" and second["is_late"] is True

    error = await rpc.error("submission.grade", {"submission_id": first["id"], "grade": 51}, inst.token)
    assert (error["code"], error["data"]["reason"]) == (422, "invalid_grade")
    graded = await rpc.ok("submission.grade", {"submission_id": first["id"], "grade": 40, "feedback": "ok"}, inst.token)
    assert (float(graded["grade"]), float(graded["effective_grade"])) == (40.0, 32.0)  # 40 × (100 − 20) / 100
    regraded = await rpc.ok("submission.grade", {"submission_id": first["id"], "grade": 45}, inst.token)
    assert float(regraded["effective_grade"]) == 36.0
    audit = db.execute("select details->>'old_grade', details->>'new_grade' from app.audit_log "
                       "where action = 'submission.regraded' and subject_id = %s", [first["id"]])
    assert [(float(a), float(b)) for a, b in audit] == [(40.0, 45.0)]

    error = await rpc.error("submission.submit", {"assignment_id": lenient["id"], "content": "v3"}, stu.token)
    assert (error["code"], error["data"]["reason"]) == (409, "already_graded")

    on_time = await rpc.ok("assignment.create", {"course_id": course_id, "title": "On time", "points": 10,
                                                 "late_penalty_percentage": 50,
                                                 "due_date": "2999-01-01T00:00:00+00:00"}, inst.token)
    sub = await rpc.ok("submission.submit", {"assignment_id": on_time["id"], "content": "x"}, stu2.token)
    graded = await rpc.ok("submission.grade", {"submission_id": sub["id"], "grade": 10}, inst.token)
    assert graded["is_late"] is False and float(graded["effective_grade"]) == 10.0


async def test_students_cannot_read_each_others_work_by_rpc(rpc, cast):
    inst, stu, stu2, outsider, course_id = cast
    quiz = await make_quiz(rpc, inst.token, course_id, [mc()])
    attempt = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, stu.token)
    error = await rpc.error("attempt.submit", {"attempt_id": attempt["attempt_id"], "answers": {}}, stu2.token)
    assert error["code"] == 404
    assert await rpc.ok("attempt.list_mine", {"quiz_id": quiz.id}, stu2.token) == []
    assert (await rpc.error("attempt.list_for_quiz", {"quiz_id": quiz.id}, stu2.token))["code"] == 403
    assert len(await rpc.ok("attempt.list_for_quiz", {"quiz_id": quiz.id}, inst.token)) == 1

    asg = await rpc.ok("assignment.create", {"course_id": course_id, "title": "A"}, inst.token)
    await rpc.ok("submission.submit", {"assignment_id": asg["id"], "content": "mine"}, stu.token)
    assert (await rpc.error("submission.get_mine", {"assignment_id": asg["id"]}, stu2.token))["code"] == 404
    assert (await rpc.error("submission.list_for_assignment", {"assignment_id": asg["id"]}, stu2.token))["code"] == 403
    mine = await rpc.ok("submission.get_mine", {"assignment_id": asg["id"]}, stu.token)
    assert mine["content"] == "mine" and mine["user_id"] == stu.id
    listed = await rpc.ok("submission.list_for_assignment", {"assignment_id": asg["id"]}, inst.token)
    assert [s["id"] for s in listed] == [mine["id"]]
    assert (await rpc.error("submission.submit", {"assignment_id": asg["id"], "content": "x"},
                            outsider.token))["data"]["reason"] == "not_enrolled"
    assert (await rpc.error("assignment.list", {"course_id": course_id}, outsider.token))["code"] == 403
    assert [a["id"] for a in await rpc.ok("assignment.list", {"course_id": course_id}, stu2.token)] == [asg["id"]]


async def test_analyst_linked_to_student_sees_only_own_rows_and_no_answers(rpc, db, cast, analyst):
    inst, stu, stu2, _, course_id = cast
    quiz = await make_quiz(rpc, inst.token, course_id, [mc()])
    for s in (stu, stu2):
        a = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, s.token)
        await rpc.ok("attempt.submit", {"attempt_id": a["attempt_id"], "answers": {}}, s.token)
    asg = await rpc.ok("assignment.create", {"course_id": course_id, "title": "A"}, inst.token)
    for s in (stu, stu2):
        await rpc.ok("submission.submit", {"assignment_id": asg["id"], "content": "w"}, s.token)
    login = analyst(stu.id)
    with db.connect(login) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select correct_answer from app.questions")
        assert conn.execute("select count(*) from app.questions").fetchone() == (1,)
        assert conn.execute("select distinct user_id::text from app.quiz_attempts").fetchall() == [(stu.id,)]
        assert conn.execute("select distinct user_id::text from app.submissions").fetchall() == [(stu.id,)]
        # Setting lms.user_id does not turn an analyst into someone else.
        conn.execute("select set_config('lms.user_id', %s, false)", [stu2.id])
        assert conn.execute("select distinct user_id::text from app.quiz_attempts").fetchall() == [(stu.id,)]


# ------------------------------------------------------------------------------- gradebook
async def test_gradebook(rpc, db, cast):
    inst, stu, stu2, outsider, course_id = cast
    quiz = await make_quiz(rpc, inst.token, course_id, [mc(), mc(), mc()], max_attempts=5)
    for answers in ({0: "b"}, {0: "b", 1: "b"}, {}):  # 33, 67, 0 → best 67
        a = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, stu.token)
        await rpc.ok("attempt.submit", {"attempt_id": a["attempt_id"],
                                        "answers": {quiz.question_ids[i]: v for i, v in answers.items()}}, stu.token)
    asg = await rpc.ok("assignment.create", {"course_id": course_id, "title": "A", "points": 20,
                                             "allow_late_submission": True, "late_penalty_percentage": 10,
                                             "due_date": "2020-01-01T00:00:00+00:00"}, inst.token)
    sub = await rpc.ok("submission.submit", {"assignment_id": asg["id"], "content": "w"}, stu.token)
    await rpc.ok("submission.grade", {"submission_id": sub["id"], "grade": 15}, inst.token)

    book = {row["user_id"]: row for row in await rpc.ok("gradebook.course", {"course_id": course_id}, inst.token)}
    assert set(book) == {stu.id, stu2.id}
    (q,) = book[stu.id]["quizzes"]
    assert (q["best_score"], q["attempts"], q["passed"]) == (67, 3, False)
    (a,) = book[stu.id]["assignments"]
    assert (float(a["grade"]), float(a["effective_grade"]), a["is_late"]) == (15.0, 13.5, True)
    assert book[stu2.id]["quizzes"][0]["best_score"] is None
    assert book[stu2.id]["assignments"][0]["submitted"] is False
    assert "progress_percentage" in book[stu.id]

    mine = await rpc.ok("gradebook.mine", {"course_id": course_id}, stu.token)
    assert mine["user_id"] == stu.id and mine["quizzes"][0]["best_score"] == 67
    assert (await rpc.error("gradebook.course", {"course_id": course_id}, stu.token))["code"] == 403
    err = await rpc.error("gradebook.mine", {"course_id": course_id}, outsider.token)
    assert (err["code"], err["data"]["reason"]) == (403, "not_enrolled")
    err = await rpc.error("gradebook.mine", {"course_id": "00000000-0000-0000-0000-000000000000"}, outsider.token)
    assert err["code"] == 404


# ------------------------------------------------------------------------------- partitions and indexes
def plan(conn, query: str, params: list) -> str:
    rows = conn.execute(sql.SQL("explain (costs off) ") + sql.SQL(query), params).fetchall()
    return "\n".join(r[0] for r in rows)


async def test_attempt_queries_use_indexes_and_prune_partitions(db, users):
    inst = await users.make("instructor")
    course_id = make_course(db, inst.id)
    with db.connect() as conn:
        conn.execute("set role lms_owner")
        conn.execute("select internal.ensure_monthly_partitions('app.quiz_attempts', 3)")
        conn.execute("reset role")
        quiz_ids = [conn.execute("insert into app.quizzes (course_id, title) values (%s, 'q') returning id::text",
                                 [course_id]).fetchone()[0] for _ in range(20)]
        user_ids = [r[0] for r in conn.execute(
            "insert into app.users (email, password_hash, full_name) "
            "select 'bulk' || g || '@example.test', 'x', 'Bulk' from generate_series(1, 200) g returning id::text"
        ).fetchall()]
        # 20 000 submitted attempts spread over the current month and the three before it.
        conn.execute(
            "insert into app.quiz_attempts (user_id, quiz_id, attempt_number, status, started_at, submitted_at, "
            "score, passed, points_earned, points_total) "
            "select u, q, 1, 'submitted', t, t + interval '1 minute', 50, false, 1, 2 "
            "from (select (%s::uuid[])[1 + g %% 200] u, (%s::uuid[])[1 + g %% 20] q, "
            "             date_trunc('month', now()) - (g %% 4) * interval '1 month' + interval '1 day' t "
            "      from generate_series(1, 20000) g) s",
            [user_ids, quiz_ids])
        conn.execute("set role lms_owner")
        conn.execute("select internal.ensure_monthly_partitions('app.quiz_attempts', 3)")  # current + ahead
        conn.execute("reset role")
        conn.execute("analyze app.quiz_attempts")
        conn.execute("set enable_seqscan = off")

        one_student = plan(conn, "select * from app.quiz_attempts where user_id = %s and quiz_id = %s",
                           [user_ids[0], quiz_ids[0]])
        assert "ix_quiz_attempts_user_id_quiz_id" in one_student or "user_id_quiz_id_idx" in one_student, one_student
        assert "Seq Scan" not in one_student, one_student
        one_quiz = plan(conn, "select * from app.quiz_attempts where quiz_id = %s", [quiz_ids[0]])
        assert "quiz_id_started_at" in one_quiz, one_quiz
        assert "Seq Scan" not in one_quiz, one_quiz

        conn.execute("reset enable_seqscan")
        bounded = plan(conn, "select count(*) from app.quiz_attempts where started_at >= date_trunc('month', now()) "
                             "and started_at < date_trunc('month', now()) + interval '1 month'", [])
        (this_month,) = conn.execute("select to_char(now() at time zone 'UTC', '\"y\"YYYY\"m\"MM')").fetchone()
        scanned = {line.split(" on ")[1].split()[0] for line in bounded.splitlines() if " on " in line}
        # Pruned at plan or at executor start (now() is stable): only this month's partition is scanned.
        analyzed = "\n".join(r[0] for r in conn.execute(
            "explain (analyze, costs off, timing off, summary off) select count(*) from app.quiz_attempts "
            "where started_at >= date_trunc('month', now()) "
            "and started_at < date_trunc('month', now()) + interval '1 month'").fetchall())
        executed = {line.split(" on ")[1].split()[0] for line in analyzed.splitlines()
                    if " on " in line and "never executed" not in line}
        assert executed == {f"quiz_attempts_{this_month}"}, (scanned, analyzed)
        literal = plan(conn, "select count(*) from app.quiz_attempts where started_at >= %s::timestamptz "
                             "and started_at < %s::timestamptz",
                       ["2000-01-01T00:00:00Z", "2000-01-02T00:00:00Z"])
        assert "quiz_attempts_y" not in literal, literal  # only DEFAULT can hold year 2000


async def test_student_attempt_query_uses_index_under_rls(db, users, rpc):
    stu = await users.make("student")
    inst = await users.make("instructor")
    course_id = make_course(db, inst.id, [stu.id])
    with db.connect() as conn:
        (quiz_id,) = conn.execute("insert into app.quizzes (course_id, title, is_published) values (%s, 'q', true) "
                                  "returning id::text", [course_id]).fetchone()
        conn.execute(
            "insert into app.quiz_attempts (user_id, quiz_id, attempt_number, status, submitted_at, score) "
            "select %s, %s, g, 'submitted', now(), 10 from generate_series(1, 5000) g", [stu.id, quiz_id])
        conn.execute("analyze app.quiz_attempts")
    with db.connect("lms_authenticator") as conn, conn.transaction():
        conn.execute("select set_config('role', 'lms_api', true), set_config('lms.user_id', %s, true)", [stu.id])
        conn.execute("set local enable_seqscan = off")
        text = plan(conn, "select id, score from app.quiz_attempts where user_id = %s and quiz_id = %s",
                    [stu.id, quiz_id])
        assert "Seq Scan" not in text and "Index" in text, text


async def test_passed_attempt_refreshes_course_progress(rpc, db, cast):
    """A passed attempt calls internal.refresh_progress: with every published lesson done, passing the
    course's only published quiz completes the enrollment; a failed attempt does not."""
    inst, stu, _, _, course_id = cast
    db.execute("insert into app.lesson_progress (enrollment_id, lesson_id, user_id) "
               "select e.id, l.id, e.user_id from app.enrollments e join app.lessons l on l.course_id = e.course_id "
               "where e.user_id = %s and e.course_id = %s", [stu.id, course_id])
    quiz = await make_quiz(rpc, inst.token, course_id, [mc()], passing_score_percentage=100)
    completed = "select completed_at is not null from app.enrollments where user_id = %s and course_id = %s"
    failed = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, stu.token)
    await rpc.ok("attempt.submit", {"attempt_id": failed["attempt_id"], "answers": {}}, stu.token)
    assert db.execute(completed, [stu.id, course_id]) == [(False,)]
    passed = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, stu.token)
    result = await rpc.ok("attempt.submit", {"attempt_id": passed["attempt_id"],
                                             "answers": {quiz.question_ids[0]: "b"}}, stu.token)
    assert result["passed"] is True
    assert db.execute(completed, [stu.id, course_id]) == [(True,)]


async def test_quiz_list_and_admin_view(rpc, users, cast):
    inst, stu, _, outsider, course_id = cast
    admin = await users.make("admin")
    published = await make_quiz(rpc, inst.token, course_id, [mc()])
    draft = await make_quiz(rpc, inst.token, course_id, [mc()], publish=False)
    assert [q["id"] for q in await rpc.ok("quiz.list", {"course_id": course_id}, stu.token)] == [published.id]
    as_instructor = await rpc.ok("quiz.list", {"course_id": course_id}, inst.token)
    assert {q["id"] for q in as_instructor} == {published.id, draft.id}
    assert await rpc.ok("quiz.list", {"course_id": course_id}, outsider.token) == []
    got = await rpc.ok("quiz.get", {"quiz_id": draft.id}, admin.token)
    assert got["questions"][0]["correct_answer"] == "b"
    assert (await rpc.error("quiz.get", {"quiz_id": draft.id}, stu.token))["code"] == 404
