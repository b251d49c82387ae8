"""Bad input is -32602 naming the field (or -32700/-32600 for the body itself), never -32603 or an HTTP
5xx, never marks the database as down, and is answered with strict JSON (API.md "Errors"): NUL and
lone surrogates, non-finite and oversized numbers, times PostgreSQL cannot store, values longer than
an index holds, deep nesting, non-finite ids. Also the update rule: in a @patch method an explicit
null is refused for a param not declared nullable."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.helpers.fixtures import fixture_sql

NIL = "00000000-0000-0000-0000-000000000001"


def strict_loads(raw: bytes):
    """JSON as RFC 8259 has it: UTF-8, no NaN/Infinity, no lone surrogates in any string."""

    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant} in a response")

    value = json.loads(raw.decode("utf-8"), parse_constant=refuse)
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            item.encode("utf-8")  # raises on a lone surrogate
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


async def raw_post(rpc, body: bytes | str, token: str | None = None):
    """POST a body exactly as given → (status, strictly parsed JSON or None)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = body.encode("ascii") if isinstance(body, str) else body
    async with rpc.session.post(rpc.base + "/rpc", data=data, headers=headers) as resp:
        raw = await resp.read()
        assert resp.status < 500, (resp.status, raw[:300])
        return resp.status, (strict_loads(raw) if raw else None)


def call_body(method: str, params_json: str, rid: str = "1") -> str:
    """A request whose params are given as JSON text (so it can hold what json.dumps cannot write)."""
    return f'{{"jsonrpc": "2.0", "method": "{method}", "params": {params_json}, "id": {rid}}}'


async def invalid_param(rpc, method: str, params_json: str, field: str, token: str | None = None) -> dict:
    status, answer = await raw_post(rpc, call_body(method, params_json), token)
    assert status == 200 and "error" in answer, answer
    error = answer["error"]
    assert (error["code"], error["data"]["field"]) == (-32602, field), error
    assert not rpc.service.db.suspect_down, "bad input must not mark the database as down"
    return error


async def still_serves(rpc):
    assert not rpc.service.db.suspect_down
    assert isinstance(await rpc.ok("course.list", {}), list)


# ---------------------------------------------------------------------------------------------
# NUL and lone surrogates, top-level and nested in jsonb
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, params, field", [
    ("auth.login", '{"email": "a\\u0000b@example.test", "password": "whatever-it-is"}', "email"),
    ("auth.login", '{"email": "a\\ud800b@example.test", "password": "whatever-it-is"}', "email"),
    ("auth.login", '{"email": "a@example.test", "password": "\\udfff lone low surrogate"}', "password"),
    ("certificate.verify", '{"certificate_number": "LMS-\\u0000"}', "certificate_number"),
    ("course.list", '{"search": "sql\\u0000"}', "search"),
    ("course.list", '{"tag": "\\ud83d"}', "tag"),
])
async def test_nul_and_surrogates_in_strings_are_invalid_params(rpc, method, params, field):
    error = await invalid_param(rpc, method, params, field)
    assert error["data"]["reason"] == "invalid_param"
    await still_serves(rpc)


async def test_nul_and_surrogates_for_a_signed_in_caller(rpc, users):
    teacher = await users.make("instructor")
    await invalid_param(rpc, "course.create", '{"title": "T\\u0000", "price_cents": 0}', "title", teacher.token)
    await invalid_param(rpc, "course.create", '{"title": "T", "price_cents": 0, "tags": ["ok", "b\\u0000d"]}',
                        "tags", teacher.token)
    await invalid_param(rpc, "course.create", '{"title": "T", "price_cents": 0, "tags": ["\\udc00"]}',
                        "tags", teacher.token)
    await invalid_param(rpc, "instructor.update_profile", '{"bio": "\\ud800\\ud800"}', "bio", teacher.token)
    await still_serves(rpc)


@pytest.mark.parametrize("metadata", [
    '{"note": "a\\u0000b"}',
    '{"a\\u0000": 1}',
    '{"deep": [{"deeper": ["x", "\\u0000"]}]}',
    '{"note": "\\ud800"}',
    '{"\\udbff": true}',
    '{"n": NaN}',
    '{"n": [1e999]}',
    '{"n": -Infinity}',
])
async def test_bad_values_nested_in_jsonb_are_invalid_params(rpc, users, metadata):
    student = await users.make("student")
    await invalid_param(rpc, "user.update_profile", f'{{"metadata": {metadata}}}', "metadata", student.token)
    await still_serves(rpc)


async def test_jsonb_answers_and_options(rpc, users):
    student = await users.make("student")
    teacher = await users.make("instructor")
    await invalid_param(rpc, "attempt.submit", f'{{"attempt_id": "{NIL}", "answers": {{"{NIL}": "a\\u0000"}}}}',
                        "answers", student.token)
    await invalid_param(rpc, "attempt.submit", f'{{"attempt_id": "{NIL}", "answers": {{"\\ud800": "a"}}}}',
                        "answers", student.token)
    await invalid_param(rpc, "quiz.add_question",
                        f'{{"quiz_id": "{NIL}", "question_text": "Q?", "question_type": "multiple_choice", '
                        f'"correct_answer": "a", "options": ["a", "b\\u0000"]}}', "options", teacher.token)
    await still_serves(rpc)


async def test_unknown_param_named_with_a_surrogate_is_answered_in_strict_json(rpc):
    status, answer = await raw_post(rpc, call_body("course.list", '{"\\ud800x": 1}'))
    error = answer["error"]
    assert (error["code"], error["data"]["reason"]) == (-32602, "unknown_param")
    assert error["data"]["field"] == "?x"  # the name as far as it is Unicode


# ---------------------------------------------------------------------------------------------
# Numbers: non-finite, out of the column's range, huge
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("grade", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "true", '"90"',
                                   "1e300", "100000000000000000000000000000000"])
async def test_bad_grades_are_invalid_params(rpc, users, grade):
    teacher = await users.make("instructor")
    await invalid_param(rpc, "submission.grade", f'{{"submission_id": "{NIL}", "grade": {grade}}}', "grade",
                        teacher.token)
    await still_serves(rpc)


@pytest.mark.parametrize("price", ["2147483648", "-2147483649", "99999999999999999999999999", "1e999", "NaN",
                                   "1.5", "1e3"])
async def test_integers_beyond_the_column_type_are_invalid_params(rpc, users, price):
    teacher = await users.make("instructor")
    await invalid_param(rpc, "course.create", f'{{"title": "T", "price_cents": {price}}}', "price_cents", teacher.token)


async def test_an_integer_json_cannot_read_is_a_parse_error(rpc, users):
    """Python's json refuses integers over 4300 digits with a plain ValueError: -32700, not HTTP 500."""
    student = await users.make("student")
    body = call_body("user.update_profile", '{"metadata": {"n": ' + "7" * 5000 + "}}")
    status, answer = await raw_post(rpc, body, student.token)
    assert (status, answer["error"]["code"], answer["id"]) == (200, -32700, None)
    await still_serves(rpc)


async def test_large_but_readable_integers_in_jsonb_are_stored(rpc, users):
    student = await users.make("student")
    big = "9" * 4000
    status, answer = await raw_post(rpc, call_body("user.update_profile", f'{{"metadata": {{"n": {big}}}}}'),
                                    student.token)
    assert status == 200 and answer["result"]["metadata"]["n"] == int(big)


# ---------------------------------------------------------------------------------------------
# Times PostgreSQL cannot store; naive times
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("due", [
    "2026-01-02T03:04:05+20:00",    # offset beyond ±15:59: PostgreSQL refuses it
    "2026-01-02T03:04:05-16:00",
    "2026-01-02T03:04:05",          # no offset: API.md says times carry one
    "2026-01-02",
    "2026-02-30T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "infinity",
    "2026-01-02T03:04:05+02:00\n",
    "2026-01-02T03:04:05\u0000+02:00",
    1767225600,
    True,
])
async def test_unstorable_or_naive_times_are_invalid_params(rpc, users, due):
    teacher = await users.make("instructor")
    params = json.dumps({"course_id": NIL, "title": "A", "due_date": due})
    await invalid_param(rpc, "assignment.create", params, "due_date", teacher.token)
    await still_serves(rpc)


async def test_extreme_but_storable_times_pass_validation(rpc, users):
    """±15:59 and the ends of the calendar reach the function (404: no such course), not an error."""
    teacher = await users.make("instructor")
    for due in ["2026-01-02T03:04:05+15:59", "0001-01-01T00:00:00+15:59", "9999-12-31T23:59:59.999999-15:59",
                "2026-01-02t03:04:05.5z"]:
        error = await rpc.error("assignment.create", {"course_id": NIL, "title": "A", "due_date": due},
                                teacher.token)
        assert error["code"] == 404, (due, error)


async def test_timestamps_are_published_as_date_time(rpc):
    doc = await rpc.ok("rpc.discover")
    create = next(m for m in doc["methods"] if m["name"] == "assignment.create")
    due = next(p for p in create["params"] if p["name"] == "due_date")["schema"]
    assert due["type"] == "string" and due["format"] == "date-time"


# ---------------------------------------------------------------------------------------------
# Values longer than a column or an index holds
# ---------------------------------------------------------------------------------------------

async def test_a_6000_character_email_at_login_is_an_invalid_param(rpc):
    email = "a" * 5990 + "@example.test"
    error = await invalid_param(rpc, "auth.login", json.dumps({"email": email, "password": "x" * 12}), "email")
    assert error["data"]["reason"] == "invalid_param"
    # random (incompressible) characters, which an index row could not hold either
    email = uuid.uuid4().hex * 200 + "@example.test"
    await invalid_param(rpc, "auth.request_password_reset", json.dumps({"email": email}), "email")
    await still_serves(rpc)


async def test_long_tags_and_categories_are_invalid_params(rpc, users):
    teacher = await users.make("instructor")
    tag = "".join(uuid.uuid4().hex for _ in range(190))  # 6,080 characters
    await invalid_param(rpc, "course.create", json.dumps({"title": "T", "price_cents": 0, "tags": [tag]}), "tags",
                        teacher.token)
    course = await rpc.ok("course.create", {"title": "T", "price_cents": 0}, teacher.token)
    await invalid_param(rpc, "course.update", json.dumps({"course_id": course["id"], "tags": ["ok", tag]}), "tags",
                        teacher.token)
    await invalid_param(rpc, "course.update", json.dumps({"course_id": course["id"], "category": tag}), "category",
                        teacher.token)
    await invalid_param(rpc, "course.list", json.dumps({"tag": tag}), "tag")
    await still_serves(rpc)


async def test_length_bounds_are_published(rpc):
    doc = await rpc.ok("rpc.discover")
    methods = {m["name"]: {p["name"]: p["schema"] for p in m["params"]} for m in doc["methods"]}
    assert methods["auth.login"]["email"]["maxLength"] == 254
    assert methods["course.create"]["tags"]["items"]["maxLength"] <= 100
    assert methods["course.update"]["category"]["maxLength"] <= 100
    for name, params in methods.items():
        for param, schema in params.items():
            types = schema.get("type")
            if "string" in (types if isinstance(types, list) else [types]):
                assert "maxLength" in schema or "pattern" in schema, (name, param, schema)


# ---------------------------------------------------------------------------------------------
# Deep nesting
# ---------------------------------------------------------------------------------------------

async def test_unbalanced_deep_nesting_is_refused_without_a_500(rpc):
    for body in [b"[" * 1000, b"{\"a\":" * 1000, b"[" * 100_000]:
        status, answer = await raw_post(rpc, body)
        assert status == 200 and answer["error"]["code"] in (-32700, -32600) and answer["id"] is None


async def test_valid_deep_nesting_is_too_deep(rpc, users):
    student = await users.make("student")
    for depth in [70, 1000, 50_000]:
        doc = "[" * depth + "]" * depth
        status, answer = await raw_post(rpc, call_body("user.update_profile", f'{{"metadata": {{"a": {doc}}}}}'),
                                        student.token)
        assert status == 200 and answer["error"]["code"] == -32600, answer
        assert answer["error"]["data"]["reason"] == "too_deep"
    # within the limit: stored and read back
    doc = "[" * 40 + "]" * 40
    status, answer = await raw_post(rpc, call_body("user.update_profile", f'{{"metadata": {{"a": {doc}}}}}'),
                                    student.token)
    assert "result" in answer, answer
    await still_serves(rpc)


# ---------------------------------------------------------------------------------------------
# ids and strict JSON out
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rid", ["1e999", "-1e999", "NaN", "Infinity", '"\\ud800"'])
async def test_a_non_finite_or_non_unicode_id_is_an_invalid_request(rpc, rid):
    status, answer = await raw_post(rpc, f'{{"jsonrpc": "2.0", "method": "course.list", "params": {{}}, "id": {rid}}}')
    assert status == 200 and answer["id"] is None
    assert (answer["error"]["code"], answer["error"]["data"]["reason"]) == (-32600, "invalid_id")
    status, answer = await raw_post(rpc, f'[{{"jsonrpc": "2.0", "method": "course.list", "id": {rid}}},'
                                         '{"jsonrpc": "2.0", "method": "course.list", "id": 2}]')
    assert [a["id"] for a in answer] == [None, 2] and answer[0]["error"]["data"]["reason"] == "invalid_id"


async def test_large_and_fractional_ids_are_echoed(rpc):
    for rid in ["12345678901234567890123456789", "1.5", "-0.0", '"\\u0000"']:
        status, answer = await raw_post(rpc, f'{{"jsonrpc": "2.0", "method": "course.list", "id": {rid}}}')
        assert answer["id"] == json.loads(rid) and "result" in answer


async def test_a_method_name_with_a_lone_surrogate_is_an_invalid_request(rpc):
    status, answer = await raw_post(rpc, '{"jsonrpc": "2.0", "method": "course.\\ud800", "id": 3}')
    assert (answer["error"]["code"], answer["id"]) == (-32600, 3)


async def test_garbage_bodies(rpc):
    for body in [b"", b"\xff\xfe\x00", b"\xc3\x28", "{\"a\": \"\u00e9\"}".encode("latin-1"), b"NaN", b"-Infinity",
                 b"\"\\ud800\"", b"[NaN, 1e999]", b"{\"jsonrpc\": \"2.0\", \"method\": \"course.list\", \"id\": 1"]:
        status, answer = await raw_post(rpc, body)
        assert status == 200, body
        errors = answer if isinstance(answer, list) else [answer]
        assert all(a["error"]["code"] in (-32700, -32600) for a in errors), (body, answer)


# ---------------------------------------------------------------------------------------------
# Updates: explicit null only for nullable params (@patch / @param … nullable)
# ---------------------------------------------------------------------------------------------

PATCH_FUNCTION = fixture_sql("test_patch")


@pytest.fixture
async def patchable(db, rpc):
    db.execute(PATCH_FUNCTION)
    await rpc.service.reload()
    return rpc


@pytest.mark.parametrize("field", ["title", "tags", "thing_id"])
async def test_null_for_a_param_not_nullable_is_refused(patchable, field):
    params = {"thing_id": NIL, field: None}
    error = await patchable.error("test.patch", params)
    assert (error["code"], error["data"]["reason"], error["data"]["field"]) == (-32602, "null_not_allowed", field)


async def test_null_for_a_nullable_param_passes_and_omitted_ones_stay_omitted(patchable):
    result = await patchable.ok("test.patch", {"thing_id": NIL, "note": None, "due": None})
    assert result["note"] is None and result["due"] is None
    method = patchable.service.methods["test.patch"]
    assert set(method.validate({"thing_id": NIL, "note": None})) == {"thing_id", "note"}
    assert set(method.validate({"thing_id": NIL})) == {"thing_id"}
    error = await patchable.error("test.patch", {"thing_id": NIL, "note": "x" * 11})
    assert (error["code"], error["data"]["field"]) == (-32602, "note")
    error = await patchable.error("test.patch", {"thing_id": NIL, "tags": ["abcdef"]})
    assert (error["code"], error["data"]["field"]) == (-32602, "tags")


async def test_methods_without_patch_keep_taking_null_as_omitted(patchable):
    assert (await patchable.ok("test.plain", {"thing_id": NIL, "note": None})) == {"note": None}


async def test_nullable_params_are_published_as_nullable(patchable):
    doc = await patchable.ok("rpc.discover")
    method = next(m for m in doc["methods"] if m["name"] == "test.patch")
    schemas = {p["name"]: p["schema"] for p in method["params"]}
    assert schemas["note"]["type"] == ["string", "null"] and schemas["note"]["maxLength"] == 10
    assert schemas["due"]["type"] == ["string", "null"] and schemas["due"]["format"] == "date-time"
    assert schemas["title"]["type"] == "string" and schemas["tags"]["items"]["maxLength"] == 5
    assert "@patch" not in method["description"] and "@param" not in method["description"]
