"""`lms payments simulate ORDER_ID --outcome succeeded|failed|refunded`: the local provider's events.

With the local provider (no LMS_STRIPE_API_KEY) nobody else will tell the server that a payment
succeeded: this command reads the order (its payment intent, amount and currency) with the DBA
connection, builds the event Stripe would send (rpc/payments.build_event), signs it with the webhook
secret (LMS_STRIPE_WEBHOOK_SECRET, or the one kept in LMS_HOME) using the SDK's signing helper, and
posts it to the running server's POST /webhooks/stripe (LMS_HOST/LMS_PORT, or --url).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request

import psycopg

from rpc.workers import payments

ORDER_QUERY = ("select o.provider_payment_intent_id, o.amount_cents, o.currency, o.status, "
               "o.provider_canceled_at is not null from app.orders o where o.id = %s")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("payments", help="payments simulate ORDER_ID --outcome …: post a signed provider event")
    p.add_argument("action", choices=["simulate"])
    p.add_argument("order_id", help="the order (order.create's order_id)")
    p.add_argument("--outcome", required=True, choices=sorted(payments.OUTCOMES))
    p.add_argument("--amount", type=int, help="amount in cents the event reports (default: the order's)")
    p.add_argument("--url", help="the server's base URL (default http://LMS_HOST:LMS_PORT)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings) -> int:
    from rpc.db.cluster import database_url

    try:
        with psycopg.connect(database_url(settings)) as conn:
            conn.execute("select set_config('role', 'lms_definer', true)")  # a DBA reads past RLS
            row = conn.execute(ORDER_QUERY, [args.order_id]).fetchone()
    except psycopg.errors.InvalidTextRepresentation:
        row = None
    if row is None:
        print(f"error: no order {args.order_id}", file=sys.stderr)
        return 1
    intent, amount, currency, status, intent_canceled = row
    if not intent:
        print("error: the order has no payment intent yet (order.create makes one)", file=sys.stderr)
        return 1
    if intent_canceled and args.outcome != "refunded":
        print("error: the order's payment intent was canceled at the provider: it cannot be paid", file=sys.stderr)
        return 1
    event = payments.build_event(args.outcome, args.order_id, intent,
                                 amount if args.amount is None else args.amount, currency)
    body, headers = payments.signed(event, settings.stripe_webhook_key())
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    url = (args.url or f"http://{host}:{settings.port}").rstrip("/") + "/webhooks/stripe"
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 — our own server's URL
            answer, code = json.loads(resp.read() or b"{}"), resp.status
    except urllib.error.HTTPError as exc:
        answer, code = json.loads(exc.read() or b"{}"), exc.code
    except OSError as exc:
        print(f"error: cannot reach {url}: {exc} — is `lms serve` running?", file=sys.stderr)
        return 1
    print(f"{event['type']} {event['id']} for order {args.order_id} (was {status}) → HTTP {code}")
    print(json.dumps(answer, indent=2))
    return 0 if code == 200 else 1
