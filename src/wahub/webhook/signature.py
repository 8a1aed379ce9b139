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


def meta_signature(app_secret: str, body: bytes) -> str:
    """The header value Meta would send for ``body``."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def key_id(app_secret: str) -> str:
    """A short name of an app secret that does not reveal it: kept with each event it verified and with each
    account that holds it, so the two can be matched without decrypting anything."""
    return hmac.new(app_secret.encode(), _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]


def meta_signer(app_secrets: Sequence[str], body: bytes, header: str | None) -> int | None:
    """The index in ``app_secrets`` of the secret that signed ``body`` (``header`` is X-Hub-Signature-256), or
    None when none did."""
    if not header or not header.startswith(_PREFIX):
        return None
    given = header[len(_PREFIX) :].strip().lower()
    if len(given) != 64:
        return None
    signer = None
    for index, secret in enumerate(app_secrets):
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        # Compare against every secret so the time taken does not tell which one matched.
        if hmac.compare_digest(expected, given) and signer is None:
            signer = index
    return signer


def verify_meta(app_secrets: Sequence[str], body: bytes, header: str | None) -> bool:
    """True when ``header`` is a valid signature of ``body`` under any of the configured app secrets."""
    return meta_signer(app_secrets, body, header) is not None


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
