"""wahub's errors: one root, each class's docstring is its default message.

    WahubError
    ├── NotFound                      a thing asked for does not exist
    ├── Unauthorized                  no or bad credentials
    ├── Forbidden                     credentials without the permission (a scope, a role, a CSRF token)
    ├── TooManyRequests               an API key over its request rate: retry after ``retry_after`` seconds
    ├── Busy                          request bodies in flight fill their memory budget: retry after ``retry_after``
    ├── InvalidInput                  input that wahub refuses before doing anything (field, reason)
    │   ├── WindowClosed              free-form message outside the 24-hour window: a template is needed
    │   ├── RangeNotSatisfiable       a byte range outside the file
    │   ├── BodyTooLarge              a request body over its route's size limit
    │   └── BodyTooSlow               a request body arriving slower than the minimum rate
    ├── Conflict                      an idempotency or uniqueness conflict
    │   ├── IdempotencyConflict       an Idempotency-Key reused with another request body
    │   └── AlreadyRequested          a request Meta allows once (a history sync) was made already
    ├── NoAccount                     no account can send this message
    ├── StorageError                  the media storage backend failed or refused (unreachable, denied): retryable
    ├── ReportSourceError             a report's data could not be read (database, file, URL down): retryable
    ├── MediaRejected                 a downloaded file is not what the provider said it is (SHA-256, size)
    ├── DeliveryFailed                a subscriber did not take its webhook (no 2xx): retryable
    └── ProviderError                 a provider (Meta, Twilio) refused or failed a call: code, subcode, retryable
        ├── TransientProviderError    worth retrying later (5xx, timeouts, throttling)
        │   ├── OutcomeUnknown        timeout or dropped connection: the call may have been carried out
        │   └── RateLimited           too fast, back off
        │       ├── ThroughputLimited the sending number's own rate: send slower from it
        │       └── PairLimited       too many messages to one recipient: pause for that recipient
        ├── PermanentProviderError    retrying will not help (131026, 131047, 132xxx...)
        │   └── UploadLost            the provider no longer has a file uploaded earlier: upload it again
        └── AccessTokenInvalid        the account's token expired or was revoked; stop sending

Provider errors are built at the provider's boundary: Meta's error codes are translated in ``provider/graph.py``
(its code table says which class and whether to retry), so the worker branches on classes, never on codes.
HTTP statuses only appear in ``api/``.
"""

from __future__ import annotations

from typing import Any


class WahubError(Exception):
    """Something went wrong in wahub."""

    retryable = False  # whether trying the same job again later may succeed (``worker/retry.py``)

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or (type(self).__doc__ or "error").strip().splitlines()[0]
        self.details = details
        super().__init__(self.message)


class NotFound(WahubError):
    """Not found."""


class Unauthorized(WahubError):
    """A valid API key or token is required."""


class Forbidden(WahubError):
    """These credentials do not allow this."""


class TooManyRequests(WahubError):
    """Too many requests with this API key: slow down."""

    def __init__(self, message: str | None = None, *, retry_after: float) -> None:
        super().__init__(message, retry_after=round(retry_after, 3))
        self.retry_after = retry_after


class Busy(WahubError):
    """The server is reading too many request bodies at once: retry shortly."""

    def __init__(self, message: str | None = None, *, retry_after: float) -> None:
        super().__init__(message, retry_after=round(retry_after, 3))
        self.retry_after = retry_after


class InvalidInput(WahubError):
    """The input is not valid."""


class BodyTooLarge(InvalidInput):
    """The request body is larger than this route accepts."""


class BodyTooSlow(InvalidInput):
    """The request body arrived too slowly."""


class RangeNotSatisfiable(InvalidInput):
    """The byte range asked for is outside the file."""


class Conflict(WahubError):
    """The request conflicts with the current state."""


class AlreadyRequested(Conflict):
    """Meta allows this request once per onboarding, and it was made already."""


class IdempotencyConflict(Conflict):
    """This Idempotency-Key was already used with a different request."""


class WindowClosed(InvalidInput):
    """The 24-hour customer-service window is closed: only a template message can be sent."""


class NoAccount(WahubError):
    """No account is configured that can send this message."""


class StorageError(WahubError):
    """The media storage backend failed."""

    retryable = True  # a file that could not be read or written is passing, like a provider's 5xx


class ReportSourceError(WahubError):
    """The report's data could not be read."""

    retryable = True  # a database or a URL that does not answer now may answer later


class DeliveryFailed(WahubError):
    """The subscriber did not take the webhook delivery."""

    retryable = True


class MediaRejected(WahubError):
    """The downloaded file does not match what the provider said of it."""


class ProviderError(WahubError):
    """The provider refused the request."""

    retryable = False

    def __init__(
        self,
        message: str | None = None,
        *,
        code: int | None = None,
        subcode: int | None = None,
        title: str | None = None,
        details_text: str | None = None,
        transient: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.subcode = subcode
        self.title = title or self.message
        self.details_text = details_text
        if transient is not None:
            self.retryable = transient


class TransientProviderError(ProviderError):
    """The provider failed for now; the call can be retried."""

    retryable = True


class OutcomeUnknown(TransientProviderError):
    """The provider's answer was lost (a timeout, a dropped connection): the request may have been carried out."""


class RateLimited(TransientProviderError):
    """The provider throttled us; back off before retrying."""


class ThroughputLimited(RateLimited):
    """The sending number is over its throughput: send slower from it."""


class PairLimited(RateLimited):
    """Too many messages to this recipient in a short time: wait before sending it more."""


class PermanentProviderError(ProviderError):
    """The provider refused the message; retrying will not help."""


class UploadLost(PermanentProviderError):
    """The provider no longer has the file uploaded to it earlier: it must be uploaded again."""


class AccessTokenInvalid(ProviderError):
    """The account's access token is invalid or expired; sending stops until it is replaced."""
