"""The server around the protocol: bearer tokens, outage and recovery, health, metrics,
OpenRPC document, HTML reference."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import aiohttp
import jwt
import psycopg
import pytest
from pydantic import SecretStr

from tests.conftest import make_settings, start_server
from tests.helpers.faults import own_cluster
from tests.helpers.fixtures import fixture_sql

KEY = make_settings().jwt_key()

WHOAMI = fixture_sql("test_whoami")


@pytest.fixture
async def server(db, rpc):
    db.execute(WHOAMI)
    await rpc.service.reload()
    return rpc


def b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def forged(header: dict, claims: dict, signature: str = "") -> str:
    return f"{b64(header)}.{b64(claims)}.{signature}"


async def test_valid_token_sets_the_user_the_function_sees(server, users):
    alice = await users.make()
    assert (await server.ok("test.whoami", {}, alice.token))["user_id"] == alice.id
    assert (await server.ok("test.whoami", {}))["user_id"] is None


@pytest.mark.parametrize("case", ["expired", "tampered", "wrong_key", "alg_none", "hs512", "not_bearer", "garbage"])
async def test_bad_tokens_are_refused_with_401(server, users, case):
    alice = await users.make()
    now = int(time.time())
    claims = {"sub": alice.id, "role": "admin", "iat": now, "exp": now + 600, "typ": "access"}
    token = {
        "expired": jwt.encode({**claims, "iat": now - 1000, "exp": now - 10}, KEY, algorithm="HS256"),
        "tampered": alice.token.rsplit(".", 2)[0] + "." + b64({**claims, "sub": "00000000-0000-0000-0000-000000000000"})
                    .join(["", ""]) + "." + alice.token.rsplit(".", 1)[1],
        "wrong_key": jwt.encode(claims, "another-key-another-key-another-key!", algorithm="HS256"),
        "alg_none": forged({"alg": "none", "typ": "JWT"}, claims),
        "hs512": jwt.encode(claims, KEY, algorithm="HS512"),
        "not_bearer": None,
        "garbage": "abc.def",
    }[case]
    headers = {"Authorization": f"Basic {alice.token}"} if case == "not_bearer" else None
    status, response = await server.post({"jsonrpc": "2.0", "method": "test.whoami", "id": 1}, token=token,
                                         headers=headers)
    assert status == 200
    err = response["error"]
    assert err["code"] == 401
    assert err["data"]["reason"] == ("token_expired" if case == "expired" else "token_invalid")


async def test_tampered_payload_keeps_the_original_signature(server, users):
    alice = await users.make()
    header, _, signature = alice.token.split(".")
    now = int(time.time())
    claims = {"sub": alice.id, "role": "admin", "iat": now, "exp": now + 60, "typ": "access"}
    evil = f"{header}.{b64(claims)}.{signature}"
    err = await server.error("test.whoami", {}, evil)
    assert err["code"] == 401 and err["data"]["reason"] == "token_invalid"


async def test_health_ready_metrics_reference_and_discover(server, users):
    assert (await server.get("/health"))[0] == 200
    status, body = await server.get("/ready")
    assert status == 200 and json.loads(body)["status"] == "ready"
    await server.ok("test.whoami")
    student, admin = await users.make("student"), await users.make("admin")

    async def metrics(authorization: str | None):
        headers = {"Authorization": authorization} if authorization else {}
        async with server.session.get(server.base + "/metrics", headers=headers) as resp:
            return resp.status, await resp.read()
    assert (await metrics(None))[0] == 401  # per-method counts are not public (issue 26 §3b)
    assert (await metrics(f"Bearer {student.token}"))[0] == 403
    server.service.settings.metrics_token = SecretStr("scraper-token-0123456789")
    try:
        assert (await metrics("Bearer scraper-token-0123456789"))[0] == 200
        assert (await metrics("Bearer scraper-token-wrong"))[0] == 401
    finally:
        server.service.settings.metrics_token = None
    status, body = await metrics(f"Bearer {admin.token}")
    text = body.decode()
    assert status == 200 and 'lms_rpc_calls_total{method="test.whoami"}' in text
    assert 'lms_rpc_call_seconds_bucket{le="0.0005",method="test.whoami"}' in text
    status, body = await server.get("/")
    assert status == 200 and b"test.whoami" in body and b"public" in body
    page = body.decode()
    # Issue 27: start here, search, phones, constraints, linked shapes, examples, no database internals.
    assert 'id="start"' in page and 'id="search"' in page and 'name="viewport"' in page
    assert "SECURITY DEFINER" not in page and "uuid" in page
    assert 'href="#shape-course"' in page and 'id="shape-course"' in page
    assert "<summary>Example</summary>" in page and "(1–200 chars)" in page
    assert page.count("rate_limited") <= 3  # the common errors once (start here, catalogue), not per method
    doc = await server.ok("rpc.discover")
    names = [m["name"] for m in doc["methods"]]
    assert "rpc.discover" in names and "test.whoami" in names


async def test_database_outage_gives_32000_then_service_resumes():
    """On a cluster of its own: stopping it hurts no other test's database."""
    with own_cluster() as cluster:
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute(WHOAMI)
        await outage_then_recovery(cluster)


async def outage_then_recovery(pg_cluster):
    app, runner, base = await start_server(pg_cluster.url("lms", "lms_authenticator"),
                                           make_settings(pool_min_size=2, pool_max_size=4))
    body = {"jsonrpc": "2.0", "method": "test.whoami", "id": 1}
    try:
        async with aiohttp.ClientSession() as session:
            async def call():
                async with session.post(base + "/rpc", json=body) as resp:
                    return resp.status, await resp.json()

            assert "result" in (await call())[1]
            pg_cluster.stop("fast")
            try:
                outcomes = [await call() for _ in range(5)]
                assert all(status == 200 for status, _ in outcomes)
                codes = {r["error"]["code"] for _, r in outcomes}
                assert codes == {-32000}, outcomes
                async with session.get(base + "/ready") as resp:
                    assert resp.status == 503
            finally:
                pg_cluster.start()
            deadline = time.monotonic() + 30
            while True:
                _, response = await call()
                if "result" in response:
                    break
                assert response["error"]["code"] == -32000
                assert time.monotonic() < deadline, "service did not recover within 30 s"
                await asyncio.sleep(0.2)
            results = await asyncio.gather(*(call() for _ in range(20)))
            assert all("result" in r for _, r in results), "every pooled connection works again"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("method, params, field", [
    ("course.create", {"title": "C", "price_cents": -5}, "price_cents"),
    ("course.create", {"title": "", "price_cents": 0}, "title"),
    ("course.list", {"limit": 0}, "limit"),
    ("quiz.create", {"course_id": "00000000-0000-0000-0000-000000000001", "title": "Q",
                     "passing_score_percentage": 150}, "passing_score_percentage"),
    ("assignment.create", {"course_id": "00000000-0000-0000-0000-000000000001", "title": "A",
                           "late_penalty_percentage": 101}, "late_penalty_percentage"),
    ("admin.list_users", {"limit": 0}, "limit"),
])
async def test_bounds_declared_in_comments_are_checked_before_the_database(rpc, users, method, params, field):
    """`@param name minimum=…` lines in a function's COMMENT: -32602 naming the field, no SQL run."""
    teacher = await users.make("instructor")
    err = await rpc.error(method, params, teacher.token)
    assert (err["code"], err["data"]["field"]) == (-32602, field), err


async def test_bounds_are_published_in_the_openrpc_schema(rpc):
    doc = await rpc.ok("rpc.discover")
    create = next(m for m in doc["methods"] if m["name"] == "course.create")
    schemas = {p["name"]: p["schema"] for p in create["params"]}
    assert schemas["price_cents"]["minimum"] == 0
    assert (schemas["title"]["minLength"], schemas["title"]["maxLength"]) == (1, 200)
    assert "@param" not in create["description"]


async def test_rpc_discover_and_the_reference_cost_budget(rpc, db):
    """rpc.discover (and GET /) were free: anonymous batches of 50 discovers from 4 clients pushed
    user.me p50 from 6 to 250 ms. Each now costs 5 units of the address's budget; the document is
    built once per server URL."""
    # an hour's window: a minute boundary during the test would refill the budget
    db.execute("update app.rate_limits set max_cost = 60, window_seconds = 3600 where name = 'address'")
    batch = [{"jsonrpc": "2.0", "method": "rpc.discover", "id": i} for i in range(50)]
    status, answers = await rpc.post(batch)
    served = [a for a in answers if "result" in a]
    refused = [a for a in answers if "error" in a]
    assert 1 <= len(served) <= 12 and refused, (len(served), len(refused))
    assert all(a["error"]["data"]["reason"] == "rate_limited" for a in refused)
    assert len({json.dumps(a["result"], sort_keys=True) for a in served}) == 1
    statuses = []
    for _ in range(13):  # GET / draws on the same 60 units: at most 12 discovers and pages in all
        async with rpc.session.get(rpc.base + "/") as resp:
            statuses.append(resp.status)
    # Not necessarily the last: a refused reservation (up to 64 units for a fast caller) leaves what
    # was left, and a 5-unit page may still fit after it.
    assert 429 in statuses and len(served) + statuses.count(200) <= 12, (len(served), statuses)


async def test_answers_outside_json_rpc_are_json_errors_too(server):
    """GET /rpc, an unknown path: aiohttp's own 405 and 404 come as JSON-RPC error objects with a reason
    (and the Allow header), not as plain text."""
    async with server.session.get(server.base + "/rpc") as resp:
        assert resp.status == 405 and resp.content_type == "application/json"
        assert "POST" in resp.headers["Allow"]
        assert (await resp.json())["error"]["data"]["reason"] == "method_not_allowed"
    async with server.session.get(server.base + "/no/such/path") as resp:
        assert resp.status == 404 and resp.content_type == "application/json"
        assert (await resp.json())["error"]["data"]["reason"] == "not_found"
