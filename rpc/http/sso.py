"""`GET /sso/{provider}/login` and `GET /sso/{provider}/callback`: sign-in with an OpenID provider
(authorization code flow with PKCE), through authlib — its OAuth 2 client for the authorization URL and
the code exchange, and joserfc (authlib's JOSE library) for the ID token.

Every decision is in SQL (sql/functions/10_identity/13_sso.sql): the single-use state and nonce, who
the identity is, the one-time code. This module only speaks HTTP to the provider: discovery
(`{issuer}/.well-known/openid-configuration`, cached an hour), its keys (cached; a token signed with
a key id not among them fetches the keys again, once: the provider rotated), the code exchange, and the
ID token's checks — signature, issuer, audience (and azp), expiry, nonce. The browser ends at the
provider's return_url with `?code=` (60 s, single use, for `auth.sso_exchange`) or `?error=<reason>`;
no token is ever in a URL."""

from __future__ import annotations

import base64
import hmac
import json
import logging
import time
from urllib.parse import urlencode

import httpx2
from aiohttp import web
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from rpc.core.protocol import RpcError
from rpc.db.calls import CallContext
from rpc.http.files import rpc_error_response, sql
from rpc.http.service import SERVICE
from rpc.http.views import client_address, public_rpc_url

log = logging.getLogger("rpc.sso")

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
MFA_METHODS = {"mfa", "otp", "hwk", "swk", "sc", "fpt", "face", "iris", "retina", "vbm"}  # RFC 8176
SIGN_IN_COST = 20  # like auth.login: an address's budget pays for each step
TIMEOUT = 10.0
LEEWAY = 60  # seconds of clock skew allowed on exp / iat
STATE_COOKIE = "lms_sso_state"


class ProviderUnavailable(Exception):
    """The provider could not be reached, or answered what OpenID Connect does not allow."""


class InvalidIdToken(Exception):
    """The ID token failed a check (the message says which)."""


class Providers:
    """What this process knows of each issuer: its metadata and its keys, with their fetch times."""

    def __init__(self, metadata_ttl: float = 3600.0):
        self.metadata_ttl = metadata_ttl
        self._metadata: dict[str, tuple[float, dict]] = {}
        self._keys: dict[str, KeySet] = {}

    async def _get_json(self, url: str) -> dict:
        try:
            async with httpx2.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client:
                response = await client.get(url, headers={"Accept": "application/json"})
        except httpx2.HTTPError as exc:
            raise ProviderUnavailable(f"{url}: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise ProviderUnavailable(f"{url}: HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise ProviderUnavailable(f"{url}: not JSON") from None
        if not isinstance(body, dict):
            raise ProviderUnavailable(f"{url}: not a JSON object")
        return body

    async def metadata(self, issuer: str) -> dict:
        cached = self._metadata.get(issuer)
        if cached and time.monotonic() - cached[0] < self.metadata_ttl:
            return cached[1]
        meta = await self._get_json(issuer + "/.well-known/openid-configuration")
        if meta.get("issuer") != issuer:  # OpenID Connect Discovery §4.3
            raise ProviderUnavailable(f"discovery names issuer {meta.get('issuer')!r}, not {issuer!r}")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(meta.get(key), str):
                raise ProviderUnavailable(f"discovery gives no {key}")
        self._metadata[issuer] = (time.monotonic(), meta)
        return meta

    async def keys(self, issuer: str, kid: str | None) -> KeySet:
        """The issuer's keys; fetched again when the token's key id is not among those cached."""
        meta = await self.metadata(issuer)
        return await self.keys_at(meta["jwks_uri"], kid)

    async def keys_at(self, jwks_url: str, kid: str | None) -> KeySet:
        """The keys published at a JWKS URL (an issuer's, an LTI tool's): cached, fetched again when the
        token's key id is not among them (the signer rotated)."""
        keys = self._keys.get(jwks_url)
        if keys is None or (kid is not None and kid not in {k.kid for k in keys.keys}):
            try:
                keys = KeySet.import_key_set(await self._get_json(jwks_url))
            except (JoseError, ValueError, KeyError, TypeError) as exc:
                raise ProviderUnavailable(f"the JWKS at {jwks_url} does not load: {exc}") from None
            self._keys[jwks_url] = keys
        return keys


def token_header(token: str) -> dict:
    try:
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    except (ValueError, IndexError):
        raise InvalidIdToken("not a JWS") from None
    if not isinstance(header, dict):
        raise InvalidIdToken("not a JWS")
    return header


def verify_id_token(token: str, keys: KeySet, issuer: str, client_id: str, nonce: str,
                    now: int | None = None) -> dict:
    """The ID token's claims once its signature (one of ALGORITHMS, by the provider's keys), issuer,
    audience (and azp with several audiences), expiry, issue time and nonce hold (OpenID Connect Core
    §3.1.3.7); InvalidIdToken otherwise."""
    try:
        decoded = jwt.decode(token, keys, algorithms=ALGORITHMS)
    except (JoseError, ValueError) as exc:
        raise InvalidIdToken(f"signature: {exc}") from None
    claims = decoded.claims
    registry = jwt.JWTClaimsRegistry(
        now=now, leeway=LEEWAY,
        iss={"essential": True, "value": issuer}, aud={"essential": True, "value": client_id},
        sub={"essential": True}, exp={"essential": True}, iat={"essential": True},
        nonce={"essential": True, "value": nonce})
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise InvalidIdToken(f"{exc.error}: {exc.description or ''}".strip()) from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise InvalidIdToken("several audiences and azp is not this client")
    return claims


def mfa_asserted(claims: dict) -> bool:
    amr = claims.get("amr")
    return isinstance(amr, list) and any(m in MFA_METHODS for m in amr if isinstance(m, str))


def redirect_uri(request: web.Request, provider: str) -> str:
    """The callback URL to register at the provider: {LMS_PUBLIC_URL}/sso/{provider}/callback (unset: the
    base this client reached the server at, as rpc.discover names it)."""
    base = public_rpc_url(request, request.app[SERVICE]).removesuffix("/rpc")
    return base + f"/sso/{provider}/callback"


def context_of(request: web.Request) -> CallContext:
    service = request.app[SERVICE]
    return CallContext(None, client_address(request, service.proxies), cost=SIGN_IN_COST)


def go_to(url: str, **params: str) -> web.Response:
    """303 to the client's page, never cached, sending no referrer on (the code is in the URL)."""
    location = url + ("&" if "?" in url else "?") + urlencode(params)
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store",
                                             "Referrer-Policy": "no-referrer"})


def unavailable(message: str) -> RpcError:
    return RpcError(502, "the OpenID provider could not be reached", {"reason": "sso_provider_unavailable",
                                                                       "detail": message[:200]})


async def login(request: web.Request) -> web.StreamResponse:
    provider = request.match_info["provider"]
    providers = request.app[PROVIDERS]
    context = context_of(request)
    link = request.query.get("link")
    try:
        issuer = await sql(request.app[SERVICE], "select internal.sso_provider_issuer(%s)",
                                    [provider], context)
        try:
            meta = await providers.metadata(issuer)
        except ProviderUnavailable as exc:
            log.warning("sso %s: discovery failed: %s", provider, exc)
            raise unavailable(str(exc)) from None
        flow = await sql(request.app[SERVICE], "select internal.sso_login_begin(%s, %s)",
                                  [provider, link], context)
    except RpcError as exc:
        return rpc_error_response(exc)
    client = AsyncOAuth2Client(flow["client_id"], scope=" ".join(flow["scopes"]),
                               redirect_uri=redirect_uri(request, provider), code_challenge_method="S256")
    url, _ = client.create_authorization_url(meta["authorization_endpoint"], state=flow["state"],
                                             nonce=flow["nonce"], code_verifier=flow["code_verifier"])
    response = web.Response(status=302, headers={"Location": url, "Cache-Control": "no-store"})
    # The state is also this browser's cookie: a callback URL forged elsewhere (someone else's code and
    # state, to sign this browser in to their account) finds no matching cookie (RFC 6749 §10.12).
    response.set_cookie(STATE_COOKIE, flow["state"], max_age=600, path="/sso/", httponly=True, samesite="Lax",
                        secure=redirect_uri(request, provider).startswith("https:"))
    return response


async def callback(request: web.Request) -> web.StreamResponse:
    provider = request.match_info["provider"]
    service = request.app[SERVICE]
    context = context_of(request)
    state = request.query.get("state", "")[:500]
    if not state or not hmac.compare_digest(request.cookies.get(STATE_COOKIE, ""), state):
        return rpc_error_response(RpcError(400, "this browser did not start this sign-in",
                                           {"reason": "invalid_state"}))
    try:
        flow = await sql(service, "select internal.sso_state_take(%s, %s)", [provider, state], context)
    except RpcError as exc:  # unknown, used or expired state: no page of the client's to go back to
        return rpc_error_response(exc)
    try:
        signed = await sign_in(request, provider, flow, context)
    except RpcError as exc:
        reason = (exc.data or {}).get("reason", "sso_failed")
        log.info("sso %s: sign-in refused: %s (%s)", provider, reason, exc.message)
        return go_to(flow["return_url"], error=reason)
    response = go_to(flow["return_url"], code=signed["code"])
    response.del_cookie(STATE_COOKIE, path="/sso/")
    return response


async def sign_in(request: web.Request, provider: str, flow: dict, context: CallContext) -> dict:
    """The code exchange, the ID token's checks and the account (internal.sso_sign_in) → {code}."""
    if "error" in request.query:  # the person declined, or the provider refused
        raise RpcError(401, "the provider did not sign the person in",
                       {"reason": "access_denied" if request.query["error"] == "access_denied" else "provider_error"})
    code = request.query.get("code")
    if not code:
        raise RpcError(400, "the provider sent no code", {"reason": "invalid_state"})
    providers = request.app[PROVIDERS]
    try:
        meta = await providers.metadata(flow["issuer"])
        async with AsyncOAuth2Client(flow["client_id"], flow["client_secret"],
                                     redirect_uri=redirect_uri(request, provider), timeout=TIMEOUT) as client:
            tokens = await client.fetch_token(meta["token_endpoint"], grant_type="authorization_code", code=code,
                                              code_verifier=flow["code_verifier"])
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise InvalidIdToken("the token response has no id_token")
        keys = await providers.keys(flow["issuer"], token_header(id_token).get("kid"))
        claims = verify_id_token(id_token, keys, flow["issuer"], flow["client_id"], flow["nonce"])
    except ProviderUnavailable as exc:
        log.warning("sso %s: %s", provider, exc)
        raise unavailable(str(exc)) from None
    except InvalidIdToken as exc:
        log.warning("sso %s: ID token refused: %s", provider, exc)
        raise RpcError(401, "the ID token failed verification", {"reason": "invalid_id_token"}) from None
    except (httpx2.HTTPError, AuthlibBaseError, ValueError, KeyError) as exc:  # the exchange failed (OAuthError)
        log.warning("sso %s: code exchange failed: %s", provider, type(exc).__name__)
        raise unavailable(f"code exchange: {type(exc).__name__}") from None
    role = claims.get(flow["role_claim"]) if flow.get("role_claim") else None
    verified = claims.get("email_verified")  # absent: the provider does not say (SQL decides what that means)
    name = claims.get("name") or " ".join(str(claims.get(k, "")) for k in ("given_name", "family_name")).strip()
    return await sql(request.app[SERVICE], "select internal.sso_sign_in(%s, %s, %s, %s, %s, %s, %s, %s)", [
        flow["provider_id"], str(claims["sub"]), claims.get("email") if isinstance(claims.get("email"), str) else None,
        verified if isinstance(verified, bool) else None,
        name if isinstance(name, str) else None,
        role if isinstance(role, str) else None, flow.get("link_user_id"), mfa_asserted(claims)], context)


PROVIDERS = web.AppKey("sso_providers", Providers)


def setup(app: web.Application) -> None:
    app[PROVIDERS] = Providers()
