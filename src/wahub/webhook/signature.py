"""Webhook signature checks, always before anything is stored or parsed further.

Meta signs each POST with ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body, keyed by the app secret>``
(https://developers.facebook.com/docs/graph-api/webhooks/getting-started#validate-payloads).
Twilio signs the URL it posted to and the form's fields with the auth token (``X-Twilio-Signature``,
https://www.twilio.com/docs/usage/webhooks/webhooks-security), checked by the official library's
``RequestValidator``: the form is decoded for it, and the raw bytes are what is journaled.

One webhook URL serves every configured account, so a body may verify under any of their app secrets; which one
did is recorded with the event (``key_id``), and the processor applies it only to the accounts of that secret:
whoever holds one app's secret cannot speak for another app's numbers.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from urllib.parse import parse_qsl

from twilio.request_validator import RequestValidator

_PREFIX = "sha256="
_KEY_ID_LABEL = b"wahub webhook key id"
_BLOCK = 64  # SHA-256's block size: HMAC's key pads are this long (RFC 2104)
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def meta_signature(app_secret: str, body: bytes) -> str:
    """The header value Meta would send for ``body``."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def key_id(app_secret: str) -> str:
    """A short name of an app secret that does not reveal it: kept with each event it verified and with each
    account that holds it, so the two can be matched without decrypting anything."""
    return hmac.new(app_secret.encode(), _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]


class MetaKey:
    """An app secret made ready to check bodies: HMAC-SHA256 as RFC 2104 defines it, H((K ^ opad) || H((K ^ ipad)
    || body)), with the two padded keys hashed once here. Checking a body then costs two copies of those states
    and two updates: a fifth of ``hmac.new(...).hexdigest()``'s time, most of which goes to setting up an
    OpenSSL HMAC context per call (measured in docs/decisions.md; ``test_signature`` checks it against
    ``hmac``)."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, app_secret: str) -> None:
        key = app_secret.encode()
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(key.translate(_IPAD))
        self._outer = hashlib.sha256(key.translate(_OPAD))

    def digest(self, body: bytes) -> bytes:
        """HMAC-SHA256 of ``body`` under this key."""
        inner = self._inner.copy()
        inner.update(body)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


def meta_signer(keys: Sequence[MetaKey], body: bytes, header: str | None) -> int | None:
    """The index in ``keys`` of the app secret that signed ``body`` (``header`` is X-Hub-Signature-256), or
    None when none did."""
    if not header or not header.startswith(_PREFIX):
        return None
    text = header[len(_PREFIX) :].strip()
    if len(text) != 64:
        return None
    try:
        given = bytes.fromhex(text)  # hex digits in either case
    except ValueError:
        return None
    if len(given) != 32:  # spaces between the digits
        return None
    signer = None
    for index, key in enumerate(keys):
        # Compare against every secret so the time taken does not tell which one matched.
        if hmac.compare_digest(key.digest(body), given) and signer is None:
            signer = index
    return signer


def verify_meta(app_secrets: Sequence[str], body: bytes, header: str | None) -> bool:
    """True when ``header`` is a valid signature of ``body`` under any of the configured app secrets."""
    return meta_signer([MetaKey(secret) for secret in app_secrets], body, header) is not None


def form_fields(body: bytes) -> list[tuple[str, str]]:
    """The fields of a form-encoded body, in order (a name may repeat); ValueError if it is not a UTF-8 form."""
    text = body.decode("utf-8")  # UnicodeDecodeError is a ValueError
    return parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=1000)


class _Params(dict[str, list[str]]):
    """A form as ``RequestValidator`` reads a multi-valued one (``getlist``), so repeated names count."""

    def getlist(self, name: str) -> list[str]:
        return self[name]


def twilio_signer(auth_tokens: Sequence[str], url: str, body: bytes, header: str | None) -> int | None:
    """The index in ``auth_tokens`` of the token that signed this form posted to ``url`` (the URL Twilio
    requested, as the world sees it: behind a proxy, ``WAHUB_PUBLIC_URL``'s), or None when none did or the body
    is not a form."""
    if not header:
        return None
    try:
        fields = form_fields(body)
    except ValueError:
        return None
    params = _Params()
    for name, value in fields:
        params.setdefault(name, []).append(value)
    signer = None
    for index, token in enumerate(auth_tokens):
        # Every token is tried, so the time taken does not tell which one matched.
        if RequestValidator(token).validate(url, params, header) and signer is None:
            signer = index
    return signer
