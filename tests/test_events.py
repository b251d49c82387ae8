"""Events: written with the change or not at all, seen under RLS, replayed without gaps, delivered
to webhooks signed per Standard Webhooks (verified with the `standardwebhooks` library), and
pushed live over the WebSocket to exactly the sockets that may see them."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import aiohttp
import psycopg
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from rpc.http import live
from rpc.workers import webhook_delivery as delivery
from tests.conftest import make_settings
from tests.helpers.catalog import make_course
from tests.helpers.events import call, next_event


def event_types(db, user_id: str) -> list[str]:
    return [t for (t,) in db.execute("select type from app.events where user_id = %s order by seq", [user_id])]


async def test_rollback_leaves_no_event_and_each_commit_has_one(rpc, users, db):
    ina = await users.make("instructor")
    course_id, _ = await make_course(rpc, ina, lessons=1)
    sam = await users.make("student")
    with db.connect(autocommit=False) as conn:  # the change rolls back: its event goes with it
        conn.execute("insert into app.enrollments (user_id, course_id) values (%s, %s)", [sam.id, course_id])
        assert conn.execute("select count(*) from app.events where user_id = %s and type = 'enrollment.created'",
                            [sam.id]).fetchone() == (1,)
        conn.rollback()
    assert event_types(db, sam.id) == ["user.created"]

    students = [await users.make("student") for _ in range(20)]
    calls = [rpc.call("enrollment.enroll", {"course_id": course_id}, s.token) for s in students]
    calls += [rpc.call("enrollment.enroll", {"course_id": course_id}, students[0].token) for _ in range(10)]
    answers = await asyncio.gather(*calls)
    assert all("result" in a for a in answers), answers
    rows = db.execute("select e.user_id::text, count(*) from app.events e where e.type = 'enrollment.created' "
                      "and e.course_id = %s group by 1", [course_id])
    assert dict(rows) == {s.id: 1 for s in students}  # one event per enrollment, also for the repeated calls
    # every enrollment row has its event and every event its row
    assert db.execute("select count(*) from app.enrollments en where en.course_id = %s and not exists ("
                      "select from app.events e where e.type = 'enrollment.created' "
                      "and (e.data->>'enrollment_id')::uuid = en.id)", [course_id]) == [(0,)]


async def test_event_list_is_rls_filtered_paged_and_typed(rpc, users, db):
    ina = await users.make("instructor")
    other = await users.make("instructor")
    ada = await users.make("admin")
    course_id, lessons = await make_course(rpc, ina, lessons=2)
    a, b = await users.make("student"), await users.make("student")
    await rpc.ok("enrollment.enroll", {"course_id": course_id}, a.token)
    await rpc.ok("lesson.complete", {"lesson_id": lessons[0]}, a.token)
    await rpc.ok("enrollment.drop", {"course_id": course_id}, a.token)

    mine = await rpc.ok("event.list", {}, a.token)
    assert [e["type"] for e in mine] == ["user.created", "enrollment.created", "lesson.completed", "enrollment.dropped"]
    assert all(e["data"]["user_id"] == a.id for e in mine)
    assert [e["id"] for e in mine] == sorted(e["id"] for e in mine)
    assert mine[1]["data"] == {"enrollment_id": mine[1]["data"]["enrollment_id"], "course_id": course_id,
                               "user_id": a.id, "reactivated": False}
    assert not [e for e in await rpc.ok("event.list", {}, b.token) if e["data"].get("user_id") == a.id]
    teacher = await rpc.ok("event.list", {"types": ["enrollment.created", "enrollment.dropped"]}, ina.token)
    assert [e["type"] for e in teacher] == ["enrollment.created", "enrollment.dropped"]
    assert not await rpc.ok("event.list", {"types": ["enrollment.created"]}, other.token)
    everything = await rpc.ok("event.list", {"limit": 1000}, ada.token)
    assert {e["id"] for e in mine} <= {e["id"] for e in everything}

    page1 = await rpc.ok("event.list", {"limit": 2}, a.token)
    page2 = await rpc.ok("event.list", {"since": page1[-1]["id"], "limit": 2}, a.token)
    assert page1 + page2 == mine

    bad = await rpc.error("event.list", {"types": ["enrollment.exploded"]}, a.token)
    assert (bad["code"], bad["data"]["reason"]) == (422, "invalid_event_type")
    anon = await rpc.error("event.list", {})
    assert anon["code"] == 401


async def test_a_late_commit_gets_a_later_id_and_is_not_skipped(rpc, users, db):
    """A transaction that wrote its event first but commits last: the event committed meanwhile is
    listed at once (nothing waits for the running transaction), and the late one, once committed,
    gets the next id — so a client resuming from the last id it saw misses nothing. Ids are
    gapless."""
    ina = await users.make("instructor")
    course_id, _ = await make_course(rpc, ina, lessons=1)
    slow, fast = await users.make("student"), await users.make("student")
    with db.connect(autocommit=False) as conn:
        conn.execute("insert into app.enrollments (user_id, course_id) values (%s, %s)", [slow.id, course_id])
        await rpc.ok("enrollment.enroll", {"course_id": course_id}, fast.token)  # commits after slow wrote
        seen = await rpc.ok("event.list", {"types": ["enrollment.created"]}, ina.token)
        assert [e["data"]["user_id"] for e in seen] == [fast.id]
        conn.commit()
    later = await rpc.ok("event.list", {"types": ["enrollment.created"], "since": seen[-1]["id"]}, ina.token)
    assert [e["data"]["user_id"] for e in later] == [slow.id]
    assert later[0]["id"] > seen[-1]["id"]
    ids = [i for (i,) in db.execute("select id from app.events where id is not null order by id")]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # gapless


async def test_event_list_reads_its_writes_while_another_reader_numbers(rpc, users, db):
    """The server's hub numbers events all the time. An event.list that finds it at work waits for it
    (a few ms) and then numbers what is left, so an enrollment that committed before the call is
    listed; a numberer that stalls holds readers back 200 ms at most, and they answer with what was
    numbered before."""
    ina = await users.make("instructor")
    course_id, _ = await make_course(rpc, ina, lessons=1)
    student = await users.make("student")
    params = {"types": ["enrollment.created"]}
    before = await rpc.ok("event.list", params, ina.token)
    with db.connect(autocommit=False) as numberer:
        numberer.execute("select from app.event_sequencer for update")
        await rpc.ok("enrollment.enroll", {"course_id": course_id}, student.token)
        listing = asyncio.create_task(rpc.ok("event.list", params, ina.token))
        await asyncio.sleep(0.1)
        numberer.commit()
        listed = await listing
        assert [e["data"]["user_id"] for e in listed[len(before):]] == [student.id]

        numberer.execute("select from app.event_sequencer for update")  # and now it stalls
        other = await users.make("student")
        await rpc.ok("enrollment.enroll", {"course_id": course_id}, other.token)
        started = time.monotonic()
        assert await rpc.ok("event.list", params, ina.token) == listed
        assert 0.15 < time.monotonic() - started < 2
    after = await rpc.ok("event.list", params, ina.token)
    assert [e["data"]["user_id"] for e in after[len(listed):]] == [other.id]


async def test_event_list_reads_by_audience_not_by_walking_every_event(rpc, users, db):
    """A student with a few events among 50,000 of others', and an instructor whose course's events come
    last: event.list without since reads their rows by key (issue 34 §4) — no scan of app.events, and
    about as many index fetches as rows answered — and answers what row-level security lets them see."""
    student, teacher = await users.make("student"), await users.make("instructor")
    course_id, _ = await make_course(rpc, teacher, lessons=1)
    await rpc.ok("enrollment.enroll", {"course_id": course_id}, student.token)  # one event, both may see it
    with db.connect() as su:
        su.execute("set session_replication_role = replica")
        su.execute("insert into app.events (type, user_id, data) select 'lesson.completed', gen_random_uuid(), '{}' "
                   "from generate_series(1, 50000)")
        su.execute("insert into app.events (type, user_id, course_id, data) "
                   "select 'lesson.completed', gen_random_uuid(), %s, '{}' from generate_series(1, 30)", [course_id])
        su.execute("select internal.events_sequence(100000)")  # numbered now, not inside the measured call
        su.execute("analyze app.events")
        visible = {who.id: [r[0] for r in su.execute(
            "select id from app.events where user_id = %s or course_id = %s and %s order by id limit 100",
            [who.id, course_id, who is teacher]).fetchall()] for who in (student, teacher)}
    assert len(visible[student.id]) == 2 and len(visible[teacher.id]) == 32  # (user.created, enrollment, 30)
    for who in (student, teacher):
        with db.connect(autocommit=False) as conn:
            conn.execute("set session authorization lms_authenticator")  # as the server: set_caller trusts it
            conn.execute("select set_config('role', 'lms_api', true), internal.set_caller(%s, null, '{}')", [who.id])
            answered = conn.execute("select api.event_list()").fetchone()[0]
            conn.execute("reset role")
            conn.execute("reset session authorization")
            seq, fetched = conn.execute("select coalesce(seq_tup_read, 0), coalesce(idx_tup_fetch, 0) "
                                        "from pg_stat_xact_user_tables where relid = 'app.events'::regclass").fetchone()
            conn.rollback()
        assert [e["id"] for e in answered] == visible[who.id]
        assert seq == 0 and fetched <= 4 * len(answered) + 10, (who.role, seq, fetched)


async def test_analyst_sees_events_as_their_user(rpc, users, db, analyst):
    ina = await users.make("instructor")
    course_id, _ = await make_course(rpc, ina, lessons=1)
    a, b = await users.make("student"), await users.make("student")
    for s in (a, b):
        await rpc.ok("enrollment.enroll", {"course_id": course_id}, s.token)
    login = analyst(a.id)
    with db.connect(user=login) as conn:
        users_seen = {u for (u,) in conn.execute("select distinct user_id::text from app.events")}
        assert users_seen == {a.id}
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select secret from app.webhooks")
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("insert into app.events (type, data) values ('user.created', '{}')")


# ---------------------------------------------------------------------------------------------
# Webhooks
# ---------------------------------------------------------------------------------------------

class Receiver:
    """A local HTTP(S) receiver: records every POST; answers with the next scripted status (else 200)."""

    def __init__(self, script: list[int] | None = None, tls: ssl.SSLContext | None = None):
        self.script = list(script or [])
        self.received: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 — http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.script.pop(0) if receiver.script else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(script=None, tls=None) -> Receiver:
        made.append(Receiver(script, tls))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and its key (PEM files): the test receivers' HTTPS."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lms test receiver")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return str(folder / "cert.pem"), str(folder / "key.pem")


@pytest.fixture
def tls(tls_files, monkeypatch) -> ssl.SSLContext:
    """The receivers' server context; the worker trusts their certificate (SSL_CERT_FILE, read by
    ssl.create_default_context: the worker's own code path, nothing patched)."""
    cert, key = tls_files
    monkeypatch.setenv("SSL_CERT_FILE", cert)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


class DripReceiver:
    """A raw-socket receiver that reads the POST, sends `head` at once, then `drip` one byte every
    `every` seconds, then closes: no single read waits long, the whole answer does."""

    def __init__(self, head: bytes, drip: bytes, every: float = 0.5, tls: ssl.SSLContext | None = None):
        self.head, self.drip, self.every, self.tls = head, drip, every, tls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.listener.getsockname()[1]}/hook"
        self.requests = 0
        self.hung_up = threading.Event()  # the worker closed the connection before the answer was over
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            with conn:
                read_request(conn)
                self.requests += 1
                conn.sendall(self.head)
                for i in range(len(self.drip)):
                    conn.sendall(self.drip[i:i + 1])
                    time.sleep(self.every)
        except OSError:
            self.hung_up.set()

    def close(self) -> None:
        self.listener.close()


def read_request(conn: socket.socket) -> bytes:
    """One HTTP request's body, its headers read up to the blank line and its Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionResetError("closed mid-request")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionResetError("closed mid-request")
        body += chunk
    return body


@pytest.fixture
def drip_receiver():
    made: list[DripReceiver] = []

    def make(head: bytes, drip: bytes, tls=None) -> DripReceiver:
        made.append(DripReceiver(head, drip, tls=tls))
        return made[-1]

    yield make
    for r in made:
        r.close()


def deliver(db, **settings) -> dict:
    base = {"webhooks_allow_private_urls": True, **settings}
    return delivery.deliver(db.url, make_settings(**base))


async def queued_delivery(db, webhook_id: str) -> None:
    """Wait until the event's delivery is queued: events are numbered just after commit, by whichever
    reader runs the sequencer first — the in-process server's hub may be at it (a worker then skips it),
    so this waits without blocking the event loop the hub runs on."""
    for _ in range(600):
        db.execute("select internal.events_sequence()")
        if db.execute("select count(*) from app.webhook_deliveries where webhook_id = %s", [webhook_id])[0][0]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("no delivery was queued")


def make_due(db) -> None:
    db.execute("update app.webhook_deliveries set next_attempt_at = now() where status = 'pending'")


async def test_a_new_webhook_hears_only_what_happens_after_it_was_created(rpc, users, db, receiver):
    """Events are numbered (and their deliveries queued) when a reader next runs the sequencer, which
    may be after a webhook was created: an enrollment made before the webhook existed is not sent to
    it, one made after is."""
    ada, ina = await users.make("admin"), await users.make("instructor")
    course_id, _ = await make_course(rpc, ina, lessons=1)
    before, after = await users.make("student"), await users.make("student")
    with db.connect(autocommit=False) as sequencer:  # holds the numbering back: nothing gets an id meanwhile
        sequencer.execute("select from app.event_sequencer for update")
        await rpc.ok("enrollment.enroll", {"course_id": course_id}, before.token)
        hook = await rpc.ok("webhook.create", {"url": receiver().url, "events": ["enrollment.created"]}, ada.token)
        await rpc.ok("enrollment.enroll", {"course_id": course_id}, after.token)
        assert db.execute("select count(*) from app.events where id is null and type = 'enrollment.created' "
                          "and course_id = %s", [course_id]) == [(2,)]
    await rpc.ok("event.list", {}, ada.token)  # a reader numbers them
    sent = db.execute("select e.data->>'user_id' from app.webhook_deliveries d join app.events e on e.id = d.event_id "
                      "where d.webhook_id = %s", [hook["webhook_id"]])
    assert sent == [(str(after.id),)]


async def test_signed_delivery_retried_in_order_with_the_same_webhook_id(rpc, users, db, receiver):
    ada = await users.make("admin")
    ina = await users.make("instructor")
    course_id, _ = await make_course(rpc, ina, lessons=1)
    r = receiver([500, 503])  # fails twice, then succeeds
    hook = await rpc.ok("webhook.create", {"url": r.url, "events": ["enrollment.created", "enrollment.dropped"],
                                           "description": "CRM"}, ada.token)
    assert hook["secret"].startswith("whsec_") and hook["is_active"] is True
    students = [await users.make("student") for _ in range(3)]
    for s in students:
        await rpc.ok("enrollment.enroll", {"course_id": course_id}, s.token)
    await rpc.ok("enrollment.drop", {"course_id": course_id}, students[0].token)

    assert deliver(db)["failed"] == 1          # 500: the rest of the subscription waits
    assert deliver(db)["delivered"] == 0       # not due yet (back-off)
    make_due(db)
    assert deliver(db)["failed"] == 1          # 503
    make_due(db)
    report = deliver(db)
    assert report == {"delivered": 4, "failed": 0, "gave_up": 0, "subscriptions": 1}

    wh = Webhook(hook["secret"])
    bodies = []
    for headers, body in r.received:
        event = wh.verify(body, headers)  # the library checks the signature and the timestamp
        assert headers["webhook-id"] == str(event["id"])
        bodies.append(event)
    first_id = bodies[0]["id"]
    assert [b["id"] for b in bodies[:3]] == [first_id] * 3  # the same event three times, same webhook-id
    delivered = bodies[2:]
    assert [b["type"] for b in delivered] == ["enrollment.created"] * 3 + ["enrollment.dropped"]
    assert [b["id"] for b in delivered] == sorted(b["id"] for b in delivered)  # in order
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(r.received[-1][1], r.received[-1][0])

    log = await rpc.ok("webhook.deliveries", {"webhook_id": hook["webhook_id"]}, ada.token)
    assert len(log) == 4 and {d["status"] for d in log} == {"succeeded"}
    retried = [d for d in log if d["event_id"] == first_id][0]
    assert (retried["attempts"], retried["last_response_code"]) == (3, 200)

    again = await rpc.ok("webhook.redeliver", {"delivery_id": retried["delivery_id"]}, ada.token)
    assert again["status"] == "pending" and again["event_id"] == first_id
    assert deliver(db)["delivered"] == 1
    assert r.received[-1][0]["webhook-id"] == str(first_id)

    rotated = await rpc.ok("webhook.rotate_secret", {"webhook_id": hook["webhook_id"]}, ada.token)
    assert rotated["secret"] != hook["secret"]
    listed = await rpc.ok("webhook.list", {}, ada.token)
    assert [w["webhook_id"] for w in listed] == [hook["webhook_id"]] and "secret" not in listed[0]


async def test_private_targets_refused_by_default_and_admin_only(rpc, users, db, receiver):
    ada = await users.make("admin")
    ina = await users.make("instructor")
    r = receiver()
    hook = await rpc.ok("webhook.create", {"url": r.url, "events": ["user.created"]}, ada.token)
    # IPv6 literals that reach 127.0.0.1: IPv4-compatible, NAT64, IPv4-mapped, 6to4
    port = r.url.split(":")[2].split("/")[0]
    disguised = {f"http://[::127.0.0.1]:{port}/": "::7f00:1 (carrying 127.0.0.1)",
                 "http://[64:ff9b::7f00:1]/": "64:ff9b::7f00:1 (carrying 127.0.0.1)",
                 f"http://[::ffff:127.0.0.1]:{port}/": "::ffff:7f00:1 (carrying 127.0.0.1)",
                 f"https://[2002:7f00:1::1]:{port}/hook": "2002:7f00:1::1 (carrying 127.0.0.1)"}
    disguised_ids = {}
    for url in disguised:
        made = await rpc.ok("webhook.create", {"url": url, "events": ["user.created"]}, ada.token)
        disguised_ids[made["webhook_id"]] = url
    await users.make("student")
    report = delivery.deliver(db.url, make_settings())  # LMS_WEBHOOKS_ALLOW_PRIVATE_URLS unset
    assert report["gave_up"] == 1 + len(disguised) and r.received == []
    (status, error), = db.execute("select status, last_error from app.webhook_deliveries where webhook_id = %s",
                                  [hook["webhook_id"]])
    assert status == "failed" and error.startswith("target_not_allowed")
    rows = db.execute("select webhook_id::text, status, attempts, last_error from app.webhook_deliveries "
                      "where webhook_id = any(%s::uuid[])", [list(disguised_ids)])
    assert len(rows) == len(disguised)
    for webhook_id, status, attempts, error in rows:
        url = disguised_ids[webhook_id]
        assert (status, attempts) == ("failed", 1), url  # given up at once: not retried
        assert error.startswith("target_not_allowed") and f"resolves to {disguised[url]}" in error, (url, error)

    for bad in ("ftp://example.com/x", "http://user:pw@example.com/", "javascript:alert(1)"):
        err = await rpc.error("webhook.create", {"url": bad, "events": ["user.created"]}, ada.token)
        assert (err["code"], err["data"]["reason"]) == (422, "invalid_url"), bad
    for events in (["nope"], []):
        err = await rpc.error("webhook.create", {"url": r.url, "events": events}, ada.token)
        assert (err["code"], err["data"]["reason"]) == (422, "invalid_event_type"), events
    err = await rpc.error("webhook.create", {"url": r.url, "events": ["user.created"]}, ina.token)
    assert err["code"] == 403
    err = await rpc.error("webhook.deliveries", {"webhook_id": hook["webhook_id"]}, ina.token)
    assert err["code"] == 403


# IPv6 forms that carry an IPv4 address: each is judged by the IPv4 address it reaches
REFUSED = [
    "127.0.0.1", "10.1.2.3", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "240.0.0.1",
    "::1", "::", "fe80::1", "fc00::1", "ff02::1", "2001:db8::1", "4000::1",
    "::127.0.0.1", "::10.0.0.1", "::8.8.8.8",  # IPv4-compatible (deprecated): refused whatever it carries
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::c0a8:101",  # NAT64 to 127.0.0.1, the metadata IP, a LAN
    "64:ff9b:1::a00:1", "64:ff9b:1:808:808::",  # local-use NAT64 (RFC 8215): where the IPv4 sits is unknown
    "::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254",  # IPv4-mapped
    "::ffff:0:7f00:1", "::ffff:0:808:808",  # SIIT IPv4-translated: reserved, refused
    "2002:7f00:1::1", "2002:a00:1::", "2002:a9fe:a9fe::1", "2002:e000:1::1",  # 6to4 to loopback, private, multicast
]
ALLOWED = ["8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"]


@pytest.mark.parametrize("address", REFUSED)
def test_address_check_refuses_non_public_addresses_also_inside_ipv6(address):
    with pytest.raises(delivery.TargetRefused, match="target_not_allowed"):
        delivery.checked_address(address, 443, allow_private=False)
    assert delivery.checked_address(address, 443, allow_private=True) == address  # development, tests


@pytest.mark.parametrize("address", ALLOWED)
def test_address_check_lets_public_addresses_through_also_inside_ipv6(address):
    assert delivery.checked_address(address, 443, allow_private=False) == address


@pytest.mark.parametrize("url", ["http://[::127.0.0.1]:8080/", "http://[64:ff9b::7f00:1]/",
                                 "https://[::ffff:7f00:1]/hook", "http://[2002:7f00:1::]:9000/"])
def test_a_literal_ipv6_url_carrying_loopback_is_refused_before_connecting(url):
    poster = delivery.Poster(url, 1.5, allow_private=False)
    with pytest.raises(delivery.TargetRefused, match=r"carrying 127\.0\.0\.1"):
        poster.post(b"{}", {})
    assert poster.conn is None  # no connection was made


async def test_failing_subscription_is_disabled_and_its_admin_told(rpc, users, db, receiver):
    ada = await users.make("admin")
    r = receiver([500] * 10)
    hook = await rpc.ok("webhook.create", {"url": r.url, "events": ["user.created"]}, ada.token)
    await users.make("student")
    await queued_delivery(db, hook["webhook_id"])
    db.execute("update app.webhooks set failing_since = now() - interval '3 hours' where id = %s",
               [hook["webhook_id"]])
    db.execute("update app.settings set value = 2 where name = 'webhook_disable_after_hours'")
    deliver(db)
    (active, reason), = db.execute("select is_active, disabled_reason from app.webhooks where id = %s",
                                   [hook["webhook_id"]])
    assert active is False and reason.startswith("failing since")
    assert db.execute("select count(*) from app.outbox where recipient = %s and subject like 'Webhook disabled%%'",
                      [ada.email]) == [(1,)]
    make_due(db)
    assert deliver(db)["subscriptions"] == 0  # disabled: nothing is tried
    back = await rpc.ok("webhook.update", {"webhook_id": hook["webhook_id"], "is_active": True}, ada.token)
    assert back["is_active"] is True and back["disabled_at"] is None and back["failing_since"] is None
    gone = await rpc.ok("webhook.delete", {"webhook_id": hook["webhook_id"]}, ada.token)
    assert gone == {"webhook_id": hook["webhook_id"], "deleted": True}
    assert db.execute("select count(*) from app.webhook_deliveries where webhook_id = %s",
                      [hook["webhook_id"]]) == [(0,)]
    err = await rpc.error("webhook.delete", {"webhook_id": hook["webhook_id"]}, ada.token)
    assert err["code"] == 404


async def test_no_transaction_is_open_while_a_post_is_under_way(rpc, users, db):
    """The worker leases the subscription and commits before it POSTs: while the receiver holds the
    request, the worker's session is idle (not idle in transaction), holds no lock on the webhook row
    (an admin's webhook.update goes through at once), and a second worker skips the leased subscription."""
    ada = await users.make("admin")
    arrived, release = threading.Event(), threading.Event()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802 — http.server's name
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            arrived.set()
            release.wait(10)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hook = await rpc.ok("webhook.create", {"url": f"http://127.0.0.1:{server.server_address[1]}/hook",
                                               "events": ["user.created"]}, ada.token)
        await users.make("student")
        worker = asyncio.create_task(asyncio.to_thread(deliver, db))
        assert await asyncio.to_thread(arrived.wait, 10), "the POST never arrived"
        states = db.execute("select state from pg_stat_activity where application_name = '' and backend_type = "
                            "'client backend' and query like '%%webhook_claim%%' and pid <> pg_backend_pid()")
        assert states == [("idle",)], states
        updated = await rpc.ok("webhook.update", {"webhook_id": hook["webhook_id"], "description": "CRM"}, ada.token)
        assert updated["description"] == "CRM"
        assert deliver(db)["subscriptions"] == 0  # leased: another worker leaves it alone
        release.set()
        report = await worker
        assert report["delivered"] == 1
        assert db.execute("select claim_token from app.webhooks where id = %s", [hook["webhook_id"]]) == [(None,)]
    finally:
        release.set()
        server.shutdown()
        server.server_close()


async def test_two_workers_never_deliver_a_subscription_twice(rpc, users, db, receiver):
    ada = await users.make("admin")
    hooks = [receiver() for _ in range(3)]
    for r in hooks:
        await rpc.ok("webhook.create", {"url": r.url, "events": ["user.created"]}, ada.token)
    for _ in range(10):
        await users.make("student")
    reports = await asyncio.gather(*[asyncio.to_thread(deliver, db) for _ in range(3)])
    assert sum(rep["delivered"] for rep in reports) == 30
    for r in hooks:
        ids = [h["webhook-id"] for h, _ in r.received]
        assert len(ids) == 10 and len(set(ids)) == 10 and ids == sorted(ids, key=int)


DRIPS = {  # (sent at once, then one byte every 0.5 s): 9.5 s and 6 s in all, far beyond the deadline
    "status line": (b"", b"HTTP/1.0 200 OK\r\n\r\n"),
    "body": (b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", b"a" * 12),
}


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("where", list(DRIPS))
async def test_a_receiver_answering_byte_by_byte_fails_at_the_deadline(rpc, users, db, receiver, drip_receiver,
                                                                       request, scheme, where):
    """A receiver that answers one byte every 0.5 s never trips a 1.5 s per-read timeout; the POST's
    deadline (LMS_WEBHOOK_TIMEOUT_SECONDS, connect + request + whole answer) fails the attempt at
    1.5 s like a timeout: pending, retried later, and the next subscription is served meanwhile."""
    tls = request.getfixturevalue("tls") if scheme == "https" else None
    ada = await users.make("admin")
    db.execute("select internal.events_sequence()")  # the admin's user.created: numbered before the hooks exist
    slow = drip_receiver(*DRIPS[where], tls=tls)
    fine = receiver(tls=tls)
    slow_hook = await rpc.ok("webhook.create", {"url": slow.url, "events": ["user.created"]}, ada.token)
    await rpc.ok("webhook.create", {"url": fine.url, "events": ["user.created"]}, ada.token)
    await users.make("student")

    started = time.monotonic()
    report = deliver(db, webhook_timeout_seconds=1.5)
    took = time.monotonic() - started
    assert report == {"delivered": 1, "failed": 1, "gave_up": 0, "subscriptions": 2}
    assert 1.4 < took < 1.5 + 1.5, took  # the deadline, plus slack for the database and the other POST
    assert slow.requests == 1 and len(fine.received) == 1
    (status, attempts, code, error), = db.execute(
        "select status, attempts, last_response_code, last_error from app.webhook_deliveries "
        "where webhook_id = %s", [slow_hook["webhook_id"]])
    assert (status, attempts, code) == ("pending", 1, None)  # retried after the back-off
    assert error == "TimeoutError: no complete answer within 1.5 s (LMS_WEBHOOK_TIMEOUT_SECONDS)"
    assert await asyncio.to_thread(slow.hung_up.wait, 5)  # the worker closed the connection


# ---------------------------------------------------------------------------------------------
# WebSocket
# ---------------------------------------------------------------------------------------------





async def test_websocket_delivers_to_who_may_see_and_replays_on_reconnect(rpc, users, db):
    ina = await users.make("instructor")
    course_id, lessons = await make_course(rpc, ina, lessons=1)
    a, b = await users.make("student"), await users.make("student")
    url = rpc.base.replace("http", "ws") + "/ws"
    async with aiohttp.ClientSession() as session:
        ws_a = await session.ws_connect(url, headers={"Authorization": f"Bearer {a.token}"})
        ws_b = await session.ws_connect(url, protocols=("jsonrpc", f"bearer.{b.token}"))
        assert ws_b.protocol == "jsonrpc"
        ws_i = await session.ws_connect(url)
        assert (await call(ws_i, "auth", {"token": ina.token}))["result"] == {"user_id": ina.id}
        ws_x = await session.ws_connect(url, protocols=("bearer", ina.token))  # the other subprotocol form
        assert (await call(ws_x, "user.me", {}))["result"]["id"] == ina.id
        await ws_x.close()
        for ws in (ws_a, ws_b, ws_i):
            answer = await call(ws, "event.subscribe", {"types": ["enrollment.created", "lesson.completed"]})
            assert answer["result"]["subscribed"] is True
        bad_auth = await call(ws_b, "auth", {"token": "garbage"}, rid=9)
        assert bad_auth["error"]["data"]["reason"] == "token_invalid"
        assert (await call(ws_b, "user.me", {}, rid=10))["result"]["id"] == b.id  # still B after a refused auth
        # ordinary calls work over the socket too
        me = await call(ws_a, "user.me", {}, rid=7)
        assert me["result"]["id"] == a.id

        await rpc.ok("enrollment.enroll", {"course_id": course_id}, a.token)
        got_a, got_i = await next_event(ws_a), await next_event(ws_i)
        assert got_a == got_i and got_a["type"] == "enrollment.created" and got_a["data"]["user_id"] == a.id
        # A sentinel B may see, after A's enrollment: it is the first event B hears, so A's was never sent.
        other_course, _ = await make_course(rpc, ina, lessons=1)
        await rpc.ok("enrollment.enroll", {"course_id": other_course}, b.token)
        sentinel = await next_event(ws_b)
        assert (sentinel["type"], sentinel["data"]["user_id"]) == ("enrollment.created", b.id), sentinel
        assert (await next_event(ws_i)) == sentinel  # the instructor of both courses hears it too

        last_seen = got_a["id"]
        await ws_a.close()
        await rpc.ok("lesson.complete", {"lesson_id": lessons[0]}, a.token)   # while A is away
        await rpc.ok("enrollment.drop", {"course_id": course_id}, a.token)     # not subscribed to
        assert (await next_event(ws_i))["type"] == "lesson.completed"
        ws_a = await session.ws_connect(url, headers={"Authorization": f"Bearer {a.token}"})
        answer = await call(ws_a, "event.subscribe", {"types": ["enrollment.created", "lesson.completed"],
                                                      "since": last_seen})
        assert answer["result"]["since"] == last_seen
        missed = await next_event(ws_a)
        assert missed["type"] == "lesson.completed" and missed["id"] > last_seen
        await rpc.ok("enrollment.enroll", {"course_id": course_id}, a.token)  # re-activated: live again
        live = await next_event(ws_a)
        assert live["type"] == "enrollment.created" and live["data"]["reactivated"] is True

        anon = await session.ws_connect(url)
        err = await call(anon, "event.subscribe", {})
        assert err["error"]["code"] == 401
        bad = await call(anon, "event.subscribe", {"types": ["no.such"]})
        assert bad["error"]["code"] == 401
        for ws in (ws_a, ws_b, ws_i, anon):
            await ws.close()


async def test_websocket_subscriber_deactivated_hears_nothing_more(rpc, users, db):
    ada = await users.make("admin")
    watcher = await users.make("admin")
    url = rpc.base.replace("http", "ws") + "/ws"
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(url, headers={"Authorization": f"Bearer {watcher.token}"})
        other = await session.ws_connect(url, headers={"Authorization": f"Bearer {ada.token}"})
        for socket_ in (ws, other):
            assert "result" in await call(socket_, "event.subscribe", {"types": ["user.created"]})
        first = await users.make("student")  # heard: and everything made before it has been sent by then
        while (await next_event(ws))["data"]["user_id"] != first.id:
            pass
        await rpc.ok("admin.set_active", {"user_id": watcher.id, "is_active": False}, ada.token)
        unheard = await users.make("student")
        sentinel = await users.make("student")  # made after: once another admin hears it, the hub is past both
        heard = await next_event(other)
        while heard["data"]["user_id"] != sentinel.id:
            heard = await next_event(other)
        # Its subscription was ended (deactivation ends sessions) and no event came before that.
        got = []
        while not got or got[-1].get("method") != "event.unsubscribed":
            got.append(await asyncio.wait_for(ws.receive_json(), 5))
        assert got == [{"jsonrpc": "2.0", "method": "event.unsubscribed", "params": {"reason": "session_ended"}}], (
            f"an inactive account was sent {got} (the user {unheard.id} was made)")
        err = await call(ws, "user.me", {}, rid=3)
        assert err["error"]["data"]["reason"] == "account_inactive"
        await ws.close()
        await other.close()


async def test_listener_reconnects_without_losing_events(rpc, users, db):
    """The server's event-hub connection dies; an event committed meanwhile still reaches the socket
    (the hub resumes from the last id it fanned out), once, and live delivery goes on."""
    watcher = await users.make("admin")
    url = rpc.base.replace("http", "ws") + "/ws"
    hub = rpc.app[live.HUB]
    await asyncio.wait_for(hub.listening.wait(), 10)
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(url, headers={"Authorization": f"Bearer {watcher.token}"})
        assert "result" in await call(ws, "event.subscribe", {"types": ["user.created"]})
        killed = db.execute("select pg_terminate_backend(pid) from pg_stat_activity "
                            "where datname = current_database() and usename = 'lms_authenticator' "
                            "and application_name = %s", [live.HUB_APPLICATION_NAME])
        assert len(killed) >= 1
        missed = await users.make("student")  # committed while the hub is (re)connecting
        first = await next_event(ws, timeout=15)
        assert first["data"]["user_id"] == missed.id
        later = await users.make("student")
        second = await next_event(ws)
        assert second["data"]["user_id"] == later.id  # not a duplicate of the first
        await ws.close()


async def test_a_subscriber_that_stops_reading_is_closed_not_waited_for():
    """The fan-out never waits for a client: a socket whose peer stopped reading (its sends never
    finish) is closed with 1013 once OUTBOX_LIMIT events are queued; the others get every event."""
    class StuckPeer:
        closed_with = None

        async def send_str(self, text):
            await asyncio.Event().wait()  # the peer never reads: the send never completes

        async def close(self, code, message):
            self.closed_with = code

    class ReadingPeer:
        def __init__(self):
            self.got: list[str] = []

        async def send_str(self, text):
            self.got.append(text)

        async def close(self, code, message):
            raise AssertionError("a reading peer is never closed")

    stuck = live.Subscriber(StuckPeer(), "u-stuck", None, live=True)
    fine = live.Subscriber(ReadingPeer(), "u-fine", None, live=True)
    n = live.Subscriber.OUTBOX_LIMIT + 200
    for i in range(1, n + 1):
        event = {"id": i, "type": "user.created", "occurred_at": "2026-01-01T00:00:00+00:00", "data": {}}
        await asyncio.wait_for(stuck.send_event(event), 0.5)  # returns at once even though nothing is sent
        await fine.send_event(event)
        if i % 100 == 0:
            await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    assert stuck.dropped and stuck.ws.closed_with == 1013
    assert len(fine.ws.got) == n and '"id":1,' in fine.ws.got[0]
    stuck.stop()
    fine.stop()
