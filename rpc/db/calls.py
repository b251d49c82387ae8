"""The connection pool and the call.

Connections are opened as lms_authenticator in autocommit mode. A call is two transactions:

1. `select internal.rate_take(bucket, units)` — spends the caller's per-address budget in a
   transaction of its own (committed even when the call then fails; a refused call raises
   LM429 and nothing after it runs). A busy address reserves a few calls' worth at once and the
   next calls spend it locally without this step (BudgetLeases);
2. `select set_config('role', 'lms_api', true), set_config('statement_timeout', …, true),
   set_config('lock_timeout', …, true), internal.set_caller(user, address, given)` and then
   `select api.fn(…)` — the settings are transaction-local (safe behind PgBouncer in
   transaction mode, gone afterwards), a write commits at the end, an error anywhere rolls back
   the whole call. set_caller refuses a deactivated user (401 account_inactive).

Two paths, chosen per method:
- Ordinary methods: ONE simple-protocol Query message carries all of it
  (`rate_take; commit; set…; call`), values bound client-side by psycopg
  (`AsyncClientCursor`, the library's own quoting — never string formatting): one round trip,
  the least Python CPU per call.
- Methods that take a secret (a param named like a password, token or code): values are bound
  server-side, so no secret is ever part of a statement's text (pg_stat_activity.query and the
  log show `$1`); the server's login also has statement and parameter logging turned off
  (migration 0009). The budget is spent in one round trip, then the identity and the call go in
  one pipeline with one Sync (one more round trip).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import AsyncClientCursor, generators, pq
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from rpc.core.config import Settings

log = logging.getLogger("rpc.db")

API_ROLE = "lms_api"
AUTHENTICATOR = "lms_authenticator"
RATE_TAKE = "select internal.rate_take(%s, %s)"
RECONNECT_TIMEOUT = 2.0  # seconds a failed connection is retried (with back-off) before the pool gives up on it
# The one preamble of every transaction the server runs for someone — a JSON-RPC call, an export, a
# file transfer, the Stripe webhook, the live hub's reads, the watchdog: the role, its timeouts (all
# transaction-local), and for a caller, who calls, from where, with which params. Database.preamble
# gives the statement and its values; nothing else in rpc/ sets a role.
SET_ROLE = ("select set_config('role', %s, true), set_config('statement_timeout', %s, true), "
            "set_config('lock_timeout', %s, true)")
SET_CALLER = SET_ROLE + ", internal.set_caller(%s, %s, %s)"


def server_database_url(settings: Settings, database_url: str) -> str:
    """The server's URL: LMS_SERVER_DATABASE_URL, else DATABASE_URL with the authenticator's login."""
    if settings.server_database_url:
        return settings.server_database_url
    parts = urlsplit(database_url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = AUTHENTICATOR
    if settings.authenticator_password is not None:
        from urllib.parse import quote

        netloc += ":" + quote(settings.authenticator_password.get_secret_value(), safe="")
    netloc += "@" + host + (f":{parts.port}" if parts.port else "")
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("user", "password")]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), ""))


@dataclass(frozen=True)
class CallContext:
    """Who calls, from where, with which params, at what cost to their address's budget."""

    user_id: str | None
    client_addr: str | None
    given: tuple[str, ...] = ()
    cost: int = 1
    rpc_url: str | None = None  # the absolute URL of POST /rpc as this client reaches it (rpc.discover)

    @property
    def bucket(self) -> str:
        return f"address:{self.client_addr or 'unknown'}"


class BudgetLeases:
    """Per-address budget spent in PostgreSQL ahead of use, so a busy address does not cost a
    writing transaction per call. An address calling slowly (under ~20 calls/s in this process)
    reserves exactly each call's cost, so the limit is exact across processes and servers; a busy
    one reserves what it is expected to use in the next 50 ms (at most 64 units) and spends it
    locally for up to a second. A reservation is spent locally only once the database has granted
    it (`granted`): concurrent calls meanwhile reserve for themselves, so reserved-but-unused units
    only ever refuse early, never let more through than the limit."""

    HORIZON = 0.05  # seconds of expected use reserved at once
    MAX_UNITS = 64
    LIFETIME = 1.0  # seconds a reservation may be spent locally
    LIMIT = 10_000  # buckets remembered

    def __init__(self) -> None:
        self._leases: dict[str, list[float]] = {}  # bucket → [remaining, expires, rate, last call]

    def units_to_reserve(self, bucket: str, cost: int) -> int:
        """0 when the call is covered by a local reservation; else the units to reserve now."""
        now = time.monotonic()
        lease = self._leases.get(bucket)
        if lease is None:
            if len(self._leases) >= self.LIMIT:
                self._leases = {k: v for k, v in self._leases.items() if v[1] > now}
                if len(self._leases) >= self.LIMIT:
                    self._leases.clear()
            lease = self._leases[bucket] = [0.0, 0.0, 0.0, now]
        else:
            gap = max(now - lease[3], 1e-4)
            lease[2] = 0.8 * lease[2] + 0.2 * min(1.0 / gap, 100_000.0)  # calls/s, smoothed
            lease[3] = now
        if lease[1] > now and lease[0] >= cost:
            lease[0] -= cost
            return 0
        return max(cost, min(self.MAX_UNITS, int(lease[2] * self.HORIZON) * cost))

    def granted(self, bucket: str, surplus: int) -> None:
        """The database granted a reservation: its units beyond the calls that asked may now be spent here."""
        lease = self._leases.get(bucket)
        if lease is None or surplus <= 0:
            return
        now = time.monotonic()
        if lease[1] > now:
            lease[0] += surplus
        else:
            lease[0], lease[1] = surplus, now + self.LIFETIME

    def refused(self, bucket: str) -> None:
        self._leases.pop(bucket, None)


class Database:
    def __init__(self, url: str, settings: Settings):
        # No server-side prepared statements, ever: the call is one simple-protocol Query (fine
        # behind PgBouncer), and psycopg skips its prepare bookkeeping (~5% of a call's CPU).
        kwargs = {"autocommit": True, "prepare_threshold": None}
        # Reconnecting: psycopg_pool retries a failed connection with exponential back-off (1, 2, 4,
        # 8 s … until reconnect_timeout), so after a long outage the next attempt could come minutes
        # after PostgreSQL is back. A short reconnect_timeout caps the back-off: the attempt gives up,
        # and the next call that finds the pool empty grows it again at once (issue 21: serving again
        # within 5 s of a restart, tests/test_faults.py).
        self.pool = AsyncConnectionPool(
            url, min_size=settings.pool_min_size, max_size=settings.pool_max_size, kwargs=kwargs,
            open=False, timeout=settings.pool_timeout_ms / 1000, reconnect_timeout=RECONNECT_TIMEOUT,
            name="lms",
        )
        self.statement_timeout = f"{settings.statement_timeout_ms}ms"
        self.lock_timeout = f"{settings.lock_timeout_ms}ms"
        self.leases = BudgetLeases()
        self.groups = CallGroups(self, settings.pipeline_lanes or max(1, settings.pool_max_size // 4),
                                 settings.pool_max_size // 2)
        self._checking = False
        self.suspect_down = False  # set when a call lost its connection; cleared by a success

    async def open(self) -> None:
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    async def charge(self, caller: CallContext, units: int) -> None:
        """Spend `units` of the caller's address budget for work done outside the database (the
        OpenRPC document, the HTML reference, WebSocket frames): LM429 (psycopg error) when it is
        spent, like any call."""
        reserve = self.leases.units_to_reserve(caller.bucket, units)
        if not reserve:
            return
        try:
            async with self.pool.connection(timeout=2.0) as conn:
                await conn.execute(RATE_TAKE, [caller.bucket, reserve])
        except psycopg.Error as exc:
            if exc.sqlstate == "LM429":
                self.leases.refused(caller.bucket)
            raise
        if reserve > units:
            self.leases.granted(caller.bucket, reserve - units)

    async def call(self, query: str, values: list, caller: CallContext, secret: bool = False,
                   shared: bool = False):
        """Run one api function as lms_api for the caller in one transaction; return its value. A `shared`
        call (a cheap read-only method, no secret, its budget already reserved) may go down a pipeline
        together with other callers' calls made at the same time (CallGroups)."""
        # While the database is known to be unreachable, answer fast instead of queueing.
        timeout = 0.5 if self.suspect_down else None
        identity = self.identity(caller)
        units = self.leases.units_to_reserve(caller.bucket, caller.cost)
        if shared and not units:
            answer = await self.groups.submit(query, values, identity)
            if isinstance(answer, psycopg.Error):
                raise answer
            return answer
        try:
            async with self.pool.connection(timeout=timeout) as conn:
                try:
                    row = await self._run(conn, query, values, caller, identity, units, secret)
                except psycopg.Error as exc:
                    if exc.sqlstate != "LM429":
                        if exc.sqlstate and units:  # the server ran the message: the budget was spent first
                            self.leases.granted(caller.bucket, units - caller.cost)
                        raise
                    self.leases.refused(caller.bucket)
                    if units <= caller.cost:
                        raise
                    # A reservation ahead did not fit: the call itself may still fit.
                    row = await self._run(conn, query, values, caller, identity, caller.cost, secret)
        except PoolTimeout:  # no connection to be had: treat the database as down until a call succeeds
            self.suspect_down = True
            raise
        self.suspect_down = False
        if units > caller.cost:
            self.leases.granted(caller.bucket, units - caller.cost)
        return row[0] if row else None

    @staticmethod
    async def _run(conn, query: str, values: list, caller: CallContext, identity: list, units: int, secret: bool):
        if secret:
            if units:
                await conn.execute(RATE_TAKE, [caller.bucket, units])
            async with conn.pipeline():
                await conn.execute(SET_CALLER, identity)
                cur = await conn.execute(query, values)
        else:
            cur = AsyncClientCursor(conn)
            if units:
                await cur.execute("; ".join((RATE_TAKE, "commit", SET_CALLER, query)),
                                  [caller.bucket, units, *identity, *values])
            else:
                await cur.execute("; ".join((SET_CALLER, query)), [*identity, *values])
            while cur.nextset():
                pass
        return await cur.fetchone()

    async def call_batch(self, calls: list[tuple[str, list, CallContext]]) -> list[str | psycopg.Error] | None:
        """Several calls without secrets (values bound client-side, as for one call) on ONE connection in
        ONE round trip: pipeline mode, each call `set…` + `select api.fn(…)` closed by its own Sync, so
        each is its own transaction — an error rolls back that call alone and the next ones run. Their
        values (first column, first row) or errors, in order. The budget for all of them is spent first,
        in one statement (a round trip only when the reservations ahead do not cover it); None when
        that is refused, so each call can be judged alone."""
        units = surplus = 0
        for _, _, caller in calls:
            reserved = self.leases.units_to_reserve(caller.bucket, caller.cost)
            units += reserved
            surplus += reserved - caller.cost if reserved else 0
        async with self.pool.connection(timeout=0.5 if self.suspect_down else None) as conn:
            if units:
                bucket = calls[0][2].bucket
                try:
                    await conn.execute(RATE_TAKE, [bucket, units])
                except psycopg.Error as exc:
                    if exc.sqlstate != "LM429":
                        raise
                    self.leases.refused(bucket)
                    return None
                self.leases.granted(bucket, surplus)
            cur = AsyncClientCursor(conn)
            statements = [statements_of(cur, query, values, self.identity(caller)) for query, values, caller in calls]
            answers = await self.pipeline(conn, statements)
        self.suspect_down = False
        return answers

    def preamble(self, caller: CallContext | None = None, role: str = API_ROLE,
                 statement_timeout: str | None = None) -> tuple[str, list]:
        """(statement, values) that begin a transaction as `role` (lms_api unless said) with the server's
        timeouts (`statement_timeout` may lengthen one, e.g. an export) and, given a caller, their
        identity (internal.set_caller: who, from where, with which params)."""
        values = [role, statement_timeout or self.statement_timeout, self.lock_timeout]
        if caller is None:
            return SET_ROLE, values
        return SET_CALLER, [*values, caller.user_id, caller.client_addr, list(caller.given)]

    async def run_as(self, conn: psycopg.AsyncConnection, query: str, params: list | None = None,
                     caller: CallContext | None = None, role: str = API_ROLE) -> list[tuple]:
        """The rows of one statement run after the preamble, in a transaction of its own."""
        async with conn.transaction():
            await conn.execute(*self.preamble(caller, role))
            cur = await conn.execute(query, params)
            return await cur.fetchall()

    def identity(self, caller: CallContext) -> list:
        """The values of SET_CALLER for a call (the preamble's)."""
        return self.preamble(caller)[1]

    async def pipeline(self, conn: psycopg.AsyncConnection, statements: list[tuple[bytes, bytes]],
                       futures: list[asyncio.Future] | None = None) -> list:
        """_pipeline on conn; a connection left with unread results is closed (the pool replaces it)."""
        try:
            return await _pipeline(conn, statements, futures)
        except BaseException:
            await conn.close()
            raise

    async def ready(self) -> bool:
        try:
            async with self.pool.connection(timeout=2.0) as conn:
                await conn.execute("select 1")
            return True
        except (psycopg.Error, PoolTimeout, OSError):
            return False

    def connection_lost(self) -> None:
        """A call failed on a broken connection: have the pool test its idle ones now."""
        self.suspect_down = True
        if self._checking:
            return
        self._checking = True

        async def check() -> None:
            try:
                await self.pool.check()
            except Exception:  # noqa: BLE001 — best effort; the pool reconnects by itself anyway
                log.warning("pool check failed", exc_info=True)
            finally:
                self._checking = False

        asyncio.get_running_loop().create_task(check())


__all__ = ["CallContext", "Database", "server_database_url", "PoolTimeout"]


def statements_of(cur: AsyncClientCursor, query: str, values: list, identity: list) -> tuple[bytes, bytes]:
    """A call's identity statement and function call for a pipeline, values quoted by psycopg (client-side
    binding, as one call's single message: never a secret — methods taking one never come here)."""
    return cur.mogrify(SET_CALLER, identity).encode(), cur.mogrify(query, values).encode()


class Waiting(NamedTuple):
    """A call queued for a shared pipeline."""

    query: str
    values: list
    identity: list
    future: asyncio.Future
    since: float  # loop time it was queued


class CallGroups:
    """Concurrent single calls that may share a pipeline. Under load, calls of read-only methods from
    different requests queue here and go to PostgreSQL together: one connection, one message and one
    Sync per call — each call still its own transaction under its own identity (an error rolls back that
    call alone) — so a busy server makes one send and one receive for many calls instead of one each.
    At most `lanes` pipelines run at once (LMS_PIPELINE_LANES, by default a quarter of the pool: the other
    connections stay free for writes and single calls). Measured on 2 cores (`user.me`, 32 clients), 2, 4
    and 8 lanes gave the same calls/s but a p99 of 15, 50 and 150 ms: the backends' time spent waiting
    for a CPU (/proc schedstat) grew 3.2 → 6.6 → 11.4 s per 5 s run, whole pipelines in hand. Each lane
    takes every call waiting (up to MAX_GROUP) when it gets a connection, so a quiet server sends each
    call on its own, as before, and groups grow only while calls are waiting anyway.
    Only read-only methods (STABLE functions): a write could wait on a row lock, and its commit's WAL
    flush, with the calls behind it in the pipeline waiting too. And only cheap ones: a call waits for
    the calls ahead of it in its pipeline, so a read declared `cost 1000` or more (a whole course's
    list) goes alone (rpc/core/dispatch.py Method.shareable). Should the lanes still stall (a call slow for
    its arguments), a timer opens another lane once the oldest queued call has waited STALL, up to half
    the pool: the queue does not wait on one slow call."""

    MAX_GROUP = 8  # measured: 16 gave course.list at 32 clients a p99 of 42 ms against 27 ms, for ~3% more calls/s
    STALL = 0.05  # seconds the oldest queued call may wait before another lane opens

    def __init__(self, db: Database, lanes: int, most: int):
        self.db = db
        self.lanes = lanes
        self.most = max(lanes, most)
        self.busy = 0
        self.waiting: list[Waiting] = []
        self.tasks: set[asyncio.Task] = set()
        self.watch: asyncio.TimerHandle | None = None  # the stall check, while calls wait behind busy lanes
        self.observe = lambda size: None  # told each pipeline's number of calls (the service's metrics)

    def submit(self, query: str, values: list, identity: list) -> asyncio.Future:
        """Queue a call; its future's value is the call's text value or its psycopg.Error."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.waiting.append(Waiting(query, values, identity, future, loop.time()))
        if self.busy < self.lanes:
            self._open_lane(loop)
        elif self.watch is None and self.busy < self.most:
            self.watch = loop.call_later(self.STALL, self._stalled)
        return future

    def _open_lane(self, loop: asyncio.AbstractEventLoop) -> None:
        self.busy += 1
        task = loop.create_task(self._lane())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _stalled(self) -> None:
        """STALL after calls queued behind busy lanes: if the oldest still waits that long, another lane."""
        self.watch = None
        if not self.waiting or self.busy >= self.most:
            return
        loop = asyncio.get_running_loop()
        waited = loop.time() - self.waiting[0].since
        if waited >= self.STALL:
            self._open_lane(loop)
            waited = 0.0
        if self.busy < self.most:
            self.watch = loop.call_later(self.STALL - waited, self._stalled)

    async def _lane(self) -> None:
        """Send what is waiting, group after group, until nothing is."""
        db = self.db
        try:
            while self.waiting:
                group: list[Waiting] = []
                try:
                    async with db.pool.connection(timeout=0.5 if db.suspect_down else None) as conn:
                        group, self.waiting = self.waiting[:self.MAX_GROUP], self.waiting[self.MAX_GROUP:]
                        group = [call for call in group if not call.future.done()]  # cancelled while waiting
                        if not group:
                            continue
                        cur = AsyncClientCursor(conn)
                        statements = [statements_of(cur, call.query, call.values, call.identity) for call in group]
                        self.observe(len(group))
                        await db.pipeline(conn, statements, [call.future for call in group])
                    db.suspect_down = False
                except PoolTimeout as exc:
                    db.suspect_down = True
                    self._fail(group or self._take_all(), exc)
                except Exception as exc:  # noqa: BLE001 — handed to every call of the group; the next group goes on
                    self._fail(group, exc)
                except BaseException as exc:  # cancelled (the server stops): nothing waiting is left hanging
                    self._fail(group + self._take_all(), exc)
                    raise
        finally:
            self.busy -= 1

    def _take_all(self) -> list[Waiting]:
        group, self.waiting = self.waiting, []
        return group

    @staticmethod
    def _fail(group: list[Waiting], exc: BaseException) -> None:
        for call in group:
            if not call.future.done():
                call.future.set_exception(exc)


async def _pipeline(conn: psycopg.AsyncConnection, statements: list[tuple[bytes, bytes]],
                    futures: list[asyncio.Future] | None = None) -> list:
    """Send every (identity, call) pair with a Sync after each, all at once; then read the answers: the
    call's text value, or the psycopg.Error of whichever of the two statements failed — each also set
    as the result of its future (when given, and not cancelled) as soon as it is read."""
    pg = conn.pgconn
    encoding = conn.info.encoding
    pg.enter_pipeline_mode()
    for identity, call in statements:
        pg.send_query_params(identity, None)
        pg.send_query_params(call, None)
        pg.pipeline_sync()
    await conn.wait(generators.send(pg))
    answers: list = []
    for _ in statements:
        error = None
        value = None
        identity_results, call_results, sync = await conn.wait(_one_call(pg))
        for index, results in enumerate((identity_results, call_results)):
            for result in results:
                if result.status == pq.ExecStatus.FATAL_ERROR and error is None:
                    error = psycopg.errors.error_from_result(result, encoding=encoding)
                elif result.status == pq.ExecStatus.TUPLES_OK and result.ntuples and index:
                    raw = result.get_value(0, 0)
                    value = None if raw is None else bytes(raw).decode(encoding)
        if not sync or sync[0].status != pq.ExecStatus.PIPELINE_SYNC:
            raise psycopg.InterfaceError("pipeline out of step")
        answers.append(error if error is not None else value)
        if futures is not None and not futures[len(answers) - 1].done():
            futures[len(answers) - 1].set_result(answers[-1])
    pg.exit_pipeline_mode()
    return answers


def _one_call(pg: pq.abc.PGconn):
    """psycopg generator: one pipelined call's results — its identity statement's, its function call's,
    and its Sync — waiting on the socket only for what has not arrived yet (one wait for all three)."""
    identity = yield from generators.fetch_many(pg)
    call = yield from generators.fetch_many(pg)
    sync = yield from generators.fetch_many(pg)
    return identity, call, sync
