"""Files on S3-compatible storage (issue 17): the same endpoints with LMS_S3_BUCKET set, against moto's
S3 server (ThreadedMotoServer, a real HTTP server on a loopback port) started by this module.

Covers: a multipart upload (12 MiB: parts of rpc.storage.PART_SIZE) and a single-PutObject one, both
downloaded whole and by Range with their bytes and SHA-256, rows marked storage_provider = 's3',
objects under the expected key with no multipart upload left open, file.delete removing the object
(and the upkeep sweep what is left), and refused uploads (413 while streaming a multipart upload or a small one)
leaving no object, no open multipart upload and no row."""

from __future__ import annotations

import hashlib
import os

import aiohttp
import boto3
import pytest
from moto.server import ThreadedMotoServer

from rpc.http import files as files_module
from rpc.workers import storage as storage_module
from rpc.workers.storage import PART_SIZE, S3Storage, sweep
from tests.conftest import RpcClient, Users, free_port, make_settings, start_server
from tests.helpers.assessment import make_course
from tests.helpers.files import download, leftovers, pdf, upload

pytestmark = pytest.mark.asyncio

BUCKET = "lms-test-files"
MAX = 20 * 1024 * 1024
BIG = 12 * 1024 * 1024
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3_endpoint():
    """moto's S3 server on a free loopback port, the bucket created; AWS credentials in the environment
    (what the server's aiobotocore client and this module's boto3 both read)."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in AWS_ENV.items():
            mp.setenv(key, value)
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            mp.delenv(key, raising=False)
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            endpoint = f"http://127.0.0.1:{port}"
            boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
            yield endpoint
        finally:
            server.stop()


@pytest.fixture
def bucket(s3_endpoint):
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    yield client
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):  # each test starts empty
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])


@pytest.fixture
async def srpc(db, tmp_path, s3_endpoint, bucket):
    settings = make_settings(files_dir=tmp_path / "files", s3_bucket=BUCKET, s3_endpoint_url=s3_endpoint)
    db.execute("update app.settings set value = %s where name = 'max_upload_bytes'", [MAX])
    db.execute("update app.settings set value = %s where name = 'file_quota_bytes'", [4 * MAX])
    app, runner, base = await start_server(db.server_database_url, settings)
    async with aiohttp.ClientSession() as session:
        client = RpcClient(base, session, app)
        client.files_dir = tmp_path / "files"
        yield client
    await runner.cleanup()


def objects(bucket) -> dict[str, int]:
    return {o["Key"]: o["Size"] for o in bucket.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def open_multipart_uploads(bucket) -> list:
    return bucket.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])


async def course_of_instructor(db, srpc):
    users = Users(db, srpc)
    instructor = await users.make("instructor")
    admin = await users.make("admin")
    return instructor, admin, make_course(db, instructor.id, [])


async def test_the_app_stores_new_uploads_on_s3(srpc):
    assert isinstance(srpc.app[files_module.STORAGE], S3Storage)
    assert set(srpc.app[files_module.STORAGES]) == {"local", "s3"}  # files stored on disk before stay readable


async def test_upload_download_range_and_upkeep_on_s3(db, srpc, bucket):
    instructor, admin, course = await course_of_instructor(db, srpc)
    big, small = pdf(BIG, seed=b"big"), pdf(3000, seed=b"small")
    assert BIG > PART_SIZE  # the big one is a multipart upload, the small one one PutObject

    got, fbig = await upload(srpc, instructor.token, big, course_id=course, filename="big.pdf")
    assert got == 201, fbig
    got, fsmall = await upload(srpc, instructor.token, small, course_id=course, filename="small.pdf")
    assert got == 201, fsmall
    assert fbig["sha256"] == hashlib.sha256(big).hexdigest() and fbig["file_size"] == BIG
    assert fsmall["sha256"] == hashlib.sha256(small).hexdigest()

    rows = dict(db.execute("select id::text, storage_provider || ':' || storage_path from app.files"))
    assert set(rows) == {fbig["file_id"], fsmall["file_id"]}
    keys = {file_id: where.removeprefix("s3:") for file_id, where in rows.items()}
    assert all(where.startswith("s3:") for where in rows.values())
    assert objects(bucket) == {keys[fbig["file_id"]]: BIG, keys[fsmall["file_id"]]: len(small)}
    assert open_multipart_uploads(bucket) == []
    store = S3Storage(BUCKET, srpc.service.settings.s3_endpoint_url)
    try:
        assert await store.exists(keys[fsmall["file_id"]])
    finally:
        await store.close()
    stored = bucket.get_object(Bucket=BUCKET, Key=keys[fbig["file_id"]])["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == fbig["sha256"]
    assert not (srpc.files_dir.exists() and any(srpc.files_dir.iterdir()))  # nothing on local disk

    for f, data, name in ((fbig, big, "big.pdf"), (fsmall, small, "small.pdf")):
        status, headers, body = await download(srpc, instructor.token, f["file_id"])
        assert status == 200 and body == data
        assert hashlib.sha256(body).hexdigest() == f["sha256"]
        assert headers["ETag"] == f'"{f["sha256"]}"' and headers["Content-Length"] == str(len(data))
        assert headers["Content-Type"] == "application/pdf" and headers["Accept-Ranges"] == "bytes"
        assert headers["Content-Disposition"] == f"inline; filename=\"{name}\"; filename*=UTF-8''{name}"
        status, headers, _ = await download(srpc, instructor.token, f["file_id"],
                                            {"If-None-Match": f'"{f["sha256"]}"'})
        assert status == 304

    # Ranges: across the part boundary, an open end, a suffix; unsatisfiable → 416.
    for header, (start, end) in {f"bytes={PART_SIZE - 10}-{PART_SIZE + 9}": (PART_SIZE - 10, PART_SIZE + 9),
                                 f"bytes={BIG - 100}-": (BIG - 100, BIG - 1),
                                 "bytes=-1000": (BIG - 1000, BIG - 1),
                                 "bytes=0-0": (0, 0)}.items():
        status, headers, body = await download(srpc, instructor.token, fbig["file_id"], {"Range": header})
        assert status == 206, header
        assert body == big[start:end + 1]
        assert headers["Content-Range"] == f"bytes {start}-{end}/{BIG}"
    status, headers, _ = await download(srpc, instructor.token, fbig["file_id"], {"Range": f"bytes={BIG}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{BIG}"
    status, _, body = await download(srpc, instructor.token, fsmall["file_id"], {"Range": "bytes=9-18"})
    assert status == 206 and body == small[9:19]

    # file.delete removes the object from the bucket at once; with that step skipped (the bucket away),
    # the upkeep sweep removes what is left.
    await srpc.ok("file.delete", {"file_id": fbig["file_id"]}, instructor.token)
    assert len(objects(bucket)) == 1 and leftovers(db) == (1, 0)
    hook = srpc.service.hooks.pop("file.delete")
    try:
        await srpc.ok("file.delete", {"file_id": fsmall["file_id"]}, admin.token)
    finally:
        srpc.service.hooks["file.delete"] = hook
    assert len(objects(bucket)) == 1 and leftovers(db) == (0, 1)
    assert db.execute("select array_agg(distinct storage_provider) from app.storage_pending")[0][0] == ["s3"]
    with db.connect() as conn:
        report = sweep(conn, srpc.service.settings)
    assert report == {"objects_removed": 1, "objects_left_for_another_storage": 0}
    assert objects(bucket) == {} and leftovers(db) == (0, 0)
    store = S3Storage(BUCKET, srpc.service.settings.s3_endpoint_url)
    try:
        assert not await store.exists(keys[fbig["file_id"]])
        await store.delete(keys[fbig["file_id"]])  # deleting what is gone is fine (sweeps repeat)
    finally:
        await store.close()


async def upload_chunked(client, token, data: bytes, course_id) -> tuple[int, dict]:
    """A multipart/form-data body sent with Transfer-Encoding: chunked (no Content-Length to refuse
    it by): the server finds the size out while streaming."""
    async def pieces():
        for i in range(0, len(data), 1024 * 1024):
            yield data[i:i + 1024 * 1024]

    with aiohttp.MultipartWriter("form-data") as form:
        part = form.append(str(course_id))
        part.set_content_disposition("form-data", name="course_id")
        part = form.append(aiohttp.payload.AsyncIterablePayload(pieces()), {"Content-Type": "application/pdf"})
        part.set_content_disposition("form-data", name="file", filename="huge.pdf")
    async with client.session.post(client.base + "/files", data=form,
                                   headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.json()


async def test_refused_uploads_leave_nothing_on_s3(db, srpc, bucket, monkeypatch):
    instructor, _, course = await course_of_instructor(db, srpc)
    sent_parts = []
    real_send = storage_module._S3Writer._send_part

    async def counting_send(self):
        sent_parts.append(len(self.buffer))
        await real_send(self)

    monkeypatch.setattr(storage_module._S3Writer, "_send_part", counting_send)
    # Over the limit while streaming: the multipart upload had sent parts, then is aborted.
    got, body = await upload_chunked(srpc, instructor.token, pdf(MAX + 2 * 1024 * 1024), course)
    assert got == 413 and body["error"]["data"]["reason"] == "file_too_large"
    assert len(sent_parts) == MAX // PART_SIZE and all(n >= 5 * 1024 * 1024 for n in sent_parts)
    assert objects(bucket) == {} and open_multipart_uploads(bucket) == []
    # Refused from Content-Length before any byte is stored.
    got, body = await upload(srpc, instructor.token, pdf(MAX * 2), course_id=course)
    assert got == 413 and body["error"]["data"]["reason"] == "file_too_large"
    # Refused by type after the first bytes (a single small object never completes).
    got, body = await upload(srpc, instructor.token, b"MZ\x90\x00" + os.urandom(20_000), course_id=course,
                             filename="a.exe", content_type="application/octet-stream")
    assert got == 415, body
    assert objects(bucket) == {} and open_multipart_uploads(bucket) == []
    assert leftovers(db) == (0, 0)


async def test_a_failed_row_write_removes_the_completed_object(db, srpc, bucket, monkeypatch):
    """The bytes are complete on S3 but the database refuses the row: abort deletes the object."""
    instructor, _, course = await course_of_instructor(db, srpc)
    monkeypatch.setattr(files_module, "FINISH", "select internal.no_such_function(%s, %s, %s, %s, %s, %s, %s, %s)")
    got, _ = await upload(srpc, instructor.token, pdf(5000), course_id=course)
    assert got >= 400
    assert objects(bucket) == {} and leftovers(db) == (0, 0)
