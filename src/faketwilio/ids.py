"""Identifiers shaped like Twilio's: two letters and 32 hex digits (`SM…` messages, `MM…` messages with media,
`ME…` media, `XE…` senders). From `secrets`, never the seeded dice: two runs must not hand out the same sid."""

from __future__ import annotations

import secrets
import time
from email.utils import formatdate


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def rfc2822(at: float | None = None) -> str:
    """A date as Twilio writes `date_created`: `Thu, 24 Aug 2023 05:01:45 +0000`."""
    return formatdate(time.time() if at is None else at, usegmt=False).replace("-0000", "+0000")
