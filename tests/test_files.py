"""Files (issue 17): POST /files and GET /files/{id} through the real server, file.list and
file.delete, submissions with their file, and upkeep of stray bytes.

Each test gets its own storage directory and small limits (1 MB uploads, 3 MB quota)."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import psycopg
import pytest

from rpc.db.calls import CallContext
from rpc.http import files as files_module
from rpc.workers.storage import sweep
from tests.helpers.files import MAX, QUOTA, download, leftovers, pdf, upload, world

pytestmark = pytest.mark.asyncio





PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 200
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 500










def stored(client) -> list[Path]:
    return sorted(p for p in client.files_dir.glob("*")) if client.files_dir.exists() else []






# ------------------------------------------------------------------------------ upload
async def test_upload_permission_matrix(db, frpc, fusers):
    w = await world(db, fusers)
    expect_course = {"instructor": 201, "admin": 201, "other_instructor": 403, "enrolled": 403,
                     "stranger": 403, "dropped": 403}
    for who, status in expect_course.items():
        got, body = await upload(frpc, w[who].token, pdf(seed=who.encode()), course_id=w["course"])
        assert got == status, (who, body)
        if status == 201:
            assert set(body) >= {"file_id", "filename", "file_size", "content_type", "sha256"}
            assert body["content_type"] == "application/pdf" and body["filename"] == "notes.pdf"
            assert body["sha256"] == hashlib.sha256(pdf(seed=who.encode())).hexdigest()
        else:
            assert body["error"]["code"] == status and body["error"]["data"]["reason"] == "not_course_owner"
    got, body = await upload(frpc, None, pdf(), course_id=w["course"])
    assert got == 401 and body["error"]["data"]["reason"] == "not_authenticated"
    got, body = await upload(frpc, w["instructor"].token, pdf(), course_id=str(uuid.uuid4()))
    assert got == 404 and body["error"]["data"]["reason"] == "not_found"

    expect_assignment = {"enrolled": 201, "instructor": 403, "stranger": 404, "dropped": 404,
                         "other_instructor": 404}
    for who, status in expect_assignment.items():
        got, body = await upload(frpc, w[who].token, pdf(seed=b"a" + who.encode()), assignment_id=w["assignment"])
        assert got == status, (who, body)
    got, body = await upload(frpc, w["enrolled"].token, pdf(), course_id=w["course"], assignment_id=w["assignment"])
    assert got == 422 and body["error"]["data"]["reason"] == "one_target_required"
    got, body = await upload(frpc, w["enrolled"].token, pdf(), assignment_id="nope")
    assert got == 400 and body["error"]["data"]["reason"] == "invalid_upload"
    # Refusals left nothing behind: 3 files, 3 objects, no upload under way.
    assert leftovers(db) == (3, 0)
    assert len(stored(frpc)) == 3
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in stored(frpc))


async def test_deadline_refuses_attachment_upload(db, frpc, fusers):
    w = await world(db, fusers)
    db.execute("update app.assignments set due_date = now() - interval '1 day' where id = %s", [w["assignment"]])
    got, body = await upload(frpc, w["enrolled"].token, pdf(), assignment_id=w["assignment"])
    assert got == 422 and body["error"]["data"]["reason"] == "deadline_passed"
    assert leftovers(db) == (0, 0) and stored(frpc) == []


async def test_oversize_is_413_with_no_row_and_no_bytes(db, frpc, fusers):
    w = await world(db, fusers)
    for size in (MAX + 20_000, MAX * 3):  # cut off while streaming; refused from Content-Length
        got, body = await upload(frpc, w["instructor"].token, pdf(size), course_id=w["course"])
        assert got == 413, body
        assert body["error"] == {"code": 413, "message": body["error"]["message"], "data": {"reason": "file_too_large"}}
    assert leftovers(db) == (0, 0) and stored(frpc) == []
    got, _ = await upload(frpc, w["instructor"].token, pdf(MAX), course_id=w["course"])
    assert got == 201


async def test_type_is_judged_from_the_bytes(db, frpc, fusers):
    w = await world(db, fusers)
    tok, course = w["instructor"].token, w["course"]
    got, body = await upload(frpc, tok, EXE, course_id=course, filename="report.pdf", content_type="application/pdf")
    assert got == 415 and body["error"]["data"]["reason"] == "unsupported_type"
    got, body = await upload(frpc, tok, PNG, course_id=course, filename="report.pdf", content_type="application/pdf")
    assert got == 415 and body["error"]["data"]["reason"] == "type_mismatch"
    got, body = await upload(frpc, tok, b"\x00\x01binary\x02" * 50, course_id=course, filename="x.txt",
                             content_type="text/plain")
    assert got == 415 and body["error"]["data"]["reason"] == "unsupported_type"
    assert leftovers(db) == (0, 0) and stored(frpc) == []
    got, body = await upload(frpc, tok, PNG, course_id=course, filename="pic.png", content_type="image/png")
    assert got == 201 and body["content_type"] == "image/png"
    got, body = await upload(frpc, tok, "Grüße, notes\n".encode() * 10, course_id=course, filename="notes.md",
                             content_type="text/markdown")
    assert got == 201 and body["content_type"] == "text/plain"
    got, body = await upload(frpc, tok, PNG, course_id=course, filename="pic", content_type="application/octet-stream")
    assert got == 201 and body["content_type"] == "image/png"


async def test_quota_exceeded(db, frpc, fusers):
    w = await world(db, fusers)
    for i in range(3):
        got, _ = await upload(frpc, w["instructor"].token, pdf(900_000, bytes([i])), course_id=w["course"])
        assert got == 201
    got, body = await upload(frpc, w["instructor"].token, pdf(900_000, b"x"), course_id=w["course"])
    assert got == 422 and body["error"]["data"]["reason"] == "quota_exceeded"
    assert leftovers(db) == (3, 0) and len(stored(frpc)) == 3
    got, _ = await upload(frpc, w["admin"].token, pdf(900_000, b"x"), course_id=w["course"])  # per user
    assert got == 201


# ---------------------------------------------------------------------------- download
async def test_download_permission_matrix_and_analysts(db, frpc, fusers, analyst):
    w = await world(db, fusers)
    data = pdf(5000, b"material")
    _, material = await upload(frpc, w["instructor"].token, data, course_id=w["course"])
    _, attachment = await upload(frpc, w["enrolled"].token, pdf(3000, b"essay"), assignment_id=w["assignment"])
    expect = {  # who: (course material, enrolled's attachment)
        "instructor": (200, 200), "admin": (200, 200), "enrolled": (200, 200), "enrolled2": (200, 404),
        "stranger": (404, 404), "dropped": (404, 404), "other_instructor": (404, 404)}
    for who, (m, a) in expect.items():
        got, _, body = await download(frpc, w[who].token, material["file_id"])
        assert got == m, who
        if m == 200:
            assert body == data
        got, _, _ = await download(frpc, w[who].token, attachment["file_id"])
        assert got == a, who
    for fid in (material["file_id"], attachment["file_id"], str(uuid.uuid4()), "not-a-uuid"):
        got, _, body = await download(frpc, None, fid)
        assert got == 404
    # Analysts: the same rule, through SQL.
    for who, visible in {"enrolled2": {material["file_id"]}, "stranger": set(),
                         "instructor": {material["file_id"], attachment["file_id"]}}.items():
        login = analyst(w[who].id)
        with db.connect(login) as conn:
            ids = {str(r[0]) for r in conn.execute("select id from app.files")}
            assert ids == visible, who
    login = analyst(w["stranger"].id)
    with db.connect(login) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("select count(*) from app.storage_pending")


async def test_download_headers_and_ranges(db, frpc, fusers):
    w = await world(db, fusers)
    data = pdf(100_000, b"video")
    name = "Übung 1 – Lösung \"final\".pdf"
    _, f = await upload(frpc, w["instructor"].token, data, course_id=w["course"], filename=name)
    tok = w["enrolled"].token
    got, h, body = await download(frpc, tok, f["file_id"])
    assert got == 200 and body == data
    assert h["Content-Type"] == "application/pdf" and int(h["Content-Length"]) == len(data)
    assert h["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"' and h["Accept-Ranges"] == "bytes"
    cd = h["Content-Disposition"]
    assert cd.startswith("inline; filename=\"") and "filename*=UTF-8''%C3%9Cbung%201%20%E2%80%93%20L%C3%B6sung" in cd
    assert '"final"' not in cd and "\\" not in cd
    for rng, start, end in (("bytes=0-99", 0, 99), ("bytes=50000-", 50000, 99_999), ("bytes=-10", 99_990, 99_999),
                            ("bytes=99990-200000", 99_990, 99_999), ("bytes=70000-70000", 70000, 70000)):
        got, h, body = await download(frpc, tok, f["file_id"], {"Range": rng})
        assert got == 206, rng
        assert body == data[start:end + 1]
        assert h["Content-Range"] == f"bytes {start}-{end}/{len(data)}"
        assert int(h["Content-Length"]) == end - start + 1
    got, h, _ = await download(frpc, tok, f["file_id"], {"Range": "bytes=100000-"})
    assert got == 416 and h["Content-Range"] == "bytes */100000"
    got, _, body = await download(frpc, tok, f["file_id"], {"Range": "bytes=0-1,5-6"})
    assert got == 200 and body == data
    got, _, body = await download(frpc, tok, f["file_id"], {"Range": "bytes=0-9", "If-Range": '"other"'})
    assert got == 200 and body == data
    got, _, _ = await download(frpc, tok, f["file_id"], {"If-None-Match": h_etag(data)})
    assert got == 304


async def test_hostile_range_and_multipart_headers_are_4xx_with_a_json_error(db, frpc, fusers):
    """Issue 26 §4: a Range with more than 4,300 digits (Python's int-string limit) and a NUL byte
    in a multipart part header were answered 500."""
    w = await world(db, fusers)
    data = pdf(5000, b"range")
    _, f = await upload(frpc, w["instructor"].token, data, course_id=w["course"])
    for rng in ("bytes=" + "9" * 5000 + "-", "bytes=-" + "1" * 4400, "bytes=0-" + "7" * 4301):
        got, h, body = await download(frpc, w["enrolled"].token, f["file_id"], {"Range": rng})
        assert got == 200 and body == data, (got, rng[:20])  # not a range we can serve: the whole file
    boundary = "xXx"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"course_id\"\r\n\r\n{w['course']}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\x00b.pdf\"\r\n"
            f"X-Evil: a\x00b\r\nContent-Type: application/pdf\r\n\r\n").encode() \
        + data + f"\r\n--{boundary}--\r\n".encode()
    headers = {"Authorization": f"Bearer {w['instructor'].token}",
               "Content-Type": f"multipart/form-data; boundary={boundary}"}
    async with frpc.session.post(frpc.base + "/files", data=body, headers=headers) as resp:
        assert 400 <= resp.status < 500, resp.status
        answer = await resp.json()
    assert answer["error"]["data"]["reason"] == "invalid_upload"


def h_etag(data: bytes) -> str:
    return f'"{hashlib.sha256(data).hexdigest()}"'


# ------------------------------------------------------------- list, delete, submissions
async def test_submission_with_its_file_graded_and_downloaded_by_the_grader(db, frpc, fusers):
    w = await world(db, fusers)
    data = pdf(4000, b"my essay")
    _, f = await upload(frpc, w["enrolled"].token, data, assignment_id=w["assignment"])
    _, other = await upload(frpc, w["enrolled2"].token, pdf(4000, b"theirs"), assignment_id=w["assignment"])
    _, material = await upload(frpc, w["instructor"].token, pdf(), course_id=w["course"])
    tok = w["enrolled"].token
    # Only the caller's own upload for this assignment.
    for fid in (other["file_id"], material["file_id"]):
        err = await frpc.error("submission.submit", {"assignment_id": w["assignment"], "file_id": fid}, tok)
        assert err["code"] == 404 and err["data"]["field"] == "file_id"
    sub = await frpc.ok("submission.submit", {"assignment_id": w["assignment"], "file_id": f["file_id"]}, tok)
    assert sub["file_id"] == f["file_id"]
    await frpc.ok("submission.grade", {"submission_id": sub["id"], "grade": 90}, w["instructor"].token)
    got, _, body = await download(frpc, w["instructor"].token, f["file_id"])
    assert got == 200 and body == data
    listed = await frpc.ok("file.list", {"assignment_id": w["assignment"]}, w["instructor"].token)
    assert {x["file_id"] for x in listed} == {f["file_id"], other["file_id"]}
    listed = await frpc.ok("file.list", {"assignment_id": w["assignment"]}, tok)
    assert [x["file_id"] for x in listed] == [f["file_id"]]
    err = await frpc.error("file.delete", {"file_id": f["file_id"]}, tok)
    assert err["code"] == 409 and err["data"]["reason"] == "already_graded"
    err = await frpc.error("file.delete", {"file_id": f["file_id"]}, w["enrolled2"].token)
    assert err["code"] == 404
    err = await frpc.error("file.delete", {"file_id": f["file_id"]}, w["instructor"].token)
    assert err["code"] == 409 and err["data"]["reason"] == "in_use"  # the submission's only work


async def test_list_and_delete(db, frpc, fusers):
    w = await world(db, fusers)
    _, f = await upload(frpc, w["instructor"].token, pdf(), course_id=w["course"])
    _, mine = await upload(frpc, w["enrolled"].token, pdf(seed=b"m"), assignment_id=w["assignment"])
    listed = await frpc.ok("file.list", {"course_id": w["course"]}, w["enrolled"].token)
    assert [x["file_id"] for x in listed] == [f["file_id"]]
    assert await frpc.ok("file.list", {"course_id": w["course"]}, w["stranger"].token) == []
    assert [x["file_id"] for x in await frpc.ok("file.list", {}, w["enrolled"].token)] == [mine["file_id"]]
    err = await frpc.error("file.list", {"course_id": str(uuid.uuid4())}, w["enrolled"].token)
    assert err["code"] == 404
    err = await frpc.error("file.delete", {"file_id": f["file_id"]}, w["enrolled"].token)
    assert err["code"] == 403 and err["data"]["reason"] == "forbidden"
    await frpc.ok("file.delete", {"file_id": mine["file_id"]}, w["enrolled"].token)
    await frpc.ok("file.delete", {"file_id": f["file_id"]}, w["admin"].token)
    got, _, _ = await download(frpc, w["instructor"].token, f["file_id"])
    assert got == 404
    # The bytes follow the rows at once: file.delete removes them (no upkeep needed).
    assert stored(frpc) == [] and leftovers(db) == (0, 0)


async def test_deleted_bytes_count_against_the_quota_until_they_are_removed(db, frpc, fusers):
    """Issue 26 §3: file.delete freed quota at once while the bytes stayed until `lms db maintain`,
    so an upload-delete loop wrote far past LMS_FILE_QUOTA_BYTES. Now bytes on disk count — deleted
    ones until they are removed, an upload under way what it may write — and the server removes a
    deleted file's bytes right after file.delete, so the loop goes on within the quota."""
    w = await world(db, fusers)
    tok = w["instructor"].token
    stores = frpc.app[files_module.STORAGES]
    frpc.service.hooks.pop("file.delete")  # first as if removal failed (storage away): bytes stay, and count
    try:
        for i in range(3):  # 3 × 900 kB within a 3 MB quota, each deleted at once
            got, f = await upload(frpc, tok, pdf(900_000, b"loop%d" % i), course_id=w["course"])
            assert got == 201, f
            await frpc.ok("file.delete", {"file_id": f["file_id"]}, tok)
        got, body = await upload(frpc, tok, pdf(900_000, b"loop3"), course_id=w["course"])
        assert got == 422 and body["error"]["data"]["reason"] == "quota_exceeded", body
        assert sum(p.stat().st_size for p in stored(frpc)) <= QUOTA  # never more on disk than the quota
    finally:
        files_module.setup_hooks(frpc.service, stores)
    # The 30 s round (rpc/http/watchdog.py) removes what was left: the quota is free again.
    assert await files_module.remove_deleted(frpc.service, stores) == 3
    assert stored(frpc) == [] and leftovers(db) == (0, 0)
    for i in range(6):  # with removal at once, delete-and-upload again goes on: 6 × 900 kB through a 3 MB quota
        got, f = await upload(frpc, tok, pdf(900_000, b"again%d" % i), course_id=w["course"])
        assert got == 201, f
        await frpc.ok("file.delete", {"file_id": f["file_id"]}, tok)
    assert stored(frpc) == [] and leftovers(db) == (0, 0)


async def test_deleting_a_course_takes_its_bytes_with_upkeep(db, frpc, fusers):
    w = await world(db, fusers)
    await upload(frpc, w["instructor"].token, pdf(), course_id=w["course"])
    _, f = await upload(frpc, w["enrolled"].token, pdf(seed=b"e"), assignment_id=w["assignment"])
    await frpc.ok("submission.submit", {"assignment_id": w["assignment"], "file_id": f["file_id"]}, w["enrolled"].token)
    db.execute("delete from app.enrollments where course_id = %s", [w["course"]])
    db.execute("delete from app.courses where id = %s", [w["course"]])
    assert leftovers(db) == (0, 2)
    with db.connect() as conn:
        sweep(conn, frpc.service.settings)  # `lms db maintain`; the server's 30 s round does the same
    assert stored(frpc) == [] and leftovers(db) == (0, 0)


async def test_a_crash_between_storing_and_the_row_is_cleaned_by_upkeep(db, frpc, fusers):
    w = await world(db, fusers)
    service = frpc.service
    storage = frpc.app[files_module.STORAGE]
    path = storage.new_path()
    context = CallContext(w["instructor"].id, "127.0.0.1")
    begun = await files_module.sql(service, files_module.BEGIN,
                                   [w["course"], None, storage.provider, path], context)
    writer = await storage.create(path)
    await writer.write(pdf())
    await writer.close()  # … and the server dies here: bytes stored, no row
    assert leftovers(db) == (0, 1) and len(stored(frpc)) == 1
    with db.connect() as conn:
        assert sweep(conn, service.settings)["objects_removed"] == 0  # still within the grace
        conn.execute("update app.storage_pending set created_at = now() - interval '2 hours'")
        assert sweep(conn, service.settings)["objects_removed"] == 1
    assert stored(frpc) == [] and leftovers(db) == (0, 0)
    # A late finish of the swept upload fails; no row without bytes.
    from rpc.core.protocol import RpcError
    with pytest.raises(RpcError) as caught:
        await files_module.sql(service, files_module.FINISH,
                               [begun["upload_id"], w["course"], None, "a.pdf", "application/pdf", 2000,
                                "00" * 32], context)
    assert caught.value.data["reason"] == "upload_expired"
    assert leftovers(db) == (0, 0)


@pytest.mark.filterwarnings("ignore::pytest.PytestWarning")
def test_content_disposition_and_filenames():
    cd = files_module.content_disposition("application/zip", "../../etc/passwd")
    assert cd.startswith("attachment;")
    assert files_module.clean_filename("C:\\Users\\me\\évil\r\n.pdf") == "évil.pdf"
    assert files_module.clean_filename("") == "file"
    assert files_module.clean_filename("x" * 300) == "x" * 255
    assert os.sep not in files_module.clean_filename("a/b/c.txt")
