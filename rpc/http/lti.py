"""LTI 1.3 as the platform (issue 31): `GET /lti/jwks` (the platform's public keys) and `GET|POST
/lti/auth` (the OIDC authorization endpoint of a launch: the tool's authentication request → the signed
id_token, form-posted back to the tool). Every check of a launch is in SQL (internal.lti_auth:
sql/functions/20_catalog/09_lti.sql); this module checks the request's shape, signs the claims it is
given with the key it is given (RS256, joserfc), and adds what only the server knows: the issuer (the
base URL tools reach it at — set LMS_PUBLIC_URL so it never changes) and the times."""

from __future__ import annotations

import html
import logging
import time
from urllib.parse import urlsplit

from aiohttp import web
from joserfc import jwt
from joserfc.jwk import RSAKey

from rpc.core.protocol import RpcError
from rpc.db.calls import CallContext
from rpc.http.files import rpc_error_response, sql
from rpc.http.service import SERVICE, RpcService
from rpc.http.views import client_address, public_rpc_url

log = logging.getLogger("rpc.lti")

ID_TOKEN_TTL = 300  # seconds
AUTH_COST = 5


def platform_base(service: RpcService, rpc_url: str | None) -> str:
    return (rpc_url or service.settings.rpc_url()).removesuffix("/rpc")


def platform_urls(base: str) -> dict:
    """What a tool's admin enters for this platform."""
    return {"issuer": base, "platform_jwks_url": base + "/lti/jwks", "auth_url": base + "/lti/auth",
            "token_url": base + "/lti/token"}


async def jwks(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    context = CallContext(None, client_address(request, service.proxies))
    try:
        keys = await sql(service, "select internal.lti_jwks()", [], context)
    except RpcError as exc:
        return rpc_error_response(exc)
    return web.json_response(keys, headers={"Cache-Control": "public, max-age=300"})


def refuse(reason: str, message: str) -> web.Response:
    return rpc_error_response(RpcError(400, message, {"reason": reason}))


async def auth(request: web.Request) -> web.StreamResponse:
    """The tool's authentication request (LTI Core 1.3 §5.1.1.2, OIDC implicit flow, form_post)."""
    service = request.app[SERVICE]
    params = dict(request.query)
    if request.method == "POST":
        params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
    expected = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post", "prompt": "none"}
    for name, value in expected.items():
        if params.get(name) != value:
            return refuse("invalid_request", f"{name} must be {value}")
    context = CallContext(None, client_address(request, service.proxies), cost=AUTH_COST)
    base = platform_base(service, public_rpc_url(request, service))
    try:
        granted = await sql(service, "select internal.lti_auth(%s, %s, %s, %s, %s, %s)", [
            params.get("lti_message_hint", "")[:200], params.get("client_id", "")[:255],
            params.get("redirect_uri", "")[:1000], params.get("login_hint", "")[:100], params.get("nonce", "")[:255],
            base], context)
    except RpcError as exc:
        log.info("lti auth refused: %s", (exc.data or {}).get("reason"))
        return rpc_error_response(exc)
    now = int(time.time())
    claims = granted["claims"] | {"iss": base, "iat": now, "exp": now + ID_TOKEN_TTL}
    key = RSAKey.import_key(granted["private_jwk"])
    id_token = jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key)
    return form_post(params["redirect_uri"], {"id_token": id_token, "state": params.get("state", "")})


def form_post(target: str, fields: dict[str, str]) -> web.Response:
    """The auto-submitting form of OAuth 2.0 Form Post Response Mode, to the registered redirect URI."""
    inputs = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in fields.items())
    page = (f'<!doctype html><html><head><meta charset="utf-8"><title>Launching…</title></head>'
            f'<body onload="document.forms[0].submit()"><form method="post" action="{html.escape(target)}">{inputs}'
            f'<noscript><button type="submit">Continue</button></noscript></form></body></html>')
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(target))
    return web.Response(text=page, content_type="text/html", headers={
        "Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": f"default-src 'none'; script-src 'unsafe-inline'; form-action {origin}"})


def setup_hooks(service: RpcService) -> None:
    """Answers that name the platform's URLs get them from the base the client reached the server at."""
    async def with_platform_urls(service: RpcService, result, context):
        urls = platform_urls(platform_base(service, context.rpc_url))
        if isinstance(result, list):
            return [item | urls for item in result]
        return result | urls if isinstance(result, dict) and "tool_id" in result and "deleted" not in result else result

    async def with_issuer(service: RpcService, result, context):
        if isinstance(result, dict) and isinstance(result.get("params"), dict):
            result["params"]["iss"] = platform_base(service, context.rpc_url)
        return result

    for name in ("lti.tool_register", "lti.tool_update", "lti.tool_list"):
        service.hooks[name] = with_platform_urls
    service.hooks["lti.launch"] = with_issuer
    service.hooks["lti.deep_link"] = with_issuer


def setup(app: web.Application) -> None:
    setup_hooks(app[SERVICE])
