"""Bearer tokens: verify an access JWT into a user id, sign one from claims. Nothing more."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from rpc.core.protocol import RpcError

ALGORITHM = "HS256"
CACHE_LIMIT = 10_000


@dataclass(frozen=True)
class Caller:
    """Who a token says calls. Only the user id: the role in the token is a hint for clients, the database
    reads the user's role itself (internal.set_caller), so a stale token cannot keep a revoked role."""
    user_id: str | None


ANONYMOUS = Caller(None)


class TokenService:
    def __init__(self, key: str, ttl_seconds: int):
        self.key = key
        self.ttl = ttl_seconds
        self._cache: dict[str, tuple[float, Caller]] = {}

    def sign(self, claims: dict) -> tuple[str, int]:
        now = int(time.time())
        payload = {"sub": str(claims["sub"]), "role": claims.get("role"), "iat": now, "exp": now + self.ttl,
                   "typ": "access"}
        return jwt.encode(payload, self.key, algorithm=ALGORITHM), self.ttl

    def verify(self, authorization: str | None) -> Caller:
        """Caller for an `Authorization` header value; anonymous without one; 401 if invalid."""
        if not authorization:
            return ANONYMOUS
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise RpcError(401, "Invalid authorization header", {"reason": "token_invalid"})
        now = time.time()
        hit = self._cache.get(token)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            claims = jwt.decode(token, self.key, algorithms=[ALGORITHM],
                                options={"require": ["exp", "sub", "iat"]})
        except jwt.ExpiredSignatureError as exc:
            raise RpcError(401, "Access token expired", {"reason": "token_expired"}) from exc
        except jwt.PyJWTError as exc:
            raise RpcError(401, "Invalid access token", {"reason": "token_invalid"}) from exc
        if claims.get("typ") != "access":
            raise RpcError(401, "Invalid access token", {"reason": "token_invalid"})
        caller = Caller(str(claims["sub"]))
        if len(self._cache) >= CACHE_LIMIT:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
        self._cache[token] = (float(claims["exp"]), caller)
        return caller
