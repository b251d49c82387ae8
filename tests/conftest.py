"""Test harness: one throw-away PostgreSQL cluster per run, migrated once into a template
database; every test that asks for `db` gets a fresh clone of it; `rpc` serves the real aiohttp
app over HTTP on that database; `users` creates users and signs their access tokens."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psycopg
import pytest
from aiohttp import web
from psycopg import sql

from rpc.core.config import Settings
from rpc.db.cluster import Cluster, free_port
from rpc.db.migrate import Migrator
from rpc.http.app import create_app
from rpc.http.service import SERVICE

# Fixtures shared by several test modules live beside their helpers.
pytest_plugins = ["tests.helpers.files", "tests.helpers.foundation", "tests.helpers.pgbouncer"]

TEMPLATE = "lms_template"


class ResultChecker:
    """Validates every JSON-RPC result the tests see against the result schema its method declares
    (rpc.discover), so a declaration cannot drift from the SQL that builds the JSON. (The published
    examples are recorded on the demo data instead: tests/helpers/examples.py, `make examples`.)"""

    def __init__(self) -> None:
        self.validators: dict[int, dict] = {}
        self.seen: dict[str, int] = {}
        self.samples: dict[str, list] = {}

    def _validators(self, app) -> dict:
        key = id(app)
        if key not in self.validators:
            from jsonschema import Draft7Validator, FormatChecker

            from rpc.core import openrpc
            from rpc.http.service import SERVICE

            doc = openrpc.document(app[SERVICE].methods, "http://test.invalid/rpc")
            components = doc.get("components", {})
            self.validators[key] = {
                m["name"]: Draft7Validator({"allOf": [m["result"]["schema"]], "components": components},
                                           format_checker=FormatChecker())
                for m in doc["methods"]}
        return self.validators[key]

    def check(self, body, answer, app) -> None:
        requests = body if isinstance(body, list) else [body]
        answers = answer if isinstance(answer, list) else [answer]
        methods = {json.dumps(r.get("id")): r for r in requests if isinstance(r, dict) and "id" in r}
        validators = self._validators(app)
        for a in answers:
            if not isinstance(a, dict) or "result" not in a:
                continue
            request = methods.get(json.dumps(a.get("id")))
            if request is None or request.get("method") not in validators:
                continue
            name = request["method"]
            errors = sorted(validators[name].iter_errors(a["result"]), key=lambda e: list(e.path))
            assert not errors, (f"{name}: result contradicts its declared schema at "
                                f"{'/'.join(map(str, errors[0].path))}: {errors[0].message}")
            self.seen[name] = self.seen.get(name, 0) + 1
            if os.environ.get("LMS_RECORD_RESULTS") and len(self.samples.setdefault(name, [])) < 50:
                self.samples[name].append(a["result"])


RESULTS = ResultChecker()


def pytest_sessionfinish(session):
    path = os.environ.get("LMS_RECORD_RESULTS")  # a development aid: every result seen, per method
    if path and RESULTS.samples:
        Path(path).write_text(json.dumps(RESULTS.samples, sort_keys=True, default=str) + "\n")


TEST_PASSWORD = "correct horse battery staple"


@dataclass
class TestDatabase:
    cluster: Cluster
    name: str

    @property
    def url(self) -> str:
        """Superuser URL (bypasses RLS): for setup and inspection."""
        return self.cluster.url(self.name)

    @property
    def server_database_url(self) -> str:
        return self.cluster.url(self.name, "lms_authenticator")

    def connect(self, user: str = "postgres", **kwargs) -> psycopg.Connection:
        kwargs.setdefault("autocommit", True)
        return psycopg.connect(self.cluster.url(self.name, user), **kwargs)

    def execute(self, query, params=None) -> list[tuple]:
        """Run one statement as superuser; rows if it returns any."""
        with self.connect() as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []


@pytest.fixture(scope="session")
def pg_cluster():
    root = Path(tempfile.mkdtemp(prefix="lms-test-"))
    root.chmod(0o755)
    cluster = Cluster(root / "pg", durable=False)
    cluster.init()
    cluster.start()
    yield cluster
    cluster.stop("immediate")
    shutil.rmtree(root, ignore_errors=True)


def create_database(cluster: Cluster, name: str, template: str | None = None) -> None:
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        q = sql.SQL("create database {}").format(sql.Identifier(name))
        if template:
            q = sql.SQL("{} template {}").format(q, sql.Identifier(template))
        conn.execute(q)


def drop_database(cluster: Cluster, name: str) -> None:
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def template_db(pg_cluster) -> str:
    create_database(pg_cluster, TEMPLATE)
    migrator = Migrator(pg_cluster.url(TEMPLATE))
    try:
        migrator.migrate()
    finally:
        migrator.close()
    return TEMPLATE


@pytest.fixture
def db(pg_cluster, template_db):
    name = f"t_{uuid.uuid4().hex[:16]}"
    create_database(pg_cluster, name, template_db)
    with psycopg.connect(pg_cluster.url(name), autocommit=True) as conn:
        # Tests create many users: the cheapest bcrypt cost (per-database settings are not cloned).
        conn.execute(sql.SQL("alter database {} set lms.bcrypt_cost = '4'").format(sql.Identifier(name)))
    yield TestDatabase(pg_cluster, name)
    drop_database(pg_cluster, name)


class RpcClient:
    def __init__(self, base: str, session: aiohttp.ClientSession, app: web.Application):
        self.base = base
        self.session = session
        self.app = app
        self._ids = 0

    @property
    def service(self):
        return self.app[SERVICE]

    async def post(self, body, token: str | None = None, headers: dict | None = None, path: str = "/rpc"):
        """Raw POST: body is bytes/str (sent as is) or JSON-serialisable. → (status, parsed JSON or None).
        Every result of a call sent as JSON is checked against its method's declared result schema."""
        h = {"Content-Type": "application/json", **(headers or {})}
        if token:
            h["Authorization"] = f"Bearer {token}"
        kwargs = {"data": body} if isinstance(body, (bytes, str)) else {"json": body}
        async with self.session.post(self.base + path, headers=h, **kwargs) as resp:
            text = await resp.text()
            answer = None if not text else json.loads(text)
        if path == "/rpc" and not isinstance(body, (bytes, str)) and answer is not None:
            RESULTS.check(body, answer, self.app)
        return resp.status, answer

    async def call(self, method: str, params=None, token: str | None = None) -> dict:
        """One JSON-RPC call → the whole response object ({result} or {error})."""
        self._ids += 1
        body = {"jsonrpc": "2.0", "method": method, "params": params or {}, "id": self._ids}
        status, response = await self.post(body, token)
        assert status == 200, (status, response)
        return response

    async def ok(self, method: str, params=None, token: str | None = None):
        """A call that must succeed → its result."""
        response = await self.call(method, params, token)
        assert "result" in response, response
        return response["result"]

    async def error(self, method: str, params=None, token: str | None = None) -> dict:
        """A call that must fail → its error object."""
        response = await self.call(method, params, token)
        assert "error" in response, response
        return response["error"]

    async def get(self, path: str):
        async with self.session.get(self.base + path) as resp:
            return resp.status, await resp.read()


def make_settings(**overrides) -> Settings:
    base = dict(jwt_secret="test-secret-key-for-the-suite-only-" + "0123456789abcdef" * 2,
                home=Path(tempfile.gettempdir()) / "lms",
                pool_min_size=2, pool_max_size=8)
    base.update(overrides)
    return Settings(_env_file=None, database_url=None, **base)


async def start_server(server_database_url: str, settings: Settings):
    app = create_app(settings, server_database_url)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    return app, runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def rpc(db):
    app, runner, base = await start_server(db.server_database_url, make_settings())
    async with aiohttp.ClientSession() as session:
        yield RpcClient(base, session, app)
    await runner.cleanup()


@dataclass
class User:
    id: str
    email: str
    role: str
    token: str
    password: str = TEST_PASSWORD


class Users:
    def __init__(self, db: TestDatabase, rpc: RpcClient):
        self.db = db
        self.rpc = rpc
        self._n = 0

    async def make(self, role: str = "student", email: str | None = None, full_name: str | None = None) -> User:
        """A user inserted directly (as superuser) with a signed access token."""
        self._n += 1
        email = email or f"{role}{self._n}-{uuid.uuid4().hex[:6]}@example.test"
        with self.db.connect() as conn:  # the one way users are made: internal.create_user (role rows by trigger)
            name = full_name or f"Test {role.title()} {self._n}"
            (uid,) = conn.execute("select internal.create_user(%s, %s, %s, %s)",
                                  [email, TEST_PASSWORD, name, role]).fetchone()
        token, _ = self.rpc.service.tokens.sign({"sub": str(uid), "role": role})
        return User(str(uid), email, role, token)


@pytest.fixture
async def users(db, rpc):
    return Users(db, rpc)


@pytest.fixture
def analyst(db):
    """`analyst(user_id) → login`: a PostgreSQL login in lms_analyst linked to that LMS user (as
    `lms analyst grant` makes one); dropped after the test (roles are cluster-wide)."""
    logins: list[str] = []

    def link(user_id) -> str:
        login = f"analyst_{uuid.uuid4().hex[:8]}"
        db.execute(sql.SQL("create role {} login in role lms_analyst").format(sql.Identifier(login)))
        logins.append(login)
        db.execute("insert into app.analyst_logins (login_name, user_id) values (%s, %s)", [login, user_id])
        return login

    yield link
    for login in logins:
        db.execute("delete from app.analyst_logins where login_name = %s", [login])
        db.execute(sql.SQL("drop owned by {}").format(sql.Identifier(login)))
        db.execute(sql.SQL("drop role {}").format(sql.Identifier(login)))



os.environ.setdefault("PGCONNECT_TIMEOUT", "10")
