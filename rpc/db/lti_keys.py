"""The platform's LTI signing keys (RS256, 2048 bits, made with joserfc): `ensure_key` gives a database
its first one (lms db migrate), `rotate` a new current one (lms lti rotate-keys; the previous key stays
published at GET /lti/jwks for a day). Both run on the DBA connection: internal.lti_key_add is granted
to no client role, and the private half is readable only by lms_definer."""

from __future__ import annotations

import secrets

import psycopg
from joserfc.jwk import RSAKey
from psycopg.types.json import Jsonb


def new_key() -> tuple[str, dict, dict]:
    kid = "lms-" + secrets.token_hex(8)
    key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"}, private=True)
    return kid, key.as_dict(private=True), key.as_dict(private=False)


def rotate(conn: psycopg.Connection) -> str:
    kid, private, public = new_key()
    with conn.transaction():
        conn.execute("select internal.lti_key_add(%s, %s, %s)", [kid, Jsonb(private), Jsonb(public)])
    return kid


def ensure_key(conn: psycopg.Connection) -> str | None:
    """A current key when there is none (→ its kid); None when there is one, or no LTI tables yet."""
    if conn.execute("select to_regclass('app.lti_platform_keys') is null").fetchone()[0]:
        return None
    if conn.execute("select exists (select from app.lti_platform_keys where retired_at is null)").fetchone()[0]:
        return None
    return rotate(conn)
