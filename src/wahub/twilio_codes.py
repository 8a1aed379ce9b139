"""Twilio's error codes: which domain error each is, and the reason wahub shows for it. Read by the Twilio
provider (errors of a send, ``provider/twilio.py``) and by the status callback parser (``ErrorCode`` of a failed
message, ``webhook/twilio.py``): beside ``errors.py``, below both layers, so each imports it downward.

Source: https://www.twilio.com/docs/api/errors (each code's page). The WhatsApp codes (63xxx) arrive on a failed
or undelivered status callback, or as the answer to a send; the REST codes (2xxxx) as the answer to a call.
"""

from __future__ import annotations

from wahub import errors

# code: (class, reason)
_CODES: dict[int, tuple[type[errors.ProviderError], str]] = {
    20003: (errors.AccessTokenInvalid, "Twilio refused the account's credentials (Account SID and auth token)"),
    20429: (errors.RateLimited, "too many requests to Twilio at once"),
    30001: (errors.RateLimited, "Twilio's queue for the sender is full"),
    63018: (errors.ThroughputLimited, "the WhatsApp sender is over its rate limit"),
    20500: (errors.TransientProviderError, "Twilio had an internal error"),
    20503: (errors.TransientProviderError, "Twilio is unavailable"),
    63016: (
        errors.PermanentProviderError,
        "outside the 24-hour window: only a template (a Content SID) can be sent until the customer writes",
    ),
    21610: (errors.PermanentProviderError, "the recipient opted out (replied STOP) and must opt in again"),
    63024: (errors.PermanentProviderError, "invalid recipient: the number cannot receive WhatsApp messages"),
    63003: (errors.PermanentProviderError, "Twilio could not find the recipient's WhatsApp address"),
    63019: (errors.PermanentProviderError, "Twilio could not download the media to send"),
    63007: (errors.PermanentProviderError, "Twilio has no WhatsApp sender with this From address"),
    21211: (errors.PermanentProviderError, "the 'To' number is not valid"),
    21602: (errors.PermanentProviderError, "the message has no body, media or Content SID"),
    21620: (errors.PermanentProviderError, "the media URL is not valid"),
    21655: (errors.PermanentProviderError, "the Content SID is not valid"),
    21656: (errors.PermanentProviderError, "the ContentVariables are not valid"),
    21910: (errors.PermanentProviderError, "'From' and 'To' are not of the same channel"),
    30008: (errors.PermanentProviderError, "unknown delivery error"),
}

MORE_INFO = "https://www.twilio.com/docs/errors/"


def reason(code: int | None, message: str | None = None) -> str:
    """What a failure with this code means, in wahub's words (Twilio's own message when wahub has none)."""
    if code is not None and code in _CODES:
        return _CODES[code][1]
    return message or (f"Twilio error {code}" if code is not None else "Twilio error")


def error_for(code: int | None, message: str, *, http_status: int | None = None) -> errors.ProviderError:
    """Translate an error Twilio answered with into our class: by code first, then by the HTTP status."""
    cls: type[errors.ProviderError]
    if code is not None and code in _CODES:
        cls = _CODES[code][0]
    elif http_status == 429:
        cls = errors.RateLimited
    elif http_status is not None and http_status >= 500:
        cls = errors.TransientProviderError
    else:
        cls = errors.PermanentProviderError
    details = f"{message} ({MORE_INFO}{code})" if code is not None else message
    return cls(reason(code, message), code=code, title=reason(code, message), details_text=details)
