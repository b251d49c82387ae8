"""Assessment security review findings, each through the real JSON-RPC server (and direct SQL where the
finding was about direct SQL):

1. an answer key spelled several ways (upper case, without dashes) must not be graded more than once;
2. students get no per-question correctness or points (not by RPC, not by SQL as lms_api / analyst);
3. a submission's grade never exceeds its assignment's points (assignment.update, direct UPDATE);
4. attempt.submit needs an active enrollment and a published quiz;
5. gradebook.mine lists only published quizzes.
"""

from __future__ import annotations

import itertools
import threading
import time

import psycopg
import pytest

from tests.helpers.assessment import make_course, make_quiz, mc, tf

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def people(db, users):
    """An instructor, two actively enrolled students, and their course."""
    inst = await users.make("instructor")
    stu = await users.make("student")
    stu2 = await users.make("student")
    return inst, stu, stu2, make_course(db, inst.id, [stu.id, stu2.id])


def spellings(question_id: str) -> list[str]:
    """32 spellings PostgreSQL reads as the same uuid: each of the 4 dashes kept or dropped, lower or upper case."""
    groups = question_id.split("-")
    out = []
    for dashes in itertools.product(("-", ""), repeat=4):
        text = groups[0] + "".join(d + g for d, g in zip(dashes, groups[1:], strict=True))
        out += [text.lower(), text.upper()]
    assert len(set(out)) == 32
    return out


def as_api(db, user_id: str) -> psycopg.Connection:
    """A connection as the RPC layer makes it: lms_authenticator, role lms_api, lms.user_id set (session-wide)."""
    conn = db.connect("lms_authenticator", autocommit=True)
    conn.execute("select set_config('role', 'lms_api', false), set_config('lms.user_id', %s, false)", [user_id])
    return conn


# ------------------------------------------------------------------------------- 1. duplicate answer keys
async def test_one_question_answered_under_many_spellings_is_422_and_counts_once(rpc, db, people):
    inst, stu, _, course_id = people
    quiz = await make_quiz(rpc, inst.token, course_id, [mc("b", points=1), mc("b", points=3)],
                           passing_score_percentage=50)
    attempt = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, stu.token)
    # The reproduction: 1 correct answer of 4 points, sent under 32 spellings (it scored 91 and passed).
    flood = {key: "b" for key in spellings(quiz.question_ids[0])}
    error = await rpc.error("attempt.submit", {"attempt_id": attempt["attempt_id"], "answers": flood}, stu.token)
    assert (error["code"], error["data"]["reason"]) == (422, "invalid_answer")
    # The decoding trick (option j sent 2^j times) is refused the same way.
    keys = spellings(quiz.question_ids[1])
    decode = {**{k: "a" for k in keys[:1]}, **{k: "b" for k in keys[1:3]}, **{k: "c" for k in keys[3:7]}}
    error = await rpc.error("attempt.submit", {"attempt_id": attempt["attempt_id"], "answers": decode}, stu.token)
    assert (error["code"], error["data"]["reason"]) == (422, "invalid_answer")
    assert db.execute("select status from app.quiz_attempts where id = %s", [attempt["attempt_id"]]) == [
        ("in_progress",)]
    # One key per question in any one spelling is fine, and is graded once.
    result = await rpc.ok("attempt.submit", {"attempt_id": attempt["attempt_id"],
                                             "answers": {quiz.question_ids[0].upper().replace("-", ""): "b"}},
                          stu.token)
    assert (result["points_earned"], result["points_total"], result["score"], result["passed"]) == (1, 4, 25, False)


# ------------------------------------------------------------------------------- 2. per-question grading hidden
async def test_students_get_no_per_question_correctness(rpc, db, users, people, analyst):
    inst, stu, _, course_id = people
    quiz = await make_quiz(rpc, inst.token, course_id, [tf("true"), mc("b", points=2)])
    attempt = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, stu.token)
    answers = {quiz.question_ids[0]: "false", quiz.question_ids[1]: "b"}
    result = await rpc.ok("attempt.submit", {"attempt_id": attempt["attempt_id"], "answers": answers}, stu.token)
    assert (result["points_earned"], result["points_total"], result["score"]) == (2, 3, 67)

    (mine,) = await rpc.ok("attempt.list_mine", {"quiz_id": quiz.id}, stu.token)
    assert (mine["score"], mine["passed"], mine["points_earned"], mine["points_total"]) == (67, False, 2, 3)
    assert mine["answers"] == answers  # what the student gave, nothing more
    assert "grading" not in mine
    assert "correct" not in str(mine) and "points_earned" not in str(mine["answers"])

    # The course's instructor gets the per-question grading from attempt.list_for_quiz.
    (theirs,) = await rpc.ok("attempt.list_for_quiz", {"quiz_id": quiz.id}, inst.token)
    assert theirs["grading"] == {
        quiz.question_ids[0]: {"answer": "false", "correct": False, "points_earned": 0, "points": 1},
        quiz.question_ids[1]: {"answer": "b", "correct": True, "points_earned": 2, "points": 2}}

    # Direct SQL as lms_api (the student's own row is visible under RLS): the grading column is not.
    with as_api(db, stu.id) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select grading from app.quiz_attempts")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select * from app.quiz_attempts")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # nor around the parent, via a partition
            conn.execute("select grading from partitions.quiz_attempts_default")
        (row,) = conn.execute("select answers, score, points_earned, points_total from app.quiz_attempts").fetchall()
        assert row == (answers, 67, 2, 3)
    # Not for the instructor via SQL either: only through the helper that checks the caller.
    with as_api(db, inst.id) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select grading from app.quiz_attempts")
    other_inst = await users.make("instructor")
    with as_api(db, other_inst.id) as conn:
        with pytest.raises(psycopg.Error) as raised:
            conn.execute("select internal.quiz_attempts_graded(%s)", [quiz.id])
        assert raised.value.sqlstate == "LM404"
    assert (await rpc.error("attempt.list_for_quiz", {"quiz_id": quiz.id}, stu.token))["code"] == 403

    # An analyst linked to the student: same.
    login = analyst(stu.id)
    with db.connect(login) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select grading from app.quiz_attempts")
        assert conn.execute("select count(*) from app.quiz_attempts").fetchone() == (1,)


# ------------------------------------------------------------------------------- 3. grade <= points
async def test_grade_never_exceeds_assignment_points(rpc, db, people):
    inst, stu, stu2, course_id = people
    asg = await rpc.ok("assignment.create", {"course_id": course_id, "title": "A", "points": 10}, inst.token)
    sub = await rpc.ok("submission.submit", {"assignment_id": asg["id"], "content": "w"}, stu.token)
    await rpc.ok("submission.submit", {"assignment_id": asg["id"], "content": "w"}, stu2.token)
    await rpc.ok("submission.grade", {"submission_id": sub["id"], "grade": 8}, inst.token)

    error = await rpc.error("assignment.update", {"assignment_id": asg["id"], "points": 5}, inst.token)
    assert (error["code"], error["data"]["reason"]) == (422, "points_below_grade")
    assert db.execute("select points from app.assignments where id = %s", [asg["id"]]) == [(10,)]
    changed = await rpc.ok("assignment.update", {"assignment_id": asg["id"], "points": 8}, inst.token)
    assert changed["points"] == 8

    # A direct UPDATE by the course's instructor (lms_api under RLS) cannot bypass submission.grade's check.
    with as_api(db, inst.id) as conn:
        with pytest.raises(psycopg.Error) as raised:
            conn.execute("update app.submissions set grade = 9, graded_at = now() where id = %s", [sub["id"]])
        assert (raised.value.sqlstate, raised.value.diag.message_detail) == ("LM422", "invalid_grade")
        conn.execute("update app.submissions set grade = 7.5, graded_at = now() where id = %s", [sub["id"]])
        with pytest.raises(psycopg.Error) as raised:
            conn.execute("update app.assignments set points = 7 where id = %s", [asg["id"]])
        assert (raised.value.sqlstate, raised.value.diag.message_detail) == ("LM422", "points_below_grade")
    assert db.execute("select grade from app.submissions where id = %s", [sub["id"]])[0][0] == 7.5
    error = await rpc.error("submission.grade", {"submission_id": sub["id"], "grade": 8.5}, inst.token)
    assert (error["code"], error["data"]["reason"]) == (422, "invalid_grade")


# ------------------------------------------------------------------------------- 4. submit needs enrollment
async def test_submit_after_dropping_the_course_is_403(rpc, db, people):
    inst, stu, _, course_id = people
    quiz = await make_quiz(rpc, inst.token, course_id, [mc()])
    attempt = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, stu.token)
    params = {"attempt_id": attempt["attempt_id"], "answers": {quiz.question_ids[0]: "b"}}
    db.execute("update app.enrollments set is_active = false, dropped_at = now() where user_id = %s", [stu.id])
    error = await rpc.error("attempt.submit", params, stu.token)
    assert (error["code"], error["data"]["reason"]) == (403, "not_enrolled")
    assert db.execute("select status from app.quiz_attempts where id = %s", [attempt["attempt_id"]]) == [
        ("in_progress",)]
    db.execute("update app.enrollments set is_active = true, dropped_at = null where user_id = %s", [stu.id])
    assert (await rpc.ok("attempt.submit", params, stu.token))["score"] == 100


async def test_submit_to_an_unpublished_quiz_is_422(rpc, db, people):
    inst, stu, _, course_id = people
    quiz = await make_quiz(rpc, inst.token, course_id, [mc()])
    attempt = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, stu.token)
    params = {"attempt_id": attempt["attempt_id"], "answers": {quiz.question_ids[0]: "b"}}
    await rpc.ok("quiz.unpublish", {"quiz_id": quiz.id}, inst.token)
    error = await rpc.error("attempt.submit", params, stu.token)
    assert (error["code"], error["data"]["reason"]) == (422, "quiz_not_published")
    await rpc.ok("quiz.publish", {"quiz_id": quiz.id}, inst.token)
    assert (await rpc.ok("attempt.submit", params, stu.token))["score"] == 100


# ------------------------------------------------------------------------------- 5. gradebook.mine
async def test_gradebook_mine_lists_only_published_quizzes(rpc, people):
    inst, stu, _, course_id = people
    published = await make_quiz(rpc, inst.token, course_id, [mc()])
    draft = await make_quiz(rpc, inst.token, course_id, [mc()], publish=False)
    await rpc.ok("quiz.update", {"quiz_id": draft.id, "title": "Secret upcoming exam"}, inst.token)
    mine = await rpc.ok("gradebook.mine", {"course_id": course_id}, stu.token)
    assert [q["quiz_id"] for q in mine["quizzes"]] == [published.id]
    assert "Secret upcoming exam" not in str(mine)
    book = await rpc.ok("gradebook.course", {"course_id": course_id}, inst.token)
    assert {q["quiz_id"] for q in book[0]["quizzes"]} == {published.id, draft.id}


async def test_points_lowered_while_a_grade_is_written_cannot_both_commit(rpc, db, people):
    """The grade check locks the assignment row (FOR SHARE): a grade written while another transaction
    lowers the points waits for it and is then checked against the new points."""
    inst, stu, _, course_id = people
    asg = await rpc.ok("assignment.create", {"course_id": course_id, "title": "A", "points": 10}, inst.token)
    sub = await rpc.ok("submission.submit", {"assignment_id": asg["id"], "content": "w"}, stu.token)
    with db.connect(autocommit=False) as lowering, db.connect(autocommit=False) as grading:
        lowering.execute("update app.assignments set points = 5 where id = %s", [asg["id"]])  # not committed yet
        (pid,) = lowering.execute("select pg_backend_pid()").fetchone()
        outcome = {}

        def grade() -> None:
            try:
                grading.execute("update app.submissions set grade = 8, graded_at = now() where id = %s", [sub["id"]])
                grading.commit()
                outcome["ok"] = True
            except psycopg.Error as e:
                grading.rollback()
                outcome["error"] = e.sqlstate

        worker = threading.Thread(target=grade)
        worker.start()
        for _ in range(100):  # wait until the grade is blocked behind the points change
            if db.execute("select count(*) from pg_stat_activity where %s = any(pg_blocking_pids(pid))", [pid])[0][0]:
                break
            time.sleep(0.02)
        else:
            pytest.fail("the grade update did not wait for the points change")
        lowering.commit()
        worker.join(10)
    assert outcome == {"error": "LM422"}
    assert db.execute("select a.points, s.grade from app.assignments a join app.submissions s "
                      "on s.assignment_id = a.id where a.id = %s", [asg["id"]]) == [(5, None)]
