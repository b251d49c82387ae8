"""What LTI tools send the platform (issue 31): `POST /lti/token` (client credentials with a client
assertion JWT signed by the tool, 1EdTech Security Framework §4.1), the services a token opens —
Assignment and Grade Services (`/lti/courses/{id}/lineitems…`: line items, scores, results) and Names
and Role Provisioning Services (`/lti/courses/{id}/memberships`) — and the deep-linking response
(`POST /lti/deep-link`).

This module checks signatures and shapes. It verifies what a tool signed with the tool's own keys (its
registered JWKS URL, cached; an unknown key id fetches them again: rpc/http/sso.py's Providers), and
passes the rest to one SQL function per request (sql/functions/20_catalog/10_lti_services.sql): the
jti used once, the scopes granted, and — with the request's access token, bound server-side as a
secret — which line items, results and members the tool may see or change, decided by row-level
security on the tool as the caller."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from urllib.parse import urlencode

from aiohttp import web
from joserfc import jwt
from joserfc.errors import JoseError

from rpc.core.protocol import RpcError
from rpc.db.calls import CallContext
from rpc.http.files import rpc_error_response, sql
from rpc.http.lti import platform_base
from rpc.http.service import SERVICE
from rpc.http.sso import PROVIDERS, ProviderUnavailable
from rpc.http.views import client_address, public_rpc_url

log = logging.getLogger("rpc.lti")

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
LEEWAY = 60  # seconds of clock skew allowed on exp / iat
MAX_ASSERTION_AGE = 3600  # a client assertion with exp further away than this is refused
LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEMS = "application/vnd.ims.lis.v2.lineitemcontainer+json"
RESULTS = "application/vnd.ims.lis.v2.resultcontainer+json"
SCORE = "application/vnd.ims.lis.v1.score+json"
MEMBERSHIPS = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
PAGE = 100
MAX_PAGE = 1000


class Refused(Exception):
    """What a tool signed failed a check (the message says which)."""


def oauth_error(error: str, description: str, status: int = 400) -> web.Response:
    """An error of the token endpoint as OAuth 2.0 writes it (RFC 6749 §5.2), with our reason beside it."""
    return web.json_response({"error": error, "error_description": description, "reason": error}, status=status,
                             headers={"Cache-Control": "no-store"})


def context_of(request: web.Request) -> CallContext:
    service = request.app[SERVICE]
    return CallContext(None, client_address(request, service.proxies))


def base_of(request: web.Request) -> str:
    service = request.app[SERVICE]
    return platform_base(service, public_rpc_url(request, service))


def unverified_claims(token: str) -> tuple[dict, dict]:
    """(header, claims) of a compact JWS before its signature is checked: only to find whose keys check it."""
    try:
        head, body, _ = token.split(".")
        header = json.loads(base64.urlsafe_b64decode(head + "=="))
        claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    except ValueError:
        raise Refused("not a JWS") from None
    if not isinstance(header, dict) or not isinstance(claims, dict) or not isinstance(claims.get("iss"), str):
        raise Refused("not a JWS with an iss")
    return header, claims


async def tool_signed(request: web.Request, token: str, audiences: list[str], **essential) -> tuple[dict, dict]:
    """(the tool, the claims) of a JWT a tool signed: iss its client_id, signed by one of its keys (RS256),
    aud one of `audiences`, unexpired, with the `essential` claims (a value: that value)."""
    service = request.app[SERVICE]
    header, unverified = unverified_claims(token)
    tool = await sql(service, "select internal.lti_client(%s)", [unverified["iss"][:255]], context_of(request))
    try:
        keys = await request.app[PROVIDERS].keys_at(tool["jwks_url"], header.get("kid"))
    except ProviderUnavailable as exc:
        raise Refused(f"the tool's keys could not be fetched: {exc}") from None
    try:
        claims = jwt.decode(token, keys, algorithms=["RS256"]).claims
        wanted = {name: {"essential": True} | ({} if value is True else {"value": value})
                  for name, value in essential.items()}
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY, iss={"essential": True, "value": tool["client_id"]},
            aud={"essential": True, "values": audiences}, exp={"essential": True}, iat={"essential": True}, **wanted)
        registry.validate(claims)
    except (JoseError, ValueError) as exc:
        raise Refused(f"{getattr(exc, 'error', 'signature')}: {getattr(exc, 'description', '') or exc}") from None
    return tool, claims


# ------------------------------------------------------------------------------------------ POST /lti/token
async def token(request: web.Request) -> web.Response:
    form = await request.post()
    if form.get("grant_type") != "client_credentials":
        return oauth_error("unsupported_grant_type", "grant_type must be client_credentials")
    if form.get("client_assertion_type") != ASSERTION_TYPE or not isinstance(form.get("client_assertion"), str):
        return oauth_error("invalid_request", f"a client_assertion of type {ASSERTION_TYPE} is required")
    scopes = str(form.get("scope", "")).split()
    if not scopes or len(scopes) > 10:
        return oauth_error("invalid_scope", "scope: the space-separated scopes asked for")
    base = base_of(request)
    try:
        tool, claims = await tool_signed(request, form["client_assertion"], [base + "/lti/token", base],
                                         sub=True, jti=True)
        if claims["sub"] != tool["client_id"]:
            raise Refused("sub is not the client_id")
        if claims["exp"] - claims["iat"] > MAX_ASSERTION_AGE:
            raise Refused("the assertion lives longer than an hour")
    except Refused as exc:
        log.info("lti token refused: %s", exc)
        return oauth_error("invalid_grant", f"the client assertion is not valid: {exc}")
    except RpcError as exc:
        return oauth_error((exc.data or {}).get("reason", "invalid_client"), exc.message)
    try:
        granted = await sql(request.app[SERVICE], "select internal.lti_token_grant(%s, %s, to_timestamp(%s), %s)",
                            [tool["client_id"], str(claims["jti"])[:300], int(claims["exp"]), scopes],
                            context_of(request))
    except RpcError as exc:
        reason = (exc.data or {}).get("reason", "invalid_request")
        return oauth_error(reason, exc.message, 400 if exc.code in (400, 422) else exc.code)
    return web.json_response(granted, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


# ------------------------------------------------------------------------------------------ the services
def bearer(request: web.Request) -> str:
    kind, _, value = request.headers.get("Authorization", "").partition(" ")
    if kind.lower() != "bearer" or not value.strip():
        raise RpcError(401, "a tool's access token is required (POST /lti/token)",
                       {"reason": "token_invalid", "field": "Authorization"})
    return value.strip()[:200]


def path_uuid(request: web.Request, name: str) -> str:
    try:
        return str(uuid.UUID(request.match_info[name]))
    except ValueError:
        raise RpcError(404, f"{name} not found", {"reason": "not_found", "field": name}) from None


def page_of(request: web.Request) -> tuple[int, int]:
    try:
        limit = int(request.query.get("limit", PAGE))
        offset = int(request.query.get("offset", 0))
    except ValueError:
        raise RpcError(422, "limit and offset are integers", {"reason": "invalid_argument", "field": "limit"}) from None
    return max(1, min(limit, MAX_PAGE)), max(0, offset)


async def body_of(request: web.Request) -> dict:
    try:
        body = json.loads(await request.read())
    except ValueError:
        raise RpcError(422, "the body is not JSON", {"reason": "invalid_argument", "field": "body"}) from None
    if not isinstance(body, dict):
        raise RpcError(422, "the body is a JSON object", {"reason": "invalid_argument", "field": "body"})
    return body


SERVICE_CALLS = {  # each takes the request's access token first
    "lti_line_items_list": "select internal.lti_line_items_list(%s, %s, %s, %s, %s, %s, %s, %s)",
    "lti_line_item_get": "select internal.lti_line_item_get(%s, %s, %s, %s)",
    "lti_line_item_create": "select internal.lti_line_item_create(%s, %s, %s, %s)",
    "lti_line_item_update": "select internal.lti_line_item_update(%s, %s, %s, %s, %s)",
    "lti_line_item_delete": "select internal.lti_line_item_delete(%s, %s, %s)",
    "lti_score_post": "select internal.lti_score_post(%s, %s, %s, %s)",
    "lti_results_list": "select internal.lti_results_list(%s, %s, %s, %s, %s, %s, %s)",
    "lti_memberships": "select internal.lti_memberships(%s, %s, %s, %s, %s, %s)",
}


async def as_tool(request: web.Request, function: str, *values) -> object:
    """internal.<function>(the request's access token, *values) for the tool the token names."""
    return await sql(request.app[SERVICE], SERVICE_CALLS[function], [bearer(request), *values],
                     context_of(request), secret=True)


def answer(body, content_type: str, status: int = 200, next_url: str | None = None) -> web.Response:
    headers = {"Cache-Control": "no-store"}
    if next_url:
        headers["Link"] = f'<{next_url}>; rel="next"'
    return web.Response(text=json.dumps(body), status=status, content_type=content_type, headers=headers)


def next_page(request: web.Request, got: int, limit: int, offset: int) -> str | None:
    """The next page's URL (AGS §3.2.7, NRPS §2.4.2: a Link header) when this page was full."""
    if got < limit:
        return None
    query = dict(request.query) | {"limit": str(limit), "offset": str(offset + limit)}
    return f"{base_of(request)}{request.path}?{urlencode(query)}"


def service(handler):
    """Errors of the services as JSON with the status they mean (401 with a Bearer challenge)."""
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except RpcError as exc:
            response = rpc_error_response(exc)
            if exc.code == 401:
                response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            elif (exc.data or {}).get("reason") == "insufficient_scope":
                response.headers["WWW-Authenticate"] = 'Bearer error="insufficient_scope"'
            return response
    wrapped.__name__ = handler.__name__
    return wrapped


@service
async def line_items(request: web.Request) -> web.Response:
    course_id = path_uuid(request, "course_id")
    if request.method == "POST":
        created = await as_tool(request, "lti_line_item_create", base_of(request), course_id,
                                json.dumps(await body_of(request)))
        return answer(created, LINEITEM, status=201)
    limit, offset = page_of(request)
    found = await as_tool(request, "lti_line_items_list", base_of(request), course_id,
                          request.query.get("resource_link_id"), request.query.get("resource_id"),
                          request.query.get("tag"), limit, offset)
    return answer(found, LINEITEMS, next_url=next_page(request, len(found), limit, offset))


@service
async def line_item(request: web.Request) -> web.Response:
    course_id, item_id = path_uuid(request, "course_id"), path_uuid(request, "line_item_id")
    if request.method == "PUT":
        changed = await as_tool(request, "lti_line_item_update", base_of(request), course_id, item_id,
                                json.dumps(await body_of(request)))
        return answer(changed, LINEITEM)
    if request.method == "DELETE":
        await as_tool(request, "lti_line_item_delete", course_id, item_id)
        return web.Response(status=204)
    return answer(await as_tool(request, "lti_line_item_get", base_of(request), course_id, item_id), LINEITEM)


@service
async def scores(request: web.Request) -> web.Response:
    course_id, item_id = path_uuid(request, "course_id"), path_uuid(request, "line_item_id")
    if request.content_type not in (SCORE, "application/json"):
        raise RpcError(422, f"a score is {SCORE}", {"reason": "invalid_argument", "field": "Content-Type"})
    kept = await as_tool(request, "lti_score_post", course_id, item_id, json.dumps(await body_of(request)))
    return answer(kept, "application/json")


@service
async def results(request: web.Request) -> web.Response:
    course_id, item_id = path_uuid(request, "course_id"), path_uuid(request, "line_item_id")
    limit, offset = page_of(request)
    user_id = request.query.get("user_id")
    if user_id is not None:
        try:
            user_id = str(uuid.UUID(user_id))
        except ValueError:
            return answer([], RESULTS)
    found = await as_tool(request, "lti_results_list", base_of(request), course_id, item_id, user_id, limit, offset)
    return answer(found, RESULTS, next_url=next_page(request, len(found), limit, offset))


@service
async def memberships(request: web.Request) -> web.Response:
    course_id = path_uuid(request, "course_id")
    limit, offset = page_of(request)
    container = await as_tool(request, "lti_memberships", base_of(request), course_id,
                              request.query.get("role", "")[:200] or None, limit, offset)
    return answer(container, MEMBERSHIPS, next_url=next_page(request, len(container["members"]), limit, offset))


# ------------------------------------------------------------------------------------------ POST /lti/deep-link
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
LTI = "https://purl.imsglobal.org/spec/lti/claim/"


async def deep_link(request: web.Request) -> web.Response:
    """The tool's LtiDeepLinkingResponse (Deep Linking 2.0 §4.2), form-posted by the browser as JWT."""
    form = await request.post()
    response = form.get("JWT")
    if not isinstance(response, str) or len(response) > 200_000:
        return rpc_error_response(RpcError(400, "the form has no JWT", {"reason": "invalid_deep_link", "field": "JWT"}))
    try:
        tool, claims = await tool_signed(request, response, [base_of(request)], nonce=True)
        if claims.get(LTI + "message_type") != "LtiDeepLinkingResponse" or claims.get(LTI + "version") != "1.3.0":
            raise Refused("not an LtiDeepLinkingResponse of LTI 1.3.0")
        items = claims.get(DL + "content_items", [])
        data = claims.get(DL + "data")
        if not isinstance(data, str):
            raise Refused("no data claim: it must return the request's")
    except Refused as exc:
        log.info("lti deep link refused: %s", exc)
        return rpc_error_response(RpcError(400, f"the deep-linking response is not valid: {exc}",
                                           {"reason": "invalid_deep_link", "field": "JWT"}))
    except RpcError as exc:
        return rpc_error_response(exc)
    try:
        created = await sql(request.app[SERVICE], "select internal.lti_deep_link_return(%s, %s, %s, %s)",
                            [tool["client_id"], str(claims.get(LTI + "deployment_id", ""))[:255], data[:200],
                             json.dumps(items)], context_of(request), secret=True)
    except RpcError as exc:
        return rpc_error_response(exc)
    return web.json_response(created, headers={"Cache-Control": "no-store"})


def routes() -> list[web.RouteDef]:
    course = "/lti/courses/{course_id}"
    return [
        web.post("/lti/token", token),
        web.post("/lti/deep-link", deep_link),
        web.get(course + "/lineitems", line_items),
        web.post(course + "/lineitems", line_items),
        web.get(course + "/lineitems/{line_item_id}", line_item),
        web.put(course + "/lineitems/{line_item_id}", line_item),
        web.delete(course + "/lineitems/{line_item_id}", line_item),
        web.post(course + "/lineitems/{line_item_id}/scores", scores),
        web.get(course + "/lineitems/{line_item_id}/results", results),
        web.get(course + "/memberships", memberships),
    ]
