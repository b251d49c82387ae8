"""A PgBouncer in front of the test cluster (transaction pooling)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from rpc.db.cluster import free_port
from tests.helpers.fixtures import fixture_sql

SETUP = fixture_sql("pgbouncer_setup")


@pytest.fixture
def pgbouncer(db):
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    assert Path(binary).exists(), "pgbouncer not installed: apt-get install pgbouncer"
    root = Path(tempfile.mkdtemp(prefix="lms-pgbouncer-"))
    port = free_port()
    (root / "userlist.txt").write_text('"lms_authenticator" ""\n')
    (root / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={db.cluster.socket_dir} port={db.cluster.port}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {root}/userlist.txt\n"
        "pool_mode = transaction\ndefault_pool_size = 3\nmax_client_conn = 100\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
        f"logfile = {root}/pgbouncer.log\npidfile = {root}/pgbouncer.pid\n"
    )
    cmd = [binary, str(root / "pgbouncer.ini")]
    if os.geteuid() == 0:  # pgbouncer refuses to run as root
        pw = pwd.getpwnam("postgres")
        for p in [root, *root.iterdir()]:
            os.chown(p, pw.pw_uid, pw.pw_gid)
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"postgresql://lms_authenticator@127.0.0.1:{port}/{db.name}"
    deadline = time.monotonic() + 15
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            break
        except psycopg.OperationalError:
            log = root / "pgbouncer.log"
            assert time.monotonic() < deadline, log.read_text() if log.exists() else "pgbouncer did not start"
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(10)
    shutil.rmtree(root, ignore_errors=True)
