"""Grades that add up (issue 30 §1): categories with weights and dropped lowest items, the course grade
computed once in SQL and read alike by gradebook.course, gradebook.mine, the CSV export and
analytics.course_grades; letter schemes; an instructor's final grade."""

from __future__ import annotations

import asyncio
import csv
import io
from decimal import Decimal

import psycopg

from tests.helpers.assessment import make_quiz, tf
from tests.helpers.catalog import make_course


async def learner_in_course(rpc, users):
    ina = await users.make("instructor")
    course_id, _ = await make_course(rpc, ina, lessons=1)
    learner = await users.make()
    await rpc.ok("enrollment.enroll", {"course_id": course_id}, learner.token)
    return ina, course_id, learner


async def quiz_scored(rpc, ina, learner, course_id, category_id, right: int, of: int = 4):
    """A published quiz of `of` one-point true/false questions in the category, taken once: `right` right."""
    quiz = await make_quiz(rpc, ina.token, course_id, [tf() for _ in range(of)], grade_category_id=category_id)
    started = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, learner.token)
    answers = {q: ("true" if n < right else "false") for n, q in enumerate(quiz.question_ids)}
    await rpc.ok("attempt.submit", {"attempt_id": started["attempt_id"], "answers": answers}, learner.token)
    return quiz


async def test_a_weighted_course_grade_worked_through_to_the_cent(rpc, users, db, analyst):
    """Quizzes 40 % (lowest dropped): 50, 75 and 100 % of 4 points → the 50 is dropped → 7 of 8 = 87.5 %.
    Assignments 60 %: 90 of 100 on time; 40 of 50 late with a 20 % penalty that an override waives → 40;
    an essay quiz (2 points) still waiting for a person → 130 of 150 = 86.67 % (86.6667…; ungraded as 0:
    130 of 152). Course: 0.4 × 87.5 + 0.6 × 86.6667 = 87.00 (B); ungraded as 0: 35 + 0.6 × 85.5263 = 86.32.
    Then a final grade A wins, the computed B beside it, audited."""
    ina, course_id, learner = await learner_in_course(rpc, users)
    quizzes = await rpc.ok("grade.category_create", {"course_id": course_id, "name": "Quizzes", "weight_percent": 40,
                                                     "drop_lowest": 1}, ina.token)
    work = await rpc.ok("grade.category_create", {"course_id": course_id, "name": "Assignments",
                                                  "weight_percent": 60}, ina.token)
    for right in (2, 3, 4):
        await quiz_scored(rpc, ina, learner, course_id, quizzes["id"], right)
    on_time = await rpc.ok("assignment.create", {"course_id": course_id, "title": "Essay 1", "points": 100,
                                                 "grade_category_id": work["id"]}, ina.token)
    late = await rpc.ok("assignment.create", {"course_id": course_id, "title": "Essay 2", "points": 50,
                                              "grade_category_id": work["id"], "due_date": "2020-01-01T00:00:00Z",
                                              "allow_late_submission": True, "late_penalty_percentage": 20},
                        ina.token)
    for assignment, grade in ((on_time, 90), (late, 40)):
        sub = await rpc.ok("submission.submit", {"assignment_id": assignment["id"], "content": "Mine"}, learner.token)
        await rpc.ok("submission.grade", {"submission_id": sub["id"], "grade": grade}, ina.token)
    essay = await make_quiz(rpc, ina.token, course_id, [{"question_type": "essay", "points": 2}],
                            grade_category_id=work["id"])
    started = await rpc.ok("attempt.start", {"quiz_id": essay.id}, learner.token)
    await rpc.ok("attempt.submit", {"attempt_id": started["attempt_id"], "answers": {essay.question_ids[0]: "Words"}},
                 learner.token)

    async def row():
        page = await rpc.ok("gradebook.course", {"course_id": course_id}, ina.token)
        return next(r for r in page if r["user_id"] == learner.id)

    before = (await row())["course_grade"]
    assert (before["percent"], before["letter"]) == (83.8, "B")  # the penalty still applies: 35 + 0.6 × 122 / 150
    await rpc.ok("override.set", {"user_id": learner.id, "assignment_id": late["id"], "waive_late_penalty": True},
                 ina.token)
    mine = await row()
    cats = {c["name"]: c for c in mine["categories"]}
    assert (cats["Quizzes"]["earned"], cats["Quizzes"]["possible"], cats["Quizzes"]["percent"]) == (7, 8, 87.5)
    assert (cats["Assignments"]["earned"], cats["Assignments"]["possible"], cats["Assignments"]["percent"]) \
        == (130, 150, 86.67)
    assert cats["Assignments"]["percent_ungraded_as_zero"] == 85.53 and "Other" not in cats
    grade = mine["course_grade"]
    assert (grade["percent"], grade["letter"], grade["percent_ungraded_as_zero"], grade["overridden"]) \
        == (87.0, "B", 86.32, False)
    own = await rpc.ok("gradebook.mine", {"course_id": course_id}, learner.token)
    assert own["course_grade"] == grade and own["categories"] == mine["categories"]

    final = await rpc.ok("grade.override_final", {"course_id": course_id, "user_id": learner.id, "letter": "A",
                                                  "reason": "Oral exam"}, ina.token)
    assert (final["course_grade"]["letter"], final["course_grade"]["percent"], final["course_grade"]["overridden"],
            final["course_grade"]["computed_letter"]) == ("A", 87.0, True, "B")
    assert (await row())["course_grade"] == final["course_grade"]
    assert db.execute("select count(*) from app.audit_log where action = 'grade.final_overridden' and subject_id = %s",
                      [learner.id])[0][0] == 1

    # The CSV and the analysts' view say the same, to the cent.
    async with rpc.session.get(f"{rpc.base}/export/courses/{course_id}/gradebook.csv",
                               headers={"Authorization": f"Bearer {ina.token}"}) as resp:
        rows = [r for r in csv.DictReader(io.StringIO(await resp.text())) if r["user_id"] == learner.id]
    assert {(r["course_percent"], r["course_letter"], r["course_percent_ungraded_as_zero"]) for r in rows} \
        == {("87.00", "A", "86.32")}
    assert {r["grade_category"]: r["category_percent"] for r in rows} == {"Quizzes": "87.50", "Assignments": "86.67"}
    with psycopg.connect(db.cluster.url(db.name, analyst(ina.id)), autocommit=True) as conn:
        seen = conn.execute("select percent, letter, percent_ungraded_as_zero, overridden, computed_percent "
                            "from analytics.course_grades where course_id = %s and user_id = %s",
                            [course_id, learner.id]).fetchall()
    assert seen == [(Decimal("87.00"), "A", Decimal("86.32"), True, Decimal("87.00"))]
    with psycopg.connect(db.cluster.url(db.name, analyst(learner.id)), autocommit=True) as conn:
        assert conn.execute("select user_id::text, letter from analytics.course_grades where course_id = %s",
                            [course_id]).fetchall() == [(learner.id, "A")]

    cleared = await rpc.ok("grade.override_final", {"course_id": course_id, "user_id": learner.id,
                                                    "reason": "Back to the computed grade"}, ina.token)
    assert (cleared["course_grade"]["letter"], cleared["course_grade"]["overridden"]) == ("B", False)


async def test_weights_never_sum_past_100_not_even_from_two_writers_at_once(rpc, users):
    ina, course_id, _ = await learner_in_course(rpc, users)
    await rpc.ok("grade.category_create", {"course_id": course_id, "name": "A", "weight_percent": 40}, ina.token)
    error = await rpc.error("grade.category_create", {"course_id": course_id, "name": "B", "weight_percent": 70},
                            ina.token)
    assert (error["code"], error["data"]["reason"], error["data"]["field"]) \
        == (422, "invalid_weights", "weight_percent")
    answers = await asyncio.gather(*(
        rpc.call("grade.category_create", {"course_id": course_id, "name": f"C{i}", "weight_percent": 50}, ina.token)
        for i in range(4)))
    assert sorted("result" in a for a in answers) == [False, False, False, True], answers
    listed = await rpc.ok("grade.category_list", {"course_id": course_id}, ina.token)
    assert sum(c["weight_percent"] for c in listed) == 90
    dupe = await rpc.error("grade.category_create", {"course_id": course_id, "name": "A"}, ina.token)
    assert dupe["data"]["reason"] == "conflict"


async def test_points_without_weights_work_in_no_category_and_a_scheme_of_ones_own(rpc, users):
    """Unweighted: every point earned ÷ every point possible, drops per category; a quiz in no category
    counts in "Other". A scheme of one's own gives the letters; a bad one is refused."""
    ina, course_id, learner = await learner_in_course(rpc, users)
    cat = await rpc.ok("grade.category_create", {"course_id": course_id, "name": "Checks", "drop_lowest": 1}, ina.token)
    await quiz_scored(rpc, ina, learner, course_id, cat["id"], 1)  # dropped
    await quiz_scored(rpc, ina, learner, course_id, cat["id"], 3)
    await quiz_scored(rpc, ina, learner, course_id, None, 2, of=2)  # in no category
    other = await rpc.ok("quiz.create", {"course_id": course_id, "title": "Elsewhere"}, ina.token)
    foreign = await rpc.ok("grade.category_create", {"course_id": (await make_course(rpc, ina, lessons=1))[0],
                                                     "name": "X"}, ina.token)
    error = await rpc.error("quiz.update", {"quiz_id": other["id"], "grade_category_id": foreign["id"]}, ina.token)
    assert error["data"]["reason"] == "category_not_in_course"
    mine = await rpc.ok("gradebook.mine", {"course_id": course_id}, learner.token)
    assert {c["name"]: c["percent"] for c in mine["categories"]} == {"Checks": 75, "Other": 100}
    assert (mine["course_grade"]["percent"], mine["course_grade"]["letter"]) == (83.33, "B")  # 5 of 6
    bad = [[{"letter": "A", "min_percent": 90}],
           [{"letter": "A", "min_percent": 50}, {"letter": "A", "min_percent": 0}],
           [{"letter": "P", "min_percent": 0}, {"letter": "F", "min_percent": 0}], "A"]
    for scheme in bad:
        error = await rpc.error("grade.scheme_set", {"course_id": course_id, "scheme": scheme}, ina.token)
        assert error["data"]["reason"] in ("invalid_scheme", "invalid_param"), (scheme, error)
    scheme = [{"letter": "Pass", "min_percent": 80}, {"letter": "Fail", "min_percent": 0}]
    assert (await rpc.ok("grade.scheme_set", {"course_id": course_id, "scheme": scheme}, ina.token))["scheme"] == scheme
    assert (await rpc.ok("gradebook.mine", {"course_id": course_id}, learner.token))["course_grade"]["letter"] == "Pass"
    assert (await rpc.ok("grade.scheme_get", {"course_id": course_id}, learner.token))["scheme"] == scheme
    copy = await rpc.ok("course.copy", {"course_id": course_id, "title": "Next term"}, ina.token)
    copied = await rpc.ok("grade.category_list", {"course_id": copy["id"]}, ina.token)
    assert [(c["name"], c["drop_lowest"]) for c in copied] == [("Checks", 1)] and copied[0]["id"] != cat["id"]
    assert (await rpc.ok("grade.scheme_get", {"course_id": copy["id"]}, ina.token))["scheme"] == scheme
    placed = [q["grade_category_id"] for q in await rpc.ok("quiz.list", {"course_id": copy["id"]}, ina.token)]
    assert sorted(placed, key=str) == sorted([copied[0]["id"], copied[0]["id"], None, None], key=str)


async def test_held_back_grades_reach_no_learner_path_until_posted(rpc, users, db, analyst):
    """grade_posting manual on a quiz and an assignment: the learner sees no score, grade or feedback —
    attempt.submit, attempt.list_mine, submission.get_mine, gradebook.mine (cells and course grade),
    event.list and the WebSocket, their analyst's rows — and the passed quiz completes nothing; the
    instructor sees everything. grade.post releases each: grade.posted events, completion, certificate."""
    import aiohttp

    from tests.helpers.events import call, next_event

    ina, course_id, learner = await learner_in_course(rpc, users)
    quiz = await make_quiz(rpc, ina.token, course_id, [tf(), tf()], grade_posting="manual")
    lesson = (await rpc.ok("course.get", {"course_id": course_id}, learner.token))["lessons"][0]["id"]
    await rpc.ok("lesson.complete", {"lesson_id": lesson}, learner.token)
    work = await rpc.ok("assignment.create", {"course_id": course_id, "title": "Essay", "points": 10,
                                              "grade_posting": "manual"}, ina.token)
    url = rpc.base.replace("http", "ws") + "/ws"
    async with aiohttp.ClientSession() as session, \
            session.ws_connect(url, headers={"Authorization": f"Bearer {learner.token}"}) as ws:
        assert "result" in await call(ws, "event.subscribe", {"types": ["attempt.submitted", "grade.posted"]})
        started = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, learner.token)
        result = await rpc.ok("attempt.submit", {"attempt_id": started["attempt_id"],
                                                 "answers": {q: "true" for q in quiz.question_ids}}, learner.token)
        assert (result["status"], result["score"], result["passed"], result["grade_posted"]) == \
            ("submitted", None, None, False)
        live = await next_event(ws)
        assert live["type"] == "attempt.submitted" and live["data"]["score"] is None and live["data"]["passed"] is None
        sub = await rpc.ok("submission.submit", {"assignment_id": work["id"], "content": "Words"}, learner.token)
        await rpc.ok("submission.grade", {"submission_id": sub["id"], "grade": 8, "feedback": "Good"}, ina.token)

        listed = await rpc.ok("attempt.list_mine", {"quiz_id": quiz.id}, learner.token)
        assert [(a["score"], a["passed"], a["points_earned"]) for a in listed] == [(None, None, None)]
        mine = await rpc.ok("submission.get_mine", {"assignment_id": work["id"]}, learner.token)
        assert (mine["grade"], mine["feedback"], mine["effective_grade"], mine["grade_posted"]) == \
            (None, None, None, False)
        book = await rpc.ok("gradebook.mine", {"course_id": course_id}, learner.token)
        assert (book["quizzes"][0]["best_score"], book["assignments"][0]["grade"]) == (None, None)
        assert book["course_grade"]["percent"] is None and book["completed_at"] is None
        events = await rpc.ok("event.list", {"types": ["attempt.submitted", "submission.graded"]}, learner.token)
        assert {e["type"] for e in events} == {"attempt.submitted", "submission.graded"}
        assert all(e["data"].get("score") is None and e["data"].get("grade") is None for e in events)
        with psycopg.connect(db.cluster.url(db.name, analyst(learner.id)), autocommit=True) as conn:
            assert conn.execute("select count(*) from app.quiz_attempts").fetchone()[0] == 0
            assert conn.execute("select count(*) from app.submissions").fetchone()[0] == 0
            assert conn.execute("select percent from analytics.course_grades").fetchall() == [(None,)]
        # The instructor sees everything meanwhile.
        (row,) = await rpc.ok("gradebook.course", {"course_id": course_id}, ina.token)
        assert (row["quizzes"][0]["best_score"], row["assignments"][0]["grade"]) == (100, 8)

        posted = await rpc.ok("grade.post", {"quiz_id": quiz.id}, ina.token)
        assert posted["learners"] == 1
        announced = await next_event(ws)
        assert announced["type"] == "grade.posted" and announced["data"]["best_score"] == 100
        book = await rpc.ok("gradebook.mine", {"course_id": course_id}, learner.token)
        assert book["quizzes"][0]["best_score"] == 100 and book["assignments"][0]["grade"] is None
        assert book["completed_at"] is not None, "the passed quiz counts once posted: the course is complete"
        assert await rpc.ok("certificate.list_mine", {}, learner.token)
        await rpc.ok("grade.post", {"assignment_id": work["id"]}, ina.token)
        mine = await rpc.ok("submission.get_mine", {"assignment_id": work["id"]}, learner.token)
        assert (float(mine["grade"]), mine["feedback"]) == (8.0, "Good") and "grade_posted" not in mine
        with psycopg.connect(db.cluster.url(db.name, analyst(learner.id)), autocommit=True) as conn:
            assert conn.execute("select count(*) from app.submissions").fetchone()[0] == 1
            assert conn.execute("select percent from analytics.course_grades").fetchall() \
                == [(Decimal("83.33"),)]  # 10 of 12
    wrong = await rpc.error("grade.post", {}, ina.token)
    assert wrong["data"]["reason"] == "one_target_required"
    assert (await rpc.error("grade.post", {"quiz_id": quiz.id}, learner.token))["code"] in (403, 404)


async def test_a_rubric_grades_by_the_sum_of_its_levels_and_never_changes_once_used(rpc, users, db):
    ina, course_id, learner = await learner_in_course(rpc, users)
    work = await rpc.ok("assignment.create", {"course_id": course_id, "title": "Essay", "points": 10}, ina.token)
    criteria = [{"title": "Argument", "levels": [{"label": "Strong", "points": 6}, {"label": "Weak", "points": 2}]},
                {"title": "Style", "levels": [{"label": "Clear", "points": 4}, {"label": "Muddled", "points": 1}]}]
    too_rich = [{"title": "All", "levels": [{"label": "Max", "points": 11}]}]
    error = await rpc.error("rubric.create", {"assignment_id": work["id"], "criteria": too_rich}, ina.token)
    assert (error["data"]["reason"], error["data"]["field"]) == ("invalid_rubric", "criteria")
    rubric = await rpc.ok("rubric.create", {"assignment_id": work["id"], "criteria": criteria}, ina.token)
    assert rubric["points_possible"] == 10 and [c["title"] for c in rubric["criteria"]] == ["Argument", "Style"]
    (argument, style) = rubric["criteria"]
    strong, weak = (lv["id"] for lv in argument["levels"])
    clear, muddled = (lv["id"] for lv in style["levels"])
    other = await rpc.ok("assignment.create", {"course_id": course_id, "title": "Other", "points": 10}, ina.token)
    foreign = await rpc.ok("rubric.create", {"assignment_id": other["id"], "criteria": criteria}, ina.token)
    foreign_level = foreign["criteria"][0]["levels"][0]["id"]
    assert (await rpc.ok("rubric.get", {"assignment_id": work["id"]}, learner.token))["id"] == rubric["id"]

    sub = await rpc.ok("submission.submit", {"assignment_id": work["id"], "content": "My essay"}, learner.token)
    bad = [({argument["id"]: clear, style["id"]: clear}, f"rubric.{argument['id']}"),  # a level of another criterion
           ({argument["id"]: foreign_level, style["id"]: clear}, f"rubric.{argument['id']}"),  # of another rubric
           ({argument["id"]: strong}, f"rubric.{style['id']}")]  # a criterion left out
    for choice, field in bad:
        error = await rpc.error("submission.grade", {"submission_id": sub["id"], "rubric": choice}, ina.token)
        assert (error["data"]["reason"], error["data"]["field"]) == ("invalid_rubric", field), choice
    both = await rpc.error("submission.grade", {"submission_id": sub["id"], "grade": 3,
                                                "rubric": {argument["id"]: strong, style["id"]: muddled}}, ina.token)
    assert both["data"]["reason"] == "invalid_argument"
    graded = await rpc.ok("submission.grade", {"submission_id": sub["id"], "feedback": "Tighten the prose",
                                               "rubric": {argument["id"]: strong, style["id"]: muddled}}, ina.token)
    assert float(graded["grade"]) == 7.0
    mine = await rpc.ok("submission.get_mine", {"assignment_id": work["id"]}, learner.token)
    assert [(r["title"], r["label"], r["points"]) for r in mine["rubric"]] == [("Argument", "Strong", 6),
                                                                               ("Style", "Muddled", 1)]
    assert mine["feedback"] == "Tighten the prose"

    # Used, so frozen — for every writer, the owner included.
    with db.connect() as conn:
        try:
            conn.execute("update app.rubric_levels set points = 5 where id = %s", [strong])
            raise AssertionError("a used rubric changed")
        except psycopg.Error as exc:
            assert exc.sqlstate == "LM409" and exc.diag.message_detail == "rubric_in_use"
    # Replaced for later grading: the first grade keeps its levels.
    criteria[1]["levels"][1]["points"] = 2
    second = await rpc.ok("rubric.create", {"assignment_id": work["id"], "criteria": criteria}, ina.token)
    assert second["id"] != rubric["id"]
    assert [r["points"] for r in (await rpc.ok("submission.get_mine", {"assignment_id": work["id"]},
                                                learner.token))["rubric"]] == [6, 1]
    regraded = await rpc.ok("submission.grade", {"submission_id": sub["id"], "rubric": {
        second["criteria"][0]["id"]: second["criteria"][0]["levels"][0]["id"],
        second["criteria"][1]["id"]: second["criteria"][1]["levels"][1]["id"]}}, ina.token)
    assert float(regraded["grade"]) == 8.0 and [r["points"] for r in regraded["rubric"]] == [6, 2]
    # Held back, the levels are too; a copy of the course has the current rubric.
    await rpc.ok("assignment.update", {"assignment_id": work["id"], "grade_posting": "manual"}, ina.token)
    assert (await rpc.ok("submission.get_mine", {"assignment_id": work["id"]}, learner.token))["rubric"] is None
    copy = await rpc.ok("course.copy", {"course_id": course_id}, ina.token)
    copied = await rpc.ok("assignment.list", {"course_id": copy["id"]}, ina.token)
    essay = next(a for a in copied if a["title"] == "Essay")
    again = await rpc.ok("rubric.get", {"assignment_id": essay["id"]}, ina.token)
    assert [(c["title"], [lv["points"] for lv in c["levels"]]) for c in again["criteria"]] == \
        [("Argument", [6, 2]), ("Style", [4, 2])] and essay["grade_posting"] == "manual"


async def test_the_csv_export_follows_the_course_not_the_site(rpc, users, db):
    """The export of a 2,002-learner course on a site of 20,000 users reads its learners by key (issue 34
    §4): no scan (and hash) of app.users; the rows are the course's."""
    ina = await users.make("instructor")
    course_id, _ = await make_course(rpc, ina, lessons=1)
    learners = [await users.make("student") for _ in range(2)]
    for s in learners:
        await rpc.ok("enrollment.enroll", {"course_id": course_id}, s.token)
    await rpc.ok("assignment.create", {"course_id": course_id, "title": "Essay", "points": 10}, ina.token)
    with db.connect() as su:
        su.execute("insert into app.users (email, password_hash, full_name, role) select 'site-' || g || "
                   "'@example.test', '!', 'Someone ' || g, 'student' from generate_series(1, 20000) g")
        su.execute("set session_replication_role = replica")
        su.execute("insert into app.enrollments (user_id, course_id) select u.id, %s from app.users u "
                   "where u.email like 'site-%%' order by u.email limit 2000", [course_id])
        su.execute("analyze app.users")
        su.execute("analyze app.enrollments")
    with db.connect(autocommit=False) as conn:
        conn.execute("set session authorization lms_authenticator")
        conn.execute("select set_config('role', 'lms_api', true), internal.set_caller(%s, null, '{}')", [ina.id])
        rows = conn.execute("select user_id, item_type from internal.gradebook_export(%s)", [course_id]).fetchall()
        conn.execute("reset role")
        conn.execute("reset session authorization")
        scans = dict(conn.execute("select relname, coalesce(seq_tup_read, 0) from pg_stat_xact_user_tables "
                                  "where relname in ('users', 'enrollments', 'submissions')").fetchall())
        conn.rollback()
    assert len({r[0] for r in rows}) == 2002 and {s.id for s in learners} <= {str(r[0]) for r in rows}
    assert scans.get("users", 0) == 0, scans
