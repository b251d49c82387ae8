"""`lms events deliver [--watch]`: the webhook worker (rpc/workers/webhook_delivery.py); `lms events receive`:
a verifying receiver for trying webhooks out locally."""

from __future__ import annotations

import json
import logging
import time

from standardwebhooks.webhooks import Webhook

from rpc.db.cluster import database_url
from rpc.workers.webhook_delivery import MAX_ANSWER_BYTES, deliver


def run(args, settings) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    url = database_url(settings)
    while True:
        report = deliver(url, settings, limit=args.limit, batch=args.batch)
        if report["subscriptions"] or not args.watch:
            print(f"events: {report['delivered']} delivered, {report['failed']} failed "
                  f"({report['gave_up']} given up) to {report['subscriptions']} subscription batches", flush=True)
        if not args.watch:
            return 0 if report["failed"] == 0 else 1
        if not report["subscriptions"]:
            time.sleep(args.watch)


def receive(args) -> int:
    """`lms events receive`: a development receiver that verifies each POST and prints the event."""
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from standardwebhooks.webhooks import WebhookVerificationError

    verifier = Webhook(args.secret) if args.secret else None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 — http.server's name
            body = self.rfile.read(min(int(self.headers.get("Content-Length", 0)), MAX_ANSWER_BYTES))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                event = verifier.verify(body, headers) if verifier else json.loads(body)
                verdict = "signature verified" if verifier else "signature NOT checked (no --secret)"
                status = 200
            except (WebhookVerificationError, ValueError) as exc:
                event, verdict, status = body.decode(errors="replace"), f"REFUSED: {exc}", 400
            print(f"webhook-id {headers.get('webhook-id')}: {verdict}\n{json.dumps(event, indent=1)}", flush=True)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    print(f"receiving on http://127.0.0.1:{args.port}/ (Ctrl-C stops)", flush=True)
    try:
        HTTPServer(("127.0.0.1", args.port), Handler).serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def main(args, settings) -> int:
    return receive(args) if args.action == "receive" else run(args, settings)


def add_parser(sub) -> None:
    e = sub.add_parser("events", help="events: deliver queued webhook POSTs (signed, Standard Webhooks); "
                                      "receive: a verifying test receiver")
    e.add_argument("action", choices=["deliver", "receive"])
    e.add_argument("--watch", type=float, nargs="?", const=1.0, default=0.0, metavar="SECONDS",
                   help="keep delivering, looking for due deliveries every SECONDS (default 1) when idle")
    e.add_argument("--limit", type=int, default=10000, help="at most this many POSTs per round (default 10000)")
    e.add_argument("--batch", type=int, default=50, help="deliveries of one subscription per transaction (default 50)")
    e.add_argument("--port", type=int, default=9000, help="receive: port on 127.0.0.1 (default 9000)")
    e.add_argument("--secret", help="receive: the subscription's whsec_… secret, to verify signatures")
    e.set_defaults(func=main)
