"""Catalog through the JSON-RPC server: course life cycle, ownership errors (404 vs 403),
publishing rule, lesson order under concurrency, catalog listing and search."""

from __future__ import annotations

import asyncio
import random

import psycopg
import pytest

from tests.helpers.catalog import make_course


async def test_course_life_cycle_and_ownership_errors(rpc, users):
    ina = await users.make("instructor", full_name="Ina Instructor")
    ivo = await users.make("instructor")
    sam = await users.make("student")

    course = await rpc.ok("course.create", {"title": "  Rust  ", "price_cents": 0, "tags": ["Systems"]}, ina.token)
    assert course["title"] == "Rust" and course["is_free"] is True and course["is_published"] is False
    assert course["instructor_id"] == ina.id and course["tags"] == ["systems"]
    paid = await rpc.ok("course.create", {"title": "Paid", "price_cents": 1999}, ina.token)
    assert paid["is_free"] is False

    err = await rpc.error("course.create", {"title": "x", "price_cents": 0}, sam.token)
    assert (err["code"], err["data"]["reason"]) == (403, "forbidden")

    # Publishing needs a published lesson.
    err = await rpc.error("course.publish", {"course_id": course["id"]}, ina.token)
    assert (err["code"], err["data"]["reason"]) == (422, "no_published_lessons")
    lesson = await rpc.ok("lesson.create", {"course_id": course["id"], "title": "Intro"}, ina.token)
    err = await rpc.error("course.publish", {"course_id": course["id"]}, ina.token)
    assert err["code"] == 422
    await rpc.ok("lesson.publish", {"lesson_id": lesson["id"]}, ina.token)

    # Draft: invisible to others (404), even for changes.
    for who in (ivo, sam, None):
        err = await rpc.error("course.get", {"course_id": course["id"]}, who and who.token)
        assert (err["code"], err["data"]["reason"]) == (404, "not_found")
    err = await rpc.error("course.update", {"course_id": course["id"], "title": "mine"}, ivo.token)
    assert (err["code"], err["data"]["reason"]) == (404, "not_found")

    published = await rpc.ok("course.publish", {"course_id": course["id"]}, ina.token)
    assert published["is_published"] is True and published["published_at"]

    # Published: visible, but not theirs (403 not_course_owner).
    for method, params in [
        ("course.update", {"course_id": course["id"], "title": "mine"}),
        ("course.unpublish", {"course_id": course["id"]}),
        ("course.delete", {"course_id": course["id"]}),
        ("lesson.create", {"course_id": course["id"], "title": "extra"}),
        ("lesson.update", {"lesson_id": lesson["id"], "title": "extra"}),
        ("lesson.delete", {"lesson_id": lesson["id"]}),
    ]:
        err = await rpc.error(method, params, ivo.token)
        assert (err["code"], err["data"]["reason"]) == (403, "not_course_owner"), method

    updated = await rpc.ok(
        "course.update", {"course_id": course["id"], "price_cents": 500, "category": "dev"}, ina.token)
    assert updated["price_cents"] == 500 and updated["is_free"] is False and updated["category"] == "dev"
    assert updated["title"] == "Rust"

    got = await rpc.ok("course.get", {"course_id": course["id"]})
    assert got["instructor_name"] == "Ina Instructor"
    assert [item["title"] for item in got["lessons"]] == ["Intro"]
    assert "content" not in got["lessons"][0]

    unpublished = await rpc.ok("course.unpublish", {"course_id": course["id"]}, ina.token)
    assert unpublished["is_published"] is False
    deleted = await rpc.ok("course.delete", {"course_id": course["id"]}, ina.token)
    assert deleted["deleted"] is True
    err = await rpc.error("course.get", {"course_id": course["id"]}, ina.token)
    assert err["code"] == 404


async def test_course_delete_with_enrollments_is_409(rpc, users, db):
    ina = await users.make("instructor")
    sam = await users.make("student")
    course_id, _ = await make_course(rpc, ina)
    await rpc.ok("enrollment.enroll", {"course_id": course_id}, sam.token)
    await rpc.ok("enrollment.drop", {"course_id": course_id}, sam.token)
    err = await rpc.error("course.delete", {"course_id": course_id}, ina.token)
    assert (err["code"], err["data"]["reason"]) == (409, "has_enrollments")
    assert db.execute("select count(*) from app.courses where id = %s", [course_id]) == [(1,)]


async def test_lesson_order_create_insert_delete(rpc, users):
    ina = await users.make("instructor")
    course_id, (a, b, c) = await make_course(rpc, ina, publish=False)
    first = await rpc.ok("lesson.create", {"course_id": course_id, "title": "Zero", "lesson_order": 1}, ina.token)
    assert first["lesson_order"] == 1
    far = await rpc.ok("lesson.create", {"course_id": course_id, "title": "Last", "lesson_order": 99}, ina.token)
    assert far["lesson_order"] == 5
    await rpc.ok("lesson.delete", {"lesson_id": b}, ina.token)
    got = await rpc.ok("course.get", {"course_id": course_id}, ina.token)
    assert [(item["title"], item["lesson_order"]) for item in got["lessons"]] == [
        ("Zero", 1), ("Lesson 1", 2), ("Lesson 3", 3), ("Last", 4)]
    err = await rpc.error("lesson.reorder", {"course_id": course_id, "lesson_ids": [a, c]}, ina.token)
    assert (err["code"], err["data"]["reason"]) == (422, "invalid_permutation")


async def test_concurrent_reorders_keep_order_dense_and_unique(rpc, users, db):
    ina = await users.make("instructor")
    course_id, ids = await make_course(rpc, ina, lessons=6, publish=False)
    orders = [random.sample(ids, len(ids)) for _ in range(12)]
    results = await asyncio.gather(*[
        rpc.call("lesson.reorder", {"course_id": course_id, "lesson_ids": order}, ina.token) for order in orders])
    assert all("result" in r for r in results), [r.get("error") for r in results]
    rows = db.execute(
        "select id::text, lesson_order from app.lessons where course_id = %s order by lesson_order", [course_id])
    assert [o for _, o in rows] == [1, 2, 3, 4, 5, 6]
    assert [i for i, _ in rows] in orders  # exactly one of the requested permutations won last


async def test_concurrent_lesson_creates_append_densely(rpc, users, db):
    ina = await users.make("instructor")
    course_id, _ = await make_course(rpc, ina, lessons=0, publish=False)
    results = await asyncio.gather(*[
        rpc.call("lesson.create", {"course_id": course_id, "title": f"L{i}"}, ina.token) for i in range(10)])
    assert all("result" in r for r in results), results
    rows = db.execute("select lesson_order from app.lessons where course_id = %s order by lesson_order", [course_id])
    assert [o for (o,) in rows] == list(range(1, 11))


async def test_course_list_search_filters_and_pagination(rpc, users):
    ina = await users.make("instructor")
    ivo = await users.make("instructor")
    await make_course(rpc, ina, lessons=1, title="Advanced PostgreSQL indexing", category="data", tags=["sql"])
    await make_course(rpc, ina, lessons=1, title="Cooking pasta", description="tomatoes and basil", category="food")
    await make_course(rpc, ivo, lessons=1, title="PostgreSQL replication", category="data")
    draft = await rpc.ok("course.create", {"title": "PostgreSQL draft", "price_cents": 0}, ina.token)

    everything = await rpc.ok("course.list", {})
    titles = [c["title"] for c in everything]
    assert "PostgreSQL draft" not in titles and len(titles) == 3

    found = await rpc.ok("course.list", {"search": "postgresql indexes"})
    assert [c["title"] for c in found] == ["Advanced PostgreSQL indexing"]
    found = await rpc.ok("course.list", {"search": "postgresql -replication"})
    assert [c["title"] for c in found] == ["Advanced PostgreSQL indexing"]
    assert [c["title"] for c in await rpc.ok("course.list", {"category": "food"})] == ["Cooking pasta"]
    assert [c["title"] for c in await rpc.ok("course.list", {"tag": "SQL"})] == ["Advanced PostgreSQL indexing"]

    mine = await rpc.ok("course.list", {"instructor_id": ina.id}, ina.token)
    assert draft["id"] in [c["id"] for c in mine] and len(mine) == 3
    theirs = await rpc.ok("course.list", {"instructor_id": ina.id}, ivo.token)
    assert draft["id"] not in [c["id"] for c in theirs] and len(theirs) == 2

    page1 = await rpc.ok("course.list", {"limit": 2, "offset": 0})
    page2 = await rpc.ok("course.list", {"limit": 2, "offset": 2})
    assert len(page1) == 2 and len(page2) == 1
    assert {c["id"] for c in page1} | {c["id"] for c in page2} == {c["id"] for c in everything}
    assert page1 + page2 == everything  # stable order

    for bad in ({"limit": 0}, {"limit": 101}, {"offset": -1}):
        err = await rpc.error("course.list", bad)
        assert err["code"] == -32602, bad


async def test_lesson_content_only_for_enrollees_instructor_admin(rpc, users):
    ina = await users.make("instructor")
    ivo = await users.make("instructor")
    sam = await users.make("student")
    ada = await users.make("admin")
    course_id, (lesson_id, *_) = await make_course(rpc, ina)

    err = await rpc.error("lesson.get", {"lesson_id": lesson_id}, sam.token)
    assert (err["code"], err["data"]["reason"]) == (403, "not_enrolled")
    err = await rpc.error("lesson.get", {"lesson_id": lesson_id}, ivo.token)
    assert err["code"] == 403
    for who in (ina, ada):
        assert (await rpc.ok("lesson.get", {"lesson_id": lesson_id}, who.token))["content"] == "body 1"
    await rpc.ok("enrollment.enroll", {"course_id": course_id}, sam.token)
    assert (await rpc.ok("lesson.get", {"lesson_id": lesson_id}, sam.token))["content"] == "body 1"
    got = await rpc.ok("course.get", {"course_id": course_id}, sam.token)
    assert got["is_enrolled"] is True and got["lessons"][0]["content"] == "body 1"


def as_api(conn, user_id: str) -> None:
    """Become the API role for user_id in this transaction, as the RPC layer does."""
    conn.execute("select set_config('role', 'lms_api', true), set_config('lms.user_id', %s, true)", [user_id])


async def test_direct_sql_keeps_lesson_order_dense(rpc, users, db):
    ina = await users.make("instructor")
    course_id, (a, b, c) = await make_course(rpc, ina, publish=False)
    with psycopg.connect(db.server_database_url) as conn:
        as_api(conn, ina.id)
        conn.execute("update app.lessons set lesson_order = 7 where id = %s", [c])
        with pytest.raises(psycopg.Error) as caught:
            conn.commit()  # the dense-order check is deferred to commit
        assert caught.value.sqlstate == "LM422"
    with psycopg.connect(db.server_database_url) as conn:
        as_api(conn, ina.id)
        cur = conn.execute("update app.lessons set lesson_order = case id when %s then 2 else 1 end "
                           "where id in (%s, %s)", [a, a, b])
        assert cur.rowcount == 2
        conn.commit()  # a swap in one statement is fine
    rows = db.execute("select id::text from app.lessons where course_id = %s order by lesson_order", [course_id])
    assert [i for (i,) in rows] == [b, a, c]
