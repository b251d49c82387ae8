"""The HTTP endpoints besides POST /rpc, fuzzed (issue 26 §4): `/files` (upload and download),
`/export/…/gradebook.csv`, `/webhooks/stripe`, `/ws`, `/certificates/….pdf`, as anonymous, a
student, an instructor and an admin, with hostile paths, methods, headers (Range, Content-Type,
boundaries, signatures, WebSocket protocols), bodies and frames — some of them as raw bytes on a
socket, where no client library tidies them. Every answer must be below 500; every error answer the
application gives is JSON with `error.data.reason` (only the HTTP parser's own 400 for bytes that are
not HTTP at all is plain); no internal error is logged; nothing half-written stays (no files row
without bytes, no upload left under way); the server still answers afterwards. LMS_FUZZ_SEED picks
another seed; a failure prints the seed and each offending request."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
import uuid

import aiohttp
import pytest

from rpc.workers import payments
from tests.helpers.files import pdf, upload, world

SEED = int(os.environ.get("LMS_FUZZ_SEED", "1"))
ROUNDS = int(os.environ.get("LMS_FUZZ_HTTP_ROUNDS", "400"))

HOSTILE = ["", "0", "-1", "null", "%00", "\u0000", "../../etc/passwd", "..%2f..%2fetc%2fpasswd",
           "'; drop table app.users; --", "9" * 5000, "é" * 300,
           "\ud800".encode("utf-8", "surrogatepass").decode("latin-1"), "00000000-0000-0000-0000-000000000000",
           "LMS-" + "A" * 40, "%", "%zz", "a/b", " ", "\t", "😀"]
RANGES = ["bytes=0-0", "bytes=-1", "bytes=5-", "bytes=9999999999-", "bytes=1-0", "bytes=0-1,2-3",
          "bytes=" + "9" * 5000 + "-", "bytes=-" + "1" * 4400, "chars=0-1", "bytes=a-b", "bytes=--1", "bytes= 0 - 1 ",
          "", "bytes=0-18446744073709551616"]
CONTENT_TYPES = ["multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=x",
                 "multipart/form-data; boundary=\"" + "b" * 500 + "\"", "application/json", "text/plain", "",
                 "multipart/mixed; boundary=zz", "multipart/form-data; boundary=zz; charset=utf-7"]


class Finding(str):
    pass


def pick(rnd: random.Random, options):
    return options[rnd.randrange(len(options))]


async def check(resp: aiohttp.ClientResponse, what: str, findings: list) -> None:
    body = await resp.read()
    if resp.status >= 500:
        findings.append(Finding(f"{what} → {resp.status} {body[:200]!r}"))
    elif resp.status >= 400 and resp.method != "HEAD":  # a HEAD answer has no body
        try:
            reason = json.loads(body)["error"]["data"]["reason"]
            assert isinstance(reason, str) and reason
        except (ValueError, KeyError, TypeError, AssertionError):
            findings.append(Finding(f"{what} → {resp.status} without a JSON error: {body[:200]!r}"))


def multipart(rnd: random.Random, fields: dict[str, str], boundary: str) -> bytes:
    parts = []
    for name, value in fields.items():
        parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n".encode(
            "utf-8", "surrogateescape"))
    filename = pick(rnd, ["a.pdf", "", "a\x00.pdf", "../x.pdf", "é.pdf", "x" * 3000, "a\r\nX: y.pdf"])
    ctype = pick(rnd, ["application/pdf", "image/png", "", "text/plain", "application/x-msdownload", "a" * 500])
    data = pick(rnd, [pdf(500, b"fz"), b"", b"\x00" * 100, b"MZ" + b"\x90" * 100, b"plain words\n", os.urandom(300)])
    parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
                 f"Content-Type: {ctype}\r\n\r\n".encode("utf-8", "surrogateescape") + data + b"\r\n")
    tail = pick(rnd, [f"--{boundary}--\r\n", f"--{boundary}", "", "--other--\r\n"])
    return b"".join(parts) + tail.encode()


async def raw(base: str, data: bytes, findings: list, what: str) -> None:
    """Bytes on a socket: the status line must not be 5xx (the connection may simply close)."""
    host, port = base.split("//")[1].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(data)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10)
        if line.startswith(b"HTTP/") and len(line.split()) > 1 and line.split()[1].startswith(b"5"):
            findings.append(Finding(f"raw {what} → {line.strip()!r}"))
    except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def test_fuzz_the_http_endpoints(db, frpc, fusers, caplog):  # noqa: F811 — fixtures
    db.execute("update app.rate_limits set max_cost = 1000000000")
    rnd = random.Random(SEED)
    w = await world(db, fusers)
    _, material = await upload(frpc, w["instructor"].token, pdf(3000, b"material"), course_id=w["course"])
    tokens = {"anonymous": None, "student": w["enrolled"].token, "instructor": w["instructor"].token,
              "admin": w["admin"].token, "garbage": "not.a.token", "stranger": w["stranger"].token}
    ids = [material["file_id"], w["course"], w["assignment"], str(uuid.uuid4()), *HOSTILE]
    secret = frpc.service.settings.stripe_webhook_key()
    base, session = frpc.base, frpc.session
    findings: list[Finding] = []
    counts: dict[str, int] = {}
    started = time.monotonic()
    caplog.set_level(logging.ERROR)

    def headers_for() -> dict:
        token = tokens[pick(rnd, list(tokens))]
        h = {"Authorization": f"Bearer {token}"} if token else {}
        if rnd.random() < 0.2:
            h["Authorization"] = pick(rnd, ["Bearer", "Basic Zm9vOmJhcg==", "Bearer " + "x" * 8000,
                                            "bearer  " + (token or "")])
        return h

    async def one(kind: str) -> None:
        counts[kind] = counts.get(kind, 0) + 1
        h = headers_for()
        if kind == "download":
            fid = pick(rnd, ids)
            if rnd.random() < 0.5:
                h["Range"] = pick(rnd, RANGES)
            if rnd.random() < 0.3:
                h["If-None-Match"] = pick(rnd, ['"x"', "*", "W/\"" + "a" * 100 + '"', ""])
            method = pick(rnd, ["GET", "GET", "HEAD", "PUT", "DELETE", "OPTIONS"])
            async with session.request(method, f"{base}/files/{fid}", headers=h) as resp:
                await check(resp, f"{method} /files/{fid[:40]!r} {h.get('Range', '')[:30]!r}", findings)
        elif kind == "upload":
            boundary = pick(rnd, ["zz", "x" * 70, "a b", "--"])
            fields = {}
            if rnd.random() < 0.8:
                fields[pick(rnd, ["course_id", "assignment_id", "course_id", "other"])] = pick(rnd, ids)
            body = multipart(rnd, fields, boundary)
            h["Content-Type"] = pick(rnd, CONTENT_TYPES + [f"multipart/form-data; boundary={boundary}"] * 4)
            async with session.post(f"{base}/files", data=body, headers=h) as resp:
                await check(resp, f"POST /files {h['Content-Type'][:40]!r} {fields}", findings)
        elif kind == "export":
            cid = pick(rnd, ids)
            suffix = pick(rnd, ["", "?x=1", "?" + "a" * 3000, "?format=%00"])
            method = pick(rnd, ["GET", "GET", "POST", "HEAD"])
            async with session.request(method, f"{base}/export/courses/{cid}/gradebook.csv{suffix}", headers=h) as resp:
                await check(resp, f"{method} /export/courses/{cid[:40]!r}", findings)
        elif kind == "webhook":
            event = payments.build_event(pick(rnd, ["succeeded", "failed", "refunded"]), pick(rnd, ids),
                                         pick(rnd, ["pi_x", "", "pi_" + "9" * 300]), rnd.choice([1, 0, -5, 2**40]),
                                         pick(rnd, ["usd", "", "XXX"]))
            if rnd.random() < 0.3:
                event["data"] = pick(rnd, [None, [], {"object": None}, {"object": {"metadata": "x"}}, "s"])
            body = pick(rnd, [json.dumps(event), json.dumps(event)[:50], "[]", "null", "\x00", "{" * 100])
            if rnd.random() < 0.7:
                h = {**h, **payments.signed(event, secret)[1]}
                h["Stripe-Signature"] = payments.sign(body, secret) if rnd.random() < 0.8 else h["Stripe-Signature"]
            else:
                h["Stripe-Signature"] = pick(rnd, ["", "t=1,v1=00", "t=" + "9" * 400 + ",v1=ab", "v1=zz", ","])
            async with session.post(f"{base}/webhooks/stripe", data=body.encode("utf-8", "surrogateescape"),
                                    headers=h) as resp:
                await check(resp, f"POST /webhooks/stripe {body[:60]!r}", findings)
        elif kind == "certificate":
            number = pick(rnd, HOSTILE + ["LMS-00000000", "lms-abc", "LMS-" + "Z" * 12])
            async with session.get(f"{base}/certificates/{number}.pdf", headers=h) as resp:
                await check(resp, f"GET /certificates/{number[:40]!r}.pdf", findings)
        elif kind == "ws":
            protocols = pick(rnd, [(), ("jsonrpc",), ("bearer", "x"), ("bearer." + "y" * 3000,), ("bearer.",)])
            try:
                ws = await session.ws_connect(f"{base.replace('http', 'ws')}/ws", headers=h, protocols=protocols)
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status >= 500:
                    findings.append(Finding(f"GET /ws {protocols} → {exc.status}"))
                return
            try:
                for _ in range(rnd.randrange(1, 6)):
                    frame = pick(rnd, ['{"jsonrpc":"2.0","method":"user.me","id":1}', "{", "[]", "null", "\x00",
                                       '{"jsonrpc":"2.0","method":"event.subscribe","params":{"since":-1},"id":2}',
                                       json.dumps({"jsonrpc": "2.0", "method": "event.subscribe",
                                                   "params": {"types": ["t" * 500]}, "id": 3}),
                                       '{"token":"x"}', '{"jsonrpc":"2.0","method":"auth","params":{"token":5},"id":4}',
                                       json.dumps([{"jsonrpc": "2.0", "method": "course.list", "id": i}
                                                   for i in range(60)])])
                    if rnd.random() < 0.15:
                        await ws.send_bytes(os.urandom(20))
                    else:
                        await ws.send_str(frame)
                    msg = await asyncio.wait_for(ws.receive(), 10)
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        answer = json.loads(msg.data)
                        for a in answer if isinstance(answer, list) else [answer]:
                            err = a.get("error")
                            if err and (err.get("code") == -32603 or not (err.get("data") or {}).get("reason")):
                                findings.append(Finding(f"/ws {frame[:60]!r} → {a}"))
                    elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                        break
            finally:
                await ws.close()
        elif kind == "raw":
            target = pick(rnd, ["/files", "/files/" + material["file_id"], "/webhooks/stripe", "/ws",
                                f"/export/courses/{w['course']}/gradebook.csv", "/certificates/x.pdf"])
            data = pick(rnd, [
                f"POST {target} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".encode(),
                f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nContent-Length: 5\r\n\r\n"
                f"0123456789".encode(),
                f"GET {target} HTTP/1.1\r\nHost: x\r\nRange: bytes=\x00-1\r\n\r\n".encode(),
                f"GET {target} HTTP/1.1\r\nHost: x\r\nX: ".encode() + b"a" * 20000 + b"\r\n\r\n",
                f"GET {target}?{'%' * 3} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\n\r\n".encode(),
                f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                f"Content-Length: 30\r\n\r\n--b\r\nContent-Disposition: form".encode(),
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(40),
            ])
            await raw(base, data, findings, f"{target} {data[:50]!r}")

    kinds = ["download", "upload", "export", "webhook", "certificate", "ws", "raw"]
    for _ in range(ROUNDS):
        await asyncio.gather(*(one(pick(rnd, kinds)) for _ in range(5)))

    async with session.get(base + "/health") as resp:
        assert resp.status == 200
    assert await frpc.ok("course.list", {}) is not None
    # No internal error, and no traceback at ERROR for bytes that are not HTTP (rpc/http/app.py QuietBadRequests).
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    findings += [Finding(f"logged: {m[:200]}") for m in logged]
    (files_rows,) = db.execute("select count(*) from app.files")[0]
    on_disk = len(list(frpc.files_dir.glob("*"))) if frpc.files_dir.exists() else 0
    pending = db.execute("select count(*) from app.storage_pending where kind = 'upload'")[0][0]
    assert pending == 0, "an upload left under way"
    assert on_disk >= files_rows, "a files row without its bytes"
    line = (f"http fuzz: {sum(counts.values())} requests in {time.monotonic() - started:.1f} s "
            f"({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}); {len(findings)} finding(s) [seed {SEED}]")
    print(line)
    assert not findings, f"seed {SEED}:\n" + "\n".join(findings[:40])


pytestmark = pytest.mark.asyncio
