"""Courses for tests, made through the API."""

from __future__ import annotations


async def make_course(rpc, instructor, lessons=3, publish=True, **fields):
    course = await rpc.ok("course.create", {"title": "Course", "price_cents": 0, **fields}, instructor.token)
    ids = []
    for i in range(lessons):
        lesson = await rpc.ok(
            "lesson.create",
            {"course_id": course["id"], "title": f"Lesson {i + 1}", "content": f"body {i + 1}", "duration_minutes": 5},
            instructor.token,
        )
        ids.append(lesson["id"])
        if publish:
            await rpc.ok("lesson.publish", {"lesson_id": lesson["id"]}, instructor.token)
    if publish and lessons:
        await rpc.ok("course.publish", {"course_id": course["id"]}, instructor.token)
    return course["id"], ids
