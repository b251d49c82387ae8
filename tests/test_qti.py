"""QTI packages (issue 33 §3): `quiz.import_qti` of packages written by text2qti (a third-party
Markdown → Canvas QTI 1.2 generator, run as its own command), by hand after Canvas's and 1EdTech's
documentation (QTI 1.2, 2.1 and 3.0), and by our own export; `GET /export/quizzes/{id}/qti.zip` in
each version, read back to the same questions; hostile packages refused, nothing written."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.helpers.catalog import make_course
from tests.helpers.files import upload

FIXTURES = Path(__file__).parent / "fixtures" / "qti"  # written by hand after Canvas's and 1EdTech's docs
KEYS = ("question_text", "question_type", "options", "correct_answer", "points", "tolerance")

MARKDOWN = """\
Quiz title: Physics basics
Quiz description: Units and estimates.

1.  Which unit measures force?
a)  joule
*b)  newton
c)  watt

2.  Which of these are vectors?
[*] velocity
[ ] mass
[*] force

3.  Name the SI base unit of time.
*   second
*   s

4.  What is g in m/s² to one decimal?
=   9.8 +- 0.1

5.  Explain why the sky is blue.
____

6.  Light travels faster than sound.
*a) True
b) False

7.  Upload your lab notebook.
^^^^
"""


def text2qti(tmp_path: Path, markdown: str) -> bytes:
    source = tmp_path / "quiz.md"
    source.write_text(markdown, encoding="utf-8")
    command = Path(sys.executable).with_name("text2qti")
    subprocess.run([str(command), str(source)], check=True, capture_output=True, cwd=tmp_path)
    return (tmp_path / "quiz.zip").read_bytes()


def questions(quiz: dict) -> list[dict]:
    return [{k: q.get(k) for k in KEYS} for q in quiz["questions"]]


async def import_file(rpc, who, course_id, data: bytes, name="quiz.zip", content_type="application/zip", **params):
    status, uploaded = await upload(rpc, who.token, data, course_id=course_id, filename=name,
                                    content_type=content_type)
    assert status == 201, uploaded
    return await rpc.call("quiz.import_qti", {"course_id": course_id, "file_id": uploaded["file_id"], **params},
                          who.token)


async def test_a_text2qti_package_becomes_a_quiz_with_every_supported_type(rpc, users, db, tmp_path):
    ina = await users.make("instructor")
    course_id, _ = await make_course(rpc, ina, lessons=1)
    answer = await import_file(rpc, ina, course_id, text2qti(tmp_path, MARKDOWN))
    assert "result" in answer, answer
    result = answer["result"]
    assert result["title"] == "Physics basics" and result["imported"] == 6
    assert [q["question_type"] for q in result["questions"]] == [
        "multiple_choice", "multiple_answer", "short_answer", "numeric", "essay", "true_false"]
    assert [u["reason"] for u in result["unsupported"]] == ["question type file_upload_question"]
    assert result["warnings"] == ["Question: 2 accepted answers; only the first, 'second', is kept"]
    quiz = await rpc.ok("quiz.get", {"quiz_id": result["quiz_id"]}, ina.token)
    assert quiz["is_published"] is False and quiz["description"] == "Units and estimates."
    assert questions(quiz) == [
        {"question_text": "Which unit measures force?", "question_type": "multiple_choice",
         "options": ["joule", "newton", "watt"], "correct_answer": "newton", "points": 1, "tolerance": None},
        {"question_text": "Which of these are vectors?", "question_type": "multiple_answer",
         "options": ["velocity", "mass", "force"], "correct_answer": ["velocity", "force"], "points": 1,
         "tolerance": None},
        {"question_text": "Name the SI base unit of time.", "question_type": "short_answer", "options": None,
         "correct_answer": "second", "points": 1, "tolerance": None},
        {"question_text": "What is g in m/s² to one decimal?", "question_type": "numeric", "options": None,
         "correct_answer": quiz["questions"][3]["correct_answer"], "points": 1, "tolerance": 0.1},
        {"question_text": "Explain why the sky is blue.", "question_type": "essay", "options": None,
         "correct_answer": None, "points": 1, "tolerance": None},
        {"question_text": "Light travels faster than sound.", "question_type": "true_false", "options": None,
         "correct_answer": "true", "points": 1, "tolerance": None}]
    assert str(quiz["questions"][3]["correct_answer"]) in ("9.8", "9.80")

    # The imported quiz grades like any other: a student answering the keys scores 5 of 6 (the essay waits).
    await rpc.ok("quiz.publish", {"quiz_id": quiz["id"]}, ina.token)
    sam = await users.make("student")
    await rpc.ok("enrollment.enroll", {"course_id": course_id}, sam.token)
    attempt = await rpc.ok("attempt.start", {"quiz_id": quiz["id"]}, sam.token)
    given = {q["id"]: a for q, a in zip(quiz["questions"], ["newton", ["velocity", "force"], "Second", "9.75",
                                                              "Rayleigh scattering", "true"], strict=True)}
    done = await rpc.ok("attempt.submit", {"attempt_id": attempt["attempt_id"], "answers": given}, sam.token)
    assert done["status"] == "needs_grading" and float(done["points_earned"]) == 5

    # Only the course's instructor (or an admin) imports, and only that course's material.
    other = await users.make("instructor")
    other_course, _ = await make_course(rpc, other, lessons=0)
    status, theirs = await upload(rpc, other.token, b"<x/>", course_id=other_course, filename="x.xml",
                                  content_type="text/xml")
    assert status == 201
    refused = await rpc.error("quiz.import_qti", {"course_id": course_id, "file_id": theirs["file_id"]}, ina.token)
    assert (refused["code"], refused["data"]["reason"]) == (404, "not_found")
    refused = await rpc.error("quiz.import_qti", {"course_id": other_course, "file_id": theirs["file_id"]}, sam.token)
    assert refused["code"] in (403, 404)


async def test_export_and_import_round_trip_in_each_version(rpc, users, db):
    ina = await users.make("instructor")
    course_id, _ = await make_course(rpc, ina, lessons=1)
    quiz = await rpc.ok("quiz.create", {"course_id": course_id, "title": "Round trip <&> \"quoted\""}, ina.token)
    made = [
        {"question_text": "Pick the prime\nof these:", "question_type": "multiple_choice",
         "options": ["4", "7 & up", "<9>"], "correct_answer": "7 & up", "points": 2},
        {"question_text": "Select the even numbers", "question_type": "multiple_answer",
         "options": ["1", "2", "4"], "correct_answer": ["2", "4"], "points": 3},
        {"question_text": "Water boils at 100 °C at sea level.", "question_type": "true_false",
         "correct_answer": "true"},
        {"question_text": "A multiple choice that looks like true/false", "question_type": "multiple_choice",
         "options": ["True", "False"], "correct_answer": "False"},
        {"question_text": "Capital of Peru?", "question_type": "short_answer", "correct_answer": "Lima"},
        {"question_text": "√2 to three places", "question_type": "numeric", "correct_answer": 1.414,
         "tolerance": 0.0005, "points": 4},
        {"question_text": "An integer answer", "question_type": "numeric", "correct_answer": -12},
        {"question_text": "Discuss entropy.", "question_type": "essay",
         "correct_answer": "Look for: disorder, the second law.\nFull marks need an example.", "points": 5},
    ]
    for q in made:
        await rpc.ok("quiz.add_question", {"quiz_id": quiz["id"], **q}, ina.token)
    original = await rpc.ok("quiz.get", {"quiz_id": quiz["id"]}, ina.token)
    target_course, _ = await make_course(rpc, ina, lessons=0)
    headers = {"Authorization": f"Bearer {ina.token}"}
    for version in ("1.2", "2.1", "3.0"):
        async with rpc.session.get(f"{rpc.base}/export/quizzes/{quiz['id']}/qti.zip?version={version}",
                                   headers=headers) as resp:
            assert resp.status == 200 and resp.content_type == "application/zip"
            package = await resp.read()
        names = zipfile.ZipFile(io.BytesIO(package)).namelist()
        assert "imsmanifest.xml" in names
        back = (await import_file(rpc, ina, target_course, package, name=f"export-{version}.zip"))["result"]
        assert back["unsupported"] == [] and back["warnings"] == [], version
        assert back["title"] == original["title"], version
        copy = await rpc.ok("quiz.get", {"quiz_id": back["quiz_id"]}, ina.token)
        assert questions(copy) == questions(original), version
    # …and into a bank.
    async with rpc.session.get(f"{rpc.base}/export/quizzes/{quiz['id']}/qti.zip", headers=headers) as resp:
        package = await resp.read()
    back = (await import_file(rpc, ina, target_course, package, target="bank", title="Imported bank"))["result"]
    bank = await rpc.ok("bank.get", {"bank_id": back["bank_id"]}, ina.token)
    assert bank["title"] == "Imported bank" and questions(bank) == questions(original)
    async with rpc.session.get(f"{rpc.base}/export/banks/{back['bank_id']}/qti.zip?version=3.0",
                               headers=headers) as resp:
        assert resp.status == 200

    # The export is the instructor's: a student, a stranger, an unknown quiz are refused.
    sam = await users.make("student")
    await rpc.ok("quiz.publish", {"quiz_id": quiz["id"]}, ina.token)
    await rpc.ok("enrollment.enroll", {"course_id": course_id}, sam.token)
    for token, wanted in ((sam.token, (403, 404)), (None, (401,))):
        async with rpc.session.get(f"{rpc.base}/export/quizzes/{quiz['id']}/qti.zip",
                                   headers={"Authorization": f"Bearer {token}"} if token else {}) as resp:
            assert resp.status in wanted, (token, resp.status)
            assert "correct_answer" not in await resp.text()
    async with rpc.session.get(f"{rpc.base}/export/quizzes/{quiz['id']}/qti.zip?version=9", headers=headers) as resp:
        assert resp.status == 400


CANVAS_12 = (FIXTURES / "canvas_1p2.xml").read_text(encoding="utf-8")

QTI_30_ITEM = (FIXTURES / "order_3p0.xml").read_text(encoding="utf-8")

QTI_30_CHOICE = (FIXTURES / "choice_3p0.xml").read_text(encoding="utf-8")


def zipped(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


async def test_hand_written_packages_list_what_they_cannot_map(rpc, users, db):
    ina = await users.make("instructor")
    course_id, _ = await make_course(rpc, ina, lessons=0)
    canvas = (await import_file(rpc, ina, course_id, CANVAS_12.encode(), name="canvas.xml",
                                content_type="application/xml"))["result"]
    assert canvas["title"] == "From Canvas" and canvas["imported"] == 1
    assert [(u["item"], u["reason"].split(":")[0]) for u in canvas["unsupported"]] == [
        ("i1", "question type matching_question"), ("i3", "refused")]
    assert "invalid_options" in canvas["unsupported"][1]["reason"]
    assert canvas["warnings"] == ["Half points: 2.5 points rounded to 2 (points are whole numbers ≥ 1)"]
    quiz = await rpc.ok("quiz.get", {"quiz_id": canvas["quiz_id"]}, ina.token)
    assert questions(quiz) == [{"question_text": "Between 1 and 3", "question_type": "numeric", "options": None,
                                "correct_answer": quiz["questions"][0]["correct_answer"], "points": 2,
                                "tolerance": 1}]
    assert float(quiz["questions"][0]["correct_answer"]) == 2

    v3 = (await import_file(rpc, ina, course_id, zipped({"items/ord.xml": QTI_30_ITEM, "items/c1.xml": QTI_30_CHOICE}),
                            target="bank", title="Planets"))["result"]
    assert v3["imported"] == 1 and [u["item"] for u in v3["unsupported"]] == ["ord"]
    assert "orderInteraction" in v3["unsupported"][0]["reason"]
    bank = await rpc.ok("bank.get", {"bank_id": v3["bank_id"]}, ina.token)
    assert questions(bank) == [{"question_text": "Which planet is largest?", "question_type": "multiple_choice",
                                "options": ["Mars", "Jupiter"], "correct_answer": "Jupiter", "points": 1,
                                "tolerance": None}]

    nothing = await import_file(rpc, ina, course_id, QTI_30_ITEM.encode(), name="order.xml", content_type="text/xml")
    assert (nothing["error"]["code"], nothing["error"]["data"]["reason"]) == (422, "qti_no_questions")


async def test_hostile_packages_are_refused_and_nothing_is_written(rpc, users, db):
    ina = await users.make("instructor")
    course_id, _ = await make_course(rpc, ina, lessons=0)
    laughs = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
              + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i else "")) * 10}">' for i in range(1, 10))
              + ']><questestinterop><item>&lol9;</item></questestinterop>')
    external = ('<?xml version="1.0"?><!DOCTYPE q [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                "<questestinterop><item>&x;</item></questestinterop>")
    deep = "<assessmentItem>" + "<div>" * 200 + "</div>" * 200 + "</assessmentItem>"
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("items/big.xml", b"<assessmentItem>" + b" " * (30 << 20) + b"</assessmentItem>")
    cases = [
        ("laughs.xml", laughs.encode(), "qti_unsafe"),
        ("external.zip", zipped({"item.xml": external}), "qti_unsafe"),
        ("escape.zip", zipped({"../../outside.xml": QTI_30_CHOICE}), "qti_unsafe"),
        ("deep.xml", deep.encode(), "qti_unsafe"),
        ("bomb.zip", bomb.getvalue(), "qti_too_large"),
        ("broken.xml", b"<questestinterop><item>", "qti_invalid"),
        ("notqti.zip", zipped({"readme.xml": "<html/>"}), "qti_invalid"),
    ]
    for name, data, reason in cases:
        content_type = "application/zip" if name.endswith(".zip") else "text/xml"
        answer = await import_file(rpc, ina, course_id, data, name=name, content_type=content_type)
        assert "error" in answer, name
        assert (answer["error"]["code"], answer["error"]["data"]["reason"]) == (422, reason), (name, answer)
    assert db.execute("select count(*) from app.quizzes where course_id = %s", [course_id])[0][0] == 0
    assert db.execute("select count(*) from app.question_banks where course_id = %s", [course_id])[0][0] == 0
