"""One error catalogue (internal.error_catalogue()): every reason a SQL function raises or returns,
and every reason the RPC layer sends, is in it; the OpenRPC document publishes it and lists each
method's errors."""

from __future__ import annotations

import re

from rpc.core import errorcat
from rpc.db.migrate import ROOT


def catalogue(db) -> set[tuple[int, str]]:
    return {(code, reason) for code, reason, _ in db.execute("select * from internal.error_catalogue()")}


def test_every_reason_a_function_raises_or_returns_is_in_the_catalogue(db):
    known = catalogue(db)
    bodies = db.execute("select n.nspname || '.' || p.proname, p.prosrc from pg_proc p "
                        "join pg_namespace n on n.oid = p.pronamespace where n.nspname in ('api', 'internal', 'app')")
    raised = {(name, pair) for name, body in bodies for pair in errorcat.raised(body)}
    assert len(raised) > 100, "the raise sites are found"
    missing = sorted({pair for _, pair in raised} - known)
    assert not missing, f"raised but not in internal.error_catalogue(): {missing}"
    # Every LM raise names its reason right after the code (the form errorcat reads).
    for name, body in bodies:
        odd = re.findall(r"errcode\s*=\s*'LM\d{3}'(?!\s*,\s*detail\s*=\s*')", body)
        assert not odd, f"{name}: a raise without `detail = '<reason>'` right after its errcode"


def test_every_reason_the_rpc_layer_sends_is_in_the_catalogue(db):
    reasons = {r for _, r in catalogue(db)}
    sent = set()
    for path in (ROOT / "rpc").glob("*.py"):
        sent |= set(re.findall(r'"reason":\s*"([a-z0-9_.]+)"', path.read_text()))
    sent |= {"missing_param", "invalid_param", "unknown_param"}  # built from pydantic's error types
    assert not sent - reasons, f"sent by rpc/ but not in the catalogue: {sorted(sent - reasons)}"


def test_the_catalogue_finds_a_missing_reason():
    assert errorcat.raised("raise exception 'x' using errcode = 'LM409', detail = 'brand_new';") == {(409, "brand_new")}
    assert errorcat.raised("return internal.error(423, 'account_locked', 'm');") == {(423, "account_locked")}


async def test_methods_publish_their_errors_from_the_catalogue(rpc):
    doc = await rpc.ok("rpc.discover")
    errors = doc["components"]["errors"]
    assert errors["404_not_found"] == {"code": 404, "message": "No such thing visible to the caller.",
                                       "data": {"reason": "not_found"}}
    by_name = {m["name"]: m for m in doc["methods"]}
    submit = {(e["code"], e["data"]["reason"]) for e in by_name["attempt.submit"]["errors"]}
    assert {(409, "already_submitted"), (422, "attempt_expired"), (401, "not_authenticated")} <= submit
    login = {(e["code"], e["data"]["reason"]) for e in by_name["auth.login"]["errors"]}
    assert {(423, "account_locked"), (429, "rate_limited"), (401, "mfa_required")} <= login
    for method in doc["methods"]:
        for e in method.get("errors", []):
            assert f"{e['code']}_{e['data']['reason']}" in errors, (method["name"], e)
