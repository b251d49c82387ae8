"""JSON-RPC 2.0 conformance over HTTP, with the specification's own examples
(https://www.jsonrpc.org/specification, section 7), against test functions created in the
test database's api schema: the dispatcher discovers them like any method."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers.fixtures import fixture_sql

TEST_FUNCTIONS = fixture_sql("protocol_functions")


@pytest.fixture
async def proto(db, rpc):
    db.execute(TEST_FUNCTIONS)
    await rpc.service.reload()
    return rpc


async def test_positional_and_named_params(proto):
    status, r = await proto.post({"jsonrpc": "2.0", "method": "test.subtract", "params": [42, 23], "id": 1})
    assert (status, r) == (200, {"jsonrpc": "2.0", "result": 19, "id": 1})
    _, r = await proto.post({"jsonrpc": "2.0", "method": "test.subtract",
                             "params": {"subtrahend": 23, "minuend": 42}, "id": 4})
    assert r == {"jsonrpc": "2.0", "result": 19, "id": 4}


async def test_id_echoed_as_given(proto):
    for rid in ["abc", 7, 1.5, None]:
        _, r = await proto.post({"jsonrpc": "2.0", "method": "test.sum", "params": {"a": 1}, "id": rid})
        assert r == {"jsonrpc": "2.0", "result": 1, "id": rid}


async def test_notification_gets_no_response(proto):
    status, r = await proto.post({"jsonrpc": "2.0", "method": "test.sum", "params": {"a": 1}})
    assert (status, r) == (204, None)
    status, r = await proto.post([{"jsonrpc": "2.0", "method": "test.sum", "params": {"a": 1}},
                                  {"jsonrpc": "2.0", "method": "test.sum", "params": {"a": 2}}])
    assert (status, r) == (204, None)


async def test_method_not_found(proto):
    _, r = await proto.post({"jsonrpc": "2.0", "method": "foobar", "id": "1"})
    assert r["error"]["code"] == -32601 and r["id"] == "1"


async def test_parse_error(proto):
    status, r = await proto.post(b'{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]')
    assert status == 200
    assert r == {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error",
                                             "data": {"reason": "invalid_json"}}, "id": None}


async def test_invalid_request_object(proto):
    _, r = await proto.post({"jsonrpc": "2.0", "method": 1, "params": "bar"})
    assert r["error"]["code"] == -32600 and r["id"] is None


async def test_batch_with_invalid_json(proto):
    _, r = await proto.post(b'[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},'
                            b'{"jsonrpc": "2.0", "method"]')
    assert r["error"]["code"] == -32700 and r["id"] is None


async def test_empty_batch(proto):
    _, r = await proto.post(b"[]")
    assert r["error"]["code"] == -32600 and r["id"] is None and not isinstance(r, list)


async def test_invalid_batch_members(proto):
    _, r = await proto.post(b"[1]")
    assert isinstance(r, list) and len(r) == 1 and r[0]["error"]["code"] == -32600 and r[0]["id"] is None
    _, r = await proto.post(b"[1,2,3]")
    assert [x["error"]["code"] for x in r] == [-32600] * 3


async def test_mixed_batch_in_order(proto):
    _, r = await proto.post([
        {"jsonrpc": "2.0", "method": "test.sum", "params": [1, 2, 4], "id": "1"},
        {"jsonrpc": "2.0", "method": "test.sum", "params": [7]},
        {"jsonrpc": "2.0", "method": "test.subtract", "params": [42, 23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "test.whoami", "id": "9"},
    ])
    assert [x["id"] for x in r] == ["1", "2", None, "5", "9"]
    assert r[0]["result"] == 7 and r[1]["result"] == 19
    assert r[2]["error"]["code"] == -32600 and r[3]["error"]["code"] == -32601
    assert r[4]["result"]["user_id"] is None


@pytest.mark.parametrize("params, field, reason", [
    ({"minuend": 1}, "subtrahend", "missing_param"),
    ({"minuend": 1, "subtrahend": 2, "extra": 3}, "extra", "unknown_param"),
    ({"minuend": "1", "subtrahend": 2}, "minuend", "invalid_param"),
    ({"minuend": 1.5, "subtrahend": 2}, "minuend", "invalid_param"),
    ({"minuend": True, "subtrahend": 2}, "minuend", "invalid_param"),
    ({"minuend": 2**40, "subtrahend": 2}, "minuend", "invalid_param"),
])
async def test_invalid_params_name_the_field(proto, params, field, reason):
    err = await proto.error("test.subtract", params)
    assert err["code"] == -32602
    assert err["data"]["field"] == field and err["data"]["reason"] == reason


async def test_typed_params_reach_sql(proto):
    res = await proto.ok("test.types", {"id": "00000000-0000-0000-0000-000000000001", "flag": True,
                                        "tags": ["a", "b"], "doc": {"k": [1]}, "at": "2026-01-02T03:04:05+02:00"})
    assert res["id"] == "00000000-0000-0000-0000-000000000001" and res["tags"] == ["a", "b"]
    assert res["doc"] == {"k": [1]} and res["at"].startswith("2026-01-02T01:04:05")
    err = await proto.error("test.types", {"id": "not-a-uuid", "flag": True, "tags": []})
    assert err["code"] == -32602 and err["data"]["field"] == "id"


async def test_database_errors_map_to_application_codes(proto):
    err = await proto.error("test.fail", {"code": "LM422"})
    assert err == {"code": 422, "message": "custom failure", "data": {"reason": "some_reason", "field": "code"}}
    err = await proto.error("test.fail", {"code": "XX000"})
    assert err["code"] == -32603 and "custom failure" not in str(err) and err["data"]["log_id"]


async def test_body_and_batch_limits(proto):
    status, r = await proto.post(b"[" + b" " * (1024 * 1024 + 10) + b"]")
    assert status == 413 and r["error"]["code"] == -32600 and r["error"]["data"]["reason"] == "body_too_large"
    _, r = await proto.post([{"jsonrpc": "2.0", "method": "test.sum", "params": [1], "id": i} for i in range(51)])
    assert r["error"]["data"]["reason"] == "batch_too_large"


async def test_identity_reaches_sql_and_never_leaks_between_calls(proto, users):
    alice, bob = await users.make(), await users.make()

    async def whoami(user):
        return await proto.ok("test.whoami", {}, user.token if user else None)

    results = await asyncio.gather(*[whoami(u) for _ in range(20) for u in (alice, bob, None)])
    expected = [u.id if u else None for _ in range(20) for u in (alice, bob, None)]
    assert [r["user_id"] for r in results] == expected
    assert {r["role"] for r in results} == {"lms_api"}
    # On the same pooled connections afterwards: no role and no user id left behind.
    async with proto.service.db.pool.connection() as conn:
        cur = await conn.execute("select current_user, coalesce(current_setting('lms.user_id', true), '')")
        assert await cur.fetchone() == ("lms_authenticator", "")


VIOLATIONS = fixture_sql("protocol_violations")


@pytest.mark.parametrize("method, params, code, reason", [
    ("test.violate", {"kind": "unique"}, 409, "conflict"),
    ("test.violate", {"kind": "foreign_key"}, 404, "not_found"),
    ("test.violate", {"kind": "in_use"}, 409, "in_use"),
    ("test.violate", {"kind": "check"}, 422, "constraint_violation"),
    ("test.rls_insert", {}, 403, "forbidden"),
    ("test.no_privilege", {}, 403, "forbidden"),
])
async def test_real_database_violations_map_to_application_errors(db, rpc, method, params, code, reason):
    db.execute(VIOLATIONS)
    await rpc.service.reload()
    err = await rpc.error(method, params)
    assert (err["code"], err["data"]["reason"]) == (code, reason), err
    assert "app." not in err["message"] and "insert" not in err["message"].lower(), "no SQL leaks"
    assert db.execute("select count(*) from app.users where email ilike 'dup@%'") == [(0,)], "nothing half-written"
