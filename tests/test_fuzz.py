"""Every method, fuzzed from its own OpenRPC param schemas plus hostile values (bench/fuzz.py), as
anonymous, a student, an instructor and an admin: no -32603, no -32000 (the database marked down by
bad input), no HTTP 5xx, nothing but strict JSON. Bounded (a few thousand calls in batches of 50);
`python -m bench.fuzz --seconds 600` runs longer. LMS_FUZZ_SEED picks another seed (default 1); a
failure prints the seed and each offending method with its params."""

from __future__ import annotations

import os

from bench.fuzz import Fuzzer, make_poster, seed_rows

SEED = int(os.environ.get("LMS_FUZZ_SEED", "1"))
ROUNDS = int(os.environ.get("LMS_FUZZ_ROUNDS", "10"))
PER_METHOD = 3


class _Summary:
    """Prints the figures in pytest's terminal summary (also without -s)."""

    def __init__(self, line: str):
        self.line = line

    def pytest_terminal_summary(self, terminalreporter) -> None:
        terminalreporter.write_line(self.line)


async def test_fuzz_every_method(rpc, users, db, request):
    exists = db.execute("select to_regclass('app.rate_limits') is not null")[0][0]
    if exists:  # the per-address budget would soon answer every call with 429 before it reaches a function
        db.execute("update app.rate_limits set max_cost = 1000000000")
    identities = {"anonymous": None}
    protect = set()
    for role in ("student", "instructor", "admin"):
        user = await users.make(role)
        identities[role] = user.token
        protect.add(user.id)
    doc = await rpc.ok("rpc.discover")
    await seed_rows(rpc.ok, identities["instructor"], identities["student"])
    fuzzer = Fuzzer(make_poster(rpc.session, rpc.base + "/rpc"), doc, identities, seed=SEED,
                    is_down=lambda: rpc.service.db.suspect_down,
                    reset_down=lambda: setattr(rpc.service.db, "suspect_down", False), protect=protect)
    stats = await fuzzer.run(rounds=ROUNDS, per_method=PER_METHOD)
    line = f"{stats.summary()} [seed {SEED}, {len(fuzzer.methods)} methods, {len(identities)} identities]"
    print(line)
    request.config.pluginmanager.register(_Summary(line), "lms-fuzz-summary")
    assert not stats.findings, f"seed {SEED}:\n" + "\n".join(str(f) for f in stats.findings[:40])
    assert stats.calls >= 1000 and stats.codes[0] > 0, stats.summary()
