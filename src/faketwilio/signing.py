"""Twilio's webhook signature, computed from its documentation (not with Twilio's library, which wahub uses
to check it: a bug shared by both sides would pass unseen).

https://www.twilio.com/docs/usage/webhooks/webhooks-security#validating-signatures-from-twilio
The full URL Twilio requested, then each POST parameter's name and value, sorted by name (values of one name
sorted too), concatenated without separators; HMAC-SHA1 with the auth token; base64. Sent as
`X-Twilio-Signature`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence


def signature(auth_token: str, url: str, params: Sequence[tuple[str, str]]) -> str:
    text = url
    names = sorted({name for name, _ in params})
    for name in names:
        for value in sorted({v for n, v in params if n == name}):
            text += name + value
    digest = hmac.new(auth_token.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()
