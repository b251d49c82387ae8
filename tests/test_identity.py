"""Identity through the real server: login, lockout, MFA, refresh rotation, email tokens via the
outbox, secrets, admin methods and the `lms user` / `lms outbox` commands."""

from __future__ import annotations

import asyncio
import base64
import email
import io
import re
import time
from pathlib import Path

import psycopg
import pyotp
import pytest
from psycopg import errors as pg_errors

from rpc.workers import outbox
from tests.conftest import TEST_PASSWORD, make_settings

NEW_PASSWORD = "another long passphrase"


def totp(secret_b32: str, step: int) -> str:
    """RFC 6238 from pyotp (a well-kept library), independent of the SQL implementation."""
    return pyotp.TOTP(secret_b32).at(step * 30)


def deliver(db, folder: Path, transport=None) -> dict:
    settings = make_settings(outbox_dir=folder)
    return outbox.deliver(db.url, settings, transport=transport)


def token_from(folder: Path, recipient: str, subject_word: str) -> str:
    """The token of the newest delivered message to recipient whose subject contains subject_word."""
    for path in sorted(folder.glob("*.eml"), reverse=True):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if msg["To"] == recipient and subject_word in msg["Subject"]:
            match = re.search(r"^token: (\S+)$", msg.get_content(), re.M)
            assert match, msg.get_content()
            return match.group(1)
    raise AssertionError(f"no message to {recipient} about {subject_word}")


# ---------------------------------------------------------------------------------------------
# TOTP vectors
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("at", "code"), [(59, "287082"), (1111111109, "081804"), (1111111111, "050471"),
                                          (1234567890, "005924"), (2000000000, "279037")])
def test_sql_totp_matches_rfc6238_vectors(db, at, code):
    (got,) = db.execute("select internal.totp_code(convert_to('12345678901234567890', 'UTF8'), %s)", [at // 30])[0]
    assert got == code
    assert totp(base64.b32encode(b"12345678901234567890").decode(), at // 30) == code


# ---------------------------------------------------------------------------------------------
# Login, lockout, enumeration
# ---------------------------------------------------------------------------------------------

async def test_login_returns_tokens_and_user(rpc, users):
    alice = await users.make()
    res = await rpc.ok("auth.login", {"email": "  " + alice.email.upper() + " ", "password": TEST_PASSWORD})
    assert res["token_type"] == "bearer" and res["expires_in"] > 0
    assert res["user"] == {"id": alice.id, "email": alice.email, "full_name": res["user"]["full_name"],
                           "role": "student"}
    me = await rpc.ok("user.me", {}, res["access_token"])
    assert me["id"] == alice.id and me["mfa_enabled"] is False and me["last_login_at"]


async def test_sixth_attempt_is_locked_even_with_the_right_password_and_unlocks_after_the_window(rpc, users, db):
    bob = await users.make()
    for i in range(5):
        err = await rpc.error("auth.login", {"email": bob.email, "password": f"wrong password {i}"})
        assert (err["code"], err["data"]["reason"]) == (401, "invalid_credentials")
    err = await rpc.error("auth.login", {"email": bob.email, "password": TEST_PASSWORD})
    assert (err["code"], err["data"]["reason"]) == (423, "account_locked")
    # 14 minutes later: still locked.
    db.execute("update app.login_attempts set attempted_at = attempted_at - interval '14 minutes' where email = %s",
               [bob.email.lower()])
    err = await rpc.error("auth.login", {"email": bob.email, "password": TEST_PASSWORD})
    assert err["code"] == 423
    # Past the 15 minutes: the right password works again.
    db.execute("update app.login_attempts set attempted_at = attempted_at - interval '2 minutes' where email = %s",
               [bob.email.lower()])
    res = await rpc.ok("auth.login", {"email": bob.email, "password": TEST_PASSWORD})
    assert res["user"]["id"] == bob.id
    actions = [a for (a,) in db.execute("select action from app.audit_log where subject_id = %s or action = "
                                        "'auth.login_locked' order by id", [bob.id])]
    assert actions.count("auth.login_failed") == 5 and "auth.login_locked" in actions and actions[-1] == "auth.login"


async def test_unknown_email_is_locked_out_like_a_known_one(rpc):
    for i in range(5):
        await rpc.error("auth.login", {"email": "ghost@example.test", "password": f"wrong password {i}"})
    err = await rpc.error("auth.login", {"email": "ghost@example.test", "password": "whatever long"})
    assert err["code"] == 423


async def test_no_user_enumeration_through_login_or_password_reset(rpc, users):
    carol = await users.make()
    known = await rpc.call("auth.login", {"email": carol.email, "password": "wrong password!"})
    unknown = await rpc.call("auth.login", {"email": "nobody-here@example.test", "password": "wrong password!"})
    known.pop("id"), unknown.pop("id")
    assert known == unknown
    assert known["error"]["code"] == 401 and known["error"]["data"] == {"reason": "invalid_credentials"}
    known = await rpc.call("auth.request_password_reset", {"email": carol.email})
    unknown = await rpc.call("auth.request_password_reset", {"email": "nobody-here@example.test"})
    known.pop("id"), unknown.pop("id")
    assert known == unknown == {"jsonrpc": "2.0", "result": {"queued": True}}


async def test_inactive_user_cannot_log_in(rpc, users):
    admin = await users.make("admin")
    dave = await users.make()
    login = await rpc.ok("auth.login", {"email": dave.email, "password": TEST_PASSWORD})
    assert await rpc.ok("admin.set_active", {"user_id": dave.id, "is_active": False}, admin.token) == \
        {"user_id": dave.id, "is_active": False}
    err = await rpc.error("auth.login", {"email": dave.email, "password": TEST_PASSWORD})
    assert (err["code"], err["data"]["reason"]) == (401, "invalid_credentials")
    err = await rpc.error("auth.refresh", {"refresh_token": login["refresh_token"]})
    assert err["code"] == 401  # deactivation revoked the refresh token
    err = await rpc.error("user.me", {}, login["access_token"])
    assert err["code"] == 401


# ---------------------------------------------------------------------------------------------
# MFA
# ---------------------------------------------------------------------------------------------

async def test_login_with_totp_mfa_through_the_server(rpc, users, db):
    erin = await users.make()
    setup = await rpc.ok("auth.mfa_setup", {}, erin.token)
    secret = setup["secret"]
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert setup["otpauth_uri"].startswith("otpauth://totp/") and f"secret={secret}" in setup["otpauth_uri"]
    err = await rpc.error("auth.mfa_enable", {"code": "000000" if totp(secret, int(time.time()) // 30) != "000000"
                                              else "111111"}, erin.token)
    assert (err["code"], err["data"]["reason"]) == (401, "invalid_mfa_code")
    step = int(time.time()) // 30
    enabled = await rpc.ok("auth.mfa_enable", {"code": totp(secret, step)}, erin.token)
    codes = enabled["recovery_codes"]
    assert len(codes) == 8 and len(set(codes)) == 8
    assert (await rpc.ok("user.me", {}, erin.token))["mfa_enabled"] is True

    creds = {"email": erin.email, "password": TEST_PASSWORD}
    err = await rpc.error("auth.login", creds)
    assert (err["code"], err["data"]["reason"]) == (401, "mfa_required")
    err = await rpc.error("auth.login", {**creds, "totp_code": "12345x"})
    assert (err["code"], err["data"]["reason"]) == (401, "invalid_mfa_code")
    err = await rpc.error("auth.login", {**creds, "totp_code": totp(secret, step)})
    assert (err["code"], err["data"]["reason"]) == (401, "invalid_mfa_code"), "the enabling code cannot be reused"
    res = await rpc.ok("auth.login", {**creds, "totp_code": totp(secret, step + 1)})
    assert res["user"]["id"] == erin.id
    err = await rpc.error("auth.login", {**creds, "totp_code": totp(secret, step + 1)})
    assert err["data"]["reason"] == "invalid_mfa_code", "a code cannot be used twice"
    err = await rpc.error("auth.login", {**creds, "password": "wrong password!", "totp_code": totp(secret, step + 1)})
    assert err["data"]["reason"] == "invalid_credentials"

    # A recovery code replaces the TOTP code once.
    res = await rpc.ok("auth.login", {**creds, "totp_code": codes[0].lower()})
    assert res["user"]["id"] == erin.id
    err = await rpc.error("auth.login", {**creds, "totp_code": codes[0]})
    assert err["data"]["reason"] == "invalid_mfa_code"

    # The secret and recovery codes never come back.
    me = await rpc.call("user.me", {}, res["access_token"])
    assert secret not in str(me) and secret not in str(res)
    (stored,) = db.execute("select secret from app.user_mfa where user_id = %s", [erin.id])[0]
    assert stored == secret

    assert await rpc.ok("auth.mfa_disable", {"code": codes[1]}, erin.token) == {"disabled": True}
    assert (await rpc.ok("auth.login", creds))["user"]["id"] == erin.id


# ---------------------------------------------------------------------------------------------
# Refresh tokens
# ---------------------------------------------------------------------------------------------

async def test_refresh_rotates_and_reuse_revokes_every_session(rpc, users, db):
    fay = await users.make()
    creds = {"email": fay.email, "password": TEST_PASSWORD}
    first = await rpc.ok("auth.login", creds)
    other_session = await rpc.ok("auth.login", creds)
    second = await rpc.ok("auth.refresh", {"refresh_token": first["refresh_token"]})
    assert second["refresh_token"] != first["refresh_token"] and second["access_token"]
    assert second["user"]["id"] == fay.id
    err = await rpc.error("auth.refresh", {"refresh_token": first["refresh_token"]})
    assert (err["code"], err["data"]["reason"]) == (401, "refresh_token_reused")
    # The reuse revoked the newer token of that family and the other session too (committed).
    for token in (second["refresh_token"], other_session["refresh_token"]):
        err = await rpc.error("auth.refresh", {"refresh_token": token})
        assert (err["code"], err["data"]["reason"]) == (401, "refresh_token_reused")
    (live,) = db.execute("select count(*) from app.refresh_tokens where user_id = %s and revoked_at is null",
                         [fay.id])[0]
    assert live == 0
    err = await rpc.error("auth.refresh", {"refresh_token": "not-a-token"})
    assert (err["code"], err["data"]["reason"]) == (401, "token_invalid")


async def test_ten_concurrent_refreshes_of_one_token_exactly_one_succeeds(rpc, users):
    gus = await users.make()
    login = await rpc.ok("auth.login", {"email": gus.email, "password": TEST_PASSWORD})
    answers = await asyncio.gather(*(rpc.call("auth.refresh", {"refresh_token": login["refresh_token"]})
                                     for _ in range(10)))
    ok = [a for a in answers if "result" in a]
    assert len(ok) == 1, answers
    assert all(a["error"]["code"] == 401 for a in answers if "error" in a)


def test_a_refresh_that_waited_on_a_concurrent_rotation_does_not_end_the_winners_session(db):
    """Two sessions refresh one token at the same moment: B waits on A's row lock. B is refused
    (401 token_invalid) but, unlike a later reuse, does not revoke A's new token."""
    import threading

    uid = db.execute("insert into app.users (email, password_hash, full_name) "
                     "values ('race@example.test', 'x', 'Race') returning id")[0][0]
    with db.connect() as conn:
        conn.execute("select set_config('role', 'lms_definer', false)")
        token = conn.execute("select token from internal.issue_refresh_token(%s, gen_random_uuid())",
                             [uid]).fetchone()[0]
    identity = "select set_config('role', 'lms_api', true), set_config('lms.user_id', '', true)"
    a = db.connect("lms_authenticator", autocommit=False)
    b = db.connect("lms_authenticator", autocommit=False)
    try:
        b.execute(identity)  # B's transaction begins first …
        a.execute(identity)
        won = a.execute("select api.auth_refresh(%s)", [token]).fetchone()[0]  # … A rotates, holding the lock
        outcome = {}

        def refresh_b():
            try:
                outcome["b"] = b.execute("select api.auth_refresh(%s)", [token]).fetchone()[0]
            except Exception as exc:  # noqa: BLE001 — the error is the result
                outcome["b"] = exc

        t = threading.Thread(target=refresh_b)
        t.start()
        t.join(0.5)
        assert t.is_alive(), "B waits on A's row lock"
        a.commit()
        t.join(10)
        b.rollback()
        assert getattr(outcome["b"], "sqlstate", None) == "LM401"
        assert outcome["b"].diag.message_detail == "token_invalid"
        reasons = db.execute("select revoked_reason from app.refresh_tokens where user_id = %s order by issued_at",
                             [uid])
        assert reasons == [("rotated",), (None,)], "the winner's new token is still valid"
        assert won["refresh_token"]
    finally:
        a.close()
        b.close()


async def test_logout_and_logout_all(rpc, users):
    hal = await users.make()
    creds = {"email": hal.email, "password": TEST_PASSWORD}
    a, b, c = [await rpc.ok("auth.login", creds) for _ in range(3)]
    assert await rpc.ok("auth.logout", {"refresh_token": a["refresh_token"]}) == {"revoked": True}
    assert await rpc.ok("auth.logout", {"refresh_token": a["refresh_token"]}) == {"revoked": True}, "idempotent"
    other = await users.make()
    err = await rpc.error("auth.logout", {"refresh_token": b["refresh_token"]}, other.token)
    assert err["code"] == 401, "nobody logs out someone else's session"
    assert await rpc.ok("auth.logout_all", {}, hal.token) == {"revoked": 2}
    for s in (a, b, c):
        assert (await rpc.error("auth.refresh", {"refresh_token": s["refresh_token"]}))["code"] == 401


# ---------------------------------------------------------------------------------------------
# Email verification and password reset through the outbox
# ---------------------------------------------------------------------------------------------

async def test_register_and_verify_email_with_the_delivered_token(rpc, db, tmp_path):
    res = await rpc.ok("auth.register", {"email": " Ivy@Example.test ", "password": "correct horse battery",
                                         "full_name": "Ivy"})
    err = await rpc.error("auth.register", {"email": "ivy@example.TEST", "password": "correct horse battery",
                                            "full_name": "Ivy 2"})
    assert (err["code"], err["data"]["reason"]) == (409, "email_taken")
    err = await rpc.error("auth.register", {"email": "jo@example.test", "password": "jo@example.test",
                                            "full_name": "Jo"})
    assert (err["code"], err["data"]["reason"]) == (422, "weak_password")

    assert deliver(db, tmp_path) == {"sent": 1, "failed": 0}
    assert deliver(db, tmp_path) == {"sent": 0, "failed": 0}, "nothing is sent twice"
    token = token_from(tmp_path, "Ivy@Example.test", "Confirm")
    (stored,) = db.execute("select count(*) from app.user_tokens where token_hash = sha256(convert_to(%s, 'UTF8'))",
                           [token])[0]
    assert stored == 1
    (raw,) = db.execute("select count(*) from app.user_tokens where encode(token_hash, 'escape') like %s",
                        ["%" + token + "%"])[0]
    assert raw == 0, "only the hash is stored"

    assert await rpc.ok("auth.verify_email", {"token": token}) == {"verified": True}
    err = await rpc.error("auth.verify_email", {"token": token})
    assert (err["code"], err["data"]["reason"]) == (422, "invalid_token")
    login = await rpc.ok("auth.login", {"email": "ivy@example.test", "password": "correct horse battery"})
    me = await rpc.ok("user.me", {}, login["access_token"])
    assert me["id"] == res["user_id"] and me["email_verified_at"] and me["role"] == "student"


async def test_expired_verification_token_is_refused(rpc, db, tmp_path):
    await rpc.ok("auth.register", {"email": "kim@example.test", "password": "correct horse battery", "full_name": "K"})
    deliver(db, tmp_path)
    token = token_from(tmp_path, "kim@example.test", "Confirm")
    db.execute("update app.user_tokens set created_at = created_at - interval '25 hours', "
               "expires_at = expires_at - interval '25 hours'")
    err = await rpc.error("auth.verify_email", {"token": token})
    assert err["data"]["reason"] == "invalid_token"


async def test_password_reset_with_the_delivered_token(rpc, users, db, tmp_path):
    lea = await users.make()
    session = await rpc.ok("auth.login", {"email": lea.email, "password": TEST_PASSWORD})
    assert await rpc.ok("auth.request_password_reset", {"email": lea.email.upper()}) == {"queued": True}
    assert await rpc.ok("auth.request_password_reset", {"email": "nobody@example.test"}) == {"queued": True}
    assert deliver(db, tmp_path)["sent"] == 1
    token = token_from(tmp_path, lea.email, "Reset")
    err = await rpc.error("auth.reset_password", {"token": token, "new_password": "short"})
    assert err["data"]["reason"] == "weak_password"
    assert await rpc.ok("auth.reset_password", {"token": token, "new_password": NEW_PASSWORD}) == {"reset": True}
    err = await rpc.error("auth.reset_password", {"token": token, "new_password": NEW_PASSWORD + "!"})
    assert err["data"]["reason"] == "invalid_token", "single use"
    err = await rpc.error("auth.refresh", {"refresh_token": session["refresh_token"]})
    assert err["code"] == 401, "reset revokes every refresh token"
    assert (await rpc.error("auth.login", {"email": lea.email, "password": TEST_PASSWORD}))["code"] == 401
    assert (await rpc.ok("auth.login", {"email": lea.email, "password": NEW_PASSWORD}))["user"]["id"] == lea.id


async def test_change_password_needs_the_current_one_and_revokes_sessions(rpc, users):
    max_ = await users.make()
    session = await rpc.ok("auth.login", {"email": max_.email, "password": TEST_PASSWORD})
    err = await rpc.error("auth.change_password", {"current_password": "wrong password!", "new_password": NEW_PASSWORD},
                          max_.token)
    assert err["code"] == 401
    err = await rpc.error("auth.change_password", {"current_password": TEST_PASSWORD, "new_password": "1234567890"},
                          max_.token)
    assert err["data"]["reason"] == "weak_password"
    res = await rpc.ok("auth.change_password", {"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD},
                       max_.token)
    assert res["changed"] is True and res["sessions_revoked"] == 1
    assert (await rpc.error("auth.refresh", {"refresh_token": session["refresh_token"]}))["code"] == 401
    assert await rpc.ok("auth.login", {"email": max_.email, "password": NEW_PASSWORD})


async def test_failed_delivery_is_retried_later_and_sent_once(rpc, db, tmp_path):
    await rpc.ok("auth.register", {"email": "ned@example.test", "password": "correct horse battery", "full_name": "N"})

    class Broken:
        def send(self, row, msg):
            raise OSError("connection refused")

    assert deliver(db, tmp_path, Broken()) == {"sent": 0, "failed": 1}
    row = db.execute("select attempts, last_error, available_at > now(), sent_at from app.outbox")[0]
    assert row[0] == 1 and "connection refused" in row[1] and row[2] is True and row[3] is None
    assert deliver(db, tmp_path) == {"sent": 0, "failed": 0}, "backs off"
    db.execute("update app.outbox set available_at = now() - interval '1 second'")
    assert deliver(db, tmp_path) == {"sent": 1, "failed": 0}
    assert deliver(db, tmp_path) == {"sent": 0, "failed": 0}
    assert len(list(tmp_path.glob("*.eml"))) == 1


# ---------------------------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------------------------

SECRET_COLUMNS = [("app.users", "password_hash"), ("app.user_mfa", "secret"), ("app.refresh_tokens", "token_hash"),
                  ("app.user_tokens", "token_hash"), ("app.mfa_recovery_codes", "code_hash"), ("app.outbox", "body")]


@pytest.mark.parametrize("role", ["lms_api", "lms_analyst"])
@pytest.mark.parametrize(("table", "column"), SECRET_COLUMNS)
def test_secret_columns_are_unreadable_by_clients(db, role, table, column):
    with db.connect() as conn:
        conn.execute(psycopg.sql.SQL("set role {}").format(psycopg.sql.Identifier(role)))
        with pytest.raises(pg_errors.InsufficientPrivilege) as exc:
            conn.execute(psycopg.sql.SQL("select {} from {}").format(
                psycopg.sql.Identifier(column), psycopg.sql.SQL(table)))
        assert exc.value.sqlstate == "42501"


async def test_no_method_result_carries_a_secret(rpc, users, db):
    admin = await users.make("admin")
    pat = await users.make()
    setup = await rpc.ok("auth.mfa_setup", {}, pat.token)
    results = [
        await rpc.call("auth.login", {"email": pat.email, "password": TEST_PASSWORD}),
        await rpc.call("user.me", {}, pat.token),
        await rpc.call("user.update_profile", {"full_name": "Pat Q", "metadata": {"theme": "dark"}}, pat.token),
        await rpc.call("admin.list_users", {}, admin.token),
        await rpc.call("admin.list_users", {"search": pat.email}, admin.token),
    ]
    (hash_,) = db.execute("select password_hash from app.users where id = %s", [pat.id])[0]
    text = repr(results)
    assert hash_ not in text and "$2a$" not in text and "password_hash" not in text
    assert setup["secret"] not in text
    assert results[2]["result"]["full_name"] == "Pat Q" and results[2]["result"]["metadata"] == {"theme": "dark"}
    assert any(u["id"] == pat.id for u in results[4]["result"])


# ---------------------------------------------------------------------------------------------
# Administration and role rows
# ---------------------------------------------------------------------------------------------

async def test_admin_creates_users_and_changes_roles(rpc, users, db):
    admin = await users.make("admin")
    student = await users.make()
    err = await rpc.error("admin.create_user", {"email": "x@example.test", "password": NEW_PASSWORD,
                                                "full_name": "X", "role": "admin"}, student.token)
    assert err["code"] == 403
    res = await rpc.ok("admin.create_user", {"email": "quinn@example.test", "password": NEW_PASSWORD,
                                             "full_name": "Quinn", "role": "instructor"}, admin.token)
    quinn = res["user_id"]
    assert db.execute("select count(*) from app.instructors where user_id = %s", [quinn])[0][0] == 1
    login = await rpc.ok("auth.login", {"email": "quinn@example.test", "password": NEW_PASSWORD})
    prof = await rpc.ok("instructor.update_profile", {"title": "Dr", "expertise": ["sql"]}, login["access_token"])
    assert prof["title"] == "Dr" and prof["expertise"] == ["sql"]
    assert (await rpc.error("instructor.update_profile", {"title": "x"}, student.token))["code"] == 403

    assert await rpc.ok("admin.set_role", {"user_id": quinn, "role": "admin"}, admin.token) == \
        {"user_id": quinn, "role": "admin"}
    assert db.execute("select count(*) from app.admins where user_id = %s", [quinn])[0][0] == 1
    await rpc.ok("admin.set_role", {"user_id": quinn, "role": "student"}, admin.token)
    assert db.execute("select count(*) from app.admins where user_id = %s", [quinn])[0][0] == 0
    assert db.execute("select count(*) from app.instructors where user_id = %s", [quinn])[0][0] == 1
    err = await rpc.error("admin.set_role", {"user_id": admin.id, "role": "student"}, admin.token)
    assert err["code"] == 422
    listed = await rpc.ok("admin.list_users", {"role": "student", "limit": 10}, admin.token)
    assert {u["id"] for u in listed} == {student.id, quinn}
    actions = {a for (a,) in db.execute("select action from app.audit_log")}
    assert {"admin.user_created", "admin.role_changed", "auth.login"} <= actions


# ---------------------------------------------------------------------------------------------
# CLI and upkeep
# ---------------------------------------------------------------------------------------------

async def test_cli_creates_an_admin_and_sets_a_password(rpc, db, monkeypatch, capsys):
    from rpc.cli.main import main

    monkeypatch.setenv("DATABASE_URL", db.url)
    monkeypatch.setattr("sys.stdin", io.StringIO("cli password 123\n"))
    assert main(["user", "create", "--email", "Root@Example.test", "--role", "admin", "--full-name", "Root"]) == 0
    login = await rpc.ok("auth.login", {"email": "root@example.test", "password": "cli password 123"})
    assert login["user"]["role"] == "admin"
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["user", "set-password", "--email", "root@example.test"]) == 1
    assert "weak_password" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("cli password 456\n"))
    assert main(["user", "set-password", "--email", "root@example.test"]) == 0
    assert (await rpc.error("auth.refresh", {"refresh_token": login["refresh_token"]}))["code"] == 401
    assert await rpc.ok("auth.login", {"email": "root@example.test", "password": "cli password 456"})


async def test_maintain_tokens_purges_expired_rows(rpc, users, db):
    ola = await users.make()
    await rpc.ok("auth.login", {"email": ola.email, "password": TEST_PASSWORD})
    await rpc.error("auth.login", {"email": ola.email, "password": "wrong password!"})
    db.execute("update app.refresh_tokens set issued_at = now() - interval '40 days', "
               "expires_at = now() - interval '10 days'")
    db.execute("update app.login_attempts set attempted_at = now() - interval '31 days'")
    from rpc.db.migrate import maintain

    with db.connect() as conn:
        report = maintain(conn)["internal.maintain_tokens()"]  # what `lms db maintain` runs
    assert report["refresh_tokens_purged"] == 1 and report["login_attempts_purged"] == 2
    assert db.execute("select count(*) from app.refresh_tokens")[0][0] == 0


# ---------------------------------------------------------------------------------------------
# Timing and concurrency
# ---------------------------------------------------------------------------------------------

@pytest.mark.timing
def test_unknown_email_costs_as_much_as_a_wrong_password(db):
    """At the production cost (10) both paths run one bcrypt: close in time. A timing ratio, so outside
    `make test` (a loaded machine skews it): `make bench` runs the `timing` tests."""
    with db.connect() as conn:
        conn.execute("set lms.bcrypt_cost = '10'")
        conn.execute("select internal.create_user('timing@example.test', 'correct horse battery', 'T', 'student')")

        def best_of_3(email: str) -> float:
            times = []
            for i in range(3):
                started = time.perf_counter()
                (res,) = conn.execute("select api.auth_login(%s, %s)", [email, f"wrong password {i}"]).fetchone()
                times.append(time.perf_counter() - started)
                assert res["error"]["reason"] == "invalid_credentials"
            return min(times)

        known, unknown = best_of_3("timing@example.test"), best_of_3("nobody-timing@example.test")
    assert known > 0.005 and unknown > 0.005, (known, unknown)
    assert 0.4 < known / unknown < 2.5, (known, unknown)


async def test_concurrent_guesses_are_counted_exactly(rpc, users, db):
    rex = await users.make()
    answers = await asyncio.gather(*(rpc.call("auth.login", {"email": rex.email, "password": f"wrong password {i}"})
                                     for i in range(10)))
    codes = sorted(a["error"]["code"] for a in answers)
    assert codes == [401] * 5 + [423] * 5
    (failures,) = db.execute("select count(*) from app.login_attempts where email = %s and not succeeded",
                             [rex.email.lower()])[0]
    assert failures == 5


def test_concurrent_outbox_workers_never_send_a_message_twice(db, tmp_path):
    import threading

    db.execute("insert into app.outbox (recipient, subject, body) "
               "select 'r' || g || '@example.test', 'hello', 'body' from generate_series(1, 30) g")
    sent_ids: list[int] = []
    lock = threading.Lock()

    class Recording:
        def send(self, row, msg):
            time.sleep(0.005)
            with lock:
                sent_ids.append(row["id"])
            return "memory"

    reports: list[dict] = []
    threads = [threading.Thread(target=lambda: reports.append(deliver(db, tmp_path, Recording()))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["sent"] for r in reports) == 30
    assert len(sent_ids) == len(set(sent_ids)) == 30
    assert db.execute("select count(*) from app.outbox where sent_at is null")[0][0] == 0


def test_an_admin_analyst_login_sees_every_user_but_no_secret(db, analyst):
    with db.connect() as conn:
        (admin,) = conn.execute(
            "select internal.create_user('boss@example.test', 'correct horse battery', 'B', 'admin')").fetchone()
        conn.execute("select internal.create_user('stu@example.test', 'correct horse battery', 'S', 'student')")
    login = analyst(admin)
    with db.connect(login) as conn:
        assert conn.execute("select count(*) from app.users").fetchone()[0] == 2
        for table, column in SECRET_COLUMNS:
            with pytest.raises(pg_errors.InsufficientPrivilege):
                conn.execute(psycopg.sql.SQL("select {} from {}").format(
                    psycopg.sql.Identifier(column), psycopg.sql.SQL(table)))
        with pytest.raises(pg_errors.InsufficientPrivilege):
            conn.execute("select api.auth_login('stu@example.test', 'correct horse battery')")
        with pytest.raises(pg_errors.InsufficientPrivilege):
            conn.execute("select * from internal.outbox_claim(10)")


async def test_a_malformed_stored_hash_is_a_wrong_password_not_an_internal_error(rpc, db):
    db.execute("insert into app.users (email, password_hash, full_name) values ('odd@example.test', 'h', 'Odd')")
    err = await rpc.error("auth.login", {"email": "odd@example.test", "password": "correct horse battery"})
    assert (err["code"], err["data"]["reason"]) == (401, "invalid_credentials")
