"""Browser sessions: a short-lived access token (a JWT, HS256, keyed from ``WAHUB_SECRET_KEY``) in an HttpOnly
cookie, a refresh token (``store/users.py``) in another, and a CSRF token by double submit: a cookie a page can
read, whose value must come back in ``X-CSRF-Token`` on every state-changing request."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

import jwt
from fastapi import Response

from wahub.store.crypto import Vault

ACCESS_COOKIE = "wahub_access"
REFRESH_COOKIE = "wahub_refresh"
CSRF_COOKIE = "wahub_csrf"
CSRF_HEADER = "X-CSRF-Token"
ACCESS_SECONDS = 15 * 60
REFRESH_SECONDS = 30 * 24 * 3600
REFRESH_PATH = "/api/v1/auth"  # the refresh token goes only to the routes that use it
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: int
    role: str


class AccessTokens:
    """Issues and checks access tokens with a key of their own, derived from the secret key."""

    def __init__(self, vault: Vault, lifetime: int = ACCESS_SECONDS) -> None:
        self._key = vault.derive_key("session-tokens")
        self.lifetime = lifetime

    def issue(self, user_id: int, role: str, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        claims = {"sub": str(user_id), "role": role, "iat": issued, "exp": issued + self.lifetime, "typ": "access"}
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM)

    def check(self, token: str) -> Claims | None:
        """The token's claims when it is ours and not expired, else None."""
        try:
            claims = jwt.decode(
                token, self._key, algorithms=[_ALGORITHM], options={"require": ["sub", "exp", "iat", "role"]}
            )
        except jwt.PyJWTError:
            return None
        if claims.get("typ") != "access" or not str(claims["sub"]).isdigit():
            return None
        return Claims(int(claims["sub"]), str(claims["role"]))


def csrf_ok(cookie: str | None, header: str | None) -> bool:
    """Whether the double-submitted CSRF token matches (in constant time)."""
    if not cookie or not header:
        return False
    return hmac.compare_digest(cookie.encode(), header.encode())


def set_cookies(response: Response, access: str, refresh: str, *, secure: bool) -> str:
    """Set the session's three cookies; returns the CSRF token."""
    csrf = secrets.token_urlsafe(32)
    common = {"secure": secure, "samesite": "strict"}
    response.set_cookie(ACCESS_COOKIE, access, max_age=ACCESS_SECONDS, httponly=True, path="/", **common)  # type: ignore[arg-type]
    response.set_cookie(REFRESH_COOKIE, refresh, max_age=REFRESH_SECONDS, httponly=True, path=REFRESH_PATH, **common)  # type: ignore[arg-type]
    response.set_cookie(CSRF_COOKIE, csrf, max_age=REFRESH_SECONDS, httponly=False, path="/", **common)  # type: ignore[arg-type]
    return csrf


def clear_cookies(response: Response, *, secure: bool) -> None:
    for name, path in ((ACCESS_COOKIE, "/"), (REFRESH_COOKIE, REFRESH_PATH), (CSRF_COOKIE, "/")):
        response.delete_cookie(name, path=path, secure=secure, httponly=name != CSRF_COOKIE, samesite="strict")
