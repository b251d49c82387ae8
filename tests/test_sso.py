"""Sign-in with an OpenID provider (issue 32), against a real one: npm oidc-provider (OpenID Certified),
pinned in scripts/oidc-provider and started on loopback for each test (scripts/oidc-provider/provider.mjs).
The browser is an aiohttp session with a cookie jar: it follows the redirects, fills the provider's sign-in
and consent forms, and stops where the provider's return_url begins. The ID-token checks a real provider
will not fail on purpose (forged, expired, wrong audience or nonce) run on tokens signed here."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import threading
import time
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import aiohttp
import psycopg
import pyotp
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from rpc.db.cluster import free_port
from rpc.db.migrate import ROOT
from rpc.http import sso

NODE = shutil.which("node")
SCRIPT = Path(ROOT) / "scripts" / "oidc-provider" / "provider.mjs"
RETURN_URL = "http://127.0.0.1:9/signed-in"  # never fetched: the browser stops there
CLIENT_ID, CLIENT_SECRET = "lms-under-test", "client-secret-of-the-test-provider"

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed: the OpenID provider needs node 20+ "
                                                     "(CI gets it from scripts/ensure-test-deps)")


def signing_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"}, private=True)


class Provider:
    """One oidc-provider process on a loopback port; restart() with other keys is a key rotation."""

    def __init__(self, tmp: Path, redirect_uri: str):
        self.tmp, self.redirect_uri = tmp, redirect_uri
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, keys: list[RSAKey]) -> None:
        config = {"port": self.port, "jwks": {"keys": [k.as_dict(private=True) for k in keys]},
                  "clients": [{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                               "redirect_uris": [self.redirect_uri]}]}
        path = self.tmp / "provider.json"
        path.write_text(json.dumps(config))
        self.proc = await asyncio.create_subprocess_exec(NODE, str(SCRIPT), str(path), stdout=asyncio.subprocess.PIPE,
                                                         stderr=asyncio.subprocess.PIPE)
        line = await asyncio.wait_for(self.proc.stdout.readline(), 30)
        if not line.startswith(b"listening"):
            raise AssertionError(f"oidc-provider did not start: {line!r} {await self.proc.stderr.read()!r}")

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()

    async def restart(self, keys: list[RSAKey]) -> None:
        await self.stop()
        await self.start(keys)


@pytest.fixture
async def provider(rpc, tmp_path):
    p = Provider(tmp_path, rpc.base + "/sso/campus/callback")
    await p.start([signing_key("key-1")])
    yield p
    await p.stop()


@pytest.fixture
async def campus(rpc, users, provider):
    """The provider registered by an admin as "campus", for addresses of example.edu."""
    admin = await users.make("admin")
    return await rpc.ok("sso.provider_create", {
        "name": "campus", "issuer": provider.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "return_url": RETURN_URL, "email_domains": ["example.edu"], "role_claim": "lms_role"}, admin.token)


async def browse(start: str, login: str, return_url: str = RETURN_URL) -> dict:
    """A browser from `start` through the provider's sign-in (as `login`) and consent, to return_url: its
    query parameters ({"code": …} or {"error": …}); also "callback", the URL the provider sent it back to."""
    seen: dict = {}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        url, method, form = start, "GET", None
        for _ in range(20):
            async with browser.request(method, url, data=form, allow_redirects=False) as resp:
                body = await resp.text()
                if resp.status in (302, 303):
                    url, method, form = urljoin(url, resp.headers["Location"]), "GET", None
                    if "/sso/campus/callback" in url:
                        seen["callback"] = url
                    if url.startswith(return_url):
                        return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()} | seen
                    continue
                if resp.status != 200:
                    return {"status": resp.status, "body": body} | seen
            action = re.search(r'<form[^>]*action="([^"]+)"', body)
            prompt = re.search(r'name="prompt" value="(\w+)"', body)
            assert action and prompt, body[:500]
            url, method = urljoin(url, unescape(action.group(1))), "POST"
            form = {"prompt": prompt.group(1)}
            if prompt.group(1) == "login":
                form |= {"login": login, "password": "any"}
    raise AssertionError("the browser went round in circles")


def count(db, query: str, *params) -> int:
    return db.execute(query, list(params))[0][0]


async def test_the_whole_flow_against_a_real_provider(rpc, users, db, provider, campus):
    """Discovery, code + PKCE, the provider's sign-in and consent, the callback, the exchange: a new
    account just in time (user.created), the same account next time; nothing in the flow is reusable."""
    landed = await browse(rpc.base + "/sso/campus/login", "ada")
    assert set(landed) == {"code", "callback"}, landed
    tokens = await rpc.ok("auth.sso_exchange", {"code": landed["code"]})
    me = await rpc.ok("user.me", {}, tokens["access_token"])
    assert (me["email"], me["role"], me["full_name"]) == ("ada@example.edu", "student", "Person ada")
    assert (await rpc.error("auth.sso_exchange", {"code": landed["code"]}))["data"]["reason"] == "invalid_sso_code"
    state = parse_qs(urlsplit(landed["callback"]).query)["state"][0]
    refusals = []
    for cookies in ({}, {sso.STATE_COOKIE: state}):  # another browser (login CSRF); the same one again: spent
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), cookies=cookies) as again:
            async with again.get(landed["callback"], allow_redirects=False) as resp:
                error = (await resp.json())["error"]
                assert resp.status == 400 and error["data"]["reason"] == "invalid_state"
                refusals.append(error["message"])
    assert "did not start" in refusals[0] and "used" in refusals[1], refusals
    assert count(db, "select count(*) from app.events where type = 'user.created' and user_id = %s", me["id"]) == 1
    assert count(db, "select count(*) from app.sso_states") == 0

    second = await browse(rpc.base + "/sso/campus/login", "ada")
    again = await rpc.ok("auth.sso_exchange", {"code": second["code"]})
    assert again["user"]["id"] == me["id"]
    assert count(db, "select count(*) from app.users where email = 'ada@example.edu'") == 1
    identities = await rpc.ok("sso.identities_mine", {}, tokens["access_token"])
    assert [(i["provider"], i["subject"], i["email"]) for i in identities] == [("campus", "ada", "ada@example.edu")]
    refused = await rpc.error("sso.unlink", {"identity_id": identities[0]["identity_id"]}, tokens["access_token"])
    assert (refused["code"], refused["data"]["reason"]) == (409, "last_login_method")

    # The role claim is used when configured; admin only when the provider may give it.
    ina = await browse(rpc.base + "/sso/campus/login", "instructor+ina")
    eve = await browse(rpc.base + "/sso/campus/login", "admin+eve")
    ina, eve = [await rpc.ok("auth.sso_exchange", {"code": landed["code"]}) for landed in (ina, eve)]
    assert (ina["user"]["role"], eve["user"]["role"]) == ("instructor", "student")

    # The secret is nobody's to read but the sign-in's: not lms_api's, not an admin's answers.
    with db.connect() as conn:
        conn.execute("set role lms_api")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select client_secret from app.sso_providers")
    listed = json.dumps(await rpc.ok("sso.provider_list", {}, (await users.make("admin")).token))
    assert CLIENT_SECRET not in listed and campus["has_client_secret"] is True


async def test_who_may_sign_in_and_how_an_existing_account_links(rpc, users, db, provider, campus):
    """Unverified email, another domain, an existing account the provider may not claim, a deactivated
    account: refused at the return URL, nothing created. The account itself links (sso.link_start); an
    authoritative provider links by email."""
    for login, reason in (("unverified-bob", "email_not_verified"), ("zed@elsewhere.org", "email_domain_not_allowed")):
        landed = await browse(rpc.base + "/sso/campus/login", login)
        assert landed.get("error") == reason, landed
    assert count(db, "select count(*) from app.users where email like '%%bob%%' or email like 'zed@%%'") == 0

    cleo = await users.make("student", email="cleo@example.edu")
    assert (await browse(rpc.base + "/sso/campus/login", "cleo@example.edu")).get("error") == "account_exists"
    assert count(db, "select count(*) from app.sso_identities") == 0
    start = await rpc.ok("sso.link_start", {"provider": "campus"}, cleo.token)
    linked = await browse(rpc.base + start["login_url"], "cleo@example.edu")
    assert (await rpc.ok("auth.sso_exchange", {"code": linked["code"]}))["user"]["id"] == cleo.id
    # The link URL is single use.
    async with aiohttp.ClientSession() as other:
        async with other.get(rpc.base + start["login_url"], allow_redirects=False) as resp:
            assert resp.status == 400 and (await resp.json())["error"]["data"]["reason"] == "invalid_state"
    # With a password and an identity, the identity may go.
    identity = (await rpc.ok("sso.identities_mine", {}, cleo.token))[0]
    assert (await rpc.ok("sso.unlink", {"identity_id": identity["identity_id"]}, cleo.token))["unlinked"] is True

    admin = await users.make("admin")
    await rpc.ok("sso.provider_update", {"provider_id": campus["provider_id"], "email_authoritative": True},
                 admin.token)
    dan = await users.make("student", email="dan@example.edu")
    landed = await browse(rpc.base + "/sso/campus/login", "dan@example.edu")
    assert (await rpc.ok("auth.sso_exchange", {"code": landed["code"]}))["user"]["id"] == dan.id

    await rpc.ok("admin.set_active", {"user_id": dan.id, "is_active": False}, admin.token)
    assert (await browse(rpc.base + "/sso/campus/login", "dan@example.edu")).get("error") == "account_inactive"


async def test_local_mfa_needs_its_code_unless_the_provider_asserted_mfa(rpc, users, db, provider, campus):
    """Decision: the provider's sign-in replaces the password, not the account's own second factor —
    unless its ID token says (amr) that the person passed multi-factor authentication."""
    fay = await users.make("student", email="fay@example.edu")
    secret = (await rpc.ok("auth.mfa_setup", {}, fay.token))["secret"]
    recovery = (await rpc.ok("auth.mfa_enable", {"code": pyotp.TOTP(secret).now()}, fay.token))["recovery_codes"]
    start = await rpc.ok("sso.link_start", {"provider": "campus"}, fay.token)
    code = (await browse(rpc.base + start["login_url"], "fay@example.edu"))["code"]
    assert (await rpc.error("auth.sso_exchange", {"code": code}))["data"]["reason"] == "mfa_required"
    # (a recovery code: this step's TOTP code was spent on mfa_enable, and a code counts once)
    tokens = await rpc.ok("auth.sso_exchange", {"code": code, "totp_code": recovery[0]})
    assert tokens["user"]["id"] == fay.id
    with db.connect() as conn:  # a provider that asserted MFA (oidc-provider's test accounts do not say amr)
        identity = conn.execute("select i.provider_id, i.subject from app.sso_identities i where i.user_id = %s",
                                [fay.id]).fetchone()
        (signed,) = conn.execute("select internal.sso_sign_in(%s, %s, 'fay@example.edu', true, 'Fay', null, null, "
                                 "true)", list(identity)).fetchone()
    assert (await rpc.ok("auth.sso_exchange", {"code": signed["code"]}))["user"]["id"] == fay.id


async def test_key_rotation_at_the_provider_and_a_provider_that_is_down(rpc, users, db, provider, campus):
    """The provider signs with a new key: the next sign-in fetches its keys again (an unknown kid). A
    provider that cannot be reached: a clear 502, and nothing recorded."""
    first = await browse(rpc.base + "/sso/campus/login", "gus")
    await rpc.ok("auth.sso_exchange", {"code": first["code"]})
    await provider.restart([signing_key("key-2")])
    second = await browse(rpc.base + "/sso/campus/login", "gus")
    assert "code" in second, second
    await rpc.ok("auth.sso_exchange", {"code": second["code"]})

    admin = await users.make("admin")
    await rpc.ok("sso.provider_create", {"name": "down", "issuer": f"http://127.0.0.1:{free_port()}", "client_id": "x",
                                         "client_secret": "y", "return_url": RETURN_URL}, admin.token)
    states, users_before = count(db, "select count(*) from app.sso_states"), count(db, "select count(*) from app.users")
    async with aiohttp.ClientSession() as browser:
        async with browser.get(rpc.base + "/sso/down/login", allow_redirects=False) as resp:
            assert resp.status == 502 and (await resp.json())["error"]["data"]["reason"] == "sso_provider_unavailable"
        async with browser.get(rpc.base + "/sso/nobody/login", allow_redirects=False) as resp:
            assert resp.status == 404
    assert (count(db, "select count(*) from app.sso_states"), count(db, "select count(*) from app.users")) == (
        states, users_before)


def test_id_token_checks():
    """What the callback checks on the provider's ID token (OpenID Connect Core §3.1.3.7)."""
    key, stranger = signing_key("k"), signing_key("k")  # the stranger forges with the same key id
    keys = KeySet([RSAKey.import_key(key.as_dict(private=False))])
    now = int(time.time())
    good = {"iss": "https://idp.example", "aud": "lms", "sub": "s1", "nonce": "n1", "iat": now, "exp": now + 300}

    def token(claims: dict, signer: RSAKey = key) -> str:
        return jwt.encode({"alg": "RS256", "kid": "k"}, claims, signer)

    assert sso.verify_id_token(token(good), keys, "https://idp.example", "lms", "n1")["sub"] == "s1"
    refused = {
        "forged": token(good, stranger), "wrong nonce": token(good | {"nonce": "n2"}),
        "wrong audience": token(good | {"aud": "another-client"}), "wrong issuer": token(good | {"iss": "https://evil"}),
        "expired": token(good | {"exp": now - 3600, "iat": now - 7200}),
        "no nonce": token({k: v for k, v in good.items() if k != "nonce"}),
        "several audiences, azp not us": token(good | {"aud": ["lms", "other"], "azp": "other"}),
        "not signed": ".".join(p for p in token(good).split(".")[:2]) + ".",
    }
    for what, value in refused.items():
        with pytest.raises(sso.InvalidIdToken):
            sso.verify_id_token(value, keys, "https://idp.example", "lms", "n1")
            raise AssertionError(f"accepted: {what}")
    assert sso.mfa_asserted({"amr": ["pwd", "otp"]}) and not sso.mfa_asserted({"amr": ["pwd"]})


async def test_concurrent_first_sign_ins_of_one_subject_make_one_user(rpc, db, campus):
    """Two callbacks for the same new subject at once: the second waits on the first's new identity and
    then signs in to that account."""
    answers: list = []

    def sign_in(hold: threading.Event | None) -> None:
        with psycopg.connect(db.url) as conn:
            (answer,) = conn.execute("select internal.sso_sign_in(%s, 'hal', 'hal@example.edu', true, 'Hal', null, "
                                     "null, false)", [campus["provider_id"]]).fetchone()
            answers.append(answer)
            if hold:
                hold.wait(10)

    release = threading.Event()
    first = threading.Thread(target=sign_in, args=(release,))
    first.start()
    for _ in range(100):
        if answers:
            break
        await asyncio.sleep(0.02)
    second = threading.Thread(target=sign_in, args=(None,))
    second.start()
    await asyncio.sleep(0.3)
    assert len(answers) == 1  # the second waits for the first's identity
    release.set()
    first.join(10)
    second.join(10)
    assert len(answers) == 2 and answers[0]["user_id"] == answers[1]["user_id"]
    assert [a["created"] for a in answers] == [True, False]
    assert count(db, "select count(*) from app.users where email = 'hal@example.edu'") == 1
    assert count(db, "select count(*) from app.sso_identities where subject = 'hal'") == 1
