"""Webhook signature checks, always on the raw bytes before any parsing.

Meta signs each POST with ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body, keyed by the app secret>``
(https://developers.facebook.com/docs/graph-api/webhooks/getting-started#validate-payloads).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

_PREFIX = "sha256="


def meta_signature(app_secret: str, body: bytes) -> str:
    """The header value Meta would send for ``body``."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def verify_meta(app_secrets: Iterable[str], body: bytes, header: str | None) -> bool:
    """True when ``header`` is a valid signature of ``body`` under any of the configured app secrets."""
    if not header or not header.startswith(_PREFIX):
        return False
    given = header[len(_PREFIX) :].strip().lower()
    if len(given) != 64:
        return False
    matched = False
    for secret in app_secrets:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        # Compare against every secret so the time taken does not tell which one matched.
        matched |= hmac.compare_digest(expected, given)
    return matched
