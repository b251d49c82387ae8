"""`GET /calendar/{token}.ics`: a learner's calendar feed (RFC 5545), written with the icalendar library.

The token in the URL is the credential (calendar apps send no header): it is bound server-side as a
secret, looked up by its SHA-256, and every date comes from SQL as it applies to that learner
(internal.calendar_feed, sql/functions/50_learning.sql) — this module only writes them as VEVENTs:
zero-length events at the due date, closing time or unlock time (a DTSTART without DTEND, RFC 5545
§3.6.1), each with a stable UID so calendar apps update rather than duplicate."""

from __future__ import annotations

import datetime as dt
import re

from aiohttp import web
from icalendar import Calendar, Event

from rpc.core.protocol import RpcError
from rpc.db.calls import CallContext
from rpc.http.files import rpc_error_response, sql
from rpc.http.service import SERVICE, RpcService
from rpc.http.views import client_address, public_rpc_url

TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")
SUMMARY = {"due": "Due: {title}", "closes": "Closes: {title}", "unlocks": "Opens: {title}"}


def feed_text(feed: dict, host: str) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//LMS//calendar feed//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"Courses — {feed['name']}")
    stamp = dt.datetime.now(dt.UTC)
    for item in feed["events"]:
        event = Event()
        event.add("uid", f"{item['uid']}@{host}")
        event.add("dtstamp", stamp)
        event.add("dtstart", dt.datetime.fromisoformat(item["at"]).astimezone(dt.UTC))
        event.add("summary", SUMMARY[item["kind"]].format(title=item["title"]))
        event.add("description", item["course"])
        event.add("categories", [item["course"]])
        cal.add_component(event)
    return cal.to_ical()


async def feed(request: web.Request) -> web.StreamResponse:
    service: RpcService = request.app[SERVICE]
    token = request.match_info["token"]
    if not TOKEN.fullmatch(token):
        return rpc_error_response(RpcError(404, "no such calendar feed", {"reason": "not_found"}))
    context = CallContext(None, client_address(request, service.proxies))
    try:
        found = await sql(service, "select internal.calendar_feed(%s)", [token], context, secret=True)
    except RpcError as exc:
        return rpc_error_response(exc)
    host = public_rpc_url(request, service).split("/")[2]
    return web.Response(body=feed_text(found, host), content_type="text/calendar", charset="utf-8",
                        headers={"Cache-Control": "private, max-age=300", "Referrer-Policy": "no-referrer"})


def setup_hooks(service: RpcService) -> None:
    """calendar.feed_url answers an absolute URL: the base this client reached the server at."""
    async def absolute(service: RpcService, result, context):
        if isinstance(result, dict) and str(result.get("feed_url", "")).startswith("/"):
            base = (context.rpc_url or service.settings.rpc_url()).removesuffix("/rpc")
            result["feed_url"] = base + result["feed_url"]
        return result

    service.hooks["calendar.feed_url"] = absolute


def setup(app: web.Application) -> None:
    setup_hooks(app[SERVICE])
