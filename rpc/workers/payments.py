"""Payment providers, and the provider step of the methods that need one.

PostgreSQL has no network, so the server calls the provider; every rule and every state change stays
in SQL (sql/functions/40_commerce/). Two methods have a provider step, run by RpcService.invoke right
after the method's function returned (HOOKS, keyed by method name):

- `order.create`: api.order_create decides and creates (or returns) the pending order; when it has no
  payment intent yet, the provider creates one (idempotency key = the order id, metadata.order_id), and
  internal.order_attach_intent records it on the order — a second SQL call as the same caller. A call
  that fails between the two leaves a pending order without intent; the next order.create repeats the
  provider call with the same idempotency key, so the provider returns the same intent.
- `order.refund`: api.order_refund decides (admin, completed order) and audits; the provider is asked
  for the refund. The state changes only when the provider's charge.refunded event arrives.
- `order.cancel`: api.order_cancel cancels the pending order; then its payment intent is canceled at
  the provider, so it can no longer be paid.

Canceled orders whose intent is still live at the provider (canceled by the buyer, or by a course
unpublished, made free or re-priced — a trigger, whoever changed the course) are listed by
internal.order_intents_to_cancel: the server cancels the buyer's own right after order.cancel and
before order.create asks for a new intent, and everyone's every 30 s (sweep, run beside the analyst
watchdog). A failed provider call leaves the order listed for the next round.

Providers:
- StripeProvider (LMS_STRIPE_API_KEY set): the official SDK (StripeClient; LMS_STRIPE_API_BASE moves its
  base URL, for a stub), run in a worker thread so the event loop is never blocked.
- LocalProvider (default): issues `pi_local_<order id>` intents with a client secret derived from the
  webhook secret; refunds are asked of nobody — `lms payments simulate ORDER_ID --outcome …` posts the
  event the provider would send, signed like Stripe signs (build_event, sign).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any, Protocol

import stripe

from rpc.core.config import Settings
from rpc.core.protocol import RpcError
from rpc.db.calls import CallContext

log = logging.getLogger("rpc.payments")

UNAVAILABLE = -32000
ATTACH_INTENT = "select internal.order_attach_intent(%s, %s, %s)"
INTENTS_TO_CANCEL = "select internal.order_intents_to_cancel(%s, %s)"
INTENT_CANCELED = "select internal.order_intent_canceled(%s, %s)"
OUTCOMES = {"succeeded": "payment_intent.succeeded", "failed": "payment_intent.payment_failed",
            "refunded": "charge.refunded"}


@dataclass(frozen=True)
class Intent:
    id: str
    client_secret: str


class Provider(Protocol):
    name: str

    async def create_intent(self, order_id: str, amount_cents: int, currency: str) -> Intent: ...

    async def refund(self, order_id: str, payment_intent_id: str) -> str: ...

    async def cancel_intent(self, payment_intent_id: str) -> None:
        """Cancel a payment intent; also done when the provider finds it settled (canceled or paid)."""


class ProviderError(Exception):
    """The provider refused or did not answer."""


class LocalProvider:
    """Development and tests: intents without a network, deterministic per order (idempotent)."""

    name = "local"

    def __init__(self, secret: str):
        self._secret = secret.encode()

    async def create_intent(self, order_id: str, amount_cents: int, currency: str) -> Intent:
        intent_id = "pi_local_" + uuid.UUID(order_id).hex
        digest = hmac.new(self._secret, intent_id.encode(), hashlib.sha256).hexdigest()[:24]
        return Intent(intent_id, f"{intent_id}_secret_{digest}")

    async def refund(self, order_id: str, payment_intent_id: str) -> str:
        return "re_local_" + uuid.UUID(order_id).hex

    async def cancel_intent(self, payment_intent_id: str) -> None:
        return None  # nobody holds the local intents: `lms payments simulate` refuses canceled orders


class StripeProvider:
    """Stripe through its official SDK: PaymentIntent create, Refund create."""

    name = "stripe"

    def __init__(self, api_key: str, api_base: str | None = None):
        base = {"api": api_base.rstrip("/")} if api_base else None
        self.client = stripe.StripeClient(api_key, base_addresses=base, max_network_retries=2)

    async def create_intent(self, order_id: str, amount_cents: int, currency: str) -> Intent:
        params = {"amount": amount_cents, "currency": currency.lower(), "metadata": {"order_id": order_id},
                  "automatic_payment_methods": {"enabled": True}}
        try:
            intent = await asyncio.to_thread(self.client.v1.payment_intents.create, params=params,
                                             options={"idempotency_key": order_id})
        except stripe.StripeError as exc:
            raise ProviderError(str(exc)) from exc
        return Intent(intent.id, intent.client_secret or "")

    async def refund(self, order_id: str, payment_intent_id: str) -> str:
        params = {"payment_intent": payment_intent_id, "metadata": {"order_id": order_id}}
        try:
            refund = await asyncio.to_thread(self.client.v1.refunds.create, params=params,
                                             options={"idempotency_key": f"refund-{order_id}"})
        except stripe.StripeError as exc:
            raise ProviderError(str(exc)) from exc
        return refund.id

    async def cancel_intent(self, payment_intent_id: str) -> None:
        try:
            await asyncio.to_thread(self.client.v1.payment_intents.cancel, payment_intent_id,
                                    params={"cancellation_reason": "abandoned"})
        except stripe.InvalidRequestError as exc:
            if exc.code == "payment_intent_unexpected_state":  # canceled already, or paid: nothing to cancel
                return
            raise ProviderError(str(exc)) from exc
        except stripe.StripeError as exc:
            raise ProviderError(str(exc)) from exc


def make_provider(settings: Settings) -> Provider:
    if settings.stripe_api_key is not None:
        return StripeProvider(settings.stripe_api_key.get_secret_value(), settings.stripe_api_base)
    return LocalProvider(settings.stripe_webhook_key())


def provider_unavailable(exc: Exception) -> RpcError:
    log.warning("payment provider: %s", exc)
    return RpcError(UNAVAILABLE, "The payment provider is unavailable, retry later", {"reason": "provider_unavailable"})


# --- the provider steps (service: rpc.service.RpcService; not imported here, no cycle) ---------------

async def cancel_intents(service: Any, context: Any, user_id: str | None, limit: int = 100) -> int:
    """Cancel at the provider the intents of canceled orders (one buyer's, or everyone's): how many.
    Stops at the first provider failure (left for the next round)."""
    ctx = replace(context, cost=0, given=())
    listed = await service.db.call(INTENTS_TO_CANCEL, [user_id, limit], ctx)
    done = 0
    for item in json.loads(listed) if isinstance(listed, str) else listed:
        await service.provider.cancel_intent(item["payment_intent_id"])
        await service.db.call(INTENT_CANCELED, [item["order_id"], item["payment_intent_id"]], ctx)
        done += 1
    return done


async def after_order_create(service: Any, order: Any, context: Any) -> Any:
    if not isinstance(order, dict) or order.get("status") != "pending":
        return order
    if order.get("payment_intent_id") and order.get("client_secret"):
        return order  # the pending order has its intent already
    try:
        # A new intent only once the buyer's canceled ones (a re-priced order, say) cannot be paid.
        await cancel_intents(service, context, context.user_id)
        intent = await service.provider.create_intent(order["order_id"], order["amount_cents"], order["currency"])
    except ProviderError as exc:
        raise provider_unavailable(exc) from None
    # The second SQL call: same caller, no extra budget; values bound server-side (a client secret).
    return await service.db.call(ATTACH_INTENT, [order["order_id"], intent.id, intent.client_secret],
                                 replace(context, cost=0, given=()), True)


async def after_order_refund(service: Any, order: Any, context: Any) -> Any:
    if not isinstance(order, dict) or not order.get("payment_intent_id"):
        return order
    try:
        refund_id = await service.provider.refund(order["order_id"], order["payment_intent_id"])
    except ProviderError as exc:
        raise provider_unavailable(exc) from None
    return {**order, "refund_id": refund_id}


async def after_order_cancel(service: Any, order: Any, context: Any) -> Any:
    if isinstance(order, dict) and order.get("status") == "canceled" and order.get("payment_intent_id"):
        try:
            await service.provider.cancel_intent(order["payment_intent_id"])
        except ProviderError as exc:  # canceled here; the sweep retries at the provider
            log.warning("payment provider: intent of canceled order %s not canceled yet: %s", order["order_id"], exc)
            return order
        await service.db.call(INTENT_CANCELED, [order["order_id"], order["payment_intent_id"]],
                              replace(context, cost=0, given=()))
    return order


async def sweep(service: Any) -> int:
    """Everyone's canceled orders whose intent is still live at the provider (rpc/http/watchdog.py, every 30 s)."""
    try:
        return await cancel_intents(service, CallContext(None, None), None)
    except ProviderError as exc:
        log.warning("payment provider: canceling intents of canceled orders: %s", exc)
        return 0


HOOKS = {"order.create": after_order_create, "order.refund": after_order_refund, "order.cancel": after_order_cancel}


# --- events as the provider sends them (local provider, tests, bench) ----------------------------

def build_event(outcome: str, order_id: str, payment_intent_id: str, amount_cents: int, currency: str,
                event_id: str | None = None) -> dict:
    """The Stripe-shaped event for an outcome (succeeded | failed | refunded) of an order's payment intent."""
    currency = currency.lower()
    metadata = {"order_id": order_id}
    if outcome in ("succeeded", "failed"):
        obj: dict[str, Any] = {"id": payment_intent_id, "object": "payment_intent", "amount": amount_cents,
                               "amount_received": amount_cents if outcome == "succeeded" else 0,
                               "currency": currency, "metadata": metadata, "payment_method_types": ["card"],
                               "status": "succeeded" if outcome == "succeeded" else "requires_payment_method"}
        if outcome == "failed":
            obj["last_payment_error"] = {"code": "card_declined", "message": "Your card was declined."}
    elif outcome == "refunded":
        obj = {"id": "ch_local_" + uuid.uuid4().hex[:24], "object": "charge", "payment_intent": payment_intent_id,
               "amount": amount_cents, "amount_refunded": amount_cents, "currency": currency, "refunded": True,
               "metadata": metadata, "payment_method_details": {"type": "card"}}
    else:
        raise ValueError(f"unknown outcome {outcome!r}")
    return {"id": event_id or "evt_local_" + uuid.uuid4().hex[:24], "object": "event", "api_version": "2024-06-20",
            "created": int(time.time()), "livemode": False, "type": OUTCOMES[outcome], "data": {"object": obj}}


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header for payload (the SDK's own helper: t=<unix>,v1=<HMAC-SHA256 of "t.payload">)."""
    return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)


def signed(event: dict, secret: str, timestamp: int | None = None) -> tuple[str, dict[str, str]]:
    """(body, headers) of a POST /webhooks/stripe delivering event."""
    body = json.dumps(event)
    return body, {"Stripe-Signature": sign(body, secret, timestamp), "Content-Type": "application/json"}
