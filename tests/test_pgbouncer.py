"""The server behind a real PgBouncer in transaction pooling mode (started by the test):
identities never leak between calls multiplexed over shared server connections, errors roll
back, and no prepared statement breaks it."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.conftest import make_settings, start_server
from tests.helpers.pgbouncer import SETUP


async def test_calls_through_pgbouncer_transaction_mode(db, pgbouncer, users):
    db.execute(SETUP)
    # More client connections (8) than server connections (3): transactions are multiplexed.
    app, runner, base = await start_server(pgbouncer, make_settings(pool_min_size=8, pool_max_size=8))
    try:
        from tests.conftest import RpcClient

        async with aiohttp.ClientSession() as session:
            client = RpcClient(base, session, app)
            people = [await users.make() for _ in range(4)]
            # Users' tokens were signed by the `rpc` fixture's service with the same test key.
            calls = [(p, i % 3) for i in range(30) for p in [*people, None]]
            results = await asyncio.gather(*(client.ok("test.whoami", {"pause": pause}, p.token if p else None)
                                             for p, pause in calls))
            assert [r["user_id"] for r in results] == [p.id if p else None for p, _ in calls]
            assert {r["role"] for r in results} == {"lms_api"}
            assert len({r["backend"] for r in results}) <= 3, "PgBouncer multiplexed onto its 3 server connections"
            err = await client.error("test.write_then_fail", {"label": "x"})
            assert err["code"] == 409
            assert db.execute("select count(*) from app.audit_log where action = 'test.write'") == [(0,)]
            # Many more calls than psycopg's default prepare threshold: the server never prepares.
            for _ in range(3):
                rs = await asyncio.gather(*(client.ok("test.whoami", {}, people[0].token) for _ in range(20)))
                assert {r["user_id"] for r in rs} == {people[0].id}
    finally:
        await runner.cleanup()
