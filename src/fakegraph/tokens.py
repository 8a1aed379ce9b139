"""Access tokens: which bearer tokens fakegraph accepts, how long each lives, and Meta's two token endpoints.

- `GET /oauth/access_token?grant_type=fb_exchange_token&client_id=…&client_secret=…&fb_exchange_token=…`
  turns a short-lived user token into a long-lived one (about 60 days), answered as
  `{"access_token", "token_type": "bearer", "expires_in"}`.
  https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived
- `GET /debug_token?input_token=…` describes a token under `data`: `app_id`, `type` (`USER`, `SYSTEM_USER`,
  `PAGE`, `APP`), `application`, `is_valid`, `issued_at`, `expires_at` and `data_access_expires_at` (Unix
  seconds; 0 for a System User token that never expires), `scopes`, `granular_scopes`, `user_id`, and for a
  token that is no longer valid an `error` with Meta's code 190 and subcode.
  https://developers.facebook.com/docs/graph-api/reference/debug_token

Both answer on the unversioned path and under `/{version}/`, as graph.facebook.com does.

The configured `access_token` plays a System User token that never expires, and the app token
`{app_id}|{app_secret}` is accepted too. The control API (`/_fake/tokens`) registers more tokens or changes
one: its type, when it expires, and whether it was revoked, which makes every Graph call carrying it fail with
190, as Meta's do.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fakegraph import errors
from fakegraph.config import FakeGraphConfig

LONG_LIVED_SECONDS = 60 * 24 * 3600  # Meta: "a long-lived token generally lasts about 60 days"
SHORT_LIVED_SECONDS = 3600  # a user token from the login flow: about an hour
DATA_ACCESS_SECONDS = 90 * 24 * 3600  # how long the app may read the user's data, renewed by logging in
SYSTEM_USER = "SYSTEM_USER"
TOKEN_TYPES = ("USER", SYSTEM_USER, "PAGE", "APP")
SCOPES = ("whatsapp_business_management", "whatsapp_business_messaging")
EXPIRED_SUBCODE = 463
REVOKED_SUBCODE = 460


@dataclass(slots=True)
class Grant:
    """What Meta knows of one token. `expires_at` and `data_access_expires_at` are Unix seconds, 0: never."""

    type: str
    expires_at: int
    issued_at: int
    data_access_expires_at: int = 0
    revoked: bool = False
    scopes: list[str] = field(default_factory=lambda: list(SCOPES))
    user_id: str = "1000000000000001"

    def expired(self, now: float) -> bool:
        return 0 < self.expires_at <= now


class TokenBook:
    """The tokens of one fakegraph instance, beside the configured one."""

    def __init__(self, config: FakeGraphConfig) -> None:
        self.config = config
        self.grants: dict[str, Grant] = {}

    def grant(self, token: str) -> Grant | None:
        """The token's grant: registered, or the configured token's (a System User's, never expiring), or the
        app token's; None when fakegraph does not know it."""
        if token in self.grants:
            return self.grants[token]
        if self.config.access_token is not None and token == self.config.access_token:
            return Grant(type=SYSTEM_USER, expires_at=0, issued_at=0, user_id="1000000000000002")
        if token == self.app_token():
            return Grant(type="APP", expires_at=0, issued_at=0, scopes=[], user_id="")
        return None

    def app_token(self) -> str:
        return f"{self.config.app_id}|{self.config.app_secret}"

    def refusal(self, token: str) -> errors.GraphError | None:
        """Why a Graph call with this bearer token fails, or None when it may go on. With no configured
        access token (an open sandbox) a token fakegraph does not know passes; a registered one never does
        once it expired or was revoked."""
        found = self.grant(token)
        if found is None:
            return None if self.config.access_token is None else errors.invalid_token()
        if found.revoked:
            return revoked_token()
        if found.expired(time.time()):
            return expired_token(found.expires_at)
        return None

    def mint(self, type_: str, lifetime: int | None, user_id: str) -> tuple[str, Grant]:
        """A new token like Meta's (`EAAG…`) living `lifetime` seconds (None: never expires)."""
        now = int(time.time())
        token = "EAAG" + secrets.token_urlsafe(48).replace("-", "A").replace("_", "B")
        grant = Grant(
            type=type_,
            expires_at=now + lifetime if lifetime else 0,
            issued_at=now,
            data_access_expires_at=now + DATA_ACCESS_SECONDS if type_ == "USER" else 0,
            user_id=user_id,
        )
        self.grants[token] = grant
        return token, grant


def revoked_token() -> errors.GraphError:
    """Graph's answer to a token that was invalidated (the user changed the password, or Meta ended the session)."""
    return errors.GraphError(
        190,
        "Error validating access token: The session has been invalidated because the user changed their password "
        "or Facebook has changed the session for security reasons.",
        details="",
        subcode=REVOKED_SUBCODE,
    )


def expired_token(expires_at: int) -> errors.GraphError:
    """Graph's answer to a token past its expiry, naming when it expired (Meta writes Pacific time)."""
    when = datetime.fromtimestamp(expires_at, UTC).strftime("%A, %d-%b-%y %H:%M:%S UTC")
    return errors.GraphError(
        190,
        f"Error validating access token: Session has expired on {when}. The current time is "
        f"{datetime.now(UTC).strftime('%A, %d-%b-%y %H:%M:%S UTC')}.",
        details="",
        subcode=EXPIRED_SUBCODE,
    )


class TokenEndpoints:
    """`/oauth/access_token`, `/debug_token` and the control API's `/_fake/tokens`."""

    def __init__(self, book: TokenBook) -> None:
        self.book = book

    async def exchange(self, request: Request) -> Response:
        """`GET /oauth/access_token`: no bearer token; the app's id and secret and the short-lived token in
        the query."""
        query = request.query_params
        config = self.book.config
        for name in ("grant_type", "client_id", "client_secret", "fb_exchange_token"):
            if not query.get(name):
                raise errors.missing_parameter(name)
        if query["grant_type"] != "fb_exchange_token":
            raise errors.GraphError(
                100, f"(#100) Unsupported grant_type: {query['grant_type']}", details="", transient=False
            )
        if query["client_id"] != config.app_id:
            raise errors.GraphError(
                101, "Error validating application. Invalid application ID.", details="", transient=False
            )
        if query["client_secret"] != config.app_secret:
            raise errors.GraphError(1, "Error validating client secret.", details="", transient=False)
        short = query["fb_exchange_token"]
        refused = self.book.refusal(short)
        if refused is not None:
            raise refused
        found = self.book.grant(short)
        user_id = found.user_id if found is not None else "1000000000000001"
        token, grant = self.book.mint("USER", LONG_LIVED_SECONDS, user_id)
        return JSONResponse(
            {"access_token": token, "token_type": "bearer", "expires_in": grant.expires_at - int(time.time())}
        )

    async def debug(self, request: Request) -> Response:
        """`GET /debug_token?input_token=…` (the caller's own token passed the gate)."""
        token = request.query_params.get("input_token")
        if not token:
            raise errors.missing_parameter("input_token")
        config = self.book.config
        found = self.book.grant(token)
        if found is None:
            if config.access_token is not None:
                error = {"code": 190, "message": "Invalid OAuth access token."}
                return JSONResponse({"data": {"error": error, "is_valid": False, "scopes": []}})
            found = Grant(type="USER", expires_at=0, issued_at=0)  # an open sandbox takes any token
        data: dict[str, Any] = {
            "app_id": config.app_id,
            "type": found.type,
            "application": config.verified_name,
            "data_access_expires_at": found.data_access_expires_at,
            "expires_at": found.expires_at,
            "is_valid": True,
            "issued_at": found.issued_at,
            "scopes": list(found.scopes),
            "granular_scopes": [{"scope": scope, "target_ids": [config.waba_id]} for scope in found.scopes],
            "user_id": found.user_id,
        }
        refused = self.book.refusal(token)
        if refused is not None:
            data["is_valid"] = False
            data["error"] = {"code": refused.code, "message": refused.message, "subcode": refused.subcode}
        if found.type == "APP":
            for key in ("data_access_expires_at", "granular_scopes", "user_id"):
                data.pop(key)
        return JSONResponse({"data": data})

    async def control(self, request: Request) -> Response:
        """`GET` the registered tokens; `POST {"token", "type", "expires_at" | "expires_in", "revoked"}` registers
        or changes one (`expires_at`: Unix seconds, 0 or null for never; `expires_in`: seconds from now); with
        `"mint": true` and no token, a new one is made; `DELETE` forgets them all."""
        if request.method == "DELETE":
            self.book.grants.clear()
            return JSONResponse({"success": True})
        if request.method == "GET":
            return JSONResponse({"data": [{"token": t, **asdict(g)} for t, g in self.book.grants.items()]})
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return _bad("body is not JSON")
        if not isinstance(body, dict):
            return _bad("body must be a JSON object")
        unknown = sorted(set(body) - {"token", "type", "expires_at", "expires_in", "revoked", "mint", "scopes"})
        if unknown:
            return _bad(f"unknown keys: {', '.join(unknown)}")
        type_ = body.get("type")
        if type_ is not None and type_ not in TOKEN_TYPES:
            return _bad(f"type: one of {', '.join(TOKEN_TYPES)}")
        token = body.get("token")
        if body.get("mint"):
            lifetime = body.get("expires_in", SHORT_LIVED_SECONDS)
            if lifetime is not None and not isinstance(lifetime, int):
                return _bad("expires_in: whole seconds, or null for never")
            token, _ = self.book.mint(str(type_ or "USER"), lifetime, "1000000000000001")
        if not isinstance(token, str) or not token:
            return _bad("token: the token to register or change (or mint: true)")
        grant = self.book.grant(token)
        if grant is None:
            grant = Grant(type="USER", expires_at=0, issued_at=int(time.time()))
        grant = Grant(**asdict(grant))  # a copy: the configured token's grant is made afresh on each call
        problem = _apply(grant, body)
        if problem is not None:
            return _bad(problem)
        self.book.grants[token] = grant
        return JSONResponse({"token": token, **asdict(grant)})


def _apply(grant: Grant, body: dict[str, Any]) -> str | None:
    """Change `grant` as the control body says; the problem with the body, or None."""
    if body.get("type") is not None:
        grant.type = str(body["type"])
    if "expires_at" in body and not body.get("mint"):
        at = body["expires_at"]
        if at is not None and (isinstance(at, bool) or not isinstance(at, int) or at < 0):
            return "expires_at: Unix seconds, or 0 / null for never"
        grant.expires_at = at or 0
    if "expires_in" in body and not body.get("mint"):
        seconds = body["expires_in"]
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            return "expires_in: seconds from now"
        grant.expires_at = int(time.time() + seconds)
    if "revoked" in body:
        if not isinstance(body["revoked"], bool):
            return "revoked: true or false"
        grant.revoked = body["revoked"]
    if "scopes" in body:
        if not isinstance(body["scopes"], list) or not all(isinstance(s, str) for s in body["scopes"]):
            return "scopes: a list of permission names"
        grant.scopes = list(body["scopes"])
    if grant.type == SYSTEM_USER and "expires_at" not in body and "expires_in" not in body:
        grant.expires_at = 0  # a System User token never expires unless told otherwise
    return None


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message}}, status_code=400)
