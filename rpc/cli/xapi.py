"""`lms xapi deliver [--watch]`: learner events as xAPI 1.0.3 statements to the Learning Record Store in
LMS_XAPI_ENDPOINT (HTTP Basic: LMS_XAPI_USERNAME, LMS_XAPI_PASSWORD). The LRS is a subscription of the
webhook machinery (format xapi, internal.xapi_subscription): the same queue, order, retries and back-off
as webhooks, the same worker (rpc/workers/webhook_delivery.py), statements made in SQL
(internal.xapi_statement). It hears the events from the first run on."""

from __future__ import annotations

import logging
import time

import psycopg

from rpc.db.cluster import database_url
from rpc.workers.webhook_delivery import deliver


def subscribe(url: str, settings) -> str:
    """The LRS subscription of LMS_XAPI_ENDPOINT (made once, its credentials kept current) → its id."""
    credentials = None
    if settings.xapi_username:
        password = settings.xapi_password.get_secret_value() if settings.xapi_password else ""
        credentials = f"{settings.xapi_username}:{password}"
    with psycopg.connect(url, autocommit=True) as conn:
        return str(conn.execute("select internal.xapi_subscription(%s, %s)",
                                [settings.xapi_endpoint.rstrip("/"), credentials]).fetchone()[0])


def run(args, settings) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if not settings.xapi_endpoint:
        print("lms xapi deliver: set LMS_XAPI_ENDPOINT (the LRS's xAPI base URL) first")
        return 2
    url = database_url(settings)
    subscribe(url, settings)
    while True:
        report = deliver(url, settings, limit=args.limit, batch=args.batch, subscription_format="xapi",
                         home=settings.xapi_home())
        if report["subscriptions"] or not args.watch:
            print(f"xapi: {report['delivered']} delivered, {report['failed']} failed ({report['gave_up']} given up)",
                  flush=True)
        if not args.watch:
            return 0 if report["failed"] == 0 else 1
        if not report["subscriptions"]:
            time.sleep(args.watch)


def add_parser(sub) -> None:
    x = sub.add_parser("xapi", help="xAPI: deliver learner events as statements to the LRS (LMS_XAPI_ENDPOINT)")
    x.add_argument("action", choices=["deliver"])
    x.add_argument("--watch", type=float, nargs="?", const=1.0, default=0.0, metavar="SECONDS",
                   help="keep delivering, looking for due statements every SECONDS (default 1) when idle")
    x.add_argument("--limit", type=int, default=10000, help="at most this many POSTs per round (default 10000)")
    x.add_argument("--batch", type=int, default=50, help="statements per lease of the subscription (default 50)")
    x.set_defaults(func=run)
