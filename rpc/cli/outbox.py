"""`lms outbox [--watch S]`: deliver the queued emails (rpc/workers/outbox.py)."""

from __future__ import annotations

import logging
import time

from rpc.db.cluster import database_url
from rpc.workers.outbox import deliver


def run(args, settings) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    url = database_url(settings)
    while True:
        report = deliver(url, settings, limit=args.limit)
        print(f"outbox: {report['sent']} sent, {report['failed']} failed", flush=True)
        if not args.watch:
            return 0 if report["failed"] == 0 else 1
        time.sleep(args.watch)


def add_parser(sub) -> None:
    o = sub.add_parser("outbox",
                       help="deliver queued emails (SMTP with LMS_SMTP_URL, else .eml files in LMS_OUTBOX_DIR)")
    o.add_argument("--limit", type=int, default=1000, help="at most this many messages per run (default 1000)")
    o.add_argument("--watch", type=float, default=0.0, metavar="SECONDS",
                   help="keep running, delivering every SECONDS (default: once)")
    o.set_defaults(func=run)
