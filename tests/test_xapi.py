"""xAPI to a real LRS (issue 33 §1): Ralph (PyPI ralph-malph, the LRS of the Open edX/FUN ecosystem,
file-system backend; installed by scripts/ralph/install, run by tests/helpers/ralph_lrs.py) runs on
loopback, `lms xapi deliver`'s worker
posts a learner's events to it as xAPI 1.0.3 statements, and they are read back through Ralph's own
`GET /xAPI/statements`: actor, verb, object, result — and no duplicate after a redelivery."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from rpc.cli import xapi
from rpc.db.cluster import free_port
from rpc.workers import webhook_delivery as delivery
from rpc.workers.xapi import statement_problems
from tests.conftest import make_settings
from tests.helpers.catalog import make_course

ROOT = Path(__file__).resolve().parent.parent
HOME = "https://lms.test"
ADL = "http://adlnet.gov/expapi/verbs/"
VERBS = ["completed", "completed", "passed", "registered"]  # the lesson, the course; the quiz; the enrolment


class Lrs:
    def __init__(self, base: str, user: str, password: str):
        self.base, self.auth = base, base64.b64encode(f"{user}:{password}".encode()).decode()

    def statements(self) -> list[dict]:
        request = urllib.request.Request(self.base + "/xAPI/statements?limit=100", headers={
            "Authorization": "Basic " + self.auth, "X-Experience-API-Version": "1.0.3"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.loads(resp.read())["statements"]


@pytest.fixture
def lrs(tmp_path):
    ralph = subprocess.run([str(ROOT / "scripts/ralph/install"), "--print"], check=True, capture_output=True,
                           text=True).stdout.strip().splitlines()[-1]
    env = os.environ | {"RALPH_APP_DIR": str(tmp_path / "app"), "RALPH_AUTH_FILE": str(tmp_path / "auth.json"),
                        "RALPH_RUNSERVER_BACKEND": "fs",
                        "RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH": str(tmp_path / "data")}
    subprocess.run([ralph, "auth", "-u", "lms", "-p", "lrs-password", "-s", "all", "-A", "lms", HOME, "-w"],
                   env=env, check=True, capture_output=True)
    port = free_port()
    (tmp_path / "run").mkdir()
    log = open(tmp_path / "ralph.log", "w")
    (tmp_path / "data").mkdir(exist_ok=True)
    proc = subprocess.Popen([str(Path(ralph).parent / "python"), str(ROOT / "tests/helpers/ralph_lrs.py"), str(port)],
                            env=env, cwd=tmp_path / "run", stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = Lrs(f"http://127.0.0.1:{port}", "lms", "lrs-password")
    deadline = time.monotonic() + 60
    while True:
        try:
            server.statements()
            break
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("Ralph did not start: " + (tmp_path / "ralph.log").read_text()[-2000:]) from None
            time.sleep(0.3)
    yield server
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=10)
    log.close()


def deliver(db, lrs: Lrs) -> dict:
    settings = make_settings(webhooks_allow_private_urls=True, xapi_endpoint=lrs.base + "/xAPI",
                             xapi_username="lms", xapi_password="lrs-password", xapi_home_page=HOME)
    xapi.subscribe(db.url, settings)
    return delivery.deliver(db.url, settings, subscription_format="xapi", home=settings.xapi_home())


async def test_a_learners_events_reach_the_lrs_as_statements_once(rpc, users, db, lrs):
    assert deliver(db, lrs)["delivered"] == 0  # the LRS hears what happens from its subscription on
    ina = await users.make("instructor")
    course_id, lessons = await make_course(rpc, ina, lessons=1)
    quiz = await rpc.ok("quiz.create", {"course_id": course_id, "title": "Check"}, ina.token)
    question = await rpc.ok("quiz.add_question", {"quiz_id": quiz["id"], "question_text": "?",
                                                  "question_type": "true_false", "correct_answer": "true"}, ina.token)
    await rpc.ok("quiz.publish", {"quiz_id": quiz["id"]}, ina.token)
    student = await users.make("student")
    await rpc.ok("enrollment.enroll", {"course_id": course_id}, student.token)
    await rpc.ok("lesson.complete", {"lesson_id": lessons[0]}, student.token)
    attempt = await rpc.ok("attempt.start", {"quiz_id": quiz["id"]}, student.token)
    await rpc.ok("attempt.submit", {"attempt_id": attempt["attempt_id"], "answers": {question["id"]: "true"}},
                 student.token)

    report = deliver(db, lrs)
    assert report["failed"] == 0, report
    stored = lrs.statements()
    by_verb = {s["verb"]["id"].removeprefix(ADL): s for s in stored}
    assert sorted(s["verb"]["id"].removeprefix(ADL) for s in stored) == VERBS, stored
    assert all(s["actor"] == {"objectType": "Agent", "account": {"homePage": HOME, "name": student.id}}
               for s in stored)  # an account, never an email
    assert by_verb["registered"]["object"]["id"] == f"{HOME}/xapi/activities/course/{course_id}"
    passed = by_verb["passed"]
    assert passed["object"]["id"] == f"{HOME}/xapi/activities/quiz/{quiz['id']}"
    assert passed["result"] == {"score": {"scaled": 1.0, "raw": 100, "min": 0, "max": 100}, "success": True,
                                "completion": True}
    assert passed["context"]["contextActivities"]["parent"][0]["id"] == f"{HOME}/xapi/activities/course/{course_id}"
    objects = {s["object"]["id"] for s in stored if s["verb"]["id"] == ADL + "completed"}
    assert f"{HOME}/xapi/activities/lesson/{lessons[0]}" in objects
    assert all(not statement_problems(s) for s in stored)

    # Redelivered (as after a worker died between the POST and recording it): the same statement ids,
    # so the LRS keeps one of each.
    db.execute("update app.webhook_deliveries d set status = 'pending', next_attempt_at = now(), delivered_at = null "
               "from app.webhooks w where w.id = d.webhook_id and w.format = 'xapi'")
    again = deliver(db, lrs)
    assert again["failed"] == 0 and again["delivered"] == report["delivered"], again
    assert sorted(s["id"] for s in lrs.statements()) == sorted(s["id"] for s in stored)


def test_statements_that_break_the_rules_do_not_leave():
    good = {"id": "0f8fad5b-d9cb-469f-a165-70867728950e",
            "actor": {"objectType": "Agent", "account": {"homePage": HOME, "name": "u"}},
            "verb": {"id": ADL + "scored", "display": {"en-US": "scored"}},
            "object": {"objectType": "Activity", "id": HOME + "/a"}, "timestamp": "2026-12-07T10:00:00.000Z",
            "result": {"score": {"scaled": 0.5, "raw": 5, "min": 0, "max": 10}}}
    assert statement_problems(good) == []
    two_ids = {"mbox": "mailto:a@b.c", "account": good["actor"]["account"]}
    broken = [good | {"id": "nope"}, good | {"actor": two_ids},
              good | {"verb": {"id": "scored"}}, good | {"object": {"id": "not an iri"}},
              good | {"result": {"score": {"scaled": 2}}},
              good | {"result": {"score": {"raw": 11, "min": 0, "max": 10}}},
              good | {"timestamp": "2026-12-07T10:00:00"}, good | {"extra": 1}]
    assert all(statement_problems(s) for s in broken)
