"""An embedded PostgreSQL cluster run from the machine's server binaries.

Used when DATABASE_URL is unset (`lms db up`, `lms serve`) and by the test suite. The
cluster listens on a unix socket only (in its own directory) on a free port number; local
connections use trust authentication, which is safe because only the socket directory's
owner can reach it. Running as root, the server runs as the unprivileged `postgres` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "postgres"
DATABASE = "lms"


class ClusterError(RuntimeError):
    pass


def find_bindir() -> Path:
    """Directory holding initdb/pg_ctl/postgres: PG_BINDIR, pg_config, Debian's layout, PATH."""
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    candidates += [Path(p) for p in versions]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    for c in candidates:
        if (c / "initdb").is_file() and (c / "pg_ctl").is_file() and (c / "postgres").is_file():
            return c
    raise ClusterError(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found via PG_BINDIR, pg_config, "
        "/usr/lib/postgresql/*/bin or PATH. Install them, e.g. `apt-get install postgresql-15` "
        "(Debian/Ubuntu), or set DATABASE_URL to an existing server."
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    """A cluster in `root`: data in root/data, socket in root/socket, port in root/port."""

    root: Path
    durable: bool = True  # False for throw-away test clusters: no fsync

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def port(self) -> int:
        return int((self.root / "port").read_text())

    def url(self, dbname: str = DATABASE, user: str = SUPERUSER) -> str:
        return f"postgresql://{user}@/{dbname}?host={self.socket_dir}&port={self.port}"

    # -- process helpers -------------------------------------------------------------
    def _run_as(self) -> str | None:
        """As root the server must run unprivileged: return that user's name (else None)."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam("postgres")
        except KeyError as exc:
            raise ClusterError("running as root needs a `postgres` system user to run the server") from exc
        return "postgres"

    def _cmd(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess:
        user = self._run_as()
        if user:
            args = ["runuser", "-u", user, "--", *args]
        out = subprocess.run(args, capture_output=True, text=True, check=False)
        if check and out.returncode != 0:
            raise ClusterError(f"{' '.join(args)} failed:\n{out.stdout}{out.stderr}")
        return out

    def _chown(self, path: Path) -> None:
        user = self._run_as()
        if user:
            pw = pwd.getpwnam(user)
            for p in [path, *path.rglob("*")]:
                os.chown(p, pw.pw_uid, pw.pw_gid)

    # -- life cycle --------------------------------------------------------------------
    def exists(self) -> bool:
        return (self.data / "PG_VERSION").is_file()

    def init(self) -> None:
        bindir = find_bindir()
        # Directories 0700 and files 0600 (the server's log may hold what clients sent in error).
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.root.chmod(0o700)
        self.socket_dir.mkdir(exist_ok=True, mode=0o700)
        self.socket_dir.chmod(0o700)
        _write_private(self.root / "port", str(free_port()))
        self.data.mkdir(exist_ok=True, mode=0o700)
        self._chown(self.root)
        self._cmd([str(bindir / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "-A", "trust",
                   "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        conf = self.data / "postgresql.conf"
        with conf.open("a") as f:
            f.write(
                "\n# lms embedded cluster\n"
                "listen_addresses = ''\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                "max_connections = 200\n"
                "shared_buffers = 128MB\n"
                + ("" if self.durable else "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
                + "log_min_messages = warning\n"
            )
        self._chown(self.data)

    def is_running(self) -> bool:
        if not self.exists():
            return False
        out = self._cmd([str(find_bindir() / "pg_ctl"), "-D", str(self.data), "status"], check=False)
        return out.returncode == 0

    def start(self) -> None:
        if self.is_running():
            return
        port = self.port
        log = self.root / "server.log"
        if not log.exists():
            _write_private(log, "")
        log.chmod(0o600)
        self._chown(log)
        self._cmd([str(find_bindir() / "pg_ctl"), "-D", str(self.data), "-l", str(log), "-w", "-t", "60",
                   "-o", f"-p {port}", "start"])

    def stop(self, mode: str = "fast") -> None:
        if self.is_running():
            self._cmd([str(find_bindir() / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])

    def up(self) -> None:
        """Create the cluster the first time, start it, and make sure the database exists."""
        if not self.exists():
            self.init()
        self.start()
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            if not conn.execute("select 1 from pg_database where datname = %s", [DATABASE]).fetchone():
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(DATABASE)))


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def default_cluster(home: Path) -> Cluster:
    """The embedded cluster of this LMS_HOME (Settings.home: the environment or .env, like every setting)."""
    return Cluster(Path(home).absolute() / "pg")


def database_url(settings, start: bool = True) -> str:
    """DATABASE_URL, or the embedded cluster's URL (created and started when `start`)."""
    if settings.database_url:
        return settings.database_url
    cluster = default_cluster(settings.home)
    if start:
        cluster.up()
    return cluster.url()
