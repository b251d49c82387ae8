"""One rule everywhere (issue 13, items 7 and 8), through the real JSON-RPC server:

- nobody grades their own submission (403 forbidden, and a table constraint for every other path);
- something the caller cannot see is 404 not_found on every method that takes its id, while
  something visible but not allowed stays 403;
- every `*.update`: an omitted field stays, an explicit null clears a nullable field, a null for a
  required field is -32602; a blank nullable text field is stored as null;
- a published course keeps at least one published lesson (422 last_published_lesson).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
import pytest

pytestmark = pytest.mark.asyncio

UNKNOWN = "00000000-0000-4000-8000-000000000000"


async def course_with_content(rpc, token: str, publish: bool = True) -> dict[str, str]:
    """A free course with one lesson, one quiz (one question) and one assignment; all published if asked."""
    course = await rpc.ok("course.create", {"title": "Course", "price_cents": 0}, token)
    lesson = await rpc.ok("lesson.create", {"course_id": course["id"], "title": "Lesson", "content": "body"}, token)
    quiz = await rpc.ok("quiz.create", {"course_id": course["id"], "title": "Quiz"}, token)
    await rpc.ok("quiz.add_question", {"quiz_id": quiz["id"], "question_text": "?", "question_type": "true_false",
                                       "correct_answer": "true"}, token)
    assignment = await rpc.ok("assignment.create", {"course_id": course["id"], "title": "Essay", "points": 10}, token)
    if publish:
        await rpc.ok("lesson.publish", {"lesson_id": lesson["id"]}, token)
        await rpc.ok("quiz.publish", {"quiz_id": quiz["id"]}, token)
        await rpc.ok("course.publish", {"course_id": course["id"]}, token)
    return {"course_id": course["id"], "lesson_id": lesson["id"], "quiz_id": quiz["id"],
            "assignment_id": assignment["id"]}


# ------------------------------------------------------------------------------- self-grading
async def test_nobody_grades_their_own_submission(rpc, users, db):
    teacher, admin = await users.make("instructor"), await users.make("admin")
    ids = await course_with_content(rpc, teacher.token)
    await rpc.ok("enrollment.enroll", {"course_id": ids["course_id"]}, teacher.token)
    own = await rpc.ok("submission.submit", {"assignment_id": ids["assignment_id"], "content": "mine"}, teacher.token)

    err = await rpc.error("submission.grade", {"submission_id": own["id"], "grade": 10}, teacher.token)
    assert (err["code"], err["data"]["reason"]) == (403, "forbidden")
    assert db.execute("select grade, graded_by from app.submissions where id = %s", [own["id"]]) == [(None, None)]

    # No other path either: the table refuses a row graded by its own author, whoever writes it.
    with pytest.raises(psycopg.errors.CheckViolation, match="ck_submissions_not_self_graded"):
        db.execute("update app.submissions set grade = 10, graded_at = now(), graded_by = user_id where id = %s",
                   [own["id"]])

    graded = await rpc.ok("submission.grade", {"submission_id": own["id"], "grade": 7}, admin.token)
    assert (graded["grade"], graded["graded_by"]) == (7, admin.id)


async def test_an_admin_does_not_grade_their_own_submission_either(rpc, users):
    teacher, admin = await users.make("instructor"), await users.make("admin")
    ids = await course_with_content(rpc, teacher.token)
    await rpc.ok("enrollment.enroll", {"course_id": ids["course_id"]}, admin.token)
    own = await rpc.ok("submission.submit", {"assignment_id": ids["assignment_id"], "content": "mine"}, admin.token)
    err = await rpc.error("submission.grade", {"submission_id": own["id"], "grade": 10}, admin.token)
    assert (err["code"], err["data"]["reason"]) == (403, "forbidden")
    assert (await rpc.ok("submission.grade", {"submission_id": own["id"], "grade": 10}, teacher.token))["grade"] == 10


# ------------------------------------------------------------------------------- 404 vs 403
# Every method that takes the id of a course, lesson, quiz or assignment.
BY_COURSE = ["assignment.list", "quiz.list", "enrollment.list_for_course", "gradebook.course", "gradebook.mine",
             "course.get", "enrollment.enroll", "enrollment.drop", "course.update", "course.publish",
             "course.unpublish", "course.delete", "lesson.create", "quiz.create", "assignment.create"]
BY_LESSON = ["lesson.get", "lesson.complete", "lesson.update", "lesson.publish", "lesson.unpublish", "lesson.delete"]
BY_QUIZ = ["quiz.get", "attempt.list_mine", "attempt.list_for_quiz", "attempt.start", "quiz.update", "quiz.publish",
           "quiz.unpublish", "quiz.add_question"]
BY_ASSIGNMENT = ["submission.list_for_assignment", "submission.get_mine", "submission.submit", "assignment.update"]
EXTRA = {"lesson.create": {"title": "x"}, "quiz.create": {"title": "x"}, "assignment.create": {"title": "x"},
         "quiz.add_question": {"question_text": "?", "question_type": "true_false", "correct_answer": "true"},
         "submission.submit": {"content": "x"}}
CALLS = ([(m, "course_id") for m in BY_COURSE] + [(m, "lesson_id") for m in BY_LESSON]
         + [(m, "quiz_id") for m in BY_QUIZ] + [(m, "assignment_id") for m in BY_ASSIGNMENT])


@dataclass
class Cast:
    owner: object
    other_instructor: object
    student: object
    draft: dict[str, str]      # the owner's unpublished course: invisible to the others
    published: dict[str, str]  # the owner's published course; student is enrolled


@pytest.fixture
async def cast(rpc, users) -> Cast:
    owner, other, student = await users.make("instructor"), await users.make("instructor"), await users.make()
    draft = await course_with_content(rpc, owner.token, publish=False)
    published = await course_with_content(rpc, owner.token)
    await rpc.ok("enrollment.enroll", {"course_id": published["course_id"]}, student.token)
    return Cast(owner, other, student, draft, published)


@pytest.mark.parametrize("method, key", CALLS, ids=[m for m, _ in CALLS])
async def test_unknown_and_invisible_ids_are_404(rpc, cast, method, key):
    for caller in (cast.other_instructor, cast.student):
        for target in (UNKNOWN, cast.draft[key]):
            err = await rpc.error(method, {key: target, **EXTRA.get(method, {})}, caller.token)
            assert (err["code"], err["data"]["reason"]) == (404, "not_found"), (caller.role, target, err)


# Visible but not allowed: 403 with the method's reason, as before.
VISIBLE_NOT_ALLOWED = [
    ("other_instructor", "assignment.list", "course_id", "not_enrolled"),
    ("other_instructor", "gradebook.mine", "course_id", "not_enrolled"),
    ("other_instructor", "gradebook.course", "course_id", "not_course_owner"),
    ("other_instructor", "enrollment.list_for_course", "course_id", "not_course_owner"),
    ("other_instructor", "lesson.get", "lesson_id", "not_enrolled"),
    ("other_instructor", "lesson.complete", "lesson_id", "not_enrolled"),
    ("other_instructor", "attempt.start", "quiz_id", "not_enrolled"),
    ("other_instructor", "submission.submit", "assignment_id", "not_enrolled"),
    ("other_instructor", "course.update", "course_id", "not_course_owner"),
    ("student", "gradebook.course", "course_id", "not_course_owner"),
    ("student", "enrollment.list_for_course", "course_id", "not_course_owner"),
    ("student", "attempt.list_for_quiz", "quiz_id", "not_course_owner"),
    ("student", "submission.list_for_assignment", "assignment_id", "not_course_owner"),
    ("student", "quiz.update", "quiz_id", "not_course_owner"),
    ("student", "assignment.update", "assignment_id", "not_course_owner"),
]


@pytest.mark.parametrize("who, method, key, reason", VISIBLE_NOT_ALLOWED,
                         ids=[f"{w}-{m}" for w, m, _, _ in VISIBLE_NOT_ALLOWED])
async def test_visible_but_not_allowed_stays_403(rpc, cast, who, method, key, reason):
    caller = getattr(cast, who)
    err = await rpc.error(method, {key: cast.published[key], **EXTRA.get(method, {})}, caller.token)
    assert (err["code"], err["data"]["reason"]) == (403, reason), err


async def test_lists_of_a_visible_course_answer(rpc, cast):
    """The 404 check does not hide what the caller may see."""
    quizzes = await rpc.ok("quiz.list", {"course_id": cast.published["course_id"]}, cast.student.token)
    assert [q["id"] for q in quizzes] == [cast.published["quiz_id"]]
    assert await rpc.ok("quiz.list", {"course_id": cast.published["course_id"]}, cast.other_instructor.token) == []
    assert await rpc.ok("attempt.list_mine", {"quiz_id": cast.published["quiz_id"]}, cast.student.token) == []
    assert len(await rpc.ok("assignment.list", {"course_id": cast.draft["course_id"]}, cast.owner.token)) == 1
    assert await rpc.ok("gradebook.course", {"course_id": cast.draft["course_id"]}, cast.owner.token) == []


async def test_a_dropped_student_still_lists_their_attempts(rpc, cast):
    started = await rpc.ok("attempt.start", {"quiz_id": cast.published["quiz_id"]}, cast.student.token)
    await rpc.ok("attempt.submit", {"attempt_id": started["attempt_id"], "answers": {}}, cast.student.token)
    await rpc.ok("enrollment.drop", {"course_id": cast.published["course_id"]}, cast.student.token)
    mine = await rpc.ok("attempt.list_mine", {"quiz_id": cast.published["quiz_id"]}, cast.student.token)
    assert [a["attempt_id"] for a in mine] == [started["attempt_id"]]


# ------------------------------------------------------------------------------- one update rule
async def assert_null_is_invalid(rpc, method: str, params: dict, field: str, token: str) -> None:
    err = await rpc.error(method, {**params, field: None}, token)
    assert err["code"] == -32602, (method, field, err)


async def test_course_and_lesson_update_rule(rpc, users, db):
    teacher = await users.make("instructor")
    course = await rpc.ok("course.create", {"title": "C", "price_cents": 0, "description": "d",
                                            "short_description": "s", "category": "data",
                                            "thumbnail_url": "https://img.example/1.png", "tags": ["x"]}, teacher.token)
    cid = {"course_id": course["id"]}
    kept = await rpc.ok("course.update", {**cid, "title": "C2"}, teacher.token)
    assert (kept["description"], kept["short_description"], kept["category"], kept["thumbnail_url"], kept["tags"]) == \
        ("d", "s", "data", "https://img.example/1.png", ["x"])
    cleared = await rpc.ok("course.update", {**cid, "description": None, "short_description": None, "category": None,
                                             "thumbnail_url": None}, teacher.token)
    assert (cleared["description"], cleared["short_description"], cleared["category"], cleared["thumbnail_url"]) == \
        (None, None, None, None)
    assert (cleared["title"], cleared["tags"]) == ("C2", ["x"])
    blank = await rpc.ok("course.update", {**cid, "description": "", "category": "  "}, teacher.token)
    assert (blank["description"], blank["category"]) == (None, None)
    for field in ("title", "price_cents", "tags", "currency", "instructor_id"):
        await assert_null_is_invalid(rpc, "course.update", cid, field, teacher.token)

    lesson = await rpc.ok("lesson.create", {**cid, "title": "L", "content": "text", "video_url": "https://v.example/1",
                                            "duration_minutes": 5}, teacher.token)
    lid = {"lesson_id": lesson["id"]}
    await rpc.ok("lesson.update", {**lid, "title": "L2"}, teacher.token)
    query = "select title, content, video_url, duration_minutes from app.lessons where id = %s"
    assert db.execute(query, [lesson["id"]]) == [("L2", "text", "https://v.example/1", 5)]
    await rpc.ok("lesson.update", {**lid, "content": None, "video_url": None}, teacher.token)
    assert db.execute(query, [lesson["id"]]) == [("L2", None, None, 5)]
    for field in ("title", "duration_minutes"):
        await assert_null_is_invalid(rpc, "lesson.update", lid, field, teacher.token)


async def test_quiz_and_question_update_rule(rpc, users, db):
    teacher = await users.make("instructor")
    course = await rpc.ok("course.create", {"title": "C", "price_cents": 0}, teacher.token)
    lesson = await rpc.ok("lesson.create", {"course_id": course["id"], "title": "L"}, teacher.token)
    quiz = await rpc.ok("quiz.create", {"course_id": course["id"], "title": "Q", "description": "d",
                                        "lesson_id": lesson["id"], "time_limit_minutes": 10, "max_attempts": 2},
                        teacher.token)
    qid = {"quiz_id": quiz["id"]}
    kept = await rpc.ok("quiz.update", {**qid, "title": "Q2"}, teacher.token)
    assert (kept["description"], kept["lesson_id"], kept["time_limit_minutes"], kept["max_attempts"]) == \
        ("d", lesson["id"], 10, 2)
    cleared = await rpc.ok("quiz.update", {**qid, "description": None, "lesson_id": None, "time_limit_minutes": None,
                                           "max_attempts": None}, teacher.token)
    assert (cleared["description"], cleared["lesson_id"], cleared["time_limit_minutes"], cleared["max_attempts"]) == \
        (None, None, None, None)
    assert (cleared["title"], cleared["passing_score_percentage"]) == ("Q2", 70)
    for field in ("title", "passing_score_percentage"):
        await assert_null_is_invalid(rpc, "quiz.update", qid, field, teacher.token)

    question = await rpc.ok("quiz.add_question", {**qid, "question_text": "?", "question_type": "multiple_choice",
                                                  "options": ["a", "b"], "correct_answer": "a"}, teacher.token)
    sid = {"question_id": question["id"]}
    err = await rpc.error("quiz.update_question", {**sid, "options": None}, teacher.token)
    assert (err["code"], err["data"]["reason"]) == (422, "invalid_options")
    kept = await rpc.ok("quiz.update_question", {**sid, "points": 3}, teacher.token)
    assert (kept["options"], kept["correct_answer"], kept["points"]) == (["a", "b"], "a", 3)
    changed = await rpc.ok("quiz.update_question", {**sid, "question_type": "true_false", "correct_answer": "true",
                                                    "options": None}, teacher.token)
    assert (changed["options"], changed["correct_answer"]) == (None, "true")
    for field in ("question_text", "question_type", "correct_answer", "points", "question_order"):
        await assert_null_is_invalid(rpc, "quiz.update_question", sid, field, teacher.token)


async def test_assignment_update_rule(rpc, users):
    teacher = await users.make("instructor")
    course = await rpc.ok("course.create", {"title": "C", "price_cents": 0}, teacher.token)
    lesson = await rpc.ok("lesson.create", {"course_id": course["id"], "title": "L"}, teacher.token)
    due = f"{datetime.now(UTC).year + 5}-01-01T00:00:00Z"  # in the future whenever the suite runs
    assignment = await rpc.ok("assignment.create", {"course_id": course["id"], "title": "A", "description": "d",
                                                    "lesson_id": lesson["id"], "due_date": due,
                                                    "allow_late_submission": True, "late_penalty_percentage": 10},
                              teacher.token)
    aid = {"assignment_id": assignment["id"]}
    kept = await rpc.ok("assignment.update", {**aid, "points": 50}, teacher.token)
    assert (kept["description"], kept["lesson_id"], kept["due_date"] is not None, kept["late_penalty_percentage"]) == \
        ("d", lesson["id"], True, 10)
    cleared = await rpc.ok("assignment.update", {**aid, "description": None, "lesson_id": None, "due_date": None},
                           teacher.token)
    assert (cleared["description"], cleared["lesson_id"], cleared["due_date"]) == (None, None, None)
    assert (cleared["points"], cleared["allow_late_submission"]) == (50, True)
    for field in ("title", "points", "allow_late_submission", "late_penalty_percentage"):
        await assert_null_is_invalid(rpc, "assignment.update", aid, field, teacher.token)


async def test_profile_update_rule(rpc, users):
    teacher = await users.make("instructor")
    profile = await rpc.ok("instructor.update_profile", {"title": "Dr", "bio": "b", "expertise": ["sql"]},
                           teacher.token)
    assert (profile["title"], profile["bio"], profile["expertise"]) == ("Dr", "b", ["sql"])
    kept = await rpc.ok("instructor.update_profile", {"bio": "b2"}, teacher.token)
    assert (kept["title"], kept["bio"], kept["expertise"]) == ("Dr", "b2", ["sql"])
    cleared = await rpc.ok("instructor.update_profile", {"title": None, "bio": None}, teacher.token)
    assert (cleared["title"], cleared["bio"], cleared["expertise"]) == (None, None, ["sql"])
    await assert_null_is_invalid(rpc, "instructor.update_profile", {}, "expertise", teacher.token)

    me = await rpc.ok("user.update_profile", {"metadata": {"k": 1}}, teacher.token)
    assert me["metadata"] == {"k": 1}
    for field in ("full_name", "metadata"):
        await assert_null_is_invalid(rpc, "user.update_profile", {}, field, teacher.token)


# ------------------------------------------------------------------------------- last published lesson
async def test_a_published_course_keeps_a_published_lesson(rpc, users, db):
    teacher = await users.make("instructor")
    ids = await course_with_content(rpc, teacher.token)
    second = await rpc.ok("lesson.create", {"course_id": ids["course_id"], "title": "Two"}, teacher.token)
    await rpc.ok("lesson.publish", {"lesson_id": second["id"]}, teacher.token)

    await rpc.ok("lesson.unpublish", {"lesson_id": second["id"]}, teacher.token)
    for method in ("lesson.unpublish", "lesson.delete"):
        err = await rpc.error(method, {"lesson_id": ids["lesson_id"]}, teacher.token)
        assert (err["code"], err["data"]["reason"]) == (422, "last_published_lesson"), method
    assert db.execute("select is_published from app.lessons where id = %s", [ids["lesson_id"]]) == [(True,)]

    # Direct SQL as the instructor (the API role) is held by the constraint trigger at commit.
    with pytest.raises(psycopg.Error, match="at least one published lesson") as raised:
        with db.connect("lms_authenticator") as conn, conn.transaction():
            conn.execute("select set_config('role', 'lms_api', true), set_config('lms.user_id', %s, true)",
                         [teacher.id])
            conn.execute("update app.lessons set is_published = false where id = %s", [ids["lesson_id"]])
    assert raised.value.sqlstate == "LM422"
    # … but unpublishing the course and then its lesson in one transaction is fine (either order).
    with db.connect("lms_authenticator") as conn, conn.transaction():
        conn.execute("select set_config('role', 'lms_api', true), set_config('lms.user_id', %s, true)", [teacher.id])
        conn.execute("update app.lessons set is_published = false where id = %s", [ids["lesson_id"]])
        conn.execute("update app.courses set is_published = false where id = %s", [ids["course_id"]])
    await rpc.ok("lesson.publish", {"lesson_id": ids["lesson_id"]}, teacher.token)
    await rpc.ok("course.publish", {"course_id": ids["course_id"]}, teacher.token)

    await rpc.ok("course.unpublish", {"course_id": ids["course_id"]}, teacher.token)
    await rpc.ok("lesson.unpublish", {"lesson_id": ids["lesson_id"]}, teacher.token)
    await rpc.ok("lesson.delete", {"lesson_id": ids["lesson_id"]}, teacher.token)
    # Deleting a published course with its published lessons is not affected.
    other = await course_with_content(rpc, teacher.token)
    assert (await rpc.ok("course.delete", {"course_id": other["course_id"]}, teacher.token))["deleted"] is True
    assert db.execute("select count(*) from app.courses where id = %s", [other["course_id"]]) == [(0,)]


# ------------------------------------------------------------------------------- paged lists
def _key(item: dict) -> str:
    return item.get("id") or item.get("file_id") or item["user_id"]


async def test_every_list_pages_with_limit_and_offset(rpc, users, db):
    """Each list method: with 3+ items, limit 2 offset 0 and limit 2 offset 2 are disjoint and, together,
    the start of the whole list in the same order; limit 0 is -32602."""
    owner = await users.make("instructor")
    s1, s2, s3, grad = [await users.make() for _ in range(4)]
    a = await course_with_content(rpc, owner.token)
    for _ in range(2):  # 3 quizzes and 3 assignments in course a
        await rpc.ok("quiz.create", {"course_id": a["course_id"], "title": "Q"}, owner.token)
        await rpc.ok("assignment.create", {"course_id": a["course_id"], "title": "A", "points": 5}, owner.token)
    for s in (s1, s2, s3):
        await rpc.ok("enrollment.enroll", {"course_id": a["course_id"]}, s.token)
        await rpc.ok("submission.submit", {"assignment_id": a["assignment_id"], "content": "x"}, s.token)
    await rpc.ok("quiz.update", {"quiz_id": a["quiz_id"], "max_attempts": None}, owner.token)
    for _ in range(3):
        started = await rpc.ok("attempt.start", {"quiz_id": a["quiz_id"]}, s1.token)
        await rpc.ok("attempt.submit", {"attempt_id": started["attempt_id"], "answers": {}}, s1.token)
    for _ in range(3):  # 3 completed courses → 3 enrollments and 3 certificates for grad
        course = await rpc.ok("course.create", {"title": "C", "price_cents": 0}, owner.token)
        lesson = await rpc.ok("lesson.create", {"course_id": course["id"], "title": "L", "content": "b"}, owner.token)
        await rpc.ok("lesson.publish", {"lesson_id": lesson["id"]}, owner.token)
        await rpc.ok("course.publish", {"course_id": course["id"]}, owner.token)
        await rpc.ok("enrollment.enroll", {"course_id": course["id"]}, grad.token)
        await rpc.ok("lesson.complete", {"lesson_id": lesson["id"]}, grad.token)
    for i in range(3):
        db.execute("insert into app.files (uploaded_by, course_id, original_filename, storage_path, content_type,"
                   " file_size) values (%s, %s, 'f.pdf', %s, 'application/pdf', 10)",
                   [owner.id, a["course_id"], f"paging/{i}"])
    cases = [
        ("enrollment.list_mine", {}, grad),
        ("enrollment.list_for_course", {"course_id": a["course_id"]}, owner),
        ("quiz.list", {"course_id": a["course_id"]}, owner),
        ("assignment.list", {"course_id": a["course_id"]}, owner),
        ("attempt.list_mine", {"quiz_id": a["quiz_id"]}, s1),
        ("attempt.list_for_quiz", {"quiz_id": a["quiz_id"]}, owner),
        ("submission.list_for_assignment", {"assignment_id": a["assignment_id"]}, owner),
        ("certificate.list_mine", {}, grad),
        ("gradebook.course", {"course_id": a["course_id"]}, owner),
        ("file.list", {"course_id": a["course_id"]}, owner),
        ("course.list", {"instructor_id": owner.id}, owner),
        ("order.list_mine", {}, grad),
        ("admin.list_users", {}, await users.make("admin")),
    ]
    for method, params, who in cases:
        whole = [_key(x) for x in await rpc.ok(method, {**params, "limit": 100}, who.token)]
        first = [_key(x) for x in await rpc.ok(method, {**params, "limit": 2, "offset": 0}, who.token)]
        second = [_key(x) for x in await rpc.ok(method, {**params, "limit": 2, "offset": 2}, who.token)]
        if method != "order.list_mine":  # grad bought nothing: only the checks below
            assert len(whole) >= 3 and len(first) == 2 and second, (method, whole)
        assert not set(first) & set(second), method
        assert first + second == whole[:4], method
        err = await rpc.error(method, {**params, "limit": 0}, who.token)
        assert (err["code"], err["data"]["field"]) == (-32602, "limit"), (method, err)
        err = await rpc.error(method, {**params, "offset": -1}, who.token)
        assert err["code"] == -32602, (method, err)
