"""The OpenRPC examples, recorded on the demo data set (`make serve`'s fixed ids).

`SCENARIO` is one walk through every method, in an order that makes sense on the demo: a newcomer
registers and verifies, Sara (student1@demo.lms) takes the free course, passes its quiz, submits the
assignment and gets a certificate, Ivan (instructor@demo.lms) grades it and builds a new course, Sam
(student2@demo.lms) buys the paid one, Ada (admin@demo.lms) refunds it and manages users and webhooks.
Each step names its caller, so a reader can repeat any example against `make serve` as that person.

`record(database_url, server_database_url, home)` runs the walk against a freshly seeded demo database and
returns, per method, its first call: params and result (secrets replaced by placeholders, lists cut
to two), the caller in the description. `make examples` writes them to rpc/openrpc_examples.json
(what `rpc.discover` and GET / publish); tests/test_examples.py walks again and fails when the
committed examples no longer match what the demo answers (up to the clock, new ids and ports).
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psycopg
import pyotp
from aiohttp import web

from rpc.core.config import Settings
from rpc.db import demo
from rpc.db.cluster import free_port
from rpc.http.app import create_app
from rpc.workers import payments

EXAMPLES = Path(__file__).resolve().parents[2] / "rpc" / "openrpc_examples.json"
FREE = "d0000000-0000-4000-8000-000000000001"
PAID = "d0000000-0000-4000-8000-000000000002"
LESSONS = [f"d1000000-0000-4000-8000-00000000000{i}" for i in range(1, 6)]
QUIZ = "d2000000-0000-4000-8000-000000000001"
QUESTIONS = [f"d3000000-0000-4000-8000-00000000000{i}" for i in range(1, 4)]
ASSIGNMENT = "d4000000-0000-4000-8000-000000000001"
NEWCOMER = "nia.newcomer@example.com"
NEWCOMER_PASSWORD = "Nia-first-password-2026"
NAMES = {"admin": "admin@demo.lms", "instructor": "instructor@demo.lms", "student1": "student1@demo.lms",
         "student2": "student2@demo.lms", "newcomer": NEWCOMER, None: None}
SECRET_FIELDS = {"password", "current_password", "new_password", "token", "refresh_token", "access_token",
                 "secret", "client_secret", "code", "totp_code", "recovery_codes", "otpauth_uri", "login_url",
                 "lti_message_hint", "feed_url"}


def redact(value):
    """An example as published: secrets replaced by placeholders of the same type, lists cut to two."""
    if isinstance(value, dict):
        return {k: (("<" + k + ">" if isinstance(v, str) else ["<" + k + ">"] if isinstance(v, list) else v)
                    if k in SECRET_FIELDS else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value[:2]]
    return value


@dataclass
class Walk:
    """The walk's state: the server, each person's tokens, the ids met so far, the calls recorded."""
    base: str
    session: aiohttp.ClientSession
    database_url: str
    webhook_secret: str
    tokens: dict[str | None, str] = field(default_factory=dict)
    refresh: dict[str | None, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    examples: dict[str, dict] = field(default_factory=dict)
    _n: int = 0

    def user_id(self, who: str) -> str:
        """A demo person's user id (the demo data makes it; ids are not fixed)."""
        with psycopg.connect(self.database_url) as conn:
            return str(conn.execute("select id from app.users where email = %s", [NAMES[who]]).fetchone()[0])

    async def call(self, who: str | None, method: str, params: dict | None = None, record: bool = True):
        """One call as `who` (a demo person, or None: anonymous); it must succeed. The first recorded
        call of each method becomes its example."""
        self._n += 1
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        body = {"jsonrpc": "2.0", "method": method, "params": params or {}, "id": self._n}
        async with self.session.post(self.base + "/rpc", json=body, headers=headers) as resp:
            answer = await resp.json()
        if "result" not in answer:
            raise AssertionError(f"the examples walk: {method} as {NAMES[who] or 'anonymous'} failed: {answer}")
        if record and method not in self.examples:
            caller = f"As {NAMES[who]}" if who else "Anonymous"
            self.examples[method] = {"caller": caller, "params": redact(params or {}),
                                     "result": redact(answer["result"])}
        return answer["result"]

    async def login(self, who: str, password: str = demo.DEMO_PASSWORD) -> dict:
        tokens = await self.call(None, "auth.login", {"email": NAMES[who], "password": password})
        self.tokens[who], self.refresh[who] = tokens["access_token"], tokens["refresh_token"]
        return tokens

    def mailed_token(self, recipient: str, subject_like: str) -> str:
        with psycopg.connect(self.database_url) as conn:
            (body,) = conn.execute("select body from app.outbox where recipient = %s and subject like %s "
                                   "order by created_at desc limit 1", [recipient, subject_like]).fetchone()
        return body.split("token: ")[1].split()[0]

    async def pay(self, order_id: str, outcome: str) -> None:
        """What the payment provider would post (the local provider's signed event; `lms payments simulate`)."""
        with psycopg.connect(self.database_url) as conn:
            intent, amount, currency = conn.execute(
                "select provider_payment_intent_id, amount_cents, currency from app.orders where id = %s",
                [order_id]).fetchone()
        event = payments.build_event(outcome, order_id, intent, amount, currency)
        body, headers = payments.signed(event, self.webhook_secret)
        async with self.session.post(self.base + "/webhooks/stripe", data=body.encode(), headers=headers) as resp:
            assert resp.status == 200, (resp.status, await resp.text())

    async def upload(self, who: str, assignment_id: str | None, name: str, data: bytes, course_id: str | None = None,
                     content_type: str = "application/pdf") -> dict:
        form = aiohttp.FormData()
        form.add_field("course_id" if course_id else "assignment_id", course_id or assignment_id)
        form.add_field("file", data, filename=name, content_type=content_type)
        async with self.session.post(self.base + "/files", data=form,
                                     headers={"Authorization": f"Bearer {self.tokens[who]}"}) as resp:
            assert resp.status in (200, 201), (resp.status, await resp.text())
            return await resp.json()


async def identity(w: Walk) -> None:
    await w.call(None, "auth.register", {"email": NEWCOMER, "full_name": "Nia Newcomer",
                                         "password": NEWCOMER_PASSWORD})
    await w.call(None, "auth.verify_email", {"token": w.mailed_token(NEWCOMER, "Confirm%")})
    await w.call(None, "auth.request_password_reset", {"email": NEWCOMER})
    await w.call(None, "auth.reset_password", {"token": w.mailed_token(NEWCOMER, "Reset%"),
                                               "new_password": "Nia-second-password-2026"})
    await w.login("newcomer", "Nia-second-password-2026")
    tokens = await w.call(None, "auth.refresh", {"refresh_token": w.refresh["newcomer"]})
    w.tokens["newcomer"], w.refresh["newcomer"] = tokens["access_token"], tokens["refresh_token"]
    await w.call("newcomer", "user.me")
    await w.call("newcomer", "user.update_profile", {"full_name": "Nia N. Newcomer",
                                                     "metadata": {"timezone": "Europe/Lisbon"}})
    setup = await w.call("newcomer", "auth.mfa_setup")
    totp = pyotp.TOTP(setup["secret"])
    enabled = await w.call("newcomer", "auth.mfa_enable", {"code": totp.now()})
    await w.call("newcomer", "auth.mfa_disable", {"code": enabled["recovery_codes"][0]})  # a code is used once
    await w.call("newcomer", "auth.change_password", {"current_password": "Nia-second-password-2026",
                                                      "new_password": "Nia-third-password-2026"})
    await w.login("newcomer", "Nia-third-password-2026")
    await w.call("newcomer", "auth.logout", {"refresh_token": w.refresh["newcomer"]})
    for who in ("admin", "instructor", "student1", "student2"):
        await w.login(who)


async def learning(w: Walk) -> None:
    await w.call("student1", "course.list", {"category": "databases"})
    await w.call("student1", "course.get", {"course_id": FREE})
    await w.call("student1", "enrollment.enroll", {"course_id": FREE})
    await w.call("student1", "enrollment.list_mine")
    # Accommodations: more time on every timed quiz, one more attempt at this one.
    await w.call("instructor", "accommodation.set", {"course_id": FREE, "user_id": w.user_id("student1"),
                                                     "time_multiplier": 1.5})
    extra = await w.call("instructor", "override.set", {"user_id": w.user_id("student1"), "quiz_id": QUIZ,
                                                        "extra_attempts": 1})
    await w.call("instructor", "override.list", {"course_id": FREE})
    await w.call("student1", "lesson.get", {"lesson_id": LESSONS[0]})
    for lesson in LESSONS[:3]:
        await w.call("student1", "lesson.complete", {"lesson_id": lesson})
    await w.call("student1", "quiz.list", {"course_id": FREE})
    await w.call("student1", "quiz.get", {"quiz_id": QUIZ})
    attempt = await w.call("student1", "attempt.start", {"quiz_id": QUIZ})
    answers = {QUESTIONS[0]: "WHERE", QUESTIONS[1]: "false", QUESTIONS[2]: "distinct"}
    await w.call("student1", "attempt.submit", {"attempt_id": attempt["attempt_id"], "answers": answers})
    await w.call("student1", "attempt.list_mine", {"quiz_id": QUIZ})
    await w.call("instructor", "attempt.list_for_quiz", {"quiz_id": QUIZ})
    await w.call("student1", "assignment.list", {"course_id": FREE})
    await w.call("student1", "calendar.feed_url")  # due dates in their own calendar app
    await w.call("student2", "calendar.feed_url", record=False)
    await w.call("student2", "calendar.feed_reset")
    await w.upload("student1", ASSIGNMENT, "queries.pdf", b"%PDF-1.4\n% three queries\n")
    files = await w.call("student1", "file.list", {"assignment_id": ASSIGNMENT})
    await w.call("student1", "submission.submit", {"assignment_id": ASSIGNMENT,
                                                   "content": "select 1; select 2; select 3;"})
    await w.call("student1", "submission.get_mine", {"assignment_id": ASSIGNMENT})
    (submission,) = await w.call("instructor", "submission.list_for_assignment", {"assignment_id": ASSIGNMENT})
    await w.call("instructor", "submission.grade", {"submission_id": submission["submission_id"], "grade": 92,
                                                    "feedback": "Clear and correct."})
    await w.call("student1", "gradebook.mine", {"course_id": FREE})
    await w.call("instructor", "gradebook.course", {"course_id": FREE})
    await w.call("instructor", "enrollment.list_for_course", {"course_id": FREE})
    (certificate, *_) = await w.call("student1", "certificate.list_mine")
    w.ids["certificate"] = certificate["certificate_number"]
    await w.call(None, "certificate.verify", {"certificate_number": certificate["certificate_number"]})
    await w.call("student1", "file.delete", {"file_id": files[0]["file_id"]})
    await w.call("instructor", "override.clear", {"override_id": extra["override_id"]})


async def catalog(w: Walk) -> None:
    await w.call("instructor", "instructor.update_profile", {"title": "Database engineer",
                                                             "bio": "Teaches SQL and PostgreSQL.",
                                                             "expertise": ["sql", "postgresql"]})
    course = await w.call("instructor", "course.create", {"title": "Window functions", "price_cents": 0,
                                                          "short_description": "OVER, PARTITION BY, frames."})
    cid = course["id"]
    await w.call("instructor", "course.update", {"course_id": cid, "category": "databases",
                                                 "tags": ["sql", "intermediate"]})
    first = await w.call("instructor", "lesson.create", {"course_id": cid, "title": "Ranking rows",
                                                         "content": "row_number(), rank() and dense_rank().",
                                                         "duration_minutes": 20})
    second = await w.call("instructor", "lesson.create", {"course_id": cid, "title": "Running totals",
                                                          "content": "sum() over (order by …)."})
    await w.call("instructor", "lesson.update", {"lesson_id": second["id"], "title": "Running totals and frames"})
    await w.call("instructor", "lesson.reorder", {"course_id": cid, "lesson_ids": [second["id"], first["id"]]})
    await w.call("instructor", "lesson.publish", {"lesson_id": first["id"]})
    await w.call("instructor", "lesson.unpublish", {"lesson_id": first["id"]})
    await w.call("instructor", "lesson.delete", {"lesson_id": first["id"]})
    quiz = await w.call("instructor", "quiz.create", {"course_id": cid, "title": "Frames check",
                                                      "passing_score_percentage": 70, "max_attempts": 2})
    question = await w.call("instructor", "quiz.add_question", {
        "quiz_id": quiz["id"], "question_text": "Which function numbers rows without gaps?",
        "question_type": "multiple_choice", "options": ["rank", "dense_rank", "ntile"],
        "correct_answer": "dense_rank", "points": 2})
    extra = await w.call("instructor", "quiz.add_question", {
        "quiz_id": quiz["id"], "question_text": "A window function reduces the number of rows.",
        "question_type": "true_false", "correct_answer": "false"})
    await w.call("instructor", "quiz.update_question", {"question_id": question["id"], "points": 3})
    await w.call("instructor", "quiz.delete_question", {"question_id": extra["id"]})
    await w.call("instructor", "quiz.update", {"quiz_id": quiz["id"], "time_limit_minutes": 20})
    await w.call("instructor", "quiz.publish", {"quiz_id": quiz["id"]})
    await w.call("instructor", "quiz.unpublish", {"quiz_id": quiz["id"]})
    assignment = await w.call("instructor", "assignment.create", {
        "course_id": cid, "title": "Top three per group", "description": "Use a window function.",
        "points": 50, "due_date": "2027-03-01T17:00:00Z", "allow_late_submission": True,
        "late_penalty_percentage": 10})
    await w.call("instructor", "assignment.update", {"assignment_id": assignment["id"], "points": 60})
    # Course design: two modules, the second released a week after enrolment and behind the first.
    ranking = await w.call("instructor", "module.create", {"course_id": cid, "title": "Ranking"})
    frames = await w.call("instructor", "module.create", {"course_id": cid, "title": "Frames",
                                                          "unlock_after_days": 7,
                                                          "prerequisite_module_ids": [ranking["id"]]})
    await w.call("instructor", "module.update", {"module_id": frames["id"], "requirement": "any_one"})
    await w.call("instructor", "module.move_item", {"module_id": ranking["id"], "item_type": "lesson",
                                                    "item_id": second["id"]})
    await w.call("instructor", "quiz.update", {"quiz_id": quiz["id"], "module_id": frames["id"]}, record=False)
    await w.call("instructor", "module.publish", {"module_id": frames["id"]})
    await w.call("instructor", "module.unpublish", {"module_id": frames["id"]})
    spare = await w.call("instructor", "module.create", {"course_id": cid, "title": "Spare"}, record=False)
    await w.call("instructor", "module.reorder", {"course_id": cid,
                                                  "module_ids": [ranking["id"], spare["id"], frames["id"]]})
    await w.call("instructor", "module.delete", {"module_id": spare["id"]})
    await w.call("instructor", "module.list", {"course_id": cid})
    await w.call("instructor", "lesson.publish", {"lesson_id": second["id"]})
    await w.call("instructor", "course.publish", {"course_id": cid})
    await w.call("instructor", "course.unpublish", {"course_id": cid})
    spring = await w.call("instructor", "course.copy", {"course_id": cid, "title": "Window functions, spring",
                                                        "shift_days": 182})
    await w.call("instructor", "course.delete", {"course_id": spring["id"]}, record=False)
    await w.call("instructor", "course.delete", {"course_id": cid})


async def assessment(w: Walk) -> None:
    """A bank drawn into a quiz around an essay; the learner's attempt through the grading queue; a regrade."""
    course = await w.call("instructor", "course.create", {"title": "Indexing quiz night", "price_cents": 0},
                          record=False)
    cid = course["id"]
    lesson = await w.call("instructor", "lesson.create", {"course_id": cid, "title": "Indexes", "content": "B-trees."},
                          record=False)
    await w.call("instructor", "lesson.publish", {"lesson_id": lesson["id"]}, record=False)
    bank = await w.call("instructor", "bank.create", {"course_id": cid, "title": "Index questions"})
    item = ('<?xml version="1.0"?><assessmentItem xmlns="http://www.imsglobal.org/xsd/imsqti_v2p1" identifier="q1"'
            ' title="Scans"><responseDeclaration identifier="RESPONSE" cardinality="single" baseType="identifier">'
            '<correctResponse><value>B</value></correctResponse></responseDeclaration><itemBody>'
            '<choiceInteraction responseIdentifier="RESPONSE" maxChoices="1"><prompt>Which scan reads only the index?'
            '</prompt><simpleChoice identifier="A">Bitmap heap scan</simpleChoice><simpleChoice identifier="B">'
            'Index-only scan</simpleChoice></choiceInteraction></itemBody></assessmentItem>')
    material = await w.upload("instructor", None, "scans.xml", item.encode(), course_id=cid, content_type="text/xml")
    await w.call("instructor", "quiz.import_qti", {"course_id": cid, "file_id": material["file_id"], "target": "bank",
                                                   "title": "Imported scans"})
    kept = await w.call("instructor", "bank.add_question", {
        "bank_id": bank["id"], "question_text": "Which index types support range queries?",
        "question_type": "multiple_answer", "options": ["btree", "hash", "brin"], "correct_answer": ["btree", "brin"],
        "points": 2})
    dropped = await w.call("instructor", "bank.add_question", {
        "bank_id": bank["id"], "question_text": "Default fillfactor of a B-tree index, in percent?",
        "question_type": "numeric", "correct_answer": 90, "tolerance": 0}, record=False)
    await w.call("instructor", "bank.update_question", {"question_id": kept["id"], "points": 3})
    await w.call("instructor", "bank.delete_question", {"question_id": dropped["id"]})
    await w.call("instructor", "bank.list", {"course_id": cid})
    await w.call("instructor", "bank.get", {"bank_id": bank["id"]})
    quiz = await w.call("instructor", "quiz.create", {"course_id": cid, "title": "Index night"}, record=False)
    await w.call("instructor", "quiz.add_question", {
        "quiz_id": quiz["id"], "question_text": "When does an index not help?", "question_type": "essay",
        "correct_answer": "Low selectivity; small tables.", "points": 2}, record=False)
    spare = await w.call("instructor", "bank.create", {"course_id": cid, "title": "Spare"}, record=False)
    await w.call("instructor", "bank.add_question", {"bank_id": spare["id"], "question_text": "Spare?",
                                                     "question_type": "true_false", "correct_answer": "true"},
                 record=False)
    pool = await w.call("instructor", "quiz.add_pool", {"quiz_id": quiz["id"], "bank_id": spare["id"],
                                                        "draw_count": 1}, record=False)
    await w.call("instructor", "quiz.remove_pool", {"pool_id": pool["id"]})
    await w.call("instructor", "quiz.add_pool", {"quiz_id": quiz["id"], "bank_id": bank["id"], "draw_count": 1})
    await w.call("instructor", "quiz.update", {"quiz_id": quiz["id"], "partial_credit": True}, record=False)
    await w.call("instructor", "quiz.publish", {"quiz_id": quiz["id"]}, record=False)
    await w.call("instructor", "course.publish", {"course_id": cid}, record=False)
    await w.call("student1", "enrollment.enroll", {"course_id": cid}, record=False)
    attempt = await w.call("student1", "attempt.start", {"quiz_id": quiz["id"]}, record=False)
    answers = {q["id"]: ["btree"] if q["question_type"] == "multiple_answer" else "On a column with two values."
               for q in attempt["questions"]}
    await w.call("student1", "attempt.submit", {"attempt_id": attempt["attempt_id"], "answers": answers}, record=False)
    (waiting,) = await w.call("instructor", "grading.queue", {"course_id": cid})
    await w.call("instructor", "attempt.grade_answer", {"attempt_id": waiting["attempt_id"],
                                                        "question_id": waiting["question_id"], "points": 2,
                                                        "feedback": "Yes: selectivity."})
    await w.call("instructor", "bank.update_question", {"question_id": kept["id"], "correct_answer": ["btree"]},
                 record=False)
    await w.call("instructor", "quiz.regrade", {"quiz_id": quiz["id"], "question_id": kept["id"]})


async def grades(w: Walk) -> None:
    """Weighted categories with a dropped lowest quiz, a letter scheme, a learner's final grade."""
    course = await w.call("instructor", "course.create", {"title": "Grading night", "price_cents": 0}, record=False)
    cid = course["id"]
    lesson = await w.call("instructor", "lesson.create", {"course_id": cid, "title": "Rules", "content": "Weights."},
                          record=False)
    await w.call("instructor", "lesson.publish", {"lesson_id": lesson["id"]}, record=False)
    quizzes = await w.call("instructor", "grade.category_create", {"course_id": cid, "name": "Quizzes",
                                                                   "weight_percent": 40, "drop_lowest": 1})
    await w.call("instructor", "grade.category_create", {"course_id": cid, "name": "Projects", "weight_percent": 60},
                 record=False)
    spare = await w.call("instructor", "grade.category_create", {"course_id": cid, "name": "Spare"}, record=False)
    await w.call("instructor", "grade.category_update", {"category_id": spare["id"], "name": "Extra credit"})
    await w.call("instructor", "grade.category_delete", {"category_id": spare["id"]})
    await w.call("instructor", "grade.category_list", {"course_id": cid})
    await w.call("instructor", "grade.scheme_set", {"course_id": cid, "scheme": [
        {"letter": "A", "min_percent": 90}, {"letter": "B", "min_percent": 75}, {"letter": "C", "min_percent": 50},
        {"letter": "F", "min_percent": 0}]})
    await w.call("instructor", "grade.scheme_get", {"course_id": cid})
    quiz = await w.call("instructor", "quiz.create", {"course_id": cid, "title": "Warm-up",
                                                      "grade_category_id": quizzes["id"]}, record=False)
    question = await w.call("instructor", "quiz.add_question", {
        "quiz_id": quiz["id"], "question_text": "A weight is a percentage?", "question_type": "true_false",
        "correct_answer": "true"}, record=False)
    await w.call("instructor", "quiz.publish", {"quiz_id": quiz["id"]}, record=False)
    await w.call("instructor", "course.publish", {"course_id": cid}, record=False)
    await w.call("student1", "enrollment.enroll", {"course_id": cid}, record=False)
    attempt = await w.call("student1", "attempt.start", {"quiz_id": quiz["id"]}, record=False)
    await w.call("student1", "attempt.submit", {"attempt_id": attempt["attempt_id"],
                                                "answers": {question["id"]: "true"}}, record=False)
    await w.call("instructor", "grade.override_final", {"course_id": cid, "user_id": w.user_id("student1"),
                                                        "letter": "B", "reason": "Projects not handed in yet"})
    project = await w.call("instructor", "assignment.create", {"course_id": cid, "title": "Index design",
                                                               "points": 10}, record=False)
    rubric = await w.call("instructor", "rubric.create", {"assignment_id": project["id"], "criteria": [
        {"title": "Choice of index", "levels": [{"label": "Right", "points": 6}, {"label": "Wrong", "points": 0}]},
        {"title": "Explanation", "levels": [{"label": "Clear", "points": 4}, {"label": "Unclear", "points": 1}]}]})
    await w.call("student1", "rubric.get", {"assignment_id": project["id"]})
    sub = await w.call("student1", "submission.submit", {"assignment_id": project["id"],
                                                         "content": "A partial index on active rows."}, record=False)
    choice = {c["id"]: c["levels"][0]["id"] for c in rubric["criteria"]}
    await w.call("instructor", "submission.grade", {"submission_id": sub["id"], "rubric": choice,
                                                    "feedback": "Right index, well argued."}, record=False)
    await w.call("instructor", "quiz.update", {"quiz_id": quiz["id"], "grade_posting": "manual"}, record=False)
    await w.call("instructor", "grade.post", {"quiz_id": quiz["id"]})


async def commerce(w: Walk) -> None:
    order = await w.call("student2", "order.create", {"course_id": PAID})
    await w.call("student2", "order.get", {"order_id": order["order_id"]})
    await w.call("student2", "order.cancel", {"order_id": order["order_id"]})
    order = await w.call("student2", "order.create", {"course_id": PAID})
    await w.pay(order["order_id"], "succeeded")
    await w.call("student2", "order.list_mine")
    await w.call("admin", "order.refund", {"order_id": order["order_id"]})


async def administration(w: Walk, hook_url: str) -> None:
    hook = await w.call("admin", "webhook.create", {"url": hook_url, "description": "CRM",
                                                    "events": ["enrollment.created", "enrollment.dropped"]})
    await w.call("student2", "enrollment.enroll", {"course_id": FREE})  # two events for the hook
    await w.call("student2", "enrollment.drop", {"course_id": FREE})
    await w.call("admin", "webhook.list")
    await w.call("admin", "webhook.update", {"webhook_id": hook["webhook_id"], "description": "CRM (sales)"})
    for _ in range(100):  # events are numbered just after commit, their deliveries with them
        if len(await w.call("admin", "webhook.deliveries", {"webhook_id": hook["webhook_id"]}, record=False)) == 2:
            break
        await asyncio.sleep(0.05)
    deliveries = await w.call("admin", "webhook.deliveries", {"webhook_id": hook["webhook_id"]})
    await w.call("admin", "webhook.redeliver", {"delivery_id": deliveries[0]["delivery_id"]})
    await w.call("admin", "webhook.rotate_secret", {"webhook_id": hook["webhook_id"]})
    await w.call("admin", "webhook.delete", {"webhook_id": hook["webhook_id"]})
    await w.call("admin", "event.list", {"limit": 2})
    user = await w.call("admin", "admin.create_user", {"email": "tom.teacher@example.com", "full_name": "Tom Teacher",
                                                       "password": "Tom-first-password-2026", "role": "instructor"})
    await w.call("admin", "admin.list_users", {"role": "instructor"})
    await w.call("admin", "admin.set_role", {"user_id": user["user_id"], "role": "student"})
    await w.call("admin", "admin.set_active", {"user_id": user["user_id"], "is_active": False})
    await w.call("admin", "certificate.revoke", {"certificate_number": w.ids["certificate"],
                                                 "reason": "issued in error"})
    await w.call("student2", "auth.logout_all")


async def sso(w: Walk) -> None:
    """An admin registers the campus provider; a student links their campus account and signs in with it.
    (The provider's part of the browser flow — discovery, the code exchange, the ID token — is what
    tests/test_sso.py runs against a real OpenID provider; here the callback's last step is taken in SQL.)"""
    campus = await w.call("admin", "sso.provider_create", {
        "name": "campus", "issuer": "https://login.example.edu", "client_id": "lms-example",
        "client_secret": "provider-given-secret", "return_url": "https://app.example.edu/signed-in",
        "email_domains": ["example.edu"], "role_claim": "lms_role"})
    old = await w.call("admin", "sso.provider_create", {
        "name": "old-idp", "issuer": "https://idp.example.org", "client_id": "lms",
        "client_secret": "another-secret", "return_url": "https://app.example.edu/signed-in"}, record=False)
    await w.call("admin", "sso.provider_update", {"provider_id": campus["provider_id"], "email_authoritative": True})
    await w.call("admin", "sso.provider_list")
    await w.call("admin", "sso.provider_delete", {"provider_id": old["provider_id"]})
    await w.call("student1", "sso.link_start", {"provider": "campus"})
    with psycopg.connect(w.database_url) as conn:
        (answer,) = conn.execute("select internal.sso_sign_in(%s, 'campus-subject-1', 'student1@example.edu', true, "
                                 "'Student One', null, %s, false)",
                                 [campus["provider_id"], w.user_id("student1")]).fetchone()
    await w.call(None, "auth.sso_exchange", {"code": answer["code"]})
    identities = await w.call("student1", "sso.identities_mine")
    await w.call("student1", "sso.unlink", {"identity_id": identities[0]["identity_id"]})


async def lti(w: Walk) -> None:
    """An admin registers an LTI tool; the instructor links it in a course; a learner launches it."""
    tool = await w.call("admin", "lti.tool_register", {
        "name": "Code sandbox", "login_url": "https://sandbox.example.com/lti/login",
        "launch_url": "https://sandbox.example.com/lti/launch", "jwks_url": "https://sandbox.example.com/.well-known/jwks.json",
        "deep_linking_url": "https://sandbox.example.com/lti/deep-link",
        "scopes": ["https://purl.imsglobal.org/spec/lti-ags/scope/score"]})
    spare = await w.call("admin", "lti.tool_register", {
        "name": "Old quiz tool", "login_url": "https://old.example.com/login", "launch_url": "https://old.example.com/launch",
        "jwks_url": "https://old.example.com/jwks"}, record=False)
    await w.call("admin", "lti.tool_update", {"tool_id": tool["tool_id"], "name": "Code sandbox (Python)"})
    await w.call("admin", "lti.tool_list")
    await w.call("admin", "lti.tool_delete", {"tool_id": spare["tool_id"]})
    link = await w.call("instructor", "lti.link_create", {"course_id": FREE, "tool_id": tool["tool_id"],
                                                          "title": "Try it: loops", "custom": {"exercise": "loops-1"},
                                                          "line_item": {"score_maximum": 10, "label": "Loops"}})
    await w.call("student1", "lti.launch", {"link_id": link["link_id"]})
    await w.call("student1", "lti.link_list", {"course_id": FREE})
    await w.call("instructor", "lti.deep_link", {"tool_id": tool["tool_id"], "course_id": FREE})
    await w.call("instructor", "lti.line_item_list", {"course_id": FREE})
    await w.call("instructor", "lti.line_item_update", {"line_item_id": link["line_item_id"], "points": 20})
    spare_link = await w.call("instructor", "lti.link_create", {"course_id": FREE, "tool_id": tool["tool_id"],
                                                                "title": "Scratch"}, record=False)
    await w.call("instructor", "lti.link_delete", {"link_id": spare_link["link_id"]})


async def record(database_url: str, server_database_url: str, home: Path) -> dict[str, dict]:
    """The walk against a freshly seeded demo database → the examples, by method name."""
    settings = Settings(_env_file=None, database_url=None, environment="development", home=home,
                        jwt_secret="examples-walk-" + "0123456789abcdef" * 3, webhooks_allow_private_urls=True,
                        pool_min_size=1, pool_max_size=4)
    app = create_app(settings, server_database_url)
    hook = web.Application()
    async def receive(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    hook.router.add_post("/hooks/lms", receive)
    runners = [web.AppRunner(app), web.AppRunner(hook)]
    ports = []
    for runner in runners:
        await runner.setup()
        ports.append(free_port())
        await web.TCPSite(runner, "127.0.0.1", ports[-1]).start()
    try:
        async with aiohttp.ClientSession() as session:
            walk = Walk(f"http://127.0.0.1:{ports[0]}", session, database_url, settings.stripe_webhook_key())
            await identity(walk)
            await learning(walk)
            await catalog(walk)
            await assessment(walk)
            await grades(walk)
            await sso(walk)
            await lti(walk)
            await commerce(walk)
            await administration(walk, f"http://127.0.0.1:{ports[1]}/hooks/lms")
    finally:
        for runner in runners:
            await runner.cleanup()
    return dict(sorted(walk.examples.items()))


UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DEMO_ID = re.compile(r"^d[0-9]000000-0000-4000-8000-[0-9]{12}$")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)$")
VOLATILE = [(re.compile(r"^LMS-[0-9A-F]{4}(-[0-9A-F]{4}){3}$"), "certificate"),
            (re.compile(r"^https?://127\.0\.0\.1:\d+(/.*)?$"), "loopback url"),
            (re.compile(r"^(pi|ch|re|py)_[A-Za-z0-9_]{8,}$"), "provider id")]


def comparable(examples: dict) -> dict:
    """Examples with what changes from one walk to the next (the clock, new ids, certificate numbers,
    provider ids, ports, the ids of events in deliveries) replaced by stable stand-ins: the same new id
    is the same stand-in everywhere."""
    seen: dict[str, str] = {}

    def norm(value):
        if isinstance(value, dict):
            return {(norm(k) if isinstance(k, str) and UUID.match(k) else k):
                    "<event id>" if k == "event_id" else norm(v)  # numbered by whichever reader runs first
                    for k, v in sorted(value.items())}
        if isinstance(value, list):
            return [norm(v) for v in value]
        if not isinstance(value, str):
            return value
        if TIME.match(value):
            return "<time>"
        if UUID.match(value) and not DEMO_ID.match(value):
            return seen.setdefault(value, f"<new id {len(seen) + 1}>")
        for pattern, name in VOLATILE:
            if pattern.match(value):
                return seen.setdefault(value, f"<{name} {len(seen) + 1}>")
        return value

    return {name: norm(example) for name, example in sorted(examples.items())}


def write(examples: dict, path: Path = EXAMPLES) -> None:
    path.write_text(json.dumps(examples, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def main() -> None:
    """`make examples`: a throw-away cluster, the migrations, the demo data, the walk → rpc/openrpc_examples.json."""
    import shutil

    from rpc.db.cluster import Cluster
    from rpc.db.migrate import Migrator

    root = Path(tempfile.mkdtemp(prefix="lms-examples-"))
    root.chmod(0o755)
    cluster = Cluster(root / "pg", durable=False)
    cluster.init()
    cluster.start()
    try:
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
            conn.execute("create database examples")
        migrator = Migrator(cluster.url("examples"))
        try:
            migrator.migrate()
        finally:
            migrator.close()
        demo.seed(cluster.url("examples"))
        examples = asyncio.run(record(cluster.url("examples"), cluster.url("examples", "lms_authenticator"),
                                      root / "home"))
        write(examples)
        print(f"wrote {len(examples)} examples to {EXAMPLES}")
    finally:
        cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
