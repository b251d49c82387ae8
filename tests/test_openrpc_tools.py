"""Third-party OpenRPC tools pointed at a served instance, as an integrator would (issue 14):
- npm @open-rpc/schema-utils-js validates the served rpc.discover with format checks and dereferences it
  (scripts/openrpc-tools/validate.mjs);
- npm @open-rpc/test-coverage calls every method over HTTP with a bearer token, as a student and as an
  instructor, with params generated from the param schemas (and the `examples`, and the ids of a course
  this test builds), and no result may contradict its method's result schema — error responses are
  expected for random params and are no failure (scripts/openrpc-tools/coverage.mjs).
The pinned npm packages are installed into .cache/npm/openrpc-tools by scripts/ensure-test-deps
(scripts/openrpc-tools/install). Skipped only when node is missing."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest
from aiohttp import web

from rpc.db.cluster import free_port
from rpc.db.migrate import ROOT

NODE = shutil.which("node")
TOOLS = Path(ROOT) / "scripts" / "openrpc-tools"
NPM_DIR = Path(os.environ.get("LMS_NPM_DIR", Path(ROOT) / ".cache" / "npm"))

pytestmark = pytest.mark.skipif(
    NODE is None, reason="node is not installed: the @open-rpc npm tools need node 18+ (CI gets it from "
                         "scripts/ensure-test-deps)")


def require_tools() -> None:
    installed = (NPM_DIR / "openrpc-tools" / "node_modules" / "@open-rpc" / "test-coverage").is_dir() or (
        TOOLS / "node_modules" / "@open-rpc" / "test-coverage").is_dir()
    assert installed, (f"the OpenRPC npm tools are not installed in {NPM_DIR / 'openrpc-tools'}: run "
                       "scripts/openrpc-tools/install (make test runs it through scripts/ensure-test-deps)")


async def run_tool(script: str, *args: str, stdin: bytes | None = None, timeout: float = 60) -> tuple[int, str, str]:
    """Run a node script without blocking the event loop (the server under test runs in it)."""
    require_tools()
    proc = await asyncio.create_subprocess_exec(
        NODE, str(TOOLS / script), *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"{script} took more than {timeout} s") from None
    return proc.returncode, out.decode(), err.decode()


# ------------------------------------------------------------------------------------- schema-utils-js
async def test_served_document_passes_schema_utils_validation(rpc):
    """validateOpenRPCDocument (format checks on) and parseOpenRPCDocument (dereferences) accept it as served."""
    code, out, err = await run_tool("validate.mjs", rpc.base + "/rpc", "--json")
    assert code == 0, f"@open-rpc/schema-utils-js rejects the served document:\n{err}"
    summary = json.loads(out)
    assert summary["valid"] and summary["methods"] > 1
    assert all(url.startswith(("http://", "https://")) for url in summary["servers"]), summary["servers"]


async def test_schema_utils_validation_is_live(rpc):
    """The same validator, fed the served document with one mistake, rejects it and says where."""
    doc = await rpc.ok("rpc.discover")
    for server in doc.get("servers", []):  # only the planted mistake may count
        if not server["url"].startswith(("http://", "https://")):
            server["url"] = rpc.base + server["url"]
    doc["methods"][1]["params"] = [{"schema": {}}]  # a content descriptor without its name
    code, _, err = await run_tool("validate.mjs", "-", stdin=json.dumps(doc).encode())
    assert code == 1, err
    assert ".methods[1].params[0]: should have required property 'name'" in err, err


# ------------------------------------------------------------------------------------- test-coverage
async def build_course(rpc, users) -> tuple[object, object, dict]:
    """A published free course with two lessons, a quiz the student passed (so a certificate), an assignment
    the student submitted and the instructor graded. → instructor, student, the ids by param name."""
    inst = await users.make("instructor")
    stu = await users.make("student")
    course = await rpc.ok("course.create", {"title": "Coverage course", "price_cents": 0,
                                            "category": "testing", "tags": ["openrpc"]}, inst.token)
    lessons = []
    for i in (1, 2):
        lesson = await rpc.ok("lesson.create", {"course_id": course["id"], "title": f"Lesson {i}",
                                                "content": f"text {i}", "duration_minutes": 5}, inst.token)
        await rpc.ok("lesson.publish", {"lesson_id": lesson["id"]}, inst.token)
        lessons.append(lesson["id"])
    await rpc.ok("course.publish", {"course_id": course["id"]}, inst.token)
    quiz = await rpc.ok("quiz.create", {"course_id": course["id"], "title": "Quiz"}, inst.token)
    question = await rpc.ok("quiz.add_question", {"quiz_id": quiz["id"], "question_text": "1 + 1 = 2?",
                                                  "question_type": "true_false", "correct_answer": "true"},
                            inst.token)
    await rpc.ok("quiz.publish", {"quiz_id": quiz["id"]}, inst.token)
    assignment = await rpc.ok("assignment.create", {"course_id": course["id"], "title": "Essay", "points": 10},
                              inst.token)

    await rpc.ok("enrollment.enroll", {"course_id": course["id"]}, stu.token)
    for lesson_id in lessons:
        await rpc.ok("lesson.complete", {"lesson_id": lesson_id}, stu.token)
    attempt = await rpc.ok("attempt.start", {"quiz_id": quiz["id"]}, stu.token)
    await rpc.ok("attempt.submit", {"attempt_id": attempt["attempt_id"], "answers": {question["id"]: "true"}},
                 stu.token)
    submission = await rpc.ok("submission.submit", {"assignment_id": assignment["id"], "content": "mine"}, stu.token)
    await rpc.ok("submission.grade", {"submission_id": submission["id"], "grade": 8}, inst.token)
    certificates = await rpc.ok("certificate.list_mine", {}, stu.token)

    known = {
        "course_id": [course["id"]], "lesson_id": lessons, "lesson_ids": [lessons, lessons[::-1]],
        "quiz_id": [quiz["id"]],
        "question_id": [question["id"]], "attempt_id": [attempt["attempt_id"]],
        "assignment_id": [assignment["id"]], "submission_id": [submission["id"]],
        "instructor_id": [inst.id], "user_id": [stu.id],
        "certificate_number": [c["certificate_number"] for c in certificates],
    }
    return inst, stu, {k: v for k, v in known.items() if v}


async def coverage(rpc, role: str, token: str, known: dict) -> dict:
    """coverage.mjs as this caller. Params are random (the seed is printed); OPENRPC_COVERAGE_SEED repeats a run."""
    seed = ["--seed", os.environ["OPENRPC_COVERAGE_SEED"]] if os.environ.get("OPENRPC_COVERAGE_SEED") else []
    code, out, err = await run_tool("coverage.mjs", rpc.base + "/rpc", "-", "--known", json.dumps(known), *seed,
                                    stdin=token.encode(), timeout=90)
    assert code in (0, 1) and out, f"coverage.mjs as {role} did not run (exit {code}):\n{err}"
    summary = json.loads(out)
    rules = ", ".join(f"{name} {r['calls']}" for name, r in summary["by_rule"].items())
    checked = summary["methods_passed"] + summary["methods_failed"]
    print(f"\n@open-rpc/test-coverage as {role}: {summary['calls']} calls ({rules}) in {summary['elapsed_ms']} ms; "
          f"{summary['results']} results checked in {checked} of {len(summary['methods'])} methods, "
          f"{summary['errors']} error responses {summary['error_codes']}, "
          f"{summary['contradictions']} contradictions, {summary['faults']} server faults; "
          f"{summary['examples_checked']} example results checked statically (seed {summary['seed']})")
    if summary["generation_retries"] or summary["generation_failures"]:
        print(f"  json-schema-faker crashed and was retried: {summary['generation_retries']}; "
              f"gave up: {summary['generation_failures']}")
    assert code == 0 and not summary["contradictions"] and not summary["faults"], (
        f"as {role}: {summary['contradictions']} results contradict their schema, {summary['faults']} server "
        f"faults, {summary['example_contradictions']} example results contradict it "
        f"(rerun with OPENRPC_COVERAGE_SEED={summary['seed']}):\n{json.dumps(summary['failures'][:8], indent=1)}")
    assert summary["results"] > 0, summary
    return summary


async def test_no_result_contradicts_its_schema_as_student_and_instructor(rpc, users):
    inst, stu, known = await build_course(rpc, users)
    student = await coverage(rpc, "student", stu.token, known)
    instructor = await coverage(rpc, "instructor", inst.token, known)
    for summary in (student, instructor):
        assert summary["calls"] >= len(summary["methods"]), "every method is called at least once"


async def test_coverage_tool_is_live():
    """coverage.mjs against a stub server: it sends the bearer token, checks results (formats included)
    against the result schema, treats error responses as no failure and -32603 as a server fault."""
    at_schema = {"type": "object", "required": ["id", "at"], "additionalProperties": False,
                 "properties": {"id": {"type": "string", "format": "uuid"},
                                "at": {"type": "string", "format": "date-time"}}}
    good = {"id": "6f1c8a52-5d0e-4c1e-9a57-2b7f4f7f3b10", "at": "2026-11-29T12:00:00+00:00"}
    methods = {  # name → (params, answer)
        "stub.good": ([{"name": "n", "required": True, "schema": {"type": "integer", "minimum": 1}}],
                      {"result": good}),
        "stub.bad_format": ([], {"result": {**good, "at": "yesterday"}}),
        "stub.refused": ([{"name": "x", "schema": {"type": "string"}}],
                         {"error": {"code": 404, "message": "not found", "data": {"reason": "not_found"}}}),
        "stub.boom": ([], {"error": {"code": -32603, "message": "internal error"}}),
    }

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        if body["method"] == "rpc.discover":
            answer = {"result": {
                "openrpc": "1.2.6", "info": {"title": "stub", "version": "1"},
                "servers": [{"name": "stub", "url": str(request.url)}],
                "methods": [{"name": name, "params": params, "paramStructure": "by-name",
                             "result": {"name": "result", "schema": at_schema}}
                            for name, (params, _) in methods.items()]}}
        elif request.headers.get("Authorization") != "Bearer stub-token":
            answer = {"error": {"code": 401, "message": "no token", "data": {"reason": "not_authenticated"}}}
        else:
            answer = methods[body["method"]][1]
        return web.json_response({"jsonrpc": "2.0", "id": body["id"], **answer})

    app = web.Application()
    app.router.add_post("/rpc", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        code, out, err = await run_tool("coverage.mjs", f"http://127.0.0.1:{port}/rpc", "stub-token", "--calls", "3")
    finally:
        await runner.cleanup()
    assert code == 1, (code, out, err)
    summary = json.loads(out)
    status = {name: m["status"] for name, m in summary["methods"].items()}
    assert status == {"stub.good": "pass", "stub.bad_format": "fail", "stub.refused": "untested",
                      "stub.boom": "fail"}, summary
    assert (summary["calls"], summary["results"], summary["contradictions"], summary["faults"]) == (8, 3, 1, 1)
    assert summary["error_codes"] == {"404": 3}
    reasons = {f["method"]: f["reason"] for f in summary["failures"]}
    assert 'must match format "date-time"' in reasons["stub.bad_format"], reasons
