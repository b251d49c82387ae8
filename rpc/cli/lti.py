"""`lms lti rotate-keys`: a new current LTI signing key (rpc/db/lti_keys.py). The previous key stays
published at GET /lti/jwks for a day, so a launch signed just before verifies at the tool."""

from __future__ import annotations

import psycopg

from rpc.db import lti_keys
from rpc.db.cluster import database_url


def rotate_keys(args, settings) -> int:
    with psycopg.connect(database_url(settings), autocommit=True) as conn:
        kid = lti_keys.rotate(conn)
    print(f"new LTI signing key {kid}; the previous one stays published at GET /lti/jwks for a day")
    return 0


def add_parser(sub) -> None:
    lti = sub.add_parser("lti", help="LTI 1.3 platform upkeep")
    commands = lti.add_subparsers(dest="lti_command", required=True)
    rotate = commands.add_parser("rotate-keys",
                                 help="make a new current signing key (the old one stays published a day)")
    rotate.set_defaults(func=rotate_keys)
