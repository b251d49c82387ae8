"""The documentation cannot rot (issue 27 §2): the site builds with `mkdocs build --strict` (no broken
link or anchor) with its reference pages generated from the database catalog, and the README's
five-minute tour runs as written — every block, in order, in one shell, against a served demo — and
prints the lines the README shows under each block."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from pathlib import Path

import pytest

from rpc.cli import docs
from rpc.db import demo
from rpc.db.migrate import Migrator
from tests import conftest
from tests.conftest import make_settings, start_server

ROOT = Path(__file__).resolve().parent.parent
TOUR = re.compile(r"<!-- tour: (\w+) -->\n```sh\n(.*?)```\n```text\n(.*?)```", re.S)


def test_the_documentation_site_builds_strict(pg_cluster, template_db, tmp_path):
    out = docs.build(pg_cluster.url(template_db), tmp_path / "site")
    api = (out / "reference" / "api" / "index.html").read_text()
    errors = (out / "reference" / "errors" / "index.html").read_text()
    for name in ("order.cancel", "course.list", "auth.login", "attempt.submit"):
        assert f"<code>{name}</code>" in api, name
    for reason in ("order_not_cancelable", "too_many_sockets", "method_not_found"):
        assert reason in errors, reason
    assert "SECURITY DEFINER" not in api  # database internals stay out of the client's reference
    assert (out / "changelog" / "index.html").exists() and (out / "guides" / "dbas" / "index.html").exists()


def test_every_setting_is_in_the_configuration_reference():
    from rpc.core.config import Settings

    page = (ROOT / "docs" / "reference" / "configuration.md").read_text()
    names = ["DATABASE_URL" if n == "database_url" else f"LMS_{n.upper()}" for n in Settings.model_fields]
    assert [n for n in names if f"`{n}`" not in page] == []


def matches(expected: str, line: str) -> bool:
    return line == expected or (expected.endswith("…") and line.startswith(expected[:-1]))


def in_order(expected: list[str], got: list[str]) -> bool:
    lines = iter(got)
    return all(any(matches(e, line) for line in lines) for e in expected)


@pytest.mark.parametrize("page, kinds", [
    ("README.md", ["client", "integrator", "analyst", "dba"]),
    ("docs/guides/course-design.md", ["design"]),  # issue 28: modules, a drip date, a prerequisite, extra time
    ("docs/guides/assessment.md", ["assessment"]),  # issue 29: a bank, a draw, an essay through the queue, a regrade
    ("docs/guides/grades.md", ["grades"]),  # issue 30: weights, a dropped quiz, ungraded work, a final grade
])
async def test_the_tours_run_as_written(pg_cluster, scratch, tmp_path, page, kinds):  # noqa: F811
    blocks = TOUR.findall((ROOT / page).read_text())
    assert [b[0] for b in blocks] == kinds
    name = scratch()
    db = conftest.TestDatabase(pg_cluster, name)
    migrator = Migrator(db.url)
    try:
        migrator.migrate()
    finally:
        migrator.close()
    demo.seed(db.url)
    app, runner, base = await start_server(db.server_database_url, make_settings())
    script = "".join(f"echo '@@ {kind}'\n{code}" for kind, code, _ in blocks)
    env = {**os.environ, "LMS": base, "DATABASE_URL": db.url, "LMS_HOME": str(tmp_path / "home"),
           "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    env.pop("TOKEN", None)
    try:
        proc = await asyncio.create_subprocess_exec("bash", "-euo", "pipefail", "-c", script, cwd=ROOT, env=env,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 180)
    finally:
        await runner.cleanup()
        subprocess.run(["psql", db.url, "-qc", "drop owned by ana; drop role if exists ana"], capture_output=True)
    text = out.decode()
    assert proc.returncode == 0, f"the tour failed (exit {proc.returncode}):\n{text}\n{err.decode()}"
    sections = dict(re.findall(r"^@@ (\w+)\n(.*?)(?=^@@ |\Z)", text, re.S | re.M))
    for kind, _, expected in blocks:
        want = expected.strip().splitlines()
        got = sections[kind].strip().splitlines()
        assert in_order(want, got), f"tour block {kind!r}: expected the lines\n{want}\ngot\n{got}"
