"""GET /ws: JSON-RPC 2.0 over a WebSocket, with live event notifications.

Authentication: `Authorization: Bearer <token>` on the upgrade request, or
`Sec-WebSocket-Protocol` entries `bearer.<token>` (or `bearer`, `<token>`) — browsers cannot set
headers; offer `jsonrpc` too and the server answers with it — or a message `{"jsonrpc": "2.0",
"method": "auth", "params": {"token": "<token>"}, "id": 1}` (any time: a fresh token for a
long-lived socket; as the very first message a bare `{"token": "<token>"}` works too). Without one
the socket is anonymous (public methods only). The token is checked again on every message, so
an expired one stops working.

Every ordinary JSON-RPC call (or batch) is answered exactly as POST /rpc answers it
(views.respond). Two more methods exist only here:
- `event.subscribe {types?, since?}` → `{subscribed: true, types, since}`: from then on the
  socket receives `{"jsonrpc": "2.0", "method": "event", "params": <event>}` for every new event
  the caller may see; with `since` it first receives the events after that id (event.list's
  replay, at most 10,000; nothing between the replay and the live stream is lost or repeated).
- `event.unsubscribe {}` → `{subscribed: false}`.

One polling connection per process (EventHub): every ~50 ms it asks for the ids after the last
one it fanned out (gapless, in commit order); for each batch of ids it asks PostgreSQL once which
of them each subscribed user may see (internal.events_visible_to re-reads them under each user's
identity: row-level security decides), then sends them. No LISTEN/NOTIFY: a channel any session
may send on is never trusted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from aiohttp import WSCloseCode, WSMsgType, web

from rpc.core.openrpc import AUTH_ALIASES
from rpc.core.protocol import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    RpcError,
    error_response,
    parse_body,
    request_id,
    result_response,
)
from rpc.db.calls import CallContext
from rpc.http import views
from rpc.http.service import SERVICE, RpcService

log = logging.getLogger("rpc.live")

REPLAY_PAGE = 1000
HUB_APPLICATION_NAME = "lms event hub"  # how a DBA tells the hub's connection in pg_stat_activity
REPLAY_PAGES = 10  # a replay sends at most 10,000 events
HUB = web.AppKey("event_hub", object)


@dataclass(eq=False)
class Subscriber:
    """One subscribed socket. Events are queued (at most OUTBOX_LIMIT) and sent by the socket's own
    sender task, so a client that stops reading never holds up the fan-out to the others; one that
    falls that far behind is closed (1013, "too slow") and resumes with `since`."""

    OUTBOX_LIMIT = 1000

    ws: web.WebSocketResponse
    user_id: str
    types: frozenset[str] | None
    authorization: str | None = None  # the socket's bearer token, checked again at every fan-out
    started: float = field(default_factory=time.time)  # sessions ended after this end the subscription
    live: bool = False
    held: list[dict] = field(default_factory=list)  # live events that arrive during the replay
    sent: set[int] = field(default_factory=set)     # ids sent by the replay (not sent twice)
    outbox: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(Subscriber.OUTBOX_LIMIT))
    dropped: bool = False
    _sender: asyncio.Task | None = None

    async def send_event(self, event: dict) -> None:
        """Queue an event for this socket (never waits for the client)."""
        if self.dropped or (self.types is not None and event["type"] not in self.types):
            return
        if not self.live:
            self.held.append(event)
            if len(self.held) > self.OUTBOX_LIMIT:
                self._drop()
            return
        if event["id"] in self.sent:
            return
        try:
            self.outbox.put_nowait(_json({"jsonrpc": "2.0", "method": "event", "params": event}))
        except asyncio.QueueFull:
            self._drop()
            return
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send_all())

    async def _send_all(self) -> None:
        try:
            while True:
                await self.ws.send_str(await self.outbox.get())
        except (ConnectionError, RuntimeError):
            pass  # the socket is closing; its handler removes the subscription

    def _drop(self) -> None:
        self.dropped = True
        log.warning("a subscriber of user %s fell %d events behind: closing its socket", self.user_id,
                    self.OUTBOX_LIMIT)
        asyncio.get_running_loop().create_task(
            self.ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow: reconnect and subscribe with since"))

    def stop(self) -> None:
        if self._sender is not None:
            self._sender.cancel()

    def end(self, reason: str) -> None:
        """The caller may no longer receive events (token expired, sessions ended, deactivated):
        tell the client once and stop; it re-authenticates and subscribes again with `since`."""
        self.dropped = True
        note = _json({"jsonrpc": "2.0", "method": "event.unsubscribed", "params": {"reason": reason}})
        asyncio.get_running_loop().create_task(self._send_quietly(note))

    async def _send_quietly(self, text: str) -> None:
        try:
            await self.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            pass


class EventHub:
    """One database connection per process; fans each new event out to the sockets that may see it.

    It polls (POLL_SECONDS while sockets are subscribed, IDLE_SECONDS otherwise) for the ids after
    the last one it fanned out: internal.event_ids_after numbers what committed since the last
    reader first (internal.events_sequence), and ids are gapless in commit order, so the hub's
    position alone says what it has sent — a lost connection resumes from it, and nothing a session
    sends on a channel (a NOTIFY) is trusted or even heard. No writer waits for the hub."""

    POLL_SECONDS = 0.05    # a new event reaches a socket within ~50 ms
    IDLE_SECONDS = 0.25    # with no subscriber, keep numbering (webhooks, analysts) at a slower pace
    BATCH = 10_000         # at most this many ids fanned out per poll

    def __init__(self, service: RpcService):
        self.service = service
        self.subscribers: set[Subscriber] = set()
        self._task: asyncio.Task | None = None
        self.listening = asyncio.Event()
        self.resume_from: int | None = None
        self.wake = asyncio.Event()  # set to poll at once (tests, a subscribe)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                        self.service.db.pool.conninfo, autocommit=True, prepare_threshold=None,
                        application_name=HUB_APPLICATION_NAME) as reader:
                    if self.resume_from is None:  # a start: from the newest id on
                        self.resume_from = await self._last_id(reader)
                    self.listening.set()
                    delay = 0.5
                    while True:
                        (ids,), = await self.service.db.run_as(reader, "select internal.event_ids_after(%s, %s)",
                                                [self.resume_from, self.BATCH])
                        if ids:
                            await self._fan_out(reader, ids)
                            self.resume_from = ids[-1]
                            if len(ids) == self.BATCH:
                                continue  # more are waiting
                        self.wake.clear()
                        pause = self.POLL_SECONDS if self.subscribers else self.IDLE_SECONDS
                        try:
                            await asyncio.wait_for(self.wake.wait(), pause)
                        except TimeoutError:
                            pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 — the database went away: poll again later
                self.listening.clear()
                log.warning("event hub lost its connection (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _last_id(self, reader: psycopg.AsyncConnection) -> int:
        (last,), = await self.service.db.run_as(reader, "select internal.events_sequence()")
        return last

    async def _fan_out(self, reader: psycopg.AsyncConnection, ids: list[int]) -> None:
        await self._end_lapsed(reader)
        if not self.subscribers:
            return
        by_user: dict[str, list[Subscriber]] = {}
        for sub in self.subscribers:
            by_user.setdefault(sub.user_id, []).append(sub)
        rows = await self.service.db.run_as(
            reader, "select user_id::text, events from internal.events_visible_to(%s, %s::uuid[])",
            [ids, list(by_user)])
        for user_id, events in rows:
            for sub in by_user.get(user_id, ()):
                for event in events:
                    await sub.send_event(event)

    async def _end_lapsed(self, reader: psycopg.AsyncConnection) -> None:
        """End the subscriptions whose token expired, and those of users who ended their sessions
        (auth.logout_all, a reused refresh token, deactivation) since they subscribed."""
        for sub in list(self.subscribers):
            try:
                self.service.tokens.verify(sub.authorization)
            except RpcError as exc:
                self._end(sub, (exc.data or {}).get("reason", "token_invalid"))
        if not self.subscribers:
            return
        subs = list(self.subscribers)
        (ended,), = await self.service.db.run_as(
            reader, "select internal.sessions_ended_since(%s::uuid[], %s::timestamptz[])",
            [[s.user_id for s in subs], [_utc(s.started) for s in subs]])
        for sub in subs:
            if sub.user_id in {str(u) for u in ended}:
                self._end(sub, "session_ended")

    def _end(self, sub: Subscriber, reason: str) -> None:
        self.subscribers.discard(sub)
        sub.end(reason)


def _utc(ts: float):
    from datetime import UTC, datetime
    return datetime.fromtimestamp(ts, UTC)


def _json(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def bearer_from_protocols(request: web.Request) -> str | None:
    """A token offered as a subprotocol: `bearer.<token>`, or `bearer` followed by `<token>`."""
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    for i, value in enumerate(offered):
        if value.lower().startswith("bearer.") and len(value) > 7:
            return "Bearer " + value[len("bearer."):]
        if value.lower() == "bearer" and i + 1 < len(offered):
            return "Bearer " + offered[i + 1]
    return None


AUTH_METHODS = AUTH_ALIASES  # published in rpc.discover's x-websocket
AUTH_MESSAGE_COST = 2  # a signature check, and what a token-guessing client spends per try
SUBSCRIPTIONS_PER_USER = 50  # per process: one user's further event.subscribe calls get 429
SOCKET_OPEN_COST = 2  # budget units an upgrade spends: opening sockets in a loop is rate limited like calls


class SocketCounts:
    """Open sockets per client address and per signed-in user, in this process."""

    def __init__(self) -> None:
        self.by_address: dict[str | None, int] = {}
        self.by_user: dict[str, int] = {}

    @staticmethod
    def _move(counts: dict, key: Any, step: int) -> None:
        value = counts.get(key, 0) + step
        if value > 0:
            counts[key] = value
        else:
            counts.pop(key, None)

    def add_address(self, address: str | None) -> None:
        self._move(self.by_address, address, 1)

    def drop_address(self, address: str | None) -> None:
        self._move(self.by_address, address, -1)

    def switch_user(self, old: str | None, new: str | None) -> None:
        if old == new:
            return
        if old is not None:
            self._move(self.by_user, old, -1)
        if new is not None:
            self._move(self.by_user, new, 1)


def too_many_sockets(what: str, limit: int) -> RpcError:
    return RpcError(429, f"at most {limit} open sockets per {what} (per server process)",
                    {"reason": "too_many_sockets"})


def _user_of(service: RpcService, authorization: str | None) -> str | None:
    if not authorization:
        return None
    try:
        return service.tokens.verify(authorization).user_id
    except RpcError:
        return None


def is_auth_message(payload: Any, first: bool) -> bool:
    """`{"method": "auth", "params": {"token": …}}` at any time (a fresh token for a long-lived
    socket), or, as the very first message, a bare `{"token": …}` / `{"access_token": …}`."""
    if not isinstance(payload, dict):
        return False
    if payload.get("method") in AUTH_METHODS:
        return True
    return first and "method" not in payload and any(k in payload for k in ("token", "access_token"))


async def ws_handler(request: web.Request) -> web.StreamResponse:
    service: RpcService = request.app[SERVICE]
    hub: EventHub = request.app[HUB]
    counts: SocketCounts = request.app[SOCKETS]
    settings = service.settings
    authorization = request.headers.get("Authorization") or bearer_from_protocols(request)
    address = views.client_address(request, service.proxies)
    user_id = _user_of(service, authorization)
    refused = await _charged(service, address, SOCKET_OPEN_COST)
    if refused is None and counts.by_address.get(address, 0) >= settings.ws_max_sockets_per_address:
        refused = too_many_sockets("address", settings.ws_max_sockets_per_address)
    if refused is None and user_id is not None and counts.by_user.get(user_id, 0) >= settings.ws_max_sockets_per_user:
        refused = too_many_sockets("user", settings.ws_max_sockets_per_user)
    if refused is not None:  # before the upgrade: a plain HTTP answer with the JSON error
        return web.json_response(error_response(None, refused), status=refused.code if refused.code >= 400 else 503)
    ws = web.WebSocketResponse(protocols=("jsonrpc", "bearer"), heartbeat=30.0,
                               max_msg_size=settings.max_body_bytes)
    counts.add_address(address)
    counts.switch_user(None, user_id)
    try:
        await ws.prepare(request)
        return await _serve_socket(service, hub, counts, ws, authorization, address, user_id)
    finally:
        counts.drop_address(address)


async def _serve_socket(service: RpcService, hub: EventHub, counts: SocketCounts, ws: web.WebSocketResponse,
                        authorization: str | None, address: str | None, user_id: str | None) -> web.WebSocketResponse:
    subscriber: Subscriber | None = None
    first = True
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                if msg.type == WSMsgType.BINARY:
                    refused = await _charged(service, address)
                    await ws.send_str(json.dumps(error_response(None, refused or RpcError(
                        -32700, "Send JSON-RPC as text frames", {"reason": "invalid_json"}))))
                continue
            outcomes: list = []
            try:
                payload = parse_body(msg.data.encode())
            except RpcError as exc:
                await ws.send_str(_json(error_response(None, await _charged(service, address) or exc)))
                continue
            if is_auth_message(payload, first):
                if (refused := await _charged(service, address, AUTH_MESSAGE_COST)) is not None:
                    await ws.send_str(_json(error_response(request_id(payload), refused)))
                    continue
                first = False
                fresh, answer = _authenticate(service, payload)
                fresh_user = _user_of(service, fresh)
                if fresh_user is not None and fresh_user != user_id \
                        and counts.by_user.get(fresh_user, 0) >= service.settings.ws_max_sockets_per_user:
                    fresh, answer = None, error_response(request_id(payload), too_many_sockets(
                        "user", service.settings.ws_max_sockets_per_user))
                elif fresh_user is not None:
                    counts.switch_user(user_id, fresh_user)
                    user_id = fresh_user
                authorization = fresh or authorization  # a refused token leaves the socket as it was
                if subscriber is not None and fresh:
                    subscriber.authorization = fresh  # a fresh token keeps a long-lived subscription going
                if answer is not None:
                    await ws.send_str(_json(answer))
                continue
            first = False
            auth_error = None
            context = None
            try:
                caller = service.tokens.verify(authorization)
                context = CallContext(caller.user_id, address)
            except RpcError as exc:
                auth_error = exc
            if isinstance(payload, dict) and payload.get("method") in ("event.subscribe", "event.unsubscribe"):
                subscriber = await _subscription(service, hub, ws, payload, context, auth_error, subscriber,
                                                 authorization)
                continue
            try:
                text, _ = await views.respond(service, payload, context, auth_error, outcomes)
            except RpcError as exc:
                text = _json(error_response(None, exc))
            if text is not None:
                await ws.send_str(text)
    finally:
        counts.switch_user(user_id, None)
        if subscriber is not None:
            hub.subscribers.discard(subscriber)
            subscriber.stop()
    return ws


async def _charged(service: RpcService, address: str | None, units: int = 1) -> RpcError | None:
    """Spend budget for a frame the server answers itself (garbage, auth): None, or the 429 to send."""
    try:
        await service.charge(CallContext(None, address), units)
    except RpcError as exc:
        return exc
    return None


def _authenticate(service: RpcService, payload: dict) -> tuple[str | None, dict | None]:
    params = payload.get("params") if isinstance(payload.get("params"), dict) else payload
    token = params.get("token") or params.get("access_token")
    if isinstance(token, str) and token.lower().startswith("bearer "):
        token = token[7:]
    rid = request_id(payload)
    if not isinstance(token, str) or not token:
        err = RpcError(INVALID_PARAMS, "auth needs params.token", {"reason": "missing_param", "field": "token"})
        return None, error_response(rid, err)
    authorization = "Bearer " + token
    try:
        caller = service.tokens.verify(authorization)
    except RpcError as exc:
        return None, error_response(rid, exc)
    return authorization, (result_response(rid, {"user_id": caller.user_id}) if "id" in payload else None)


async def _subscription(service: RpcService, hub: EventHub, ws: web.WebSocketResponse, payload: dict,
                        context: CallContext | None, auth_error: RpcError | None,
                        current: Subscriber | None, authorization: str | None = None) -> Subscriber | None:
    """Handle event.subscribe / event.unsubscribe: answer, replay (with `since`), then go live."""
    rid = request_id(payload)
    notify = "id" not in payload
    params = payload.get("params", {})
    try:
        if auth_error is not None:
            raise auth_error
        if not isinstance(params, dict):
            raise RpcError(INVALID_REQUEST, "params must be an object", {"reason": "params_must_be_object_or_array"})
        if current is not None:
            hub.subscribers.discard(current)
            current.stop()
            current = None
        if payload["method"] == "event.unsubscribe":
            if not notify:
                await ws.send_str(_json(result_response(rid, {"subscribed": False})))
            return None
        unknown = sorted(set(params) - {"types", "since"})
        if unknown:
            raise RpcError(INVALID_PARAMS, f"unknown param {unknown[0]}",
                           {"reason": "unknown_param", "field": unknown[0]})
        if context is None or context.user_id is None:
            raise RpcError(401, "Not authenticated", {"reason": "not_authenticated"})
        if sum(1 for s in hub.subscribers if s.user_id == context.user_id) >= SUBSCRIPTIONS_PER_USER:
            raise RpcError(429, f"at most {SUBSCRIPTIONS_PER_USER} live subscriptions per user",
                           {"reason": "too_many_subscriptions"})
        types, since = params.get("types"), params.get("since")
        # event.list decides in SQL: the caller (active), the types, since; the replay's first page
        args = {"types": types, "limit": REPLAY_PAGE if since is not None else 1}
        if since is not None:
            args["since"] = since
        page = await service.invoke("event.list", args, context)
    except RpcError as exc:
        if not notify:
            await ws.send_str(_json(error_response(rid, exc)))
        return None
    sub = Subscriber(ws, context.user_id, frozenset(types) if types is not None else None, authorization)
    hub.subscribers.add(sub)  # from here on live events are held until the replay is done
    if not notify:
        await ws.send_str(_json(result_response(rid, {"subscribed": True, "types": types, "since": since})))
    pages = 0
    while since is not None and page:
        for event in page:
            sub.sent.add(event["id"])
            await ws.send_str(_json({"jsonrpc": "2.0", "method": "event", "params": event}))
        pages += 1
        if len(page) < REPLAY_PAGE or pages >= REPLAY_PAGES:
            break  # past REPLAY_PAGES pages the client goes on with event.list from its last id
        try:
            page = await service.invoke("event.list", {"since": page[-1]["id"], "types": types,
                                                       "limit": REPLAY_PAGE}, context)
        except RpcError:
            break
    await _go_live(sub)
    return sub


async def _go_live(sub: Subscriber) -> None:
    """After the replay: send what arrived meanwhile (not what the replay sent), then stream."""
    sub.live = True
    held, sub.held = sub.held, []
    for event in sorted(held, key=lambda e: e["id"]):
        await sub.send_event(event)


SOCKETS = web.AppKey("socket_counts", SocketCounts)


def setup(app: web.Application, service: RpcService) -> None:
    hub = EventHub(service)
    app[HUB] = hub
    app[SOCKETS] = SocketCounts()

    async def lifecycle(app: web.Application):
        hub.start()
        yield
        await hub.stop()

    app.cleanup_ctx.append(lifecycle)
