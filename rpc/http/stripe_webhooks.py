"""POST /webhooks/stripe: the payment provider's signed events.

1. The signature is verified by the official SDK (stripe.Webhook.construct_event, 5 minutes tolerance):
   a missing, forged or stale signature, or a body that is not a JSON event → HTTP 400, and the
   database is not touched.
2. ONE SQL call, in one transaction, as the role lms_webhook (it may execute
   internal.payment_event_apply and nothing else; it is not a user): the event is recorded under its
   id (the primary key: a redelivery, also a concurrent one, is applied once) and applied.
3. HTTP 200 only once that transaction has committed — also for a duplicate and for an event type
   that is ignored. A database failure → HTTP 503, so the provider delivers the event again later.
"""

from __future__ import annotations

import json
import logging

import psycopg
import stripe
from aiohttp import web
from psycopg import AsyncClientCursor
from psycopg.types.json import Jsonb
from psycopg_pool import PoolTimeout

from rpc.http.service import SERVICE

log = logging.getLogger("rpc.webhooks")

TOLERANCE_SECONDS = 300
WEBHOOK_ROLE = "lms_webhook"
# One simple-protocol Query = one implicit transaction: the role and timeouts are transaction-local,
# the function runs as lms_webhook, and the whole is committed when the server answers.
APPLY = "select internal.payment_event_apply(%s)"  # after the preamble, in the same Query


def _refuse(status: int, reason: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": status, "message": message, "data": {"reason": reason}}},
                             status=status)


def _no_constants(name: str):
    raise ValueError(f"{name} is not JSON")


async def stripe_webhook(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    body = await request.read()
    try:
        stripe.Webhook.construct_event(body, request.headers.get("Stripe-Signature"),
                                       service.settings.stripe_webhook_key(), tolerance=TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError:
        return _refuse(400, "invalid_signature", "The Stripe-Signature header does not verify (or is stale)")
    except (ValueError, TypeError, AttributeError, KeyError):  # not UTF-8, not JSON, not an event object
        return _refuse(400, "invalid_payload", "The body is not a JSON event")
    try:
        event = json.loads(body, parse_constant=_no_constants)
    except ValueError:
        return _refuse(400, "invalid_payload", "The body is not a JSON event")
    if not (isinstance(event, dict) and isinstance(event.get("id"), str) and isinstance(event.get("type"), str)
            and isinstance(event.get("data"), dict) and isinstance(event["data"].get("object"), dict)):
        return _refuse(400, "invalid_payload", "An event needs id, type and data.object")
    db = service.db
    try:
        async with db.pool.connection(timeout=5.0) as conn:
            cur = AsyncClientCursor(conn)
            preamble, values = db.preamble(role=WEBHOOK_ROLE)
            await cur.execute("; ".join((preamble, APPLY)), [*values, Jsonb(event)])
            cur.nextset()
            row = await cur.fetchone()
    except psycopg.Error as exc:
        if exc.sqlstate == "LM422" or (exc.sqlstate or "").startswith("22"):  # not an event / a value it cannot store
            log.warning("webhook event %s refused: %s", event.get("id"), exc.sqlstate)
            return _refuse(400, "invalid_event", "The event cannot be stored")
        log.error("webhook event %s failed: %s %s", event.get("id"), exc.sqlstate, exc)
        if exc.sqlstate is None:
            db.connection_lost()
        return _refuse(503, "retry_later", "The event was not applied: deliver it again")
    except (PoolTimeout, OSError):
        return _refuse(503, "database_unavailable", "The event was not applied: deliver it again")
    result = row[0] if row else {}
    return web.json_response({"received": True, **result})
