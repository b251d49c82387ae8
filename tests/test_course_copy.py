"""course.copy (issue 28 §3): the next term in one call and one transaction — structure, content,
questions, assignments and course files (new rows sharing the bytes), dates shifted, nothing of the
learners; the copy is independent of its source, and the bytes go only when no row refers to them."""

from __future__ import annotations

import datetime as dt

from rpc.workers.storage import sweep
from tests.helpers.assessment import make_quiz, mc, tf
from tests.helpers.files import download, pdf, upload


def stored(client) -> list:
    return sorted(p for p in client.files_dir.rglob("*") if p.is_file())


async def build(rpc, users):
    """Two modules (the second behind the first, opening on a date), lessons with content, a quiz of two
    questions attached to a lesson, an assignment with a due date, a course file; a learner with progress,
    an attempt, a submission and an override."""
    ina = await users.make("instructor")
    course = await rpc.ok("course.create", {"title": "Storage engines", "price_cents": 0, "tags": ["db"]}, ina.token)
    cid = course["id"]
    w1 = await rpc.ok("module.create", {"course_id": cid, "title": "Heap"}, ina.token)
    w2 = await rpc.ok("module.create", {"course_id": cid, "title": "WAL", "unlock_at": "2027-02-01T09:00:00Z",
                                        "prerequisite_module_ids": [w1["id"]]}, ina.token)
    lessons = []
    for n, module in enumerate((w1, w1, w2)):
        lesson = await rpc.ok("lesson.create", {"course_id": cid, "title": f"L{n}", "content": f"secret body {n}",
                                                "module_id": module["id"]}, ina.token)
        await rpc.ok("lesson.publish", {"lesson_id": lesson["id"]}, ina.token)
        lessons.append(lesson["id"])
    for module in (w1, w2):
        await rpc.ok("module.publish", {"module_id": module["id"]}, ina.token)
    quiz = await make_quiz(rpc, ina.token, cid, [mc("b"), tf("false")], lesson_id=lessons[0], module_id=w1["id"])
    asg = await rpc.ok("assignment.create", {"course_id": cid, "title": "Essay", "due_date": "2027-02-15T17:00:00Z",
                                             "module_id": w2["id"], "late_penalty_percentage": 10}, ina.token)
    await rpc.ok("course.publish", {"course_id": cid}, ina.token)
    status, file = await upload(rpc, ina.token, pdf(seed=b"syllabus"), course_id=cid, filename="syllabus.pdf")
    assert status == 201, file
    stu = await users.make()
    await rpc.ok("enrollment.enroll", {"course_id": cid}, stu.token)
    await rpc.ok("lesson.complete", {"lesson_id": lessons[0]}, stu.token)
    await rpc.ok("attempt.start", {"quiz_id": quiz.id}, stu.token)
    await rpc.ok("override.set", {"user_id": stu.id, "quiz_id": quiz.id, "extra_attempts": 2}, ina.token)
    return ina, stu, cid, (w1["id"], w2["id"]), lessons, quiz, asg, file


async def test_a_copy_has_everything_of_the_course_and_nothing_of_its_learners(db, frpc, fusers):
    ina, stu, cid, modules, lessons, quiz, asg, file = await build(frpc, fusers)
    copy = await frpc.ok("course.copy", {"course_id": cid, "shift_days": 7}, ina.token)
    new = copy["id"]
    assert (copy["title"], copy["is_published"], copy["instructor_id"]) == ("Storage engines (copy)", False, ina.id)

    def shape(course_id):  # the structure with ids replaced by their place
        mods = db.execute("select id, title, position, is_published, unlock_at, requirement from app.modules"
                          " where course_id = %s order by position", [course_id])
        place = {m[0]: m[2] for m in mods}
        prereqs = sorted((place[a], place[b]) for a, b in db.execute(
            "select module_id, prerequisite_id from app.module_prerequisites where course_id = %s", [course_id]))
        les = db.execute("select id, title, content, lesson_order, is_published, module_id, module_position"
                         " from app.lessons where course_id = %s order by lesson_order", [course_id])
        order = {r[0]: r[3] for r in les}
        quizzes = db.execute("select q.title, q.lesson_id, q.module_id, q.is_published, array_agg((x.question_text,"
                             " x.question_type, x.options, x.correct_answer, x.points, x.question_order)::text"
                             " order by x.question_order) from app.quizzes q join app.questions x on x.quiz_id = q.id"
                             " where q.course_id = %s group by q.id", [course_id])
        asgs = db.execute("select title, due_date, module_id, late_penalty_percentage from app.assignments"
                          " where course_id = %s", [course_id])
        files = db.execute("select original_filename, storage_path, file_size, sha256 from app.files"
                           " where course_id = %s", [course_id])
        return dict(
            modules=[(m[1], m[2], m[3], m[5]) for m in mods], unlock=[m[4] for m in mods], prereqs=prereqs,
            lessons=[(r[1], r[2], r[3], r[4], place[r[5]], r[6]) for r in les],
            quizzes=[(q[0], order[q[1]], place[q[2]], q[3], q[4]) for q in quizzes],
            assignments=[(a[0], place[a[2]], a[3]) for a in asgs], due=[a[1] for a in asgs], files=files)

    before, after = shape(cid), shape(new)
    for key in ("modules", "prereqs", "lessons", "quizzes", "assignments", "files"):
        assert after[key] == before[key], key
    week = dt.timedelta(days=7)
    assert after["unlock"] == [None, before["unlock"][1] + week] and after["due"] == [before["due"][0] + week]
    learners = db.execute(
        "select (select count(*) from app.enrollments where course_id = %(c)s)"
        " + (select count(*) from app.learner_overrides where course_id = %(c)s)"
        " + (select count(*) from app.accommodations where course_id = %(c)s)"
        " + (select count(*) from app.orders where course_id = %(c)s)"
        " + (select count(*) from app.quiz_attempts a join app.quizzes q on q.id = a.quiz_id where q.course_id = %(c)s)"
        " + (select count(*) from app.quiz_attempt_counters a join app.quizzes q on q.id = a.quiz_id"
        "    where q.course_id = %(c)s)", {"c": new})
    assert learners == [(0,)], "nothing of the learners"
    assert db.execute("select count(*) from app.submissions s join app.assignments a on a.id = s.assignment_id"
                      " where a.course_id = %s", [new]) == [(0,)]
    # The copy is the caller's to change, and its own: a change leaves the source as it was.
    copied = db.execute("select id from app.lessons where course_id = %s order by lesson_order", [new])
    await frpc.ok("lesson.update", {"lesson_id": str(copied[0][0]), "content": "new term"}, ina.token)
    assert db.execute("select content from app.lessons where id = %s", [lessons[0]]) == [("secret body 0",)]
    # A copied file downloads with the same bytes, stored once.
    (copied_file,) = db.execute("select id from app.files where course_id = %s", [new])
    status, _, body = await download(frpc, ina.token, copied_file[0])
    assert status == 200 and body == pdf(seed=b"syllabus") and len(stored(frpc)) == 1


async def test_the_bytes_stay_while_a_copy_refers_to_them(db, frpc, fusers):
    ina, stu, cid, *_ = await build(frpc, fusers)
    copy = await frpc.ok("course.copy", {"course_id": cid, "title": "Storage engines, spring"}, ina.token)
    db.execute("delete from app.enrollments where course_id = %s", [cid])
    db.execute("delete from app.courses where id = %s", [cid])  # the source and its file row go
    with db.connect() as conn:
        sweep(conn, frpc.service.settings)  # `lms db maintain`
    (copied_file,) = db.execute("select id from app.files where course_id = %s", [copy["id"]])
    status, _, body = await download(frpc, ina.token, copied_file[0])
    assert status == 200 and body == pdf(seed=b"syllabus"), "the copy's file still has its bytes"
    await frpc.ok("course.delete", {"course_id": copy["id"]}, ina.token)  # the last row referring to them
    with db.connect() as conn:
        sweep(conn, frpc.service.settings)
    assert stored(frpc) == [] and db.execute("select count(*) from app.storage_pending") == [(0,)]


async def test_who_may_copy(db, frpc, fusers):
    ina, stu, cid, *_ = await build(frpc, fusers)
    stranger = await fusers.make("instructor")
    error = await frpc.error("course.copy", {"course_id": cid}, stranger.token)
    assert (error["code"], error["data"]["reason"]) == (403, "not_course_owner")
    error = await frpc.error("course.copy", {"course_id": cid}, stu.token)
    assert error["code"] == 403
    admin = await fusers.make("admin")
    copy = await frpc.ok("course.copy", {"course_id": cid}, admin.token)
    assert copy["instructor_id"] == ina.id, "an admin without an instructor profile keeps the instructor"
    before = db.execute("select count(*) from app.courses")
    error = await frpc.error("course.copy", {"course_id": cid, "shift_days": 10_000}, ina.token)
    assert (error["code"], error["data"]["field"]) == (-32602, "shift_days")
    assert db.execute("select count(*) from app.courses") == before, "nothing half-written"
