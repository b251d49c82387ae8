"""Unit tests of rpc/db/calls.py's three pieces with no PostgreSQL behind them: the budget reserved ahead
(BudgetLeases, on a clock the test moves), the grouping of concurrent calls into pipelines (CallGroups,
on a fake pool and pipeline), and the pipeline reader (_pipeline, on a fake libpq connection that
answers as libpq does in pipeline mode). The same code meets a real server in test_hotpath.py; here
each rule is driven to its edge, which a real server under load reaches only by chance."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import generators as pure_generators
from psycopg import pq
from psycopg.waiting import Ready
from psycopg_pool import PoolTimeout

from rpc.db import calls
from rpc.db.calls import BudgetLeases, CallGroups

# ---------------------------------------------------------------------------------------------
# BudgetLeases


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(calls, "time", clock)
    return clock


def test_a_slow_address_reserves_exactly_each_calls_cost(clock):
    leases = BudgetLeases()
    for _ in range(20):
        clock.now += 1.0  # one call a second
        units = leases.units_to_reserve("address:a", 3)
        assert units == 3
        leases.granted("address:a", units - 3)  # nothing beyond the call: nothing to spend locally


def test_a_busy_address_reserves_ahead_and_spends_only_what_was_granted(clock):
    leases = BudgetLeases()
    reserved = []
    for _ in range(40):  # 2,000 calls a second: the smoothed rate climbs
        clock.now += 0.0005
        reserved.append(leases.units_to_reserve("address:b", 1))
    assert reserved[0] == 1 and max(reserved) == BudgetLeases.MAX_UNITS, reserved
    # Until the database grants a reservation, every call reserves for itself: never spent on credit.
    assert all(reserved), "no call was let through on a reservation not yet granted"
    leases.granted("address:b", 10)
    covered = [leases.units_to_reserve("address:b", 1) for _ in range(12)]
    assert covered[:10] == [0] * 10 and covered[10] > 0, covered  # ten covered locally, then reserve again


def test_a_reservation_is_spent_locally_for_its_lifetime_only(clock):
    leases = BudgetLeases()
    leases.units_to_reserve("address:c", 1)
    leases.granted("address:c", 50)
    assert leases.units_to_reserve("address:c", 1) == 0
    clock.now += BudgetLeases.LIFETIME + 0.001
    assert leases.units_to_reserve("address:c", 1) > 0, "an expired reservation covers nothing"


def test_a_refusal_forgets_the_reservation(clock):
    leases = BudgetLeases()
    leases.units_to_reserve("address:d", 1)
    leases.granted("address:d", 50)
    leases.refused("address:d")
    assert leases.units_to_reserve("address:d", 1) == 1, "after a 429 the next call asks the database again"
    assert leases.units_to_reserve("address:e", 2) == 2, "buckets are separate"


def test_reservations_are_per_cost(clock):
    leases = BudgetLeases()
    leases.units_to_reserve("address:f", 5)
    leases.granted("address:f", 7)
    assert leases.units_to_reserve("address:f", 5) == 0  # 7 ≥ 5: covered, 2 left
    assert leases.units_to_reserve("address:f", 5) > 0  # 2 < 5: not covered


def test_the_buckets_remembered_are_bounded(clock, monkeypatch):
    monkeypatch.setattr(BudgetLeases, "LIMIT", 100)
    leases = BudgetLeases()
    for n in range(1000):
        leases.units_to_reserve(f"address:{n}", 1)
    assert len(leases._leases) <= 100


# ---------------------------------------------------------------------------------------------
# CallGroups


class FakePool:
    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.handed_out = 0

    @contextlib.asynccontextmanager
    async def connection(self, timeout=None):
        if self.fail is not None:
            raise self.fail
        self.handed_out += 1
        yield object()


class FakeDatabase:
    """What CallGroups uses of Database: a pool, pipeline(), suspect_down. Each pipeline is recorded;
    `hold` makes pipelines wait (a slow call); `broken` makes the pipeline of calls with that query fail."""

    def __init__(self, pool: FakePool | None = None) -> None:
        self.pool = pool or FakePool()
        self.suspect_down = False
        self.groups: list[list[str]] = []
        self.hold: asyncio.Event | None = None
        self.broken: str | None = None

    async def pipeline(self, conn, statements, futures):
        queries = [query.decode() for _, query in statements]
        self.groups.append(queries)
        if self.hold is not None and "slow" in queries[0]:
            await self.hold.wait()
        if self.broken in queries:
            raise psycopg.OperationalError("the connection broke")
        for query, future in zip(queries, futures, strict=True):
            if not future.done():
                future.set_result(f"value of {query}")


@pytest.fixture
def plain_statements(monkeypatch):
    """Calls as (identity, query) bytes without a connection to quote values."""
    monkeypatch.setattr(calls, "AsyncClientCursor", lambda conn: None)
    monkeypatch.setattr(calls, "statements_of", lambda cur, query, values, identity: (b"set", query.encode()))


async def test_calls_waiting_together_go_in_groups_of_at_most_max_group(plain_statements):
    db = FakeDatabase()
    groups = CallGroups(db, lanes=1, most=1)
    futures = [groups.submit(f"q{n}", [], []) for n in range(20)]
    answers = await asyncio.gather(*futures)
    assert answers == [f"value of q{n}" for n in range(20)], "each call gets its own answer, in order"
    assert [len(g) for g in db.groups] == [8, 8, 4]
    assert groups.busy == 0 and not groups.waiting


async def test_a_quiet_server_sends_each_call_alone(plain_statements):
    db = FakeDatabase()
    groups = CallGroups(db, lanes=2, most=2)
    for n in range(3):
        assert await groups.submit(f"q{n}", [], []) == f"value of q{n}"
    assert db.groups == [["q0"], ["q1"], ["q2"]]


async def test_a_failing_pipeline_fails_its_own_calls_and_the_next_group_goes_on(plain_statements):
    db = FakeDatabase()
    db.broken = "q3"
    groups = CallGroups(db, lanes=1, most=1)
    futures = [groups.submit(f"q{n}", [], []) for n in range(12)]
    outcomes = await asyncio.gather(*futures, return_exceptions=True)
    assert all(isinstance(o, psycopg.OperationalError) for o in outcomes[:8]), outcomes  # q3's group
    assert outcomes[8:] == [f"value of q{n}" for n in range(8, 12)]


async def test_calls_cancelled_while_waiting_are_not_sent(plain_statements):
    db = FakeDatabase()
    groups = CallGroups(db, lanes=1, most=1)
    futures = [groups.submit(f"q{n}", [], []) for n in range(5)]
    futures[1].cancel()
    futures[3].cancel()
    await asyncio.gather(*futures, return_exceptions=True)
    assert db.groups == [["q0", "q2", "q4"]]


async def test_a_stalled_lane_gets_company_up_to_most(plain_statements):
    db = FakeDatabase()
    db.hold = asyncio.Event()
    groups = CallGroups(db, lanes=1, most=2)
    slow = groups.submit("slow", [], [])
    await asyncio.sleep(0)  # the only lane takes the slow call
    quick = [groups.submit(f"q{n}", [], []) for n in range(3)]
    assert await asyncio.wait_for(asyncio.gather(*quick), 5) == [f"value of q{n}" for n in range(3)]
    assert not slow.done(), "the quick calls were answered by a second lane while the first was held"
    assert groups.busy == 1  # the second lane ended with nothing left to send
    more = [groups.submit(f"r{n}", [], []) for n in range(2)]  # the second lane is opened again after STALL
    db.hold.set()
    assert await asyncio.wait_for(slow, 5) == "value of slow"
    assert await asyncio.wait_for(asyncio.gather(*more), 5) == ["value of r0", "value of r1"]
    assert max(len(g) for g in db.groups) <= CallGroups.MAX_GROUP


async def test_no_lane_beyond_most_opens_however_long_calls_wait(plain_statements, monkeypatch):
    monkeypatch.setattr(CallGroups, "STALL", 0.001)
    db = FakeDatabase()
    db.hold = asyncio.Event()
    groups = CallGroups(db, lanes=1, most=2)
    waiting = [groups.submit("slow", [], []) for _ in range(3 * CallGroups.MAX_GROUP)]
    for _ in range(50):
        await asyncio.sleep(0.002)
        assert groups.busy <= 2
    assert groups.busy == 2 and len(db.groups) == 2, "two lanes, each held on its first group"
    db.hold.set()
    await asyncio.wait_for(asyncio.gather(*waiting), 5)
    assert groups.busy == 0


async def test_no_connection_fails_every_waiting_call_and_marks_the_database_down(plain_statements):
    db = FakeDatabase(FakePool(fail=PoolTimeout("no connection")))
    groups = CallGroups(db, lanes=1, most=1)
    futures = [groups.submit(f"q{n}", [], []) for n in range(10)]
    outcomes = await asyncio.gather(*futures, return_exceptions=True)
    assert all(isinstance(o, PoolTimeout) for o in outcomes) and db.suspect_down
    assert groups.busy == 0 and not groups.waiting


# ---------------------------------------------------------------------------------------------
# The pipeline reader


@dataclass
class FakeResult:
    status: pq.ExecStatus
    value: bytes | None = None
    ntuples: int = 0
    sqlstate: bytes = b""

    def get_value(self, row: int, column: int):
        return self.value

    def error_field(self, field):
        if field == pq.DiagnosticField.SQLSTATE:
            return self.sqlstate
        if field == pq.DiagnosticField.MESSAGE_PRIMARY:
            return b"it failed"
        return None

    def get_error_message(self, encoding: str = "utf-8") -> str:
        return "ERROR:  it failed"


def row(value: bytes | None) -> FakeResult:
    return FakeResult(pq.ExecStatus.TUPLES_OK, value, 1)


def failure(sqlstate: bytes) -> FakeResult:
    return FakeResult(pq.ExecStatus.FATAL_ERROR, sqlstate=sqlstate)


OK = FakeResult(pq.ExecStatus.COMMAND_OK)
ABORTED = FakeResult(pq.ExecStatus.PIPELINE_ABORTED)
SYNC = FakeResult(pq.ExecStatus.PIPELINE_SYNC)
NO_ROWS = FakeResult(pq.ExecStatus.TUPLES_OK)


class FakePGconn:
    """libpq in pipeline mode, already answered: each statement's results end with a NULL; a Sync's
    result stands alone. Records what was sent."""

    def __init__(self, answers: list) -> None:
        self.results = collections.deque()
        for item in answers:
            self.results.extend([item] if item is SYNC else [item, None])
        self.sent: list[bytes] = []
        self.syncs = 0
        self.pipeline = False

    def enter_pipeline_mode(self):
        self.pipeline = True

    def exit_pipeline_mode(self):
        self.pipeline = False

    def send_query_params(self, query, params):
        assert self.pipeline and params is None
        self.sent.append(query)

    def pipeline_sync(self):
        self.syncs += 1

    def flush(self):
        return 0

    def is_busy(self):
        return False

    def consume_input(self):
        pass

    def notifies(self):
        return None

    def get_result(self):
        return self.results.popleft()


class FakeConnection:
    def __init__(self, pgconn: FakePGconn) -> None:
        self.pgconn = pgconn
        self.info = type("Info", (), {"encoding": "utf-8"})()

    async def wait(self, gen):
        try:
            next(gen)
            while True:
                gen.send(Ready.RW)  # never reached while the fake is not busy: every answer is there
        except StopIteration as done:
            return done.value


@pytest.fixture
def python_generators(monkeypatch):
    """psycopg's pure-Python generators (the C ones read libpq's own struct, which a fake has not)."""
    class Generators:
        send = staticmethod(pure_generators._send)
        fetch_many = staticmethod(pure_generators._fetch_many)
    monkeypatch.setattr(calls, "generators", Generators)


STATEMENTS = [(b"set 1", b"call 1"), (b"set 2", b"call 2"), (b"set 3", b"call 3"), (b"set 4", b"call 4")]


async def test_the_reader_gives_each_call_its_value_or_its_own_error(python_generators):
    pgconn = FakePGconn([
        OK, row(b'{"n": 1}'), SYNC,
        failure(b"LM404"), ABORTED, SYNC,     # the identity statement failed: the call was not run
        OK, failure(b"LM409"), SYNC,          # the call failed
        OK, NO_ROWS, SYNC,                    # a call returning no row
    ])
    loop = asyncio.get_running_loop()
    futures = [loop.create_future() for _ in STATEMENTS]
    answers = await calls._pipeline(FakeConnection(pgconn), STATEMENTS, futures)
    assert pgconn.sent == [b"set 1", b"call 1", b"set 2", b"call 2", b"set 3", b"call 3", b"set 4", b"call 4"]
    assert pgconn.syncs == 4 and not pgconn.pipeline
    assert answers[0] == '{"n": 1}' and answers[3] is None
    assert isinstance(answers[1], psycopg.Error) and answers[1].sqlstate == "LM404"
    assert isinstance(answers[2], psycopg.Error) and answers[2].sqlstate == "LM409"
    assert [f.result() for f in futures] == answers, "each future holds its call's answer"


async def test_the_reader_leaves_a_cancelled_call_alone(python_generators):
    pgconn = FakePGconn([OK, row(b"1"), SYNC, OK, row(b"2"), SYNC])
    loop = asyncio.get_running_loop()
    futures = [loop.create_future(), loop.create_future()]
    futures[0].cancel()
    answers = await calls._pipeline(FakeConnection(pgconn), STATEMENTS[:2], futures)
    assert answers == ["1", "2"] and futures[0].cancelled() and futures[1].result() == "2"


async def test_the_reader_refuses_answers_out_of_step(python_generators):
    pgconn = FakePGconn([OK, row(b"1"), OK])  # a result where the Sync should be
    pgconn.results.append(SYNC)
    with pytest.raises(psycopg.InterfaceError, match="out of step"):
        await calls._pipeline(FakeConnection(pgconn), STATEMENTS[:1])
