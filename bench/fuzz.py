"""Fuzz every JSON-RPC method from its own OpenRPC param schemas, plus hostile values.

    python -m bench.fuzz [--seconds 300] [--seed 1] [--batch 50]

Starts a throw-away PostgreSQL cluster, migrates it, serves the app in this process, creates a
student, an instructor and an admin (and a course with a lesson, a quiz and an assignment, so
that generated uuids often name real rows), then posts batches of generated calls — as anonymous
and as each user — until the time is up. Params are drawn from each method's published schema
(`rpc.discover`): valid values, and hostile ones — NUL, lone surrogates, huge strings, deep
nesting, wrong types, extreme and non-finite numbers, unstorable times, unknown params, null,
positional arrays — plus malformed bodies. A finding is any -32603, -32000 (the database marked
down by bad input), HTTP 5xx, or an answer that is not strict JSON (UTF-8, no NaN/Infinity, no
lone surrogates, one response per call with its id). Prints call counts, the codes seen and every
finding with its method and params; exits 1 when there is one. `tests/test_fuzz.py` runs a
bounded round of the same on every `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MAX_BODY = 900 * 1024  # stay under the server's 1 MiB body limit: a batch above it would only be 413
DEEP_LIMIT = 64        # the server's nesting limit (rpc.protocol.MAX_DEPTH)

# (status, raw body) of one POST /rpc with this body and token
Poster = Callable[[bytes, "str | None"], Awaitable[tuple[int, bytes]]]


class Raw:
    """A number written into the body as is (json.dumps cannot write 1e999 or a 5000-digit integer)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text if len(self.text) < 40 else f"{self.text[:20]}…({len(self.text)} chars)"


def encode(value: Any) -> bytes:
    """JSON text of value, Raw numbers inlined; NaN/Infinity as Python writes them; lone surrogates escaped."""
    raws: list[str] = []

    def swap(v: Any) -> Any:
        if isinstance(v, Raw):
            raws.append(v.text)
            return f"\x01RAW{len(raws) - 1}\x01"
        if isinstance(v, dict):
            return {k: swap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [swap(x) for x in v]
        return v

    text = json.dumps(swap(value))  # ensure_ascii: every non-ASCII character, surrogates included, escaped
    for i, raw in enumerate(raws):
        text = text.replace(f'"\\u0001RAW{i}\\u0001"', raw, 1)
    return text.encode("ascii")


def strict_json(raw: bytes) -> Any:
    """Parse an answer as strict JSON (RFC 8259 + I-JSON strings) or raise ValueError saying why."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"non-standard constant {constant}")

    value = json.loads(raw.decode("utf-8"), parse_constant=refuse)
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("a lone surrogate in a string") from None
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


def preview(value: Any, limit: int = 300) -> str:
    def shrink(v: Any, depth: int = 0) -> Any:
        if isinstance(v, str) and len(v) > 40:
            return f"{v[:20]!r}…({len(v)} chars)"
        if isinstance(v, list):
            if depth > 4:
                return f"[…{len(v)} items, nested]"
            return [shrink(x, depth + 1) for x in v[:5]] + ([f"…{len(v)} items"] if len(v) > 5 else [])
        if isinstance(v, dict):
            items = list(v.items())
            shown = {shrink(k): shrink(x, depth + 1) for k, x in items[:8]}
            if len(items) > 8:
                shown["…"] = f"{len(items)} keys"
            return shown
        return v

    text = shrink(value) if isinstance(value, str) else repr(shrink(value))
    text = text if isinstance(text, str) else repr(text)
    return text if len(text) <= limit else text[:limit] + "…"


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------

ALPHABET = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.@'\"\\/%:;,!?\t\n"
            "éßøΩЖ中文日本語한국어😀👩‍💻\u200b\u202e\ufeff\U0010ffff")
HOSTILE_STRINGS = [
    "", " ", "\x00", "a\x00b", "\ud800", "x\udfff", "\udbff\udc00", "\ud83d", "\x00" * 10,
    "'; drop table app.users; --", "%", "_", "\\", "\"", "null", "NaN", "Infinity", "1e999",
    "\u202e\u0000\ufffe\uffff", "\U0010ffff", "a" * 255, "b" * 6000, "\u00e9" * 3000,
]
HOSTILE_NUMBERS: list[Any] = [
    2**31, -(2**31) - 1, 2**31 - 1, -(2**31), 2**63, -(2**63) - 1, 10**40, -(10**40), int("9" * 4000),
    Raw("1e999"), Raw("-1e999"), Raw("1E400"), Raw("-0"), Raw("1.0e-400"), Raw("123456789012345678901234567890.5"),
    float("nan"), float("inf"), float("-inf"), 1e308, -1e308, 5e-324, -0.0, 0.5, 1.0, 999999.995, 1e6,
]
HOSTILE_TIMES = [
    "2026-01-02T03:04:05+16:00", "2026-01-02T03:04:05-23:59", "2026-01-02T03:04:05", "2026-01-02",
    "2026-01-02 03:04:05+02:00", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-01-02T24:00:00Z",
    "2026-12-31T23:59:60Z", "0000-01-01T00:00:00Z", "0001-01-01T00:00:00+15:59", "9999-12-31T23:59:59.999999-15:59",
    "infinity", "-infinity", "epoch", "now", "2026-01-02T03:04:05.1234567+02:00", "2026-01-02T03:04:05+0200",
    "+275760-09-13T00:00:00Z", "2026-01-02T03:04:05Z\n", "2026-01-02t03:04:05z", 1767225600, 1.5e9,
]
HOSTILE_UUIDS = [
    "", "0", "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "{12345678-1234-1234-1234-123456789abc}", "urn:uuid:12345678-1234-1234-1234-123456789abc",
    "12345678123412341234123456789abc", "12345678-1234-1234-1234-123456789abc\x00",
    "12345678-1234-1234-1234-123456789abcd",
    "ZZZZZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZZZZZZZZZ", "12345678-1234-1234-1234-123456789ABC",
]
UNKNOWN_NAMES = ["zzz", "", "\x00", "\ud800", "a" * 300, "__proto__", "constructor", "id", "params", "Title"]


def nested(depth: int, leaf: Any = 1, rng: random.Random | None = None) -> Any:
    value = leaf
    for i in range(depth):
        value = [value] if rng is None or rng.random() < 0.5 or i % 2 else {"k": value}
    return value


@dataclass
class Generator:
    rng: random.Random
    uuids: list[str] = field(default_factory=list)   # ids of real rows (harvested from results)

    def pick(self, seq: list) -> Any:
        return seq[self.rng.randrange(len(seq))]

    def text(self, low: int = 0, high: int = 24) -> str:
        n = self.rng.randint(low, max(low, high))
        return "".join(self.pick(ALPHABET) for _ in range(n))

    def uuid(self) -> str:
        if self.uuids and self.rng.random() < 0.8:
            return self.pick(self.uuids)
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def date_time(self) -> str:
        year = self.pick([1, 1970, 2000, 2025, 2026, 2027, 9999]) if self.rng.random() < 0.3 else \
            self.rng.randint(2020, 2030)
        moment = f"{year:04d}-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}T" \
                 f"{self.rng.randint(0, 23):02d}:{self.rng.randint(0, 59):02d}:{self.rng.randint(0, 59):02d}"
        if self.rng.random() < 0.3:
            moment += "." + "".join(str(self.rng.randint(0, 9)) for _ in range(self.rng.randint(1, 6)))
        if self.rng.random() < 0.4:
            return moment + "Z"
        sign = self.pick(["+", "-"])
        return moment + f"{sign}{self.rng.randint(0, 15):02d}:{self.pick([0, 30, 45, 59]):02d}"

    def json_value(self, depth: int = 0) -> Any:
        roll = self.rng.random()
        if depth < 3 and roll < 0.25:
            return {self.pick([self.uuid(), self.text(1, 8)]): self.json_value(depth + 1)
                    for _ in range(self.rng.randint(0, 4))}
        if depth < 3 and roll < 0.45:
            return [self.json_value(depth + 1) for _ in range(self.rng.randint(0, 4))]
        return self.pick([None, True, False, 0, -1, 42, 3.25, 1e300, 10**30, self.text(0, 12), "true", "a", "b"])

    # -- valid values, from the schema
    def valid(self, schema: dict) -> Any:
        types = schema.get("type")
        if isinstance(types, list):
            types = [t for t in types if t != "null"]
            types = self.pick(types) if types else None
        if types == "string":
            if schema.get("pattern", "").startswith("^[0-9a-fA-F]{8}"):
                return self.uuid()
            if schema.get("format") == "date-time":
                return self.date_time()
            low = schema.get("minLength", 0)
            high = schema.get("maxLength", 10**9)
            if self.rng.random() < 0.1:
                return self.text(high, high) if high <= 10_000 else self.text(low, 30)
            return self.text(low, min(high, 30))
        if types in ("integer", "number"):
            low = schema.get("minimum", -(2**31))
            high = schema.get("maximum", 2**31 - 1)
            roll = self.rng.random()
            if roll < 0.3:
                return self.pick([low, high])
            if roll < 0.6:
                return self.pick([v for v in (0, 1, 2, 5, 10, 20, 100) if low <= v <= high] or [low])
            value = self.rng.randint(int(low), int(high)) if isinstance(low, int) and isinstance(high, int) \
                else self.rng.uniform(low, high)
            if types == "number" and self.rng.random() < 0.5:
                value = round(self.rng.uniform(max(low, -1e6), min(high, 1e6)), self.rng.randint(0, 4))
            return value
        if types == "boolean":
            return self.rng.random() < 0.5
        if types == "array":
            low = schema.get("minItems", 0)
            high = min(schema.get("maxItems", 5), 5)
            return [self.valid(schema.get("items", {})) for _ in range(self.rng.randint(low, max(low, high)))]
        return self.json_value()  # jsonb: any JSON

    # -- hostile values, aware of the schema where it helps
    def hostile(self, schema: dict) -> Any:
        types = schema.get("type")
        types = types if isinstance(types, list) else [types]
        roll = self.rng.random()
        if roll < 0.08:
            return None
        if roll < 0.16:
            return nested(self.rng.randint(2, DEEP_LIMIT - 8), self.pick(["x", 1, None, "\x00"]), self.rng)
        if roll < 0.24:
            return self.pick([True, False, [], {}, [1, "a"], {"a": 1}, "1", 1, 1.5, "true"])
        if roll < 0.5:
            if "string" in types and "maxLength" in schema and self.rng.random() < 0.4:
                n = schema["maxLength"] + self.pick([1, 2, 1000])
                return self.text(n, n) if n <= 10_000 and self.rng.random() < 0.5 else "x" * n
            if "string" in types and schema.get("format") == "date-time":
                return self.pick(HOSTILE_TIMES)
            if "string" in types and "pattern" in schema:
                return self.pick(HOSTILE_UUIDS)
            return self.pick(HOSTILE_STRINGS)
        if roll < 0.7:
            if ("integer" in types or "number" in types) and self.rng.random() < 0.4:
                low, high = schema.get("minimum"), schema.get("maximum")
                return self.pick([v for v in (low, high) if v is not None] or [0]) + self.pick([-1, 1, -0.5, 0.5])
            return self.pick(HOSTILE_NUMBERS)
        if roll < 0.85:
            if "array" in types:
                item = schema.get("items", {})
                return self.pick([
                    [self.hostile(item) for _ in range(self.rng.randint(1, 4))],
                    [self.valid(item) for _ in range(self.rng.randint(21, 60))],
                    ["x"] * 2000, [None], [[self.valid(item)]],
                ])
            return self.hostile_json()
        return self.pick([self.valid(schema), self.hostile_json(), self.pick(HOSTILE_STRINGS)])

    def hostile_json(self) -> Any:
        return self.pick([
            {"\x00": 1}, {"\ud800": "x"}, {"a": "\x00"}, {"a": ["\udfff"]}, {"n": float("nan")}, {"n": [Raw("1e999")]},
            {"n": int("7" * 4000)}, {"n": 1e308, "m": -1e308, "t": 5e-324}, {"s": "x" * 100_000},
            [self.json_value() for _ in range(300)], {str(i): i for i in range(2000)},
            nested(DEEP_LIMIT - 8, {"deep": "\x00"}), nested(DEEP_LIMIT - 10, "ok"), {"": None}, [None, True, "a"],
            {self.uuid(): self.pick(["a", "true", "\x00", 1, None, ["a"], {"x": 1}])},
        ])

    # -- the params of one call
    def params(self, method: dict) -> tuple[Any, str]:
        specs = method.get("params", [])
        roll = self.rng.random()

        def base(optional_share: float) -> dict:
            return {p["name"]: self.valid(p["schema"]) for p in specs
                    if p.get("required") or self.rng.random() < optional_share}

        if roll < 0.4 or not specs:
            kind, params = "valid", base(0.5)
        elif roll < 0.7:
            target = self.pick(specs)
            params = base(0.3)
            params[target["name"]] = self.hostile(target["schema"])
            kind = f"hostile {target['name']}"
        elif roll < 0.78:
            params = base(0.3)
            for p in specs:
                if self.rng.random() < 0.5:
                    params[p["name"]] = self.hostile(p["schema"])
            kind = "several hostile"
        elif roll < 0.84:
            params = base(0.5)
            params[self.pick(UNKNOWN_NAMES)] = self.pick([1, "x", None, "\x00"])
            kind = "unknown param"
        elif roll < 0.89:
            params, kind = {p["name"]: None for p in specs}, "all null"
        elif roll < 0.93:
            required = [p for p in specs if p.get("required")]
            params = base(0.5)
            if required:
                params.pop(self.pick(required)["name"], None)
            kind = "missing required"
        elif roll < 0.97:
            params = [self.valid(p["schema"]) if self.rng.random() < 0.7 else self.hostile(p["schema"]) for p in specs]
            if self.rng.random() < 0.3:
                params.append(self.pick(["extra", 1, None]))
            kind = "positional"
        else:
            params = self.pick([[], {}, "params", 1, None, [None] * 40, {"": ""}])
            kind = "odd params"
        return params, kind


# Whole bodies that are malformed as JSON-RPC or JSON: sent one at a time (they fail as a whole).
def malformed_bodies(rng: random.Random) -> list[bytes]:
    call = '{"jsonrpc": "2.0", "method": "course.list", "params": {}, "id": %s}'
    bodies = [
        b"", b" ", b"null", b"1", b"\"x\"", b"[]", b"[1,2]", b"{}", b"NaN", b"-Infinity", b"[NaN, 1e999]",
        b"[" * 1000, b"{\"a\":" * 1000, b"[" * 100_000, ("[" * 1000 + "]" * 1000).encode(),
        ("[" * (DEEP_LIMIT + 1) + "]" * (DEEP_LIMIT + 1)).encode(),
        b"\xff\xfe\x00\x00", b"\xc3\x28", b"\xef\xbb\xbf" + (call % "1").encode(), (call % "1").encode("utf-16"),
        *[(call % rid).encode() for rid in ("1e999", "NaN", "-Infinity", '"\\ud800"', "9" * 5000, "9" * 4000, "1.5",
                                            "true", "[1]", "{}")],
        b'{"jsonrpc": "2.0", "method": "course.\\ud800", "id": 1}', b'{"jsonrpc": "2.0", "method": "\\u0000", "id": 1}',
        b'{"jsonrpc": "2.0", "method": "' + b"m" * 100_000 + b'", "id": 1}',
        b'{"jsonrpc": "2.0", "method": "course.list", "params": "x", "id": 1}',
        b'{"jsonrpc": "2.0", "method": "course.list", "params": {}, "id": 1, "\\u0000": 1}',
        b'{"jsonrpc": "2.0", "method": "course.list", "params": {}, "id": 1, "\\ud800": 1}',
        b'{"jsonrpc": "1.0", "method": "course.list", "id": 1}', b'{"jsonrpc": 2.0, "method": "course.list", "id": 1}',
        b'{"jsonrpc": "2.0", "method": "course.list", "params": {"limit": ' + b"1" * 5000 + b"}, \"id\": 1}",
        b'{"jsonrpc": "2.0", "method": "course.list", "params": {"search": "' + b"\\u0000" * 1000 + b'"}, "id": 1}',
        ("[" + ",".join([call % i for i in range(51)]) + "]").encode(),
        ("[" + ",".join(["1"] * 50) + "]").encode(),
        b"[" + b" " * (1024 * 1024) + b"]",
        b'{"jsonrpc": "2.0", "method": "course.list", "params": {}, "id": 1',
        b'{"jsonrpc": "2.0", "method": "course.list", "params": {}, "id": 1}}',
        b'{"jsonrpc": "2.0", "method": "course.list", "params": {}, "id": 1} {"x": 1}',
    ]
    rng.shuffle(bodies)
    return bodies


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------

@dataclass
class Finding:
    kind: str
    identity: str
    method: str
    params: str
    answer: str

    def __str__(self) -> str:
        return f"[{self.kind}] as {self.identity}: {self.method} params={self.params} → {self.answer}"


@dataclass
class Stats:
    calls: int = 0
    posts: int = 0
    seconds: float = 0.0
    codes: Counter = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)

    def summary(self) -> str:
        rate = self.calls / self.seconds if self.seconds else 0
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(self.codes.items(), key=lambda kv: str(kv[0])))
        return (f"fuzz: {self.calls} calls in {self.posts} posts, {self.seconds:.1f} s ({rate:.0f} calls/s); "
                f"{len(self.findings)} finding(s); answers by code: {codes}")


BAD_CODES = {-32603: "internal_error", -32000: "database_marked_down"}
FIELD_REASONS = {"invalid_param", "unknown_param", "missing_param", "null_not_allowed"}


class Fuzzer:
    def __init__(self, post: Poster, doc: dict, identities: dict[str, str | None], seed: int = 1,
                 batch_size: int = 50, is_down: Callable[[], bool] | None = None,
                 reset_down: Callable[[], None] | None = None, protect: set[str] | None = None):
        self.post = post
        self.methods = [m for m in doc["methods"] if m["name"] != "rpc.discover"]
        self.identities = identities
        self.rng = random.Random(seed)
        self.gen = Generator(self.rng)
        self.batch_size = batch_size
        self.is_down = is_down or (lambda: False)  # has the server marked the database as down?
        self.reset_down = reset_down or (lambda: None)
        self.protect = protect or set()  # ids never aimed at (the identities' own: deactivating them ends the run)
        self.stats = Stats()
        self._ids = 0

    def harvest(self, value: Any) -> None:
        stack = [value]
        while stack and len(self.gen.uuids) < 500:
            item = stack.pop()
            if isinstance(item, str) and UUID_RE.match(item) and item not in self.gen.uuids \
                    and item not in self.protect:
                self.gen.uuids.append(item)
            elif isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item[:50])

    def finding(self, kind: str, identity: str, method: str, params: Any, answer: Any) -> None:
        self.stats.findings.append(Finding(kind, identity, method, preview(params), preview(answer, 500)))

    def check_answer(self, identity: str, call: dict, answer: Any) -> None:
        method, params = call.get("method", "?"), call.get("params")
        if not isinstance(answer, dict) or answer.get("jsonrpc") != "2.0" \
                or ("result" in answer) == ("error" in answer):
            self.finding("malformed_answer", identity, method, params, answer)
            return
        if "result" in answer:
            self.stats.codes[0] += 1
            self.harvest(answer["result"])
            return
        error = answer["error"]
        code = error.get("code") if isinstance(error, dict) else None
        self.stats.codes[code] += 1
        if code in BAD_CODES:
            self.finding(BAD_CODES[code], identity, method, params, error)
        elif code == -32602 and (error.get("data") or {}).get("reason") in FIELD_REASONS \
                and not isinstance(error["data"].get("field"), str):
            self.finding("field_not_named", identity, method, params, error)

    async def send(self, identity: str, calls: list[dict]) -> None:
        """One batch (or a single call); on a bad answer, each call again alone to name the culprit."""
        token = self.identities[identity]
        body = encode(calls if len(calls) > 1 else calls[0])
        status, raw = await self.post(body, token)
        self.stats.posts += 1
        self.stats.calls += len(calls)
        problem = None
        answers: Any = None
        if status >= 500:
            problem = f"HTTP {status}"
        elif status == 413:
            return  # the body limit, judged before parsing
        else:
            try:
                answers = strict_json(raw) if raw else None
            except (ValueError, UnicodeDecodeError) as exc:
                problem = f"not strict JSON ({exc}): {raw[:200]!r}"
        if problem is None and status == 200:
            answers = answers if isinstance(answers, list) else [answers]
            by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
            if len(calls) > 1 and len(answers) == 1 and answers[0].get("id") is None and "error" in answers[0]:
                # the batch as a whole was refused (too deep …): judge that one answer, then the calls alone
                self.check_answer(identity, {"method": "(batch)", "params": "…"}, answers[0])
                for call in calls:
                    await self.send(identity, [call])
                return
            for call in calls:
                answer = by_id.get(call["id"])
                if answer is None:
                    self.finding("missing_answer", identity, call["method"], call.get("params"), answers)
                else:
                    self.check_answer(identity, call, answer)
        elif problem is None and status not in (200, 204):
            self.stats.codes[f"HTTP {status}"] += 1
        if problem is not None:
            if len(calls) > 1:
                for call in calls:
                    await self.send(identity, [call])
            else:
                self.finding("bad_http_answer", identity, calls[0].get("method", "?"), calls[0].get("params"), problem)
        if self.is_down():
            self.reset_down()
            if len(calls) > 1:  # which call was it? each alone again
                for call in calls:
                    await self.send(identity, [call])
            else:
                self.finding("database_marked_down", identity, calls[0].get("method", "?"), calls[0].get("params"),
                             "the server marked the database as down")

    def make_call(self, method: dict) -> dict:
        self._ids += 1
        params, _ = self.gen.params(method)
        call = {"jsonrpc": "2.0", "method": method["name"], "id": self._ids}
        if params is not None or self.rng.random() < 0.5:
            call["params"] = params
        return call

    async def run_batches(self, identity: str, methods: list[dict], per_method: int) -> None:
        calls = [self.make_call(m) for m in methods for _ in range(per_method)]
        self.rng.shuffle(calls)
        batch: list[dict] = []
        size = 0
        for call in calls:
            n = len(encode(call))
            if batch and (len(batch) >= self.batch_size or size + n > MAX_BODY):
                await self.send(identity, batch)
                batch, size = [], 0
            batch.append(call)
            size += n
        if batch:
            await self.send(identity, batch)

    async def run_bodies(self) -> None:
        for body in malformed_bodies(self.rng):
            identity = self.pick_identity()
            status, raw = await self.post(body, self.identities[identity])
            self.stats.posts += 1
            self.stats.calls += 1
            label = repr(body[:100]) + (f"…({len(body)} bytes)" if len(body) > 100 else "")
            if status >= 500:
                self.finding("bad_http_answer", identity, "(raw body)", label, f"HTTP {status}")
                continue
            try:
                answer = strict_json(raw) if raw else None
            except (ValueError, UnicodeDecodeError) as exc:
                self.finding("bad_http_answer", identity, "(raw body)", label, f"not strict JSON: {exc}")
                continue
            for a in answer if isinstance(answer, list) else [answer] if answer is not None else []:
                code = a.get("error", {}).get("code") if isinstance(a, dict) else None
                self.stats.codes[code if code is not None else 0] += 1
                if code in BAD_CODES:
                    self.finding(BAD_CODES[code], identity, "(raw body)", label, a)

    def pick_identity(self) -> str:
        return self.gen.pick(list(self.identities))

    async def run(self, rounds: int = 1, per_method: int = 3, seconds: float | None = None,
                  concurrency: int = 2) -> Stats:
        """`rounds` passes (or until `seconds` are up): each identity calls each method per_method times."""
        started = time.perf_counter()
        await self.run_bodies()
        done = 0
        while True:
            jobs = [self.run_batches(identity, self.methods, per_method) for identity in self.identities]
            for i in range(0, len(jobs), concurrency):
                await asyncio.gather(*jobs[i:i + concurrency])
            done += 1
            elapsed = time.perf_counter() - started
            if (seconds is None and done >= rounds) or (seconds is not None and elapsed >= seconds):
                break
        self.stats.seconds = time.perf_counter() - started
        return self.stats


# ---------------------------------------------------------------------------------------------
# Fixtures the fuzzer can aim at: real rows, so that generated ids often exist
# ---------------------------------------------------------------------------------------------

async def seed_rows(call: Callable[[str, dict, str | None], Awaitable[Any]], instructor: str, student: str) -> None:
    """A published free course with a lesson, a published quiz with a question, an assignment, the student
    enrolled with an attempt and a submission. Best effort: a step that fails is skipped."""

    async def ok(method: str, params: dict, token: str | None) -> dict:
        try:
            result = await call(method, params, token)
        except Exception:  # noqa: BLE001 — a seed step may fail as the API evolves; the fuzz still runs
            return {}
        return result if isinstance(result, dict) else {}

    course = await ok("course.create", {"title": "Fuzz course", "price_cents": 0, "tags": ["fuzz"]}, instructor)
    paid = await ok("course.create", {"title": "Fuzz paid", "price_cents": 1500}, instructor)
    course_id = course.get("id")
    if not course_id:
        return
    lesson = await ok("lesson.create", {"course_id": course_id, "title": "L1", "content": "text"}, instructor)
    await ok("lesson.publish", {"lesson_id": lesson.get("id")}, instructor)
    await ok("course.publish", {"course_id": course_id}, instructor)
    if paid.get("id"):
        await ok("lesson.publish", {"lesson_id": (await ok("lesson.create", {"course_id": paid["id"], "title": "P"},
                                                             instructor)).get("id")}, instructor)
        await ok("course.publish", {"course_id": paid["id"]}, instructor)
    quiz = await ok("quiz.create", {"course_id": course_id, "title": "Q", "max_attempts": 100}, instructor)
    await ok("quiz.add_question", {"quiz_id": quiz.get("id"), "question_text": "2+2?", "question_type":
                                   "multiple_choice", "options": ["3", "4"], "correct_answer": "4"}, instructor)
    await ok("quiz.publish", {"quiz_id": quiz.get("id")}, instructor)
    assignment = await ok("assignment.create", {"course_id": course_id, "title": "A", "points": 10}, instructor)
    await ok("enrollment.enroll", {"course_id": course_id}, student)
    await ok("attempt.start", {"quiz_id": quiz.get("id")}, student)
    await ok("submission.submit", {"assignment_id": assignment.get("id"), "content": "work"}, student)


# ---------------------------------------------------------------------------------------------
# The command: its own cluster and server
# ---------------------------------------------------------------------------------------------

async def run_command(args: argparse.Namespace) -> int:
    import aiohttp
    import psycopg
    from aiohttp import web

    from rpc.core.config import Settings
    from rpc.db.cluster import Cluster, free_port
    from rpc.db.migrate import Migrator
    from rpc.http.app import SERVICE, create_app

    workdir = Path(tempfile.mkdtemp(prefix="lms-fuzz-"))
    workdir.chmod(0o755)
    cluster = Cluster(workdir / "pg", durable=False)
    cluster.init()
    cluster.start()
    runner = None
    try:
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
            conn.execute("create database fuzz")
            conn.execute("alter database fuzz set lms.bcrypt_cost = '4'")
        url = cluster.url("fuzz")
        migrator = Migrator(url)
        migrator.migrate()
        migrator.close()
        relax_rate_limits(url)
        settings = Settings(_env_file=None, database_url=None, jwt_secret="fuzz-" + uuid.uuid4().hex * 2,
                            home=workdir / "home", pool_min_size=2, pool_max_size=8)
        app = create_app(settings, cluster.url("fuzz", "lms_authenticator"))
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        base = f"http://127.0.0.1:{port}/rpc"
        service = app[SERVICE]
        tokens: dict[str, str | None] = {"anonymous": None}
        user_ids: set[str] = set()
        with psycopg.connect(url, autocommit=True) as conn:
            for role in ("student", "instructor", "admin"):
                (uid,) = conn.execute(
                    "insert into app.users (email, password_hash, full_name, role) values "
                    "(%s, public.crypt('fuzz-password-1', public.gen_salt('bf', 4)), %s, %s) returning id",
                    [f"{role}@fuzz.test", f"Fuzz {role}", role]).fetchone()
                if role in ("instructor", "admin"):
                    conn.execute(f"insert into app.{role}s (user_id) values (%s) on conflict do nothing", [uid])  # noqa: S608
                tokens[role], _ = service.tokens.sign({"sub": str(uid), "role": role})
                user_ids.add(str(uid))
        async with aiohttp.ClientSession() as session:
            post = make_poster(session, base)
            doc = await call_ok(post, "rpc.discover", {}, None)
            await seed_rows(lambda m, p, t: call_ok(post, m, p, t), tokens["instructor"], tokens["student"])
            fuzzer = Fuzzer(post, doc, tokens, seed=args.seed, batch_size=args.batch,
                            is_down=lambda: service.db.suspect_down,
                            reset_down=lambda: setattr(service.db, "suspect_down", False), protect=user_ids)
            stats = await fuzzer.run(seconds=args.seconds, per_method=args.per_method)
        print(stats.summary())
        print(f"seed {args.seed}; {len(fuzzer.methods)} methods; identities: {', '.join(tokens)}")
        for finding in stats.findings:
            print(finding)
        return 1 if stats.findings else 0
    finally:
        if runner is not None:
            await runner.cleanup()
        cluster.stop("immediate")
        shutil.rmtree(workdir, ignore_errors=True)


def relax_rate_limits(database_url: str) -> None:
    """The per-address budget would soon answer every fuzz call with 429 before it reaches a function."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        if conn.execute("select to_regclass('app.rate_limits')").fetchone()[0] is not None:
            conn.execute("update app.rate_limits set max_cost = 1000000000")


def make_poster(session: Any, url: str) -> Poster:
    async def post(body: bytes, token: str | None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with session.post(url, data=body, headers=headers) as resp:
            return resp.status, await resp.read()

    return post


async def call_ok(post: Poster, method: str, params: dict, token: str | None) -> Any:
    status, raw = await post(encode({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}), token)
    answer = json.loads(raw)
    if "result" not in answer:
        raise RuntimeError(f"{method}: {answer}")
    return answer["result"]


def main() -> int:
    # The server's own error log (rpc.errors: each -32603 with its log id) stays visible; psycopg's notes
    # about pipelines closed by a failed call are noise here.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("psycopg").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=50, help="calls per POST (the server allows 50)")
    parser.add_argument("--per-method", type=int, default=3, help="calls per method and identity in each round")
    return asyncio.run(run_command(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
