"""`lms events deliver`: POST the queued webhook deliveries, signed per Standard Webhooks.

Runs over the DATABASE_URL (DBA) connection, like `lms outbox`: the subscriptions' secrets are
readable only through the lms_definer functions internal.webhook_claim / webhook_attempt. A
worker leases ONE subscription at a time (internal.webhook_claim: `for update skip locked`, then a
claim token and an expiry committed at once, so several workers never post to the same URL at
once) with up to `--batch` of its pending deliveries in event order, posts them one by one and
records each answer in a short transaction of its own under the token (no transaction is open
while a POST is under way); the first failure ends the batch, so a subscription's events arrive
in order; internal.webhook_release ends the lease. The SQL decides the back-off, when a delivery
is given up and when a failing subscription is disabled (its creator is emailed through the outbox).

Each POST: the event JSON as body; headers `webhook-id` (the event id: receivers deduplicate),
`webhook-timestamp`, `webhook-signature` made by the `standardwebhooks` library, so receivers can
verify it with any Standard Webhooks library. Only http(s); the host's addresses are resolved
here and the connection goes to a checked address (no DNS rebinding): loopback, private,
link-local, multicast and reserved addresses are refused unless LMS_WEBHOOKS_ALLOW_PRIVATE_URLS
is true — also when an IPv6 address carries one (IPv4-mapped, NAT64, 6to4, IPv4-compatible).
Redirects are not followed; the answer is read up to 64 KiB. Each POST has one deadline,
LMS_WEBHOOK_TIMEOUT_SECONDS for connect, TLS handshake, request and the whole answer together: a
receiver that answers a byte at a time fails the attempt like one that does not answer.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import logging
import socket
import ssl
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import psycopg
from standardwebhooks.webhooks import Webhook

from rpc.workers.xapi import statement_problems

log = logging.getLogger("rpc.events")

MAX_ANSWER_BYTES = 64 * 1024
USER_AGENT = "lms-webhooks/1"


class TargetRefused(Exception):
    """The URL's host resolves to an address deliveries may not go to."""


IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated (RFC 4291 §2.5.5.1), ::a.b.c.d
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # the well-known NAT64 prefix (RFC 6052), 64:ff9b::a.b.c.d


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for, when something on the way turns the packet into
    IPv4 to it: the socket itself (IPv4-mapped ::ffff:a.b.c.d), a NAT64 gateway (64:ff9b::a.b.c.d),
    a 6to4 relay (2002:AABB:CCDD::/48) or a SIT tunnel (IPv4-compatible ::a.b.c.d). ipaddress calls
    64:ff9b::7f00:1 and 2002:7f00:1:: global, yet they reach 127.0.0.1."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64 or ip in IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether deliveries may go to `ip`: global unicast, not multicast nor reserved. An IPv6 address
    that carries an IPv4 one is judged by that IPv4 address, and the deprecated IPv4-compatible form
    is refused whatever it carries (nothing legitimate resolves to it). Reserved IPv6 space holds the
    forms whose IPv4 address cannot be found for sure (the local-use NAT64 64:ff9b:1::/48 puts it
    where the operator's prefix length says, SIIT's ::ffff:0:a.b.c.d): refused too."""
    if ip.version == 6:
        inner = embedded_ipv4(ip)
        if inner is not None:
            return ip not in IPV4_COMPATIBLE and is_public(inner)
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


def checked_address(host: str, port: int, allow_private: bool) -> str:
    """The address to connect to: the first the host resolves to; every one must be public."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host}: {exc}") from exc
    addresses = [info[4][0] for info in infos]
    if not allow_private:
        for text in addresses:
            ip = ipaddress.ip_address(text.split("%")[0])
            if not is_public(ip):
                inner = embedded_ipv4(ip) if ip.version == 6 else None
                shown = f"{ip} (carrying {inner})" if inner is not None else str(ip)
                raise TargetRefused(f"target_not_allowed: {host} resolves to {shown}, a non-public address "
                                    "(LMS_WEBHOOKS_ALLOW_PRIVATE_URLS=true allows it)")
    return addresses[0]


class Deadline:
    """The moment (time.monotonic) one POST must be over by, shared by its connection's sockets."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at = time.monotonic()  # until start(): no time left

    def start(self) -> None:
        self.at = time.monotonic() + self.seconds

    def remaining(self) -> float:
        """Seconds left; none: TimeoutError, an OSError, so the attempt fails like a socket timeout."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no complete answer within {self.seconds:g} s")
        return left


class _DeadlineIO:
    """Before each connect, handshake, send and receive, sets the socket's timeout to the time left.

    A socket timeout bounds one operation, not the exchange: a receiver sending a byte every second
    never trips it, and holds the worker (and every subscription behind it) for as long as it likes.
    Python waits at most the timeout in each call (sendall and the TLS calls included: one
    deadline each, not per chunk), so no call outlives the POST's deadline. No signals: the worker
    may run in any thread."""

    clock: Deadline | None = None  # set right after the socket is made, before any exchange

    def _arm(self) -> None:
        if self.clock is not None:
            self.settimeout(self.clock.remaining())

    def connect(self, address) -> None:
        self._arm()
        super().connect(address)

    def send(self, *args, **kwargs) -> int:
        self._arm()
        return super().send(*args, **kwargs)

    def sendall(self, *args, **kwargs) -> None:
        self._arm()
        super().sendall(*args, **kwargs)

    def recv(self, *args, **kwargs) -> bytes:
        self._arm()
        return super().recv(*args, **kwargs)

    def recv_into(self, *args, **kwargs) -> int:  # what http.client's makefile reads with
        self._arm()
        return super().recv_into(*args, **kwargs)


class _DeadlineSocket(_DeadlineIO, socket.socket):
    pass


class _DeadlineSSLSocket(_DeadlineIO, ssl.SSLSocket):
    def do_handshake(self, *args, **kwargs) -> None:
        self._arm()
        super().do_handshake(*args, **kwargs)


def _open(address: str, port: int, clock: Deadline) -> _DeadlineSocket:
    """A TCP connection to the checked (numeric) address, made in the time `clock` leaves."""
    family, kind, proto, _, sockaddr = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM,
                                                          flags=socket.AI_NUMERICHOST)[0]
    sock = _DeadlineSocket(family, kind, proto)
    sock.clock = clock
    try:
        sock.connect(sockaddr)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except BaseException:
        sock.close()
        raise
    return sock


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, clock: Deadline):
        super().__init__(host, port, timeout=clock.seconds)
        self._address = address
        self.clock = clock

    def connect(self) -> None:
        self.sock = _open(self._address, self.port, self.clock)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, clock: Deadline):
        context = ssl.create_default_context()
        context.sslsocket_class = _DeadlineSSLSocket
        super().__init__(host, port, timeout=clock.seconds, context=context)
        self._address = address
        self.clock = clock

    def connect(self) -> None:
        sock = _open(self._address, self.port, self.clock)
        # the handshake after the clock is on the TLS socket: wrap_socket's own would run without it
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host, do_handshake_on_connect=False)
        self.sock.clock = self.clock
        self.sock.do_handshake()


class Poster:
    """POSTs to one subscription's URL, keeping the connection alive between its deliveries."""

    def __init__(self, url: str, timeout: float, allow_private: bool):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TargetRefused(f"target_not_allowed: {parts.scheme or 'no'} scheme")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.clock = Deadline(timeout)
        self.allow_private = allow_private
        self.conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            address = checked_address(self.host, self.port, self.allow_private)
            cls = _PinnedHTTPS if self.https else _PinnedHTTP
            self.conn = cls(self.host, self.port, address, self.clock)
        return self.conn

    def post(self, body: bytes, headers: dict) -> int:
        """POST within one deadline (the retry on a fresh connection included) → the HTTP status."""
        self.clock.start()
        try:
            return self._exchange(body, headers)
        except TimeoutError as exc:
            self.close()  # mid-answer: the connection cannot carry another request
            raise TimeoutError(f"no complete answer within {self.clock.seconds:g} s "
                               "(LMS_WEBHOOK_TIMEOUT_SECONDS)") from exc

    def _exchange(self, body: bytes, headers: dict) -> int:
        for attempt in (1, 2):  # a kept-alive connection the receiver closed meanwhile: once more, fresh
            conn = self._connection()
            try:
                conn.request("POST", self.path, body=body, headers=headers)
                answer = conn.getresponse()
                answer.read(MAX_ANSWER_BYTES)
                if answer.will_close or not answer.isclosed():  # the receiver closes, or sent more than we read
                    self.close()
                return answer.status
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def signed_headers(secret: str, event_id: int, body: str) -> dict:
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": str(event_id),
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(str(event_id), now, body),
    }


def xapi_headers(basic_auth: str | None) -> dict:
    headers = {"content-type": "application/json", "user-agent": USER_AGENT, "x-experience-api-version": "1.0.3"}
    if basic_auth:
        headers["authorization"] = "Basic " + base64.b64encode(basic_auth.encode()).decode()
    return headers


def deliver(database_url: str, settings, limit: int = 10000, batch: int = 50,
            subscription_format: str = "standard_webhooks", home: str | None = None) -> dict:
    """Deliver what is due (at most `limit` POSTs) → {delivered, failed, gave_up, subscriptions}.

    `subscription_format` "xapi" (`lms xapi deliver`): the LRS subscription's deliveries, each event as the
    statement SQL made of it (internal.xapi_statement with `home`), checked by rpc.workers.xapi before it leaves and
    POSTed to {url}/statements with the LRS's Basic credentials; an event without a statement is recorded
    as delivered with nothing sent, one whose statement breaks an xAPI rule is given up.

    Per subscription: claim a lease (committed at once), POST its due deliveries in order, each
    attempt recorded in a short transaction of its own with the lease token, stop at the first
    failure, release. No transaction is open while a POST is under way; a worker that dies mid-way
    leaves a lease that runs out (each POST has a deadline, so the lease covers the batch)."""
    report = {"delivered": 0, "failed": 0, "gave_up": 0, "subscriptions": 0}
    posts = 0
    lease_seconds = int(batch * settings.webhook_timeout_seconds) + 60
    with psycopg.connect(database_url, autocommit=True) as conn:
        while posts < limit:
            conn.execute("select internal.events_sequence()")  # number what committed, queue its deliveries
            rows = conn.execute(
                "select claim, webhook_id, url, secret, delivery_id, event_id, event, basic_auth "
                "from internal.webhook_claim(%s, %s, %s, %s)",
                [min(batch, limit - posts), lease_seconds, subscription_format, home]).fetchall()
            if not rows:
                break
            report["subscriptions"] += 1
            claim, poster = rows[0][0], None
            try:
                for _claim, _webhook_id, url, secret, delivery_id, event_id, event, basic_auth in rows:
                    body = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
                    code = None
                    give_up = False
                    try:
                        if subscription_format == "xapi":
                            target, headers = url.rstrip("/") + "/statements", xapi_headers(basic_auth)
                            problems = [] if event is None else statement_problems(event)
                        else:
                            target, headers, problems = url, signed_headers(secret, event_id, body), []
                        if event is None:
                            ok, error = True, None  # the event says nothing to an LRS: done, nothing sent
                        elif problems:
                            ok, error, give_up = False, "not a valid xAPI statement: " + "; ".join(problems), True
                        else:
                            poster = poster or Poster(target, settings.webhook_timeout_seconds,
                                                      settings.webhooks_allow_private_urls)
                            code = poster.post(body.encode(), headers)
                            ok = 200 <= code < 300
                            error = None if ok else f"HTTP {code}"
                    except TargetRefused as exc:
                        ok, error, give_up = False, str(exc), True
                    except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
                        ok, error = False, f"{type(exc).__name__}: {exc}"
                    posts += 1
                    (status,) = conn.execute(
                        "select internal.webhook_attempt(%s, %s, %s, %s, %s, %s)",
                        [claim, delivery_id, ok, code, error, give_up]).fetchone()
                    if status == "lease_lost":
                        log.warning("webhook lease on %s ran out during its batch: stopping it", url)
                        break
                    if ok:
                        report["delivered"] += 1
                        continue
                    report["failed"] += 1
                    report["gave_up"] += status == "failed"
                    log.warning("webhook delivery %s of event %s to %s failed: %s", delivery_id, event_id,
                                url, error)
                    break  # the rest of this subscription waits: order per subscription
            finally:
                if poster is not None:
                    poster.close()
                conn.execute("select internal.webhook_release(%s)", [claim])
    return report
