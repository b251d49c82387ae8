"""Assessment depth (issue 29): question types, banks drawn into attempts, essays graded by a person
through a queue, regrading — over HTTP against the real server, with direct SQL where a learner's
analyst or a thousand draws are the point."""

from __future__ import annotations

import asyncio
import collections

import psycopg

from rpc.db.calls import SET_CALLER
from tests.helpers.assessment import make_quiz, tf
from tests.helpers.catalog import make_course


async def course_with_learner(rpc, users, lessons=1):
    ina = await users.make("instructor")
    course_id, lesson_ids = await make_course(rpc, ina, lessons=lessons)
    learner = await users.make()
    await rpc.ok("enrollment.enroll", {"course_id": course_id}, learner.token)
    return ina, course_id, lesson_ids, learner


async def bank_of(rpc, ina, course_id, n, **question):
    bank = await rpc.ok("bank.create", {"course_id": course_id, "title": "Bank"}, ina.token)
    ids = []
    for i in range(n):
        q = {"question_type": "true_false", "correct_answer": "true", **question}
        added = await rpc.ok("bank.add_question", {"bank_id": bank["id"], "question_text": f"Q{i}?", **q}, ina.token)
        ids.append(added["id"])
    return bank["id"], ids


async def submit(rpc, learner, quiz_id, answers_for):
    started = await rpc.ok("attempt.start", {"quiz_id": quiz_id}, learner.token)
    answers = {q["id"]: answers_for(q) for q in started["questions"]}
    return started, await rpc.ok(
        "attempt.submit", {"attempt_id": started["attempt_id"], "answers": answers}, learner.token
    )


# -- question types ---------------------------------------------------------------------------------


async def test_each_new_type_is_validated_in_the_database(rpc, users, db):
    ina, course_id, _, _ = await course_with_learner(rpc, users)
    quiz = await rpc.ok("quiz.create", {"course_id": course_id, "title": "Q"}, ina.token)
    base = {"quiz_id": quiz["id"], "question_text": "?"}
    bad = [
        (
            {"question_type": "multiple_answer", "options": ["a", "b"], "correct_answer": ["c"]},
            "invalid_correct_answer",
        ),
        ({"question_type": "multiple_answer", "options": ["a", "b"], "correct_answer": []}, "invalid_correct_answer"),
        (
            {"question_type": "multiple_answer", "options": ["a", "b"], "correct_answer": ["a", "a"]},
            "invalid_correct_answer",
        ),
        ({"question_type": "multiple_answer", "options": ["a", "a"], "correct_answer": ["a"]}, "invalid_options"),
        ({"question_type": "numeric", "correct_answer": "twelve"}, "invalid_correct_answer"),
        ({"question_type": "numeric", "correct_answer": 12, "tolerance": -1}, "invalid_param"),  # the shape says ≥ 0
        ({"question_type": "true_false", "correct_answer": "true", "tolerance": 1}, "invalid_tolerance"),
        ({"question_type": "essay", "options": ["a", "b"]}, "invalid_options"),
        ({"question_type": "short_answer"}, "invalid_correct_answer"),
    ]
    for fields, reason in bad:
        error = await rpc.error("quiz.add_question", {**base, **fields}, ina.token)
        assert error["data"]["reason"] == reason, (fields, error)
    ma = await rpc.ok(
        "quiz.add_question",
        {**base, "question_type": "multiple_answer", "options": ["a", "b", "c"], "correct_answer": ["c", "a"]},
        ina.token,
    )
    num = await rpc.ok(
        "quiz.add_question", {**base, "question_type": "numeric", "correct_answer": 3.14, "tolerance": 0.01}, ina.token
    )
    essay = await rpc.ok(
        "quiz.add_question", {**base, "question_type": "essay", "correct_answer": "Mentions X"}, ina.token
    )
    assert (ma["correct_answer"], num["correct_answer"], num["tolerance"], essay["correct_answer"]) == (
        ["c", "a"],
        3.14,
        0.01,
        "Mentions X",
    )
    # The same rules hold for a direct writer (the trigger), not only for the API.
    try:
        db.execute(
            "insert into app.questions (quiz_id, question_text, question_type, options, correct_answer, question_order)"
            " values (%s, 'x', 'multiple_answer', '[\"a\", \"b\"]', '[\"z\"]', 9)",
            [quiz["id"]],
        )
        raise AssertionError("a key outside the options was stored")
    except psycopg.Error as exc:
        assert exc.diag.message_detail == "invalid_correct_answer"
    try:
        db.execute(
            "insert into app.questions (quiz_id, question_text, question_type, correct_answer, tolerance,"
            " question_order) values (%s, 'x', 'numeric', '1', -0.5, 9)",
            [quiz["id"]],
        )
        raise AssertionError("a negative tolerance was stored")
    except psycopg.Error as exc:
        assert exc.diag.message_detail == "invalid_tolerance"


async def test_multiple_answer_numeric_and_partial_credit_are_graded_in_the_database(rpc, users):
    ina, course_id, _, learner = await course_with_learner(rpc, users)
    questions = [
        {
            "question_type": "multiple_answer",
            "options": ["a", "b", "c", "d"],
            "correct_answer": ["a", "b", "c"],
            "points": 3,
        },
        {"question_type": "numeric", "correct_answer": 9.81, "tolerance": 0.05, "points": 2},
    ]
    strict = await make_quiz(rpc, ina.token, course_id, questions, max_attempts=None)
    partial = await make_quiz(rpc, ina.token, course_id, questions, publish=False, max_attempts=None)
    await rpc.ok("quiz.update", {"quiz_id": partial.id, "partial_credit": True}, ina.token)
    await rpc.ok("quiz.publish", {"quiz_id": partial.id}, ina.token)

    def answers(ma, num):
        return lambda q: ma if q["question_type"] == "multiple_answer" else num

    # a, b right and d wrong: all or nothing 0; partial 3 × (2 − 1) / 3 = 1. 9.79 is within 0.05.
    _, r = await submit(rpc, learner, strict.id, answers(["a", "b", "d"], "9.79"))
    assert (r["points_earned"], r["points_total"], r["score"]) == (2, 5, 40), r
    _, r = await submit(rpc, learner, partial.id, answers(["a", "b", "d"], 9.79))
    assert (r["points_earned"], r["score"]) == (3, 60), r
    _, r = await submit(rpc, learner, partial.id, answers(["a", "b"], 9.9))  # 3 × 2/3 = 2; 9.9 is out
    assert (r["points_earned"], r["score"]) == (2, 40), r
    _, r = await submit(rpc, learner, partial.id, answers(["d"], "x"))  # right − wrong < 0 → 0
    assert (r["points_earned"], r["score"]) == (0, 0), r
    _, r = await submit(rpc, learner, strict.id, answers(["c", "b", "a"], "9.81"))  # any order
    assert (r["points_earned"], r["score"], r["passed"]) == (5, 100, True), r
    error = await rpc.error(
        "attempt.submit",
        {
            "attempt_id": (await rpc.ok("attempt.start", {"quiz_id": strict.id}, learner.token))["attempt_id"],
            "answers": {strict.question_ids[0]: [1, 2]},
        },
        learner.token,
    )
    assert error["data"]["reason"] == "invalid_answer"


# -- banks and the draw --------------------------------------------------------------------------------


async def test_the_draw_is_distinct_stable_stored_and_survives_bank_edits(rpc, users, db):
    ina, course_id, _, learner = await course_with_learner(rpc, users)
    bank_id, bank_ids = await bank_of(rpc, ina, course_id, 12)
    quiz = await make_quiz(rpc, ina.token, course_id, [tf()], publish=False, max_attempts=None)
    await rpc.ok(
        "quiz.add_pool", {"quiz_id": quiz.id, "bank_id": bank_id, "draw_count": 5, "points_each": 2}, ina.token
    )
    await rpc.ok("quiz.update", {"quiz_id": quiz.id, "shuffle_questions": True}, ina.token)
    await rpc.ok("quiz.publish", {"quiz_id": quiz.id}, ina.token)

    first = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, learner.token)
    ids = [q["id"] for q in first["questions"]]
    assert len(ids) == 6 and len(set(ids)) == 6 and quiz.question_ids[0] in ids
    assert set(ids) - {quiz.question_ids[0]} <= set(bank_ids)
    assert all(q["points"] == 2 for q in first["questions"] if q["id"] != quiz.question_ids[0])
    again = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, learner.token)
    assert again["resumed"] and again["questions"] == first["questions"], "the same attempt shows the same draw"
    (stored,) = db.execute("select draw from app.quiz_attempts where id = %s", [first["attempt_id"]])[0]
    assert [d["id"] for d in stored] == ids and set(stored[0]) <= {"id", "points", "options"}, "ids, not copies"

    drawn = next(i for i in ids if i in bank_ids)
    error = await rpc.error("bank.update_question", {"question_id": drawn, "question_text": "Changed?"}, ina.token)
    assert error["data"]["reason"] == "question_in_use"
    await rpc.ok("bank.update_question", {"question_id": drawn, "correct_answer": "false"}, ina.token)  # a key fix
    deleted = await rpc.ok("bank.delete_question", {"question_id": drawn}, ina.token)
    assert deleted["retired"] is True
    undrawn = next(i for i in bank_ids if i not in ids)
    assert (await rpc.ok("bank.delete_question", {"question_id": undrawn}, ina.token))["retired"] is False

    result = await rpc.ok(
        "attempt.submit", {"attempt_id": first["attempt_id"], "answers": {i: "false" for i in ids}}, learner.token
    )
    assert result["points_total"] == 11 and result["points_earned"] == 2, "graded on the kept draw"
    later = await rpc.ok("attempt.start", {"quiz_id": quiz.id}, learner.token)
    assert drawn not in [q["id"] for q in later["questions"]], "a retired question is never drawn again"
    bank = await rpc.ok("bank.get", {"bank_id": bank_id}, ina.token)
    assert bank["question_count"] == 10 and sum(q["retired"] for q in bank["questions"]) == 1


async def test_a_pool_larger_than_its_bank_is_refused_at_publish_and_at_start(rpc, users, db):
    ina, course_id, _, learner = await course_with_learner(rpc, users)
    bank_id, bank_ids = await bank_of(rpc, ina, course_id, 3)
    quiz = await rpc.ok("quiz.create", {"course_id": course_id, "title": "Drawn"}, ina.token)
    await rpc.ok("quiz.add_pool", {"quiz_id": quiz["id"], "bank_id": bank_id, "draw_count": 4}, ina.token)
    error = await rpc.error("quiz.publish", {"quiz_id": quiz["id"]}, ina.token)
    assert error["data"]["reason"] == "pool_too_large"
    await rpc.ok("quiz.remove_pool", {"quiz_id": quiz["id"], "bank_id": bank_id}, ina.token)
    await rpc.ok("quiz.add_pool", {"quiz_id": quiz["id"], "bank_id": bank_id, "draw_count": 3}, ina.token)
    await rpc.ok("quiz.publish", {"quiz_id": quiz["id"]}, ina.token)
    await rpc.ok("bank.delete_question", {"question_id": bank_ids[0]}, ina.token)  # the bank shrinks to 2
    error = await rpc.error("attempt.start", {"quiz_id": quiz["id"]}, learner.token)
    assert error["data"]["reason"] == "pool_too_large"
    other_course, _ = await make_course(rpc, ina, lessons=1)
    foreign, _ = await bank_of(rpc, ina, other_course, 1)
    error = await rpc.error("quiz.add_pool", {"quiz_id": quiz["id"], "bank_id": foreign, "draw_count": 1}, ina.token)
    assert error["data"]["reason"] == "not_found", "a bank of another course"


async def test_draws_are_uniform_enough(rpc, users, db):
    """2,000 attempts drawing 5 of a 50-question bank: each question is drawn 200 times ± 30%."""
    ina, course_id, _, learner = await course_with_learner(rpc, users)
    bank_id, bank_ids = await bank_of(rpc, ina, course_id, 50)
    quiz = await rpc.ok("quiz.create", {"course_id": course_id, "title": "Drawn", "max_attempts": 1}, ina.token)
    await rpc.ok("quiz.update", {"quiz_id": quiz["id"], "max_attempts": None}, ina.token)
    await rpc.ok("quiz.add_pool", {"quiz_id": quiz["id"], "bank_id": bank_id, "draw_count": 5}, ina.token)
    await rpc.ok("quiz.publish", {"quiz_id": quiz["id"]}, ina.token)
    with psycopg.connect(db.server_database_url, autocommit=True) as conn:
        for _ in range(2000):
            with conn.transaction():
                conn.execute(SET_CALLER, ["lms_api", "30s", "10s", learner.id, "127.0.0.1", None])
                started = conn.execute("select api.attempt_start(%s)", [quiz["id"]]).fetchone()[0]
                conn.execute("select api.attempt_submit(%s, '{}')", [started["attempt_id"]])
    counts = collections.Counter(
        i
        for (i,) in db.execute(
            "select d ->> 'id' from app.quiz_attempts a cross join jsonb_array_elements(a.draw) d where a.quiz_id = %s",
            [quiz["id"]],
        )
    )
    assert set(counts) == set(bank_ids) and sum(counts.values()) == 10000
    assert all(140 <= n <= 260 for n in counts.values()), sorted(counts.values())
    per_attempt = db.execute(
        "select count(distinct d ->> 'id') from app.quiz_attempts a "
        "cross join jsonb_array_elements(a.draw) d where a.quiz_id = %s group by a.id",
        [quiz["id"]],
    )
    assert {n for (n,) in per_attempt} == {5}, "distinct within an attempt"


async def test_bank_places_stay_dense_under_concurrent_edits_and_the_draw_skips_what_left(rpc, users, db):
    """The draw picks random places 1..n of a bank (no scan of the bank): 12 questions added at once take
    12 distinct places; deleting 3 at once (one of them drawn already, so retired) leaves 1..9; draws
    afterwards come only from the 9 left, each of them drawn."""
    ina, course_id, _, learner = await course_with_learner(rpc, users)
    bank = await rpc.ok("bank.create", {"course_id": course_id, "title": "Bank"}, ina.token)
    added = await asyncio.gather(*(
        rpc.ok("bank.add_question", {"bank_id": bank["id"], "question_text": f"Q{i}?", "question_type": "true_false",
                                     "correct_answer": "true"}, ina.token)
        for i in range(12)
    ))

    def places():
        return dict(db.execute("select id::text, bank_position from app.questions where bank_id = %s", [bank["id"]]))

    assert sorted(places().values()) == list(range(1, 13))
    quiz = await rpc.ok("quiz.create", {"course_id": course_id, "title": "Drawn"}, ina.token)
    await rpc.ok("quiz.update", {"quiz_id": quiz["id"], "max_attempts": None}, ina.token)
    await rpc.ok("quiz.add_pool", {"quiz_id": quiz["id"], "bank_id": bank["id"], "draw_count": 2}, ina.token)
    await rpc.ok("quiz.publish", {"quiz_id": quiz["id"]}, ina.token)
    first = await rpc.ok("attempt.start", {"quiz_id": quiz["id"]}, learner.token)
    drawn = first["questions"][0]["id"]
    gone = [drawn] + [q["id"] for q in added if q["id"] not in {x["id"] for x in first["questions"]}][:2]
    deleted = await asyncio.gather(*(rpc.ok("bank.delete_question", {"question_id": q}, ina.token) for q in gone))
    assert [d["retired"] for d in deleted] == [True, False, False]
    left = places()
    assert left.pop(drawn) is None and len(left) == 9 and sorted(left.values()) == list(range(1, 10))
    await rpc.ok("attempt.submit", {"attempt_id": first["attempt_id"], "answers": {}}, learner.token)
    seen = collections.Counter()
    with psycopg.connect(db.server_database_url, autocommit=True) as conn:
        for _ in range(300):
            with conn.transaction():
                conn.execute(SET_CALLER, ["lms_api", "30s", "10s", learner.id, "127.0.0.1", None])
                started = conn.execute("select api.attempt_start(%s)", [quiz["id"]]).fetchone()[0]
                conn.execute("select api.attempt_submit(%s, '{}')", [started["attempt_id"]])
            seen.update(q["id"] for q in started["questions"])
    assert set(seen) == set(left), "only the questions left are drawn, every one of them"


async def test_learners_and_their_analysts_see_only_their_own_draw_and_never_a_key(rpc, users, db, analyst):
    ina, course_id, _, learner = await course_with_learner(rpc, users)
    bank_id, bank_ids = await bank_of(rpc, ina, course_id, 10)
    quiz = await rpc.ok("quiz.create", {"course_id": course_id, "title": "Drawn"}, ina.token)
    await rpc.ok("quiz.add_pool", {"quiz_id": quiz["id"], "bank_id": bank_id, "draw_count": 3}, ina.token)
    await rpc.ok("quiz.publish", {"quiz_id": quiz["id"]}, ina.token)
    started = await rpc.ok("attempt.start", {"quiz_id": quiz["id"]}, learner.token)
    mine = {q["id"] for q in started["questions"]}
    assert all("correct_answer" not in q for q in started["questions"])
    assert (await rpc.error("bank.get", {"bank_id": bank_id}, learner.token))["data"]["reason"] == "not_found"
    login = analyst(learner.id)
    with psycopg.connect(db.cluster.url(db.name, login), autocommit=True) as conn:
        seen = {str(i) for (i,) in conn.execute("select id from app.questions where bank_id is not null")}
        assert seen == mine, "exactly the questions of their own draw"
        assert conn.execute("select count(*) from app.question_banks").fetchone() == (0,)
        try:
            conn.execute("select correct_answer from app.questions")
            raise AssertionError("a learner's analyst read a key")
        except psycopg.errors.InsufficientPrivilege:
            pass


# -- essays, the queue, grading --------------------------------------------------------------------------


async def test_an_essay_goes_through_the_queue_to_a_certificate(rpc, users, db):
    ina, course_id, lesson_ids, learner = await course_with_learner(rpc, users)
    quiz = await make_quiz(
        rpc,
        ina.token,
        course_id,
        [tf(points=1), {"question_type": "essay", "correct_answer": "Look for X", "points": 4}],
    )
    await rpc.ok("lesson.complete", {"lesson_id": lesson_ids[0]}, learner.token)
    _, result = await submit(
        rpc, learner, quiz.id, lambda q: "true" if q["question_type"] == "true_false" else "My essay"
    )
    assert (result["status"], result["score"], result["passed"], result["points_earned"]) == (
        "needs_grading",
        None,
        None,
        1,
    )
    assert await rpc.ok("certificate.list_mine", {}, learner.token) == []

    queue = await rpc.ok("grading.queue", {"course_id": course_id}, ina.token)
    assert [(g["answer"], g["points"], g["guidance"]) for g in queue] == [("My essay", 4, "Look for X")]
    item = queue[0]
    error = await rpc.error(
        "attempt.grade_answer",
        {"attempt_id": item["attempt_id"], "question_id": item["question_id"], "points": 5},
        ina.token,
    )
    assert error["data"]["reason"] == "invalid_points"
    error = await rpc.error(
        "attempt.grade_answer",
        {"attempt_id": item["attempt_id"], "question_id": quiz.question_ids[0], "points": 1},
        ina.token,
    )
    assert error["data"]["reason"] == "not_manually_graded"
    assert (await rpc.error("grading.queue", {"course_id": course_id}, learner.token))["data"][
        "reason"
    ] == "not_course_owner"
    graded = await rpc.ok(
        "attempt.grade_answer",
        {"attempt_id": item["attempt_id"], "question_id": item["question_id"], "points": 2.5, "feedback": "Good start"},
        ina.token,
    )
    assert (graded["attempt"]["status"], graded["attempt"]["score"], graded["attempt"]["passed"]) == (
        "submitted",
        70,
        True,
    )
    assert len(await rpc.ok("certificate.list_mine", {}, learner.token)) == 1, "completion follows the human grade"
    assert await rpc.ok("grading.queue", {"course_id": course_id}, ina.token) == []
    mine = db.execute("select points_awarded, feedback from app.manual_grades where user_id = %s", [learner.id])
    assert [(float(p), f) for p, f in mine] == [(2.5, "Good start")]
    # A later change is allowed, audited, and moves the score (the certificate stays: it was true when issued).
    regraded = await rpc.ok(
        "attempt.grade_answer",
        {"attempt_id": item["attempt_id"], "question_id": item["question_id"], "points": 1},
        ina.token,
    )
    assert (regraded["attempt"]["score"], regraded["attempt"]["passed"]) == (40, False)
    audit = db.execute(
        "select action, details ->> 'points_before' from app.audit_log where subject_id = %s order by id",
        [item["attempt_id"]],
    )
    assert audit == [("attempt.answer_graded", None), ("attempt.answer_regraded", "2.50")]
    events = db.execute(
        "select type from app.events where data ->> 'attempt_id' = %s order by seq", [item["attempt_id"]]
    )
    assert [t for (t,) in events] == ["attempt.submitted", "attempt.graded", "attempt.graded"]


async def test_two_graders_working_the_queue_at_once_get_different_answers(rpc, users):
    ina, course_id, _, _ = await course_with_learner(rpc, users)
    admin = await users.make("admin")
    quiz = await make_quiz(rpc, ina.token, course_id, [{"question_type": "essay", "points": 2}], max_attempts=None)
    for _ in range(6):
        learner = await users.make()
        await rpc.ok("enrollment.enroll", {"course_id": course_id}, learner.token)
        await submit(rpc, learner, quiz.id, lambda q: "an essay")
    pages = await asyncio.gather(
        *(rpc.ok("grading.queue", {"course_id": course_id, "limit": 3}, who.token) for who in (ina, admin))
    )
    keys = [{(g["attempt_id"], g["question_id"]) for g in page} for page in pages]
    assert len(keys[0]) == len(keys[1]) == 3 and not keys[0] & keys[1], "disjoint pages"
    again = await rpc.ok("grading.queue", {"course_id": course_id, "limit": 3}, ina.token)
    assert {(g["attempt_id"], g["question_id"]) for g in again} == keys[0], "a grader keeps their claimed page"


# -- regrading ---------------------------------------------------------------------------------------------


async def test_regrade_after_a_key_fix_moves_scores_in_one_transaction(rpc, users, db):
    ina, course_id, lesson_ids, learner = await course_with_learner(rpc, users)
    quiz = await make_quiz(rpc, ina.token, course_id, [tf("false"), tf("true")], max_attempts=None)
    others = []
    for _ in range(3):
        other = await users.make()
        await rpc.ok("enrollment.enroll", {"course_id": course_id}, other.token)
        others.append(other)
    for who in (learner, *others):
        _, r = await submit(rpc, who, quiz.id, lambda q: "true")  # the first key was wrong: everyone said true
        assert r["score"] == 50 and r["passed"] is False
    await rpc.ok("lesson.complete", {"lesson_id": lesson_ids[0]}, learner.token)
    await rpc.ok("quiz.update_question", {"question_id": quiz.question_ids[0], "correct_answer": "true"}, ina.token)
    result = await rpc.ok("quiz.regrade", {"quiz_id": quiz.id, "question_id": quiz.question_ids[0]}, ina.token)
    assert (result["attempts_regraded"], result["scores_changed"]) == (4, 4)
    assert db.execute("select distinct score, passed from app.quiz_attempts where quiz_id = %s", [quiz.id]) == [
        (100, True)
    ]
    assert db.execute(
        "select count(*) from app.events where type = 'attempt.regraded' and data ->> 'quiz_id' = %s", [quiz.id]
    ) == [(4,)]
    book = await rpc.ok("gradebook.mine", {"course_id": course_id}, learner.token)
    assert '"best_score": 100' in str(book).replace("'", '"')
    assert len(await rpc.ok("certificate.list_mine", {}, learner.token)) == 1, (
        "a newly passed quiz completes the course"
    )
    assert db.execute("select count(*) from app.audit_log where action = 'quiz.regraded'") == [(1,)]
    again = await rpc.ok("quiz.regrade", {"quiz_id": quiz.id, "question_id": quiz.question_ids[0]}, ina.token)
    assert (again["attempts_regraded"], again["scores_changed"]) == (4, 0)


async def test_copy_brings_banks_and_pools_and_item_stats_count_the_attempts_that_drew(rpc, users, db, analyst):
    ina, course_id, _, learner = await course_with_learner(rpc, users)
    bank_id, bank_ids = await bank_of(rpc, ina, course_id, 4)
    quiz = await make_quiz(rpc, ina.token, course_id, [tf()], publish=False, max_attempts=None)
    await rpc.ok(
        "quiz.add_pool", {"quiz_id": quiz.id, "bank_id": bank_id, "draw_count": 2, "points_each": 3}, ina.token
    )
    await rpc.ok("quiz.update", {"quiz_id": quiz.id, "shuffle_options": True, "partial_credit": True}, ina.token)
    await rpc.ok("quiz.publish", {"quiz_id": quiz.id}, ina.token)
    for _ in range(3):
        await submit(rpc, learner, quiz.id, lambda q: "true")
    with psycopg.connect(db.cluster.url(db.name, analyst(ina.id)), autocommit=True) as conn:
        seen = dict(
            conn.execute(
                "select question_id::text, attempts from analytics.quiz_item_stats where quiz_id = %s", [quiz.id]
            ).fetchall()
        )
    assert seen[quiz.question_ids[0]] == 3 and sum(seen[i] for i in bank_ids if i in seen) == 6

    copy = await rpc.ok("course.copy", {"course_id": course_id}, ina.token)
    banks = await rpc.ok("bank.list", {"course_id": copy["id"]}, ina.token)
    assert [(b["title"], b["question_count"]) for b in banks] == [("Bank", 4)] and banks[0]["id"] != bank_id
    (copied_quiz,) = db.execute("select id::text from app.quizzes where course_id = %s", [copy["id"]])[0]
    got = await rpc.ok("quiz.get", {"quiz_id": copied_quiz}, ina.token)
    assert [(p["bank_id"], p["draw_count"], p["points_each"]) for p in got["pools"]] == [(banks[0]["id"], 2, 3)]
    assert (got["shuffle_options"], got["partial_credit"], got["shuffle_questions"]) == (True, True, False)
