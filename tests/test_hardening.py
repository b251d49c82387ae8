"""Hardening (issue 13): secrets never reach PostgreSQL's log or pg_stat_activity, whole bodies
are read, deactivation bites at once, guessing is throttled per account and address without
letting a stranger lock the owner out, rate limits hold across servers, and nothing outside the
server (an analyst's lock) can stall it."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from pathlib import Path

import aiohttp
import psycopg
import pyotp
import pytest
from psycopg import sql

from tests.conftest import TEST_PASSWORD, RpcClient, make_settings, start_server

# ---------------------------------------------------------------------------------------------
# 1. Secrets and the PostgreSQL log
# ---------------------------------------------------------------------------------------------


def log_text(pg_cluster) -> str:
    root = Path(pg_cluster.root)
    return "\n".join(p.read_text(errors="replace") for p in [root / "server.log", *root.rglob("*.log")]
                     if p.is_file())


def log_after_sentinel(pg_cluster) -> str:
    """The log once everything logged before now is in it: a sentinel statement, logged after the
    server's, is waited for (the logging collector writes what the backends sent, in order)."""
    sentinel = f"log-sentinel-{uuid.uuid4().hex}"
    with psycopg.connect(pg_cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("select {}").format(sql.Literal(sentinel)))
    deadline = time.monotonic() + 30
    while sentinel not in (text := log_text(pg_cluster)):
        assert time.monotonic() < deadline, "the sentinel statement never reached the log"
        time.sleep(0.05)
    return text


@pytest.fixture
def verbose_logging(pg_cluster):
    """The test cluster logs like a DBA who turned on log_statement = 'all'."""
    with psycopg.connect(pg_cluster.url("postgres"), autocommit=True) as conn:
        conn.execute("alter system set log_statement = 'all'")
        conn.execute("alter system set log_min_error_statement = 'error'")
        conn.execute("select pg_reload_conf()")
    deadline = time.monotonic() + 30
    while True:  # the reload is asynchronous: new sessions log everything once the postmaster has it
        with psycopg.connect(pg_cluster.url("postgres"), autocommit=True) as conn:
            if conn.execute("show log_statement").fetchone()[0] == "all":
                break
        assert time.monotonic() < deadline, "log_statement = 'all' never took effect"
        time.sleep(0.05)
    yield
    with psycopg.connect(pg_cluster.url("postgres"), autocommit=True) as conn:
        conn.execute("alter system reset log_statement")
        conn.execute("alter system reset log_min_error_statement")
        conn.execute("select pg_reload_conf()")


async def test_no_secret_reaches_the_log_or_pg_stat_activity(pg_cluster, verbose_logging, db, users):
    # A fresh server: its pool connects after the logging change (role settings apply at login).
    app, runner, base = await start_server(db.server_database_url, make_settings())
    secrets: list[str] = []
    try:
        async with aiohttp.ClientSession() as session:
            rpc = RpcClient(base, session, app)
            email = f"victim-{uuid.uuid4().hex[:6]}@example.test"
            password = "Pw-" + uuid.uuid4().hex
            weak = "weak" + uuid.uuid4().hex[:4]
            secrets += [password, weak]
            refused = await rpc.error("auth.register", {"email": email, "password": weak, "full_name": "V"})
            assert refused["code"] == 422
            await rpc.ok("auth.register", {"email": email, "password": password, "full_name": "Victim"})
            # verify_email: the token only in the outbox
            (body,) = db.execute("select body from app.outbox where recipient = %s", [email])[0]
            token = body.split("token: ")[1].split()[0]
            secrets.append(token)
            await rpc.error("auth.verify_email", {"token": token + "x"})
            await rpc.ok("auth.verify_email", {"token": token})
            wrong = "Wrong-" + uuid.uuid4().hex
            secrets.append(wrong)
            await rpc.error("auth.login", {"email": email, "password": wrong})
            login = await rpc.ok("auth.login", {"email": email, "password": password})
            secrets.append(login["refresh_token"])
            access = login["access_token"]
            # reset: a failing (weak password) and a succeeding call with the same token
            await rpc.ok("auth.request_password_reset", {"email": email})
            (body,) = db.execute("select body from app.outbox where recipient = %s and subject like 'Reset%%'",
                                 [email])[0]
            reset = body.split("token: ")[1].split()[0]
            secrets.append(reset)
            assert (await rpc.error("auth.reset_password", {"token": reset, "new_password": weak}))["code"] == 422
            password2 = "Pw2-" + uuid.uuid4().hex
            secrets.append(password2)
            await rpc.ok("auth.reset_password", {"token": reset, "new_password": password2})
            login = await rpc.ok("auth.login", {"email": email, "password": password2})
            access, refresh = login["access_token"], login["refresh_token"]
            refreshed = await rpc.ok("auth.refresh", {"refresh_token": refresh})
            secrets += [refresh, refreshed["refresh_token"]]
            await rpc.error("auth.refresh", {"refresh_token": refresh})  # reuse: fails
            login = await rpc.ok("auth.login", {"email": email, "password": password2})
            access, refresh = login["access_token"], login["refresh_token"]
            secrets.append(refresh)
            password3 = "Pw3-" + uuid.uuid4().hex
            secrets.append(password3)
            await rpc.error("auth.change_password", {"current_password": wrong, "new_password": password3}, access)
            await rpc.ok("auth.change_password", {"current_password": password2, "new_password": password3}, access)
            setup = await rpc.ok("auth.mfa_setup", {}, access)
            secrets.append(setup["secret"])
            totp = pyotp.TOTP(setup["secret"])
            bad_code = f"{(int(totp.now()) + 500000) % 1000000:06d}"
            await rpc.error("auth.mfa_enable", {"code": bad_code}, access)
            code = totp.now()
            secrets.append(code)
            enabled = await rpc.ok("auth.mfa_enable", {"code": code}, access)
            secrets += enabled["recovery_codes"]
            await rpc.ok("auth.mfa_disable", {"code": enabled["recovery_codes"][0]}, access)
            admin = await users.make("admin")
            admin_pw = "Adm-" + uuid.uuid4().hex
            secrets.append(admin_pw)
            await rpc.ok("admin.create_user", {"email": f"n-{uuid.uuid4().hex[:6]}@example.test",
                                               "password": admin_pw, "full_name": "N", "role": "student"}, admin.token)
            await rpc.ok("auth.logout", {"refresh_token": refresh}, access)
            await rpc.error("auth.logout", {"refresh_token": refresh + "x"})

            # While a login waits on a lock (held here by a superuser), its statement is visible in
            # pg_stat_activity: with placeholders only, even to a superuser.
            victim_id = db.execute("select id from app.users where email = %s", [email])[0][0]
            with db.connect(autocommit=False) as holder:
                holder.execute("select 1 from app.users where id = %s for no key update", [victim_id])
                call = asyncio.create_task(rpc.call("auth.login", {"email": email, "password": password3}))
                seen = []
                for _ in range(40):
                    await asyncio.sleep(0.05)
                    seen = db.execute("select query from pg_stat_activity where query like '%%auth_login%%' "
                                      "and pid <> pg_backend_pid()")
                    if seen:
                        break
                holder.rollback()
            await call
            assert seen, "the waiting login was seen in pg_stat_activity"
            assert all(password3 not in q and email not in q for (q,) in seen), seen
            secrets.append(password3)
    finally:
        await runner.cleanup()
    text = log_after_sentinel(pg_cluster)
    assert "statement:" in text, "log_statement = 'all' is on (other sessions' statements are logged)"
    leaked = [s for s in secrets if s in text]
    assert not leaked, f"secrets in the PostgreSQL log: {leaked}"


def test_embedded_cluster_files_are_private(pg_cluster):
    root = Path(pg_cluster.root)
    for path in [root, root / "data", root / "socket"]:
        assert path.stat().st_mode & 0o077 == 0, f"{path} is 0700"
    for path in [root / "server.log", root / "port", root / "data" / "postgresql.conf"]:
        assert path.stat().st_mode & 0o077 == 0, f"{path} is 0600"


def test_server_login_never_logs_statements(db):
    settings = db.execute("select unnest(setconfig) from pg_db_role_setting s join pg_roles r on r.oid = s.setrole "
                          "where r.rolname = 'lms_authenticator' and s.setdatabase = 0")
    found = {row[0] for row in settings}
    assert {"log_statement=none", "log_min_error_statement=panic", "log_parameter_max_length=0",
            "log_parameter_max_length_on_error=0"} <= found


# ---------------------------------------------------------------------------------------------
# 2. Request bodies arrive in pieces
# ---------------------------------------------------------------------------------------------


def raw_post(base: str, parts: list[bytes], pause: float = 0.3, length: int | None = None) -> tuple[int, dict]:
    host, port = base.removeprefix("http://").split(":")
    body_len = length if length is not None else sum(len(p) for p in parts)
    head = (f"POST /rpc HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {body_len}\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(head)
        for i, part in enumerate(parts):
            if i:
                time.sleep(pause)
            s.sendall(part)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    header, _, payload = data.partition(b"\r\n\r\n")
    status = int(header.split()[1])
    if b"chunked" in header.lower():
        out, rest = b"", payload
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size, 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        payload = out
    return status, json.loads(payload)


async def test_a_body_in_several_writes_is_read_whole(rpc):
    body = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "course.list", "params": {}}).encode()
    parts = [body[:10], body[10:25], body[25:]]
    status, answer = await asyncio.to_thread(raw_post, rpc.base, parts)
    assert status == 200 and answer["id"] == 7 and isinstance(answer["result"], list)


async def test_large_valid_body_is_served_and_too_large_is_413(rpc):
    # 900 KB: a valid batch, padded with white space
    call = {"jsonrpc": "2.0", "method": "certificate.verify", "params": {"certificate_number": "x" * 200}}
    batch = [dict(call, id=i) for i in range(40)]
    batch.append({"jsonrpc": "2.0", "id": "pad", "method": "course.list", "params": {"search": "x" * 100}})
    raw = json.dumps(batch).encode()
    raw = raw[:-1] + b" " * (900 * 1024 - len(raw)) + b"]"
    assert len(raw) >= 900 * 1024
    chunks = [raw[i:i + 200_000] for i in range(0, len(raw), 200_000)]
    status, answer = await asyncio.to_thread(raw_post, rpc.base, chunks, 0.05)
    assert status == 200 and len(answer) == 41 and all("error" not in a or a["error"]["code"] != -32700
                                                        for a in answer)
    huge = b"[" + b" " * int(1.1 * 1024 * 1024) + b"]"
    status, answer = await asyncio.to_thread(raw_post, rpc.base, [huge[:500_000], huge[500_000:]], 0.05)
    assert status == 413 and answer["error"]["data"]["reason"] == "body_too_large"


# ---------------------------------------------------------------------------------------------
# 4. Deactivation bites at once: tokens and analysts
# ---------------------------------------------------------------------------------------------


async def test_deactivated_user_loses_every_method_and_their_analyst_sees_nothing(rpc, users, db, analyst):
    admin = await users.make("admin")
    student = await users.make("student")
    assert (await rpc.ok("user.me", {}, student.token))["id"] == student.id
    login = analyst(student.id)
    with db.connect(user=login) as conn:
        assert conn.execute("select count(*) from app.users").fetchone()[0] == 1
    await rpc.ok("admin.set_active", {"user_id": student.id, "is_active": False}, admin.token)
    for method, params in [("user.me", {}), ("course.list", {}), ("enrollment.list_mine", {}),
                           ("certificate.verify", {"certificate_number": "nope"})]:
        error = await rpc.error(method, params, student.token)
        assert (error["code"], error["data"]["reason"]) == (401, "account_inactive"), (method, error)
    with db.connect(user=login) as conn:
        assert conn.execute("select count(*) from app.users").fetchone()[0] == 0
        assert conn.execute("select app.current_user_id()").fetchone()[0] is None
    await rpc.ok("admin.set_active", {"user_id": student.id, "is_active": True}, admin.token)
    assert (await rpc.ok("user.me", {}, student.token))["id"] == student.id


# ---------------------------------------------------------------------------------------------
# 5. Guessing, lockout as a weapon, rate limits
# ---------------------------------------------------------------------------------------------


@pytest.fixture
async def proxied(db):
    """A server that trusts 127.0.0.1 as a proxy: X-Forwarded-For chooses the client address."""
    app, runner, base = await start_server(db.server_database_url, make_settings(trusted_proxies=["127.0.0.1/32"]))
    async with aiohttp.ClientSession() as session:
        client = RpcClient(base, session, app)

        async def call_from(addr: str, method: str, params: dict, token: str | None = None) -> dict:
            status, answer = await client.post({"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
                                               token, headers={"X-Forwarded-For": f"198.51.100.99, {addr}"})
            return answer

        client.call_from = call_from
        yield client
    await runner.cleanup()


async def test_a_stranger_cannot_lock_the_owner_out(proxied, users):
    victim = await users.make("student")
    for _ in range(5):
        answer = await proxied.call_from("203.0.113.5", "auth.login",
                                         {"email": victim.email, "password": "nope-nope-1"})
        assert answer["error"]["data"]["reason"] == "invalid_credentials"
    locked = await proxied.call_from("203.0.113.5", "auth.login", {"email": victim.email, "password": TEST_PASSWORD})
    assert locked["error"]["code"] == 423 and locked["error"]["data"]["retry_after"] > 0
    owner = await proxied.call_from("192.0.2.10", "auth.login", {"email": victim.email, "password": TEST_PASSWORD})
    assert "access_token" in owner["result"], owner


async def test_mfa_codes_are_throttled_like_passwords(rpc, users):
    user = await users.make("student")
    setup = await rpc.ok("auth.mfa_setup", {}, user.token)
    totp = pyotp.TOTP(setup["secret"])
    await rpc.ok("auth.mfa_enable", {"code": totp.now()}, user.token)
    good = totp.now()
    wrong = [f"{(int(good) + k * 7919) % 1000000:06d}" for k in range(1, 6)]
    batch = [{"jsonrpc": "2.0", "id": i, "method": "auth.mfa_disable", "params": {"code": c}}
             for i, c in enumerate(wrong)]
    status, answers = await rpc.post(batch, user.token)
    reasons = sorted(a["error"]["data"]["reason"] for a in answers)
    assert reasons == ["invalid_mfa_code"] * 5
    later = await rpc.error("auth.mfa_disable", {"code": pyotp.TOTP(setup["secret"]).now()}, user.token)
    assert later["code"] == 423, "the sixth try is refused even with a right code"


async def test_concurrent_calls_of_one_address_never_pass_the_budget(db, rpc):
    """Many calls at once from one address: a reservation ahead may be refused, and no call may spend
    it locally before the database granted it — at most the budget passes, never more."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "course.list", "params": {}}
    for _ in range(30):  # a busy address: it reserves ahead (20 units or so at a time)
        await rpc.post(body)
    await asyncio.sleep(1.1)  # what was reserved and granted has expired; the busy rate is remembered
    db.execute("update app.rate_limits set max_cost = 5 where name = 'address'")
    db.execute("delete from app.rate_counters")  # a fresh, small budget: reservations ahead do not fit
    answers = await asyncio.gather(*(rpc.post(body) for _ in range(60)))
    passed = sum("result" in a for _, a in answers)
    assert 0 < passed <= 5, passed


async def test_address_budget_holds_across_two_servers(db, rpc, users):
    db.execute("update app.rate_limits set max_cost = 10 where name = 'address'")
    app2, runner2, base2 = await start_server(db.server_database_url, make_settings())
    try:
        async with aiohttp.ClientSession() as session:
            other = RpcClient(base2, session, app2)
            answers = []
            body = {"jsonrpc": "2.0", "id": 1, "method": "course.list", "params": {}}
            for _ in range(8):  # an address calling slowly reserves exactly each call: the limit is exact
                answers.append((await rpc.post(body))[1])
                await asyncio.sleep(0.06)
                answers.append((await other.post(body))[1])
                await asyncio.sleep(0.06)
            passed = [a for a in answers if "result" in a]
            refused = [a for a in answers if "error" in a]
            assert len(passed) == 10, "ten calls fit the budget of 10, whichever server took them"
            assert all(a["error"]["code"] == 429 and a["error"]["data"]["reason"] == "rate_limited"
                       and a["error"]["data"]["retry_after"] >= 1 for a in refused)
            # A refused whole request is HTTP 429 with Retry-After.
            async with session.post(base2 + "/rpc", json={"jsonrpc": "2.0", "id": 1, "method": "course.list"}) as r:
                assert r.status == 429 and int(r.headers["Retry-After"]) >= 1
    finally:
        await runner2.cleanup()


def test_a_busy_address_reserves_its_budget_ahead_and_a_slow_one_exactly():
    from rpc.db.calls import BudgetLeases

    leases = BudgetLeases()
    reserved = []
    for _ in range(2000):  # as fast as Python goes; the database grants each reservation
        reserved.append(leases.units_to_reserve("address:busy", 1))
        leases.granted("address:busy", reserved[-1] - 1 if reserved[-1] else 0)
    assert sum(reserved) >= 2000 and sum(1 for r in reserved if r) < 200, "a busy address rarely asks the database"
    assert max(reserved) <= BudgetLeases.MAX_UNITS
    slow = BudgetLeases()
    units = []
    for _ in range(5):
        units.append(slow.units_to_reserve("address:slow", 1))
        time.sleep(0.06)
    assert units == [1, 1, 1, 1, 1], "a slow address reserves each call exactly"
    leases.refused("address:busy")
    assert leases.units_to_reserve("address:busy", 20) >= 20
    # A reservation not yet granted is not spent by the calls arriving meanwhile: they reserve too.
    pending = BudgetLeases()
    for _ in range(50):
        first = pending.units_to_reserve("address:x", 1)
        pending.granted("address:x", first - 1)
    while pending.units_to_reserve("address:x", 1) == 0:  # use up what was granted
        pass
    asked = pending.units_to_reserve("address:x", 1)
    assert asked > 1, "busy: reserves ahead"
    assert all(pending.units_to_reserve("address:x", 1) > 0 for _ in range(10)), "nothing local before the grant"
    pending.refused("address:x")


async def test_a_class_behind_one_address_logs_in_and_a_flood_is_refused(rpc, users, db):
    # 300 students behind one NAT address log in within a minute, a few of them mistyping once.
    people = [await users.make("student") for _ in range(300)]
    calls = [{"jsonrpc": "2.0", "id": i, "method": "auth.login",
              "params": {"email": p.email, "password": TEST_PASSWORD if i % 10 else "typo-typo-typo"}}
             for i, p in enumerate(people)]
    calls += [{"jsonrpc": "2.0", "id": 1000 + i, "method": "auth.login",
               "params": {"email": p.email, "password": TEST_PASSWORD}} for i, p in enumerate(people) if i % 10 == 0]
    answers = []
    for i in range(0, len(calls), 50):
        answers += (await rpc.post(calls[i:i + 50]))[1]
    refused = [a for a in answers if "error" in a and a["error"]["code"] in (423, 429)]
    assert not refused, refused[:3]
    assert sum("result" in a for a in answers) == 300
    # A script flooding logins with random emails from the same address is refused.
    codes = []
    for n in range(8):
        flood = [{"jsonrpc": "2.0", "id": i, "method": "auth.login",
                  "params": {"email": f"nobody{n}-{i}@example.test", "password": "guess-guess"}} for i in range(50)]
        codes += [a["error"]["code"] for a in (await rpc.post(flood))[1]]
    assert codes.count(429) >= 100 and codes.count(401) <= 300 - 30


# ---------------------------------------------------------------------------------------------
# 6. Locks nobody else can hold
# ---------------------------------------------------------------------------------------------


async def test_an_analyst_cannot_block_logins_and_a_held_lock_fails_fast(rpc, users, db, analyst):
    victim = await users.make("student")
    login = analyst(victim.id)
    with db.connect(user=login, autocommit=False) as analyst:
        analyst.execute("select pg_advisory_xact_lock(hashtextextended('lms.login:' || %s, 0))", [victim.email])
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            analyst.execute("select 1 from app.users for no key update")
        analyst.rollback()
        analyst.execute("select pg_advisory_xact_lock(hashtextextended('lms.login:' || %s, 0))", [victim.email])
        # Not blocked: a login waiting on the analyst's lock would end in lock_timeout's 409, not a token.
        assert "access_token" in await rpc.ok("auth.login", {"email": victim.email, "password": TEST_PASSWORD})
        # Large objects are closed to analysts.
        analyst.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            analyst.execute("select lo_from_bytea(0, 'x')")
        analyst.rollback()
    # A lock held by a superuser: the call fails after lock_timeout, the rest of the API flows.
    with db.connect(autocommit=False) as holder:
        holder.execute("select 1 from app.users where id = %s for no key update", [victim.id])
        slow = asyncio.create_task(rpc.call("auth.login", {"email": victim.email, "password": TEST_PASSWORD}))
        listed = await asyncio.gather(*(rpc.call("course.list", {}) for _ in range(20)))
        assert all("result" in a for a in listed)
        answer = await slow
        holder.rollback()
    assert answer["error"]["code"] == 409 and answer["error"]["data"]["reason"] == "lock_not_available"


def test_secret_files_are_created_private(tmp_path):
    settings = make_settings(jwt_secret=None, home=tmp_path / "home")
    key = settings.jwt_key()
    assert key and (tmp_path / "home" / "jwt_secret").stat().st_mode & 0o777 == 0o600
    from rpc.workers.outbox import FileTransport, build_message

    transport = FileTransport(tmp_path / "outbox")
    row = {"id": 1, "recipient": "a@example.test", "subject": "s", "body": "b"}
    path = Path(transport.send(row, build_message(row, "no-reply@example.test")))
    assert path.stat().st_mode & 0o777 == 0o600


def test_analyst_grant_creates_a_limited_linked_login_and_revoke_removes_it(db, tmp_path):
    import os
    import subprocess
    import sys

    email = f"ana-{uuid.uuid4().hex[:6]}@example.test"
    db.execute("insert into app.users (email, password_hash, full_name) values (%s, 'x', 'Ana')", [email])
    login = f"ana_{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "DATABASE_URL": db.url, "LMS_HOME": str(tmp_path)}

    def lms(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "rpc.cli.main", *args], input=stdin, capture_output=True,
                              text=True, env=env, check=False)

    out = lms("analyst", "grant", login, "--user", email, stdin="a long analyst password\n")
    assert out.returncode == 0, out.stderr
    (limit, config) = db.execute("select r.rolconnlimit, s.setconfig from pg_roles r left join pg_db_role_setting s "
                                 "on s.setrole = r.oid where r.rolname = %s", [login])[0]
    assert limit == 5 and "statement_timeout=30s" in config
    with db.connect(user=login) as conn:
        assert conn.execute("select email from app.users").fetchall() == [(email,)]
        assert conn.execute("show statement_timeout").fetchone()[0] == "30s"
        assert conn.execute("show temp_file_limit").fetchone()[0] == "1GB"  # one sort cannot fill the disk
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("set temp_file_limit = -1")  # superuser-only: the analyst cannot lift it
    assert "a long analyst password" not in " ".join(config)
    listed = lms("analyst", "list").stdout
    assert login in listed and "postgres" not in listed, "superusers are not analyst logins"
    again = lms("analyst", "grant", login, "--user", email, "--connection-limit", "2", stdin="another long password\n")
    assert again.returncode == 0 and "updated" in again.stdout
    assert db.execute("select rolconnlimit from pg_roles where rolname = %s", [login]) == [(2,)]
    out = lms("analyst", "revoke", login)
    assert out.returncode == 0, out.stderr
    assert db.execute("select count(*) from pg_roles where rolname = %s", [login]) == [(0,)]
    assert db.execute("select count(*) from app.analyst_logins where login_name = %s", [login]) == [(0,)]


async def test_profile_metadata_is_bounded_in_the_database(rpc, users, db):
    """Issue 26 §3b: user.update_profile stored ~1 MiB of metadata per call. 16 KiB as JSON text,
    checked by the function (with a reason) and by a constraint (for every other writer)."""
    sam = await users.make("student")
    fits = {"notes": "x" * 16000}
    assert (await rpc.ok("user.update_profile", {"metadata": fits}, sam.token))["metadata"] == fits
    err = await rpc.error("user.update_profile", {"metadata": {"notes": "x" * 17000}}, sam.token)
    assert (err["code"], err["data"]["reason"]) == (422, "metadata_too_large")
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("update app.users set metadata = jsonb_build_object('n', repeat('y', 20000)) where id = %s",
                   [sam.id])
