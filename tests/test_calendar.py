"""Calendar feeds (issue 33 §4): a learner's private iCalendar URL, read back with the icalendar
library (a third-party parser): each learner sees their own effective dates — an assignment's due
date moved by an override, a quiz's closing time from an override, a module's unlock date — only for
courses they are actively enrolled in; asking again replaces the URL, reset revokes it."""

from __future__ import annotations

import datetime as dt

import aiohttp
from icalendar import Calendar

from tests.helpers.catalog import make_course


async def read_feed(url: str) -> tuple[int, dict[str, tuple[str, dt.datetime]]]:
    async with aiohttp.ClientSession() as client:
        async with client.get(url) as resp:
            if resp.status != 200:
                return resp.status, {}
            assert resp.content_type == "text/calendar"
            cal = Calendar.from_ical(await resp.read())
    events = {str(e["uid"]).split("@")[0]: (str(e["summary"]), e.decoded("dtstart")) for e in cal.walk("VEVENT")}
    return 200, events


async def test_a_learners_feed_shows_their_own_effective_dates(rpc, users, db):
    ina = await users.make("instructor")
    course_id, _ = await make_course(rpc, ina, lessons=1)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    week = await rpc.ok("module.create", {"course_id": course_id, "title": "Week 2",
                                          "unlock_at": (now + dt.timedelta(days=3)).isoformat()}, ina.token)
    await rpc.ok("module.publish", {"module_id": week["id"]}, ina.token)
    hidden = await rpc.ok("module.create", {"course_id": course_id, "title": "Draft week",
                                            "unlock_at": (now + dt.timedelta(days=4)).isoformat()}, ina.token)
    essay = await rpc.ok("assignment.create", {"course_id": course_id, "title": "Essay",
                                               "due_date": (now + dt.timedelta(days=7)).isoformat()}, ina.token)
    quiz = await rpc.ok("quiz.create", {"course_id": course_id, "title": "Check"}, ina.token)
    await rpc.ok("quiz.add_question", {"quiz_id": quiz["id"], "question_text": "?", "question_type": "true_false",
                                       "correct_answer": "true"}, ina.token)
    await rpc.ok("quiz.publish", {"quiz_id": quiz["id"]}, ina.token)
    alice, bob, carol = [await users.make("student") for _ in range(3)]
    for s in (alice, bob):
        await rpc.ok("enrollment.enroll", {"course_id": course_id}, s.token)
    await rpc.ok("override.set", {"user_id": alice.id, "assignment_id": essay["id"],
                                  "due_date": (now + dt.timedelta(days=10)).isoformat()}, ina.token)
    await rpc.ok("override.set", {"user_id": alice.id, "quiz_id": quiz["id"],
                                  "available_until": (now + dt.timedelta(days=2)).isoformat()}, ina.token)

    mine = await rpc.ok("calendar.feed_url", {}, alice.token)
    assert mine["feed_url"].startswith(rpc.base + "/calendar/") and mine["replaced"] is False
    status, events = await read_feed(mine["feed_url"])
    assert status == 200
    assert events == {f"assignment-{essay['id']}": ("Due: Essay", now + dt.timedelta(days=10)),
                      f"quiz-{quiz['id']}": ("Closes: Check", now + dt.timedelta(days=2)),
                      f"module-{week['id']}": ("Opens: Week 2", now + dt.timedelta(days=3))}
    assert f"module-{hidden['id']}" not in events  # a draft module is no one's date yet
    status, theirs = await read_feed((await rpc.ok("calendar.feed_url", {}, bob.token))["feed_url"])
    assert theirs == {f"assignment-{essay['id']}": ("Due: Essay", now + dt.timedelta(days=7)),
                      f"module-{week['id']}": ("Opens: Week 2", now + dt.timedelta(days=3))}
    status, nothing = await read_feed((await rpc.ok("calendar.feed_url", {}, carol.token))["feed_url"])
    assert (status, nothing) == (200, {})  # not enrolled: no dates
    assert db.execute("select count(*) from app.calendar_feeds where token_hash::text like %s",
                      ["%" + mine["feed_url"].rsplit("/", 1)[1].removesuffix(".ics") + "%"]) == [(0,)]

    again = await rpc.ok("calendar.feed_url", {}, alice.token)
    assert again["replaced"] is True and again["feed_url"] != mine["feed_url"]
    assert (await read_feed(mine["feed_url"]))[0] == 404  # the old URL stopped working
    await rpc.ok("enrollment.drop", {"course_id": course_id}, alice.token)
    assert await read_feed(again["feed_url"]) == (200, {})
    assert (await rpc.ok("calendar.feed_reset", {}, alice.token)) == {"revoked": True}
    assert (await read_feed(again["feed_url"]))[0] == 404
    assert (await read_feed(rpc.base + "/calendar/not-a-token.ics"))[0] == 404
