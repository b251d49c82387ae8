"""Each per-call lever of the thin layer, before and after, in one process (µs of Python CPU per call).

    python -m bench.levers

In-process, no network: what each piece of bookkeeping costs per call with the code as it was and as
it is (the "before" is written out here as it stood in rpc/ before issue 19). The server-level effect of
all of them together is `python -m bench.rpc_bench --baseline REF` (server CPU µs per call).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid

from pydantic import ConfigDict, create_model

from rpc.core.protocol import MAX_DEPTH, depth_exceeds, parse_body
from rpc.http.service import Metrics
from rpc.http.views import answer_result, log_line

BODY = b'{"jsonrpc":"2.0","method":"user.me","params":{},"id":1}'
ME = json.dumps({"id": str(uuid.uuid4()), "email": "someone@example.test", "full_name": "Some One", "role": "student",
                 "is_active": True, "mfa_enabled": False, "email_verified_at": None,
                 "created_at": "2026-11-29T20:00:00.123456+00:00"})
COURSES = json.dumps({"items": [{"id": str(uuid.uuid4()), "title": f"Course {i}", "description": "A course " * 20,
                                 "price_cents": 0, "tags": ["a", "b"], "instructor": {"id": str(uuid.uuid4())}}
                                for i in range(10)], "total": 10})


def per_call(fn, n: int = 20000, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, time.process_time() - started)
    return best / n * 1e6


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=open(os.devnull, "w"))  # noqa: SIM115
    log = logging.getLogger("rpc.access")
    entry_calls = [("user.me", 0, 1.23, {})]
    metrics = Metrics()
    model = create_model("params_user_me", __config__=ConfigDict(extra="forbid"))

    def old_access() -> None:
        calls = [{"method": o[0], "code": o[1], "ms": o[2], "params": o[3]} for o in entry_calls]
        log.info(json.dumps({"request_id": uuid.uuid4().hex, "path": "/rpc", "status": 200, "duration_ms": 1.23,
                             "calls": calls}, default=str))

    def new_access() -> None:
        log.info(log_line({"request_id": os.urandom(16).hex(), "path": "/rpc", "status": 200, "duration_ms": 1.23,
                           "calls": [{"method": o[0], "code": o[1], "ms": o[2], "params": o[3]} for o in entry_calls]}))

    def old_parse() -> None:
        depth_exceeds(json.loads(BODY), MAX_DEPTH)

    def old_result(text: str):
        return lambda: json.dumps({"jsonrpc": "2.0", "result": json.loads(text), "id": 1}, default=str,
                                  separators=(",", ":"), allow_nan=False)

    def old_metrics() -> None:
        metrics.calls.labels("user.me").inc()
        metrics.latency.labels("user.me").observe(0.001)

    levers = [
        ("access log line (request id, JSON, logging)", old_access, new_access),
        ("request body parse (json → orjson + checks)", old_parse, lambda: parse_body(BODY)),
        ("result user.me: decode + encode → splice", old_result(ME), lambda: answer_result(1, ME)),
        ("result course.list (10): decode + encode → splice", old_result(COURSES), lambda: answer_result(1, COURSES)),
        ("Prometheus: labels() per call → series kept", old_metrics, lambda: metrics.observe("user.me", 0.001, 0)),
        ("params {} of a param-less method: pydantic → skipped", lambda: model.model_validate({}), lambda: None),
    ]
    print(f"{'lever':<55} {'before µs':>9} {'after µs':>9}")
    saved = 0.0
    for name, before, after in levers:
        b, a = per_call(before), per_call(after)
        saved += (b - a) if "course.list" not in name else 0.0
        print(f"{name:<55} {b:>9.2f} {a:>9.2f}")
    print(f"together, for a user.me call: {saved:.1f} µs of Python CPU saved per call")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
