"""The examples that rpc.discover and GET / publish are what the demo answers today.

tests/helpers/examples.py walks every method on a freshly seeded demo database (`make serve`'s data,
fixed ids) as the people of the demo; the committed rpc/openrpc_examples.json must equal that walk up
to what changes from run to run (the clock, ids made during the walk, certificate numbers, ports).
A changed result field, a renamed param or a new method fails here: re-record with `make examples`."""

from __future__ import annotations

import json

from rpc.db import demo
from tests.helpers import examples


async def test_published_examples_are_what_the_demo_answers(db, tmp_path, capsys):
    demo.seed(db.url)
    live = await examples.record(db.url, db.server_database_url, tmp_path / "home")
    committed = json.loads(examples.EXAMPLES.read_text())
    assert set(committed) == set(live), (f"methods without a recorded example: {sorted(set(live) - set(committed))}; "
                                         f"examples of no method: {sorted(set(committed) - set(live))} — run `make "
                                         "examples`")
    want, got = examples.comparable(committed), examples.comparable(live)
    stale = [name for name in want if want[name] != got[name]]
    assert not stale, (f"{len(stale)} published example(s) differ from what the demo answers — run `make examples`: "
                       f"{', '.join(stale)}; "
                       f"first: {stale[0]}\ncommitted: {json.dumps(want[stale[0]], sort_keys=True)}\n"
                       f"live:      {json.dumps(got[stale[0]], sort_keys=True)}")
