"""Courses, quizzes and attempts for the assessment tests (rows and API calls)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


def make_course(db, instructor_id: str, student_ids: list[str] = ()) -> str:
    """A published course of instructor_id with one published lesson, students actively enrolled."""
    course_id = str(uuid.uuid4())
    with db.connect() as conn:
        conn.execute("insert into app.courses (id, instructor_id, title) values (%s, %s, 'Course')",
                     [course_id, instructor_id])
        conn.execute("insert into app.lessons (course_id, title, lesson_order, is_published) "
                     "values (%s, 'Lesson', 1, true)", [course_id])
        conn.execute("update app.courses set is_published = true, published_at = now() where id = %s", [course_id])
        for sid in student_ids:
            conn.execute("insert into app.enrollments (user_id, course_id) values (%s, %s)", [sid, course_id])
    return course_id


@dataclass
class Quiz:
    id: str
    question_ids: list[str]


async def make_quiz(rpc, token: str, course_id: str, questions: list[dict], publish: bool = True, **settings) -> Quiz:
    quiz = await rpc.ok("quiz.create", {"course_id": course_id, "title": "Quiz", **settings}, token)
    ids = []
    for q in questions:
        added = await rpc.ok("quiz.add_question", {"quiz_id": quiz["id"], "question_text": "?", **q}, token)
        ids.append(added["id"])
    if publish:
        await rpc.ok("quiz.publish", {"quiz_id": quiz["id"]}, token)
    return Quiz(quiz["id"], ids)


def mc(correct: str = "b", points: int = 1) -> dict:
    return {"question_type": "multiple_choice", "options": ["a", "b", "c"], "correct_answer": correct, "points": points}


def tf(correct: str = "true", points: int = 1) -> dict:
    return {"question_type": "true_false", "correct_answer": correct, "points": points}


def shift_attempt(db, attempt_id: str, by: str) -> None:
    """Move an attempt into the past (started_at is the partition key: the row may change partition)."""
    db.execute("update app.quiz_attempts set started_at = started_at - %s::interval, "
               "deadline_at = deadline_at - %s::interval where id = %s", [by, by, attempt_id])
