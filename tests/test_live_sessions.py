"""A live subscription lasts only as long as the right to it (issue 26 §3b): a socket stops
receiving events when its token expires, and when its user ends their sessions (auth.logout_all)
or is deactivated — told once with an `event.unsubscribed` notification — and a fresh `auth`
message keeps a long-lived subscription going."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from rpc.core.auth import TokenService
from tests.conftest import RpcClient, make_settings, start_server
from tests.helpers.events import call


async def messages_until_quiet(ws, quiet: float = 1.5) -> list[dict]:
    got = []
    while True:
        try:
            got.append(await asyncio.wait_for(ws.receive_json(), quiet))
        except TimeoutError:
            return got


def kinds(messages: list[dict]) -> list[str]:
    return [m["method"] + (":" + m["params"]["reason"] if m["method"] == "event.unsubscribed" else "")
            for m in messages if "method" in m]


async def test_a_subscription_ends_with_the_token_and_with_logout_all(rpc, users):
    url = rpc.base.replace("http", "ws") + "/ws"
    watcher, leaver = await users.make("admin"), await users.make("admin")
    short, _ = TokenService(rpc.service.tokens.key, 2).sign({"sub": watcher.id, "role": "admin"})
    async with aiohttp.ClientSession() as session:
        expiring = await session.ws_connect(url, headers={"Authorization": f"Bearer {short}"})
        renewed = await session.ws_connect(url, headers={"Authorization": f"Bearer {short}"})
        leaving = await session.ws_connect(url, headers={"Authorization": f"Bearer {leaver.token}"})
        for ws in (expiring, renewed, leaving):
            assert "result" in await call(ws, "event.subscribe", {"types": ["user.created"]})
        await users.make("student")
        for ws in (expiring, renewed, leaving):
            assert kinds(await messages_until_quiet(ws, 1.0)) == ["event"]

        await rpc.ok("auth.logout_all", {}, leaver.token)
        assert "result" in await call(renewed, "auth", {"token": watcher.token}, rid=7)  # a fresh token
        await asyncio.sleep(2.2)  # the short token has expired
        await users.make("student")
        assert kinds(await messages_until_quiet(expiring)) == ["event.unsubscribed:token_expired"]
        assert kinds(await messages_until_quiet(leaving)) == ["event.unsubscribed:session_ended"]
        assert kinds(await messages_until_quiet(renewed)) == ["event"]
        await users.make("student")
        assert await messages_until_quiet(expiring, 1.0) == [] and await messages_until_quiet(leaving, 1.0) == []
        for ws in (expiring, renewed, leaving):
            await ws.close()


async def test_socket_frames_the_server_answers_itself_are_charged(rpc, users, db):
    """Garbage frames and `auth` messages cost budget like calls (they were free: 200 of 200 auth
    messages passed a budget of 60), and one user's live subscriptions are capped."""
    from rpc.http import live

    db.execute("update app.rate_limits set max_cost = 30, window_seconds = 3600 where name = 'address'")
    url = rpc.base.replace("http", "ws") + "/ws"
    sam = await users.make("student")
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(url)
        answers = []
        for i in range(40):
            await ws.send_json({"jsonrpc": "2.0", "method": "auth", "params": {"token": sam.token}, "id": i})
            answers.append(await asyncio.wait_for(ws.receive_json(), 5))
        refused = [a for a in answers if "error" in a]
        assert refused and all(a["error"]["data"]["reason"] == "rate_limited" for a in refused), answers[-1]
        assert len(answers) - len(refused) <= 15
        await ws.close()
    db.execute("update app.rate_limits set max_cost = 20000, window_seconds = 60 where name = 'address'")
    db.execute("delete from app.rate_counters")
    old, live.SUBSCRIPTIONS_PER_USER = live.SUBSCRIPTIONS_PER_USER, 2
    try:
        async with aiohttp.ClientSession() as session:
            sockets = [await session.ws_connect(url, headers={"Authorization": f"Bearer {sam.token}"})
                       for _ in range(3)]
            got = [await call(ws, "event.subscribe", {}) for ws in sockets]
            assert ["result" in g for g in got] == [True, True, False]
            assert got[2]["error"]["data"]["reason"] == "too_many_subscriptions"
            for ws in sockets:
                await ws.close()
    finally:
        live.SUBSCRIPTIONS_PER_USER = old


async def test_open_sockets_are_capped_per_user_and_per_address(db, users):
    """One user could hold 2,000 sockets (each a task, buffers, a heartbeat). Now each process caps
    open sockets per user and per address (a plain 429 too_many_sockets before the upgrade, or an
    error answer to the `auth` message that would make one too many); closing one frees its place."""
    app, runner, base = await start_server(db.server_database_url, make_settings(ws_max_sockets_per_user=2,
                                                                        ws_max_sockets_per_address=4))
    url = base.replace("http", "ws") + "/ws"
    try:
        async with aiohttp.ClientSession() as session:
            client = RpcClient(base, session, app)
            sam = await client.ok("auth.login", {"email": (u := await users.make("student")).email,
                                                 "password": u.password})
            bearer = {"Authorization": f"Bearer {sam['access_token']}"}
            mine = [await session.ws_connect(url, headers=bearer) for _ in range(2)]
            async with session.get(url, headers={**bearer, "Connection": "Upgrade", "Upgrade": "websocket",
                                                 "Sec-WebSocket-Version": "13",
                                                 "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}) as resp:
                assert resp.status == 429 and (await resp.json())["error"]["data"]["reason"] == "too_many_sockets"
            anonymous = await session.ws_connect(url)  # a third socket of this address, signed in by message
            await anonymous.send_json({"jsonrpc": "2.0", "method": "auth",
                                       "params": {"token": sam["access_token"]}, "id": 1})
            answer = await asyncio.wait_for(anonymous.receive_json(), 5)
            assert answer["error"]["data"]["reason"] == "too_many_sockets", answer
            await mine.pop().close()
            await asyncio.sleep(0.2)
            await anonymous.send_json({"jsonrpc": "2.0", "method": "auth",
                                       "params": {"token": sam["access_token"]}, "id": 2})
            assert (await asyncio.wait_for(anonymous.receive_json(), 5))["result"]["user_id"] == u.id
            more = [await session.ws_connect(url) for _ in range(2)]  # the address's third and fourth
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(url)  # … and a fifth
            assert refused.value.status == 429
            for ws in (*mine, anonymous, *more):
                await ws.close()
    finally:
        await runner.cleanup()
