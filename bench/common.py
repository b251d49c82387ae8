"""What the benches share: a throw-away migrated cluster, `lms serve` processes (this tree's, or another
commit's for a before/after in one run), PgBouncer in transaction mode, wrk and pgbench runs, and the
server's CPU time read from /proc."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import jwt
import psycopg
from psycopg import sql

from rpc.db.cluster import Cluster, find_bindir, free_port
from rpc.db.migrate import Migrator

SECRET = "bench-secret-" + uuid.uuid4().hex
METRICS_TOKEN = "bench-metrics-" + uuid.uuid4().hex
CLK_TCK = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")


def token_for(user_id: str, role: str = "student") -> str:
    now = int(time.time())
    return jwt.encode({"sub": user_id, "role": role, "iat": now, "exp": now + 36000, "typ": "access"},
                      SECRET, algorithm="HS256")


def source_tree(ref: str, workdir: Path) -> Path:
    """The package tree of a commit (`git archive`), to run its server next to this one's."""
    target = workdir / f"src-{re.sub(r'[^A-Za-z0-9]', '_', ref)}"
    target.mkdir()
    root = Path(__file__).resolve().parent.parent
    archive = subprocess.run(["git", "-C", str(root), "archive", ref], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def migrate_database(url: str, source: Path | None = None) -> None:
    """Migrate a database with this tree's migrations, or with another commit's (a `source_tree`), in a
    child process so that the two trees' modules never meet."""
    code = "import sys; from rpc.db.migrate import Migrator; m = Migrator(sys.argv[1]); m.migrate(); m.close()"
    env = {**os.environ, "PYTHONPATH": str(source or Path(__file__).resolve().parent.parent)}
    subprocess.run([sys.executable, "-c", code, url], env=env, cwd=str(source or Path.cwd()), check=True)


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its live children."""
    total = 0.0
    pids = [pid]
    with contextlib.suppress(OSError):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    for p in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def process_tree_rss(pid: int) -> int:
    """Resident memory in KiB of a process and its live children (summed)."""
    total = 0
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        with contextlib.suppress(OSError):
            m = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{p}/status").read_text(), re.M)
            total += int(m.group(1)) if m else 0
    return total


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    label: str

    def cpu(self) -> float:
        return process_tree_cpu(self.process.pid)

    def rss_kib(self) -> int:
        return process_tree_rss(self.process.pid)


@dataclass
class Bench:
    """A migrated database `bench` in a throw-away cluster, with one student and its token."""

    workdir: Path
    cluster: Cluster
    url: str
    user_id: str = ""
    token: str = ""
    servers: list[Server] = field(default_factory=list)
    bouncers: list[subprocess.Popen] = field(default_factory=list)

    @property
    def authenticator_url(self) -> str:
        return self.cluster.url("bench", "lms_authenticator")

    def start_server(self, label: str = "this tree", source: Path | None = None, workers: int = 1,
                     pool_size: int = 8, server_database_url: str | None = None) -> Server:
        port = free_port()
        env = {**os.environ, "LMS_ENVIRONMENT": "development",
               "DATABASE_URL": self.url, "LMS_PORT": str(port), "LMS_JWT_SECRET": SECRET,
               "LMS_POOL_MIN_SIZE": str(pool_size), "LMS_POOL_MAX_SIZE": str(pool_size),
               "LMS_WORKERS": str(workers), "LMS_METRICS_TOKEN": METRICS_TOKEN}
        if server_database_url:
            env["LMS_SERVER_DATABASE_URL"] = server_database_url
        if source is not None:
            env["PYTHONPATH"] = str(source)
        process = subprocess.Popen([sys.executable, "-m", "rpc"], env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, cwd=str(source or self.workdir))
        server = Server(process, f"http://127.0.0.1:{port}/rpc", label)
        self.servers.append(server)
        deadline = time.monotonic() + 60
        while subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/ready"], capture_output=True).returncode:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"server {label} did not become ready")
            time.sleep(0.3)
        return server

    def stop_server(self, server: Server) -> None:
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(60)
        self.servers.remove(server)

    def start_pgbouncer(self, pool_size: int = 8) -> str:
        """PgBouncer 1.18 in transaction mode in front of the cluster; its URL for the authenticator."""
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        root = Path(tempfile.mkdtemp(prefix="pgbouncer-", dir=self.workdir))
        port = free_port()
        (root / "userlist.txt").write_text('"lms_authenticator" ""\n')
        (root / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={self.cluster.socket_dir} port={self.cluster.port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {root}/userlist.txt\n"
            f"pool_mode = transaction\ndefault_pool_size = {pool_size}\nmax_client_conn = 500\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
            f"logfile = {root}/pgbouncer.log\npidfile = {root}/pgbouncer.pid\n"
        )
        cmd = [binary, str(root / "pgbouncer.ini")]
        if os.geteuid() == 0:  # pgbouncer refuses to run as root
            pw = pwd.getpwnam("postgres")
            for p in [root, *root.iterdir()]:
                os.chown(p, pw.pw_uid, pw.pw_gid)
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        self.bouncers.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        url = f"postgresql://lms_authenticator@127.0.0.1:{port}/bench"
        deadline = time.monotonic() + 15
        while True:
            try:
                psycopg.connect(url, connect_timeout=2).close()
                return url
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def pgbench(self, script: str, clients: int, seconds: int, name: str) -> dict:
        """pgbench running one script as lms_authenticator over the cluster's socket: tps, p50/p99 ms."""
        path = self.workdir / f"{name}.sql"
        path.write_text(script)
        figures = self.pgbench_files([str(path)], clients, seconds)
        figures["p50"], figures["p99"] = figures["scripts"][name]
        return figures

    def pgbench_files(self, files: list[str], clients: int, seconds: int, calls: dict[int, int] | None = None) -> dict:
        """pgbench over script files (`path@weight`): rate = SQL calls/s (calls: calls per script, by
        index; 1 each by default), failed transactions, and per script p50/p99 ms."""
        logdir = Path(tempfile.mkdtemp(prefix="pgbench-", dir=self.workdir))
        os.chmod(logdir, 0o777)
        cmd = [str(find_bindir() / "pgbench"), "-n", "-h", str(self.cluster.socket_dir), "-p", str(self.cluster.port),
               "-U", "lms_authenticator", "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds),
               *[a for f in files for a in ("-f", f)], "-l", "--log-prefix", str(logdir / "log"), "bench"]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=logdir)
        # A client pgbench aborts (an error it does not retry, e.g. a statement timeout on an overloaded
        # machine) is counted as an error; the others' figures still stand. Anything else is fatal.
        aborted = len(re.findall(r"^pgbench: error: client \d+ .*aborted", out.stderr, re.M))
        if out.returncode != 0 and not (aborted and "number of transactions actually processed" in out.stdout):
            raise RuntimeError(out.stdout + out.stderr)
        latencies: dict[int, list[float]] = {}
        for f in logdir.glob("log*"):
            for line in f.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 4:
                    latencies.setdefault(int(parts[3]), []).append(int(parts[2]) / 1000.0)
        total = sum(len(v) * (calls or {}).get(i, 1) for i, v in latencies.items())
        failed = re.search(r"number of failed transactions: (\d+)", out.stdout)
        names = [Path(f.split("@")[0]).name for f in files]
        return {"rate": total / seconds, "errors": (int(failed.group(1)) if failed else 0) + aborted,
                "scripts": {names[i].removesuffix(".sql").removeprefix("mix-"): (percentile(v, 50), percentile(v, 99))
                            for i, v in sorted(latencies.items())}}


def run_wrk(url: str, token: str, body: str, clients: int, seconds: int, workdir: Path) -> dict:
    """wrk POSTing one body: requests/s, p50/p99 ms, non-2xx count."""
    script = workdir / "call.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
    )
    out = subprocess.run(["wrk", "-t", str(min(clients, 2)), "-c", str(clients), "-d", f"{seconds}s",
                          "--latency", "-s", str(script), url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))

    def lat(pct: str) -> float:
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rate": rps, "requests": total, "p50": lat("50"), "p99": lat("99"),
            "errors": int(errors.group(1)) if errors else 0}


def shared_pipelines(server: Server) -> tuple[float, float]:
    """(calls, pipelines) the server has sent in shared pipelines so far (its lms_db_pipeline_calls
    histogram; zeros for a server without one, e.g. an older commit)."""
    try:
        scrape = urllib.request.Request(server.url.replace("/rpc", "/metrics"),
                                        headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        with urllib.request.urlopen(scrape, timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return 0.0, 0.0
    found = dict(re.findall(r"^lms_db_pipeline_calls_(sum|count) (\S+)$", text, re.M))
    return float(found.get("sum", 0)), float(found.get("count", 0))


def measure(server: Server, run) -> dict:
    """run() → its figures, plus the server's CPU µs per request and its round trips to PostgreSQL per
    call (a shared pipeline is one round trip for its calls; every other call one) over that run."""
    before, shared_before = server.cpu(), shared_pipelines(server)
    figures = run()
    used = server.cpu() - before
    requests = max(figures.get("requests", 0), 1)
    figures["cpu_us"] = used / requests * 1e6
    calls, pipelines = (after - earlier for after, earlier in zip(shared_pipelines(server), shared_before, strict=True))
    figures["trips_per_call"] = (pipelines + max(requests - calls, 0)) / requests
    return figures


@contextlib.contextmanager
def bench_database(bcrypt_cost: int = 4):
    """A throw-away cluster with a migrated database `bench`, its address budget lifted (the load comes
    from one address), one student; everything started here is stopped on the way out."""
    workdir = Path(tempfile.mkdtemp(prefix="lms-bench-"))
    workdir.chmod(0o755)
    cluster = Cluster(workdir / "pg", durable=False)
    cluster.init()
    cluster.start()
    bench = Bench(workdir, cluster, cluster.url("bench"))
    try:
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
            conn.execute("create database bench")
            conn.execute(sql.SQL("alter database bench set lms.bcrypt_cost = {}").format(sql.Literal(str(bcrypt_cost))))
        migrator = Migrator(bench.url)
        migrator.migrate()
        migrator.close()
        with psycopg.connect(bench.url, autocommit=True) as conn:
            (user_id,) = conn.execute("select internal.create_user('bench@example.test', 'bench-password-1', "
                                      "'Bench', 'student')").fetchone()
            conn.execute("update app.rate_limits set max_cost = 2000000000 where name = 'address'")
        bench.user_id = str(user_id)
        bench.token = token_for(bench.user_id)
        yield bench
    finally:
        for server in list(bench.servers):
            with contextlib.suppress(Exception):
                bench.stop_server(server)
        for bouncer in bench.bouncers:
            bouncer.terminate()
            with contextlib.suppress(Exception):
                bouncer.wait(10)
        cluster.stop("immediate")
        shutil.rmtree(workdir, ignore_errors=True)
