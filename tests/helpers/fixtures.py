"""SQL the tests install in their throw-away databases (api.test_* functions, pgbouncer's auth set-up):
kept as .sql files in tests/fixtures/, where an editor and squawk-free eyes read them as SQL."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixture_sql(name: str) -> str:
    """The text of tests/fixtures/<name>.sql."""
    return (FIXTURES / f"{name}.sql").read_text()
