"""A scratch database per test and a normalised schema dump (migrations vs sql/schema)."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from rpc.db.cluster import find_bindir
from tests.conftest import create_database, drop_database


def schema_dump(cluster, dbname: str) -> str:
    out = subprocess.run(
        [str(find_bindir() / "pg_dump"), "--schema-only",
         "-h", str(cluster.socket_dir), "-p", str(cluster.port), "-U", "postgres",
         "--exclude-table=public._yoyo*", "--exclude-table=public.yoyo_lock", dbname],
        capture_output=True, text=True, check=True,
    )
    lines = [line for line in out.stdout.splitlines()
             if line.strip() and not line.startswith(("--", "\\restrict", "\\unrestrict"))]
    return "\n".join(lines)


@pytest.fixture
def scratch(pg_cluster):
    names = []

    def make() -> str:
        name = f"s_{uuid.uuid4().hex[:12]}"
        create_database(pg_cluster, name)
        names.append(name)
        return name

    yield make
    for name in names:
        drop_database(pg_cluster, name)
