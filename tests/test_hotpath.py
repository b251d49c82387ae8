"""The hot path. A JSON-RPC batch runs its plain calls on one connection in one pipeline, each call its own
transaction: an error rolls back that call alone, the others commit; every security rule of a single
call still holds per call (the caller's identity, a deactivated user, the address budget). The
access log stays one JSON line per request, secrets masked, whatever the params hold."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid

import aiohttp

from rpc.http.service import SERVICE
from tests.conftest import RpcClient, Users, make_settings, start_server
from tests.helpers.fixtures import fixture_sql
from tests.helpers.pgbouncer import SETUP as PGBOUNCER_SETUP

# test.write_then_fail (audit row 'test.write', then LM409) and the grants come from the PgBouncer test.
NOTE = fixture_sql("test_note")


async def setup(db, rpc) -> None:
    db.execute(PGBOUNCER_SETUP)
    db.execute(NOTE)
    await rpc.service.reload()


def notes(db) -> list[str]:
    rows = db.execute("select details->>'label' from app.audit_log where action = 'test.write' order by id")
    return [r[0] for r in rows]


def call(i: int, method: str, **params) -> dict:
    return {"jsonrpc": "2.0", "id": i, "method": method, "params": params}


async def test_an_error_in_a_batch_rolls_back_that_call_alone(db, rpc, users):
    await setup(db, rpc)
    user = await users.make()
    batch = [call(1, "test.note", label="a"), call(2, "test.write_then_fail", label="b"),
             call(3, "test.note", label="c"), call(4, "test.write_then_fail", label="d"),
             call(5, "test.note", label="e"), call(6, "no.such_method"), call(7, "test.note", label=7)]
    status, answers = await rpc.post(batch, user.token)
    assert status == 200
    by_id = {a["id"]: a for a in answers}
    assert [by_id[i]["result"]["label"] for i in (1, 3, 5)] == ["a", "c", "e"]
    assert by_id[2]["error"]["code"] == 409 and by_id[4]["error"]["code"] == 409
    assert by_id[6]["error"]["code"] == -32601 and by_id[7]["error"]["code"] == -32602
    assert notes(db) == ["a", "c", "e"], "the failed calls' writes were rolled back, the others committed"
    results = [by_id[i]["result"] for i in (1, 3, 5)]
    assert len({r["backend"] for r in results}) == 1, "the batch ran on one connection"
    assert len({r["xid"] for r in results}) == 3, "each call in a transaction of its own"
    assert {(r["user_id"], r["role"]) for r in results} == {(user.id, "lms_api")}
    # The connection is clean afterwards: back to the authenticator, no caller left behind.
    async with rpc.service.db.pool.connection() as conn:
        row = await (await conn.execute("select current_user, current_setting('lms.user_id', true)")).fetchone()
    assert row[0] == "lms_authenticator" and not row[1]


async def test_a_deactivated_user_is_refused_in_every_call_of_a_batch(db, rpc, users):
    await setup(db, rpc)
    user = await users.make()
    db.execute("update app.users set is_active = false where id = %s", [user.id])
    status, answers = await rpc.post([call(i, "test.note", label=str(i)) for i in range(4)], user.token)
    assert status == 200
    assert [a["error"]["data"]["reason"] for a in answers] == ["account_inactive"] * 4
    assert notes(db) == []


async def test_a_batch_spends_the_address_budget_per_call(db, rpc):
    db.execute("update app.rate_limits set max_cost = 3 where name = 'address'")
    status, answers = await rpc.post([call(i, "course.list") for i in range(5)])
    assert status == 200
    assert sum(1 for a in answers if "result" in a) == 3, "three calls fit a budget of three"
    refused = [a["error"] for a in answers if "error" in a]
    assert [(e["code"], e["data"]["reason"]) for e in refused] == [(429, "rate_limited")] * 2
    status, _ = await rpc.post([call(i, "course.list") for i in range(2)])
    assert status == 429, "a batch refused as a whole is HTTP 429"


async def test_the_access_log_has_one_json_line_per_request_with_secrets_masked(rpc, users, caplog):
    caplog.set_level(logging.INFO, logger="rpc.access")
    user = await users.make()
    secret = "not-my-password-" + uuid.uuid4().hex
    batch = [{"jsonrpc": "2.0", "id": 1, "method": "auth.login", "params": {"email": user.email, "password": secret}},
             call(2, "user.me")]
    await rpc.post(batch, user.token)
    # What orjson cannot write (an integer past 64 bits, a lone surrogate) is still logged, by json.
    status, answer = await rpc.post('{"jsonrpc": "2.0", "id": 3, "method": "course.list", '
                                     '"params": {"limit": 99999999999999999999999, "search": "\\ud800"}}')
    assert status == 200 and answer["error"]["code"] == -32602
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "rpc.access"]
    assert len(lines) == 2 and all(line["status"] == 200 and len(line["request_id"]) == 32 for line in lines)
    assert [(c["method"], c["code"]) for c in lines[0]["calls"]] == [("auth.login", 401), ("user.me", 0)]
    assert lines[0]["calls"][0]["params"]["password"] == "***"
    assert secret not in caplog.text
    assert lines[1]["calls"][0]["params"]["limit"] == 99999999999999999999999


async def test_a_batch_mixes_piped_calls_with_single_ones_and_notifications(db, rpc, users):
    await setup(db, rpc)
    user = await users.make()
    login = {"jsonrpc": "2.0", "id": "login", "method": "auth.login",
             "params": {"email": user.email, "password": user.password}}  # takes a secret: runs alone
    notification = {"jsonrpc": "2.0", "method": "test.note", "params": {"label": "quiet"}}
    batch = [call(1, "test.note", label="one"), login, notification, call(2, "user.me"), call(3, "rpc.discover"),
             call(4, "test.nothing")]
    status, answers = await rpc.post(batch, user.token)
    assert status == 200
    by_id = {a["id"]: a for a in answers}
    assert set(by_id) == {1, "login", 2, 3, 4}, "no answer to the notification"
    assert by_id[4] == {"jsonrpc": "2.0", "result": None, "id": 4}, "SQL NULL is a null result"
    assert by_id["login"]["result"]["token_type"] == "bearer"
    assert by_id[2]["result"]["id"] == user.id and by_id[3]["result"]["openrpc"]
    assert sorted(notes(db)) == ["one", "quiet"], "the notification ran too"


async def test_batches_through_pgbouncer_in_transaction_mode(db, pgbouncer, users):  # noqa: F811 — the fixture
    """PgBouncer may hand each transaction of a pipelined batch to another server connection: every
    call still runs as its own caller, and a failed call still rolls back alone."""
    await setup(db, users.rpc)
    app, runner, base = await start_server(pgbouncer, make_settings(pool_min_size=4, pool_max_size=4))
    try:
        async with aiohttp.ClientSession() as session:
            client = RpcClient(base, session, app)
            people = [await users.make() for _ in range(6)]

            async def batch_of(person, n: int):
                body = [call(i, "test.whoami") for i in range(8)]
                body += [call(8, "test.note", label=f"{n}-kept"), call(9, "test.write_then_fail", label=f"{n}-gone")]
                status, answers = await client.post(body, person.token)
                assert status == 200
                return {a["id"]: a for a in answers}

            results = await asyncio.gather(*(batch_of(p, n) for n, p in enumerate(people * 3)))
            for n, (person, by_id) in enumerate(zip(people * 3, results, strict=True)):
                assert {by_id[i]["result"]["user_id"] for i in range(8)} == {person.id}
                assert by_id[8]["result"]["label"] == f"{n}-kept" and by_id[9]["error"]["code"] == 409
            assert sorted(notes(db)) == sorted(f"{n}-kept" for n in range(18))
    finally:
        await runner.cleanup()


PEEK = fixture_sql("test_peek")


@contextlib.asynccontextmanager
async def peek_server(db):
    """A server with a pool of 4 (one pipeline lane) and api.test_peek, the address budget lifted; yields
    (service, client, sizes): sizes collects the number of calls of each shared pipeline."""
    db.execute(PEEK)
    db.execute("update app.rate_limits set max_cost = 1000000 where name = 'address'")
    app, runner, base = await start_server(db.server_database_url, make_settings(pool_min_size=4, pool_max_size=4))
    sizes: list[int] = []
    try:
        service = app[SERVICE]
        await service.reload()
        service.db.groups.observe = sizes.append
        # A reservation ahead is spent locally for a second; a loaded machine can take longer than that
        # between the calls that reserve and the calls that join a pipeline. Which calls share depends on
        # the reservation being there, not on how fast the machine is.
        service.db.leases.LIFETIME = 3600.0
        async with aiohttp.ClientSession() as session:
            yield service, RpcClient(base, session, app), sizes
    finally:
        await runner.cleanup()


async def test_concurrent_single_calls_of_many_callers_share_pipelines_each_as_its_caller(db):
    """Under load, single calls of read-only methods from different requests go down one connection
    together (rpc/db/calls.py CallGroups): every call still runs as its own caller in its own transaction, a
    failing call fails alone, a deactivated user is still refused, and what waits is all answered."""
    async with peek_server(db) as (service, client, sizes):
        assert service.methods["test.peek"].shareable and not service.methods["lesson.complete"].shareable
        assert not service.methods["gradebook.course"].shareable, "a read declared cost 1000 goes alone"
        people = [await Users(db, client).make() for _ in range(8)]
        gone = people.pop()
        db.execute("update app.users set is_active = false where id = %s", [gone.id])
        for person in people:  # reserve each a budget ahead: later calls need no budget statement
            await client.ok("test.peek", {}, person.token)
        sizes.clear()

        async def one(n: int):
            person = gone if n % 17 == 0 else people[n % len(people)]
            status, answer = await client.post(call(n, "test.peek", fail=n % 5 == 0), person.token)
            assert status == 200
            return person, n, answer

        answers = await asyncio.gather(*(one(n) for n in range(1, 241)))
        for person, n, answer in answers:
            if person is gone:
                assert answer["error"]["data"]["reason"] == "account_inactive", answer
            elif n % 5 == 0:
                assert answer["error"]["code"] == 404 and answer["error"]["data"]["reason"] == "not_found", answer
            else:
                result = answer["result"]
                assert (result["user_id"], result["role"]) == (person.id, "lms_api"), (n, person.id, result)
        xids = [a["result"]["xid"] for *_, a in answers if "result" in a]
        assert len(set(xids)) == len(xids), "each call in a transaction of its own"
        # (The rest went alone: a call that must first reserve its address's budget goes alone.)
        assert max(sizes) > 1 and sum(sizes) > 120, f"most calls went down shared pipelines: {sizes}"
        assert len({a["result"]["backend"] for *_, a in answers if "result" in a}) <= 4
        async with service.db.pool.connection() as conn:  # connections come back clean
            row = await (await conn.execute("select current_user, current_setting('lms.user_id', true)")).fetchone()
        assert row[0] == "lms_authenticator" and not row[1]


async def test_connections_killed_under_shared_pipelines_leave_no_call_unanswered(db):
    """PostgreSQL ends the server's connections while shared pipelines are in flight: every call is
    answered — its result, or -32000 database_unavailable — and the next calls are served again."""
    async with peek_server(db) as (_, client, sizes):
        person = await Users(db, client).make()
        await client.ok("test.peek", {}, person.token)

        async def flood(n: int):
            status, answer = await client.post(call(n, "test.peek"), person.token)
            assert status == 200
            return answer

        async def kill():
            while not sizes:
                await asyncio.sleep(0.001)
            db.execute("select pg_terminate_backend(pid) from pg_stat_activity where usename = 'lms_authenticator'")

        answers, _ = await asyncio.wait_for(
            asyncio.gather(asyncio.gather(*(flood(n) for n in range(400))), kill()), timeout=30)
        errors = [a["error"] for a in answers if "error" in a]
        assert all((e["code"], e["data"]["reason"]) == (-32000, "database_unavailable") for e in errors), errors
        assert errors and len(answers) > len(errors), "the kill cut some calls in flight, not all"
        again = await asyncio.gather(*(client.ok("test.peek", {}, person.token) for _ in range(20)))
        assert {r["user_id"] for r in again} == {person.id}, "served again"


async def test_a_slow_call_in_a_shared_pipeline_does_not_hold_up_the_queue(db):
    """The only lane is busy with a slow call: the calls queued behind it get another lane after
    CallGroups.STALL, instead of waiting for the slow one."""
    async with peek_server(db) as (service, client, sizes):
        assert service.db.groups.lanes == 1 and service.db.groups.most == 2
        person = await Users(db, client).make()
        # A busy address: its budget is reserved ahead, so the calls below need no budget statement (which
        # a call makes alone, outside the pipelines).
        await asyncio.gather(*(client.ok("test.peek", {}, person.token) for _ in range(30)))
        sizes.clear()
        slow = asyncio.ensure_future(client.call("test.peek", {"pause": 20_000}, person.token))
        while not sizes:  # the slow call is in the lane
            await asyncio.sleep(0.001)
        started = time.monotonic()
        quick = await asyncio.gather(*(client.ok("test.peek", {}, person.token) for _ in range(10)))
        waited = time.monotonic() - started
        assert not slow.done(), f"the quick calls waited {waited:.2f} s, until the slow one was done"
        assert {r["user_id"] for r in quick} == {person.id}
        db.execute("select pg_cancel_backend(pid) from pg_stat_activity"
                   " where query like '%test_peek%' and state = 'active' and pid <> pg_backend_pid()")
        assert "error" in await slow  # the slow one was cut short, and answered
