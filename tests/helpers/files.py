"""The file endpoints' test server (small limits, a local store), users and uploads."""

from __future__ import annotations

import hashlib

import aiohttp
import pytest

from tests.conftest import RpcClient, Users, make_settings, start_server
from tests.helpers.assessment import make_course

MAX = 1_000_000


QUOTA = 3_000_000


def pdf(size: int = 2000, seed: bytes = b"") -> bytes:
    body = hashlib.sha256(seed).digest() * (size // 32 + 1)
    return (b"%PDF-1.4\n" + body)[:size - 6] + b"\n%%EOF"


@pytest.fixture
async def frpc(db, tmp_path):
    settings = make_settings(files_dir=tmp_path / "files")
    db.execute("update app.settings set value = %s where name = 'max_upload_bytes'", [MAX])
    db.execute("update app.settings set value = %s where name = 'file_quota_bytes'", [QUOTA])
    app, runner, base = await start_server(db.server_database_url, settings)
    async with aiohttp.ClientSession() as session:
        client = RpcClient(base, session, app)
        client.files_dir = tmp_path / "files"
        yield client
    await runner.cleanup()


@pytest.fixture
async def fusers(db, frpc):
    return Users(db, frpc)


async def upload(client, token, data: bytes, *, course_id=None, assignment_id=None, filename="notes.pdf",
                 content_type="application/pdf"):
    form = aiohttp.FormData(quote_fields=False)  # the name as browsers send it: UTF-8, not %-encoded
    if course_id:
        form.add_field("course_id", str(course_id))
    if assignment_id:
        form.add_field("assignment_id", str(assignment_id))
    form.add_field("file", data, filename=filename, content_type=content_type)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with client.session.post(client.base + "/files", data=form, headers=headers) as resp:
        return resp.status, await resp.json()


async def download(client, token, file_id, headers=None):
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    async with client.session.get(f"{client.base}/files/{file_id}", headers=h) as resp:
        return resp.status, resp.headers, await resp.read()


def leftovers(db) -> tuple[int, int]:
    return (db.execute("select count(*) from app.files")[0][0],
            db.execute("select count(*) from app.storage_pending")[0][0])


async def world(db, fusers):
    instructor = await fusers.make("instructor")
    other_instructor = await fusers.make("instructor")
    admin = await fusers.make("admin")
    enrolled = await fusers.make("student")
    enrolled2 = await fusers.make("student")
    stranger = await fusers.make("student")
    dropped = await fusers.make("student")
    course = make_course(db, instructor.id, [enrolled.id, enrolled2.id, dropped.id])
    db.execute("update app.enrollments set is_active = false, dropped_at = now() where user_id = %s", [dropped.id])
    (assignment,) = db.execute("insert into app.assignments (course_id, title) values (%s, 'Essay') returning id",
                               [course])[0]
    return dict(instructor=instructor, other_instructor=other_instructor, admin=admin, enrolled=enrolled,
                enrolled2=enrolled2, stranger=stranger, dropped=dropped, course=course, assignment=str(assignment))
