"""Meta's error codes and the Graph error body fakegraph answers with.

Source: https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes
Meta's table answers the throttling codes (4, 80007, 130429, 131048, 131056) with HTTP 400, not 429;
`Faults.throttle_http_status` can switch that for clients that must cope with proxies answering 429.

Body shape (Graph API):
    {"error": {"message": "(#131056) (Business Account, Consumer Account) pair rate limit hit",
               "type": "OAuthException", "code": 131056, "error_subcode": ...,
               "error_data": {"messaging_product": "whatsapp", "details": "..."},
               "is_transient": true, "fbtrace_id": "A..."}}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fakegraph import ids

ERROR_CODES_URL = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """One row of Meta's error table: title, HTTP status, whether a retry can succeed, usual details."""

    title: str
    http_status: int
    transient: bool
    details: str


CATALOG: dict[int, ErrorSpec] = {
    1: ErrorSpec("An unknown error occurred", 400, True, "Invalid request or possible server error."),
    2: ErrorSpec("Service temporarily unavailable", 503, True, "Temporary due to downtime or overload."),
    4: ErrorSpec("Application request limit reached", 400, True, "The app has reached its API call rate limit."),
    10: ErrorSpec(
        "Application does not have permission for this action",
        403,
        False,
        "Permission is either not granted or has been removed.",
    ),
    100: ErrorSpec("Invalid parameter", 400, False, "Invalid parameter"),
    190: ErrorSpec("Error validating access token: Session has expired", 401, False, "Your access token has expired."),
    368: ErrorSpec(
        "Temporarily blocked for policies violations",
        400,
        False,
        "The WhatsApp Business Account associated with the app has been restricted.",
    ),
    80007: ErrorSpec("Rate limit issues", 400, True, "The WhatsApp Business Account has reached its rate limit."),
    130429: ErrorSpec("Rate limit hit", 400, True, "Cloud API message throughput has been reached."),
    130472: ErrorSpec(
        "User's number is part of an experiment",
        400,
        False,
        "Failed to send message because this user's phone number is part of an experiment",
    ),
    131000: ErrorSpec("Something went wrong", 500, True, "Message failed to send due to an unknown error."),
    131005: ErrorSpec("Access denied", 403, False, "Permission is either not granted or has been removed."),
    131008: ErrorSpec("Required parameter is missing", 400, False, "The request is missing a required parameter."),
    131009: ErrorSpec("Parameter value is not valid", 400, False, "One or more parameter values are invalid."),
    131016: ErrorSpec("Service unavailable", 503, True, "A service is temporarily unavailable."),
    131021: ErrorSpec("Recipient cannot be sender", 400, False, "Sender and recipient phone number is the same."),
    131026: ErrorSpec(
        "Message undeliverable",
        400,
        False,
        "Message failed to send because the recipient's phone number is not on WhatsApp, "
        "has not accepted the latest Terms of Service, or uses an old WhatsApp version.",
    ),
    131030: ErrorSpec(
        "Recipient phone number not in allowed list", 400, False, "Recipient phone number not in allowed list"
    ),
    131031: ErrorSpec(
        "Account has been locked", 400, False, "The WhatsApp Business Account has been restricted or disabled."
    ),
    131042: ErrorSpec(
        "Business eligibility payment issue",
        400,
        False,
        "Message failed to send because there were one or more errors related to your payment method.",
    ),
    131047: ErrorSpec(
        "Re-engagement message",
        400,
        False,
        "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
    ),
    131048: ErrorSpec(
        "Spam rate limit hit",
        400,
        True,
        "Message failed to send because there are restrictions on how many messages can be "
        "sent from this phone number.",
    ),
    131049: ErrorSpec(
        "Meta chose not to deliver.",
        400,
        False,
        "This message was not delivered to maintain healthy ecosystem engagement.",
    ),
    131050: ErrorSpec(
        "Unable to deliver the message. This recipient has chosen to stop receiving "
        "marketing messages on WhatsApp from your business",
        400,
        False,
        "The user has stopped marketing messages from this business.",
    ),
    131051: ErrorSpec("Unsupported message type", 400, False, "Message type is not currently supported."),
    131052: ErrorSpec("Media download error", 400, False, "Unable to download the media sent by the user."),
    131053: ErrorSpec("Media upload error", 400, False, "Unable to upload the media used in the message."),
    131056: ErrorSpec(
        "(Business Account, Consumer Account) pair rate limit hit",
        400,
        True,
        "Message failed to send because there were too many messages sent from this phone "
        "number to the same phone number in a short period of time.",
    ),
    132000: ErrorSpec(
        "Number of parameters does not match the expected number of params",
        400,
        False,
        "The number of parameters does not match the template.",
    ),
    132001: ErrorSpec(
        "Template name does not exist in the translation",
        400,
        False,
        "The template does not exist in the specified language or has not been approved.",
    ),
    132005: ErrorSpec("Translated text too long", 400, False, "Translated text is too long."),
    132012: ErrorSpec(
        "Parameter format does not match format in the created template",
        400,
        False,
        "Variable parameter values formatted incorrectly.",
    ),
    132015: ErrorSpec("Template is Paused", 400, False, "Template is paused due to low quality."),
    132016: ErrorSpec("Template is Disabled", 400, False, "Template has been disabled due to low quality."),
    133010: ErrorSpec(
        "Phone number Not Registered",
        400,
        False,
        "The phone number is not registered on the WhatsApp Business Platform.",
    ),
    135000: ErrorSpec("Generic user error", 400, False, "Message failed to send because of an unknown error."),
}

# Codes the sender should back off from; `Faults.throttle_http_status` applies to these.
THROTTLING_CODES = frozenset({4, 80007, 130429, 131048, 131056})


def spec_for(code: int) -> ErrorSpec:
    """The catalog row for `code`, or a plain 400 for codes fakegraph does not know."""
    return CATALOG.get(code, ErrorSpec(f"Error {code}", 400, False, f"Error code {code}."))


class GraphError(Exception):
    """An error fakegraph answers as a Graph error body; raised anywhere inside a Graph handler."""

    def __init__(
        self,
        code: int,
        message: str | None = None,
        *,
        details: str | None = None,
        subcode: int | None = None,
        http_status: int | None = None,
        error_type: str = "OAuthException",
        transient: bool | None = None,
    ) -> None:
        spec = spec_for(code)
        self.code = code
        self.message = message if message is not None else f"(#{code}) {spec.title}"
        self.details = details if details is not None else spec.details
        self.subcode = subcode
        self.http_status = http_status if http_status is not None else spec.http_status
        self.error_type = error_type
        self.transient = spec.transient if transient is None else transient
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        """The JSON body Meta sends with this error."""
        error: dict[str, Any] = {"message": self.message, "type": self.error_type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.details:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        error["is_transient"] = self.transient
        error["fbtrace_id"] = ids.new_fbtrace_id()
        return {"error": error}


def invalid_parameter(details: str) -> GraphError:
    """Meta's answer to a malformed send body: code 100 with the offending parameter in details."""
    return GraphError(100, details=details)


def missing_parameter(name: str) -> GraphError:
    """Meta's answer when a required parameter is absent."""
    return GraphError(100, f"(#100) The parameter {name} is required.", details=f"The parameter {name} is required.")


def unknown_object(object_id: str, method: str) -> GraphError:
    """Graph's answer for an id it does not know (or may not touch): code 100, subcode 33."""
    return GraphError(
        100,
        f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation. Please read the Graph "
        "API documentation at https://developers.facebook.com/docs/graph-api",
        details="",
        subcode=33,
        error_type="GraphMethodException",
    )


def invalid_token() -> GraphError:
    """Graph's answer to a missing or wrong bearer token."""
    return GraphError(190, "Invalid OAuth access token - Cannot parse access token", details="")


def expired_token() -> GraphError:
    """Graph's answer to an expired token (injected by the fault `error_code: 190`)."""
    return GraphError(
        190,
        "Error validating access token: Session has expired on Thursday, 01-Jan-26 00:00:00 PST.",
        details="",
        subcode=463,
    )


def unknown_path(path: str) -> GraphError:
    """Graph's answer to a path it has no endpoint for."""
    return GraphError(2500, f"Unknown path components: {path}", details="", http_status=400)


def for_code(code: int, http_status: int | None = None) -> GraphError:
    """The error Meta answers a send with when it fails with `code` (used by fault injection)."""
    if code == 190:
        return expired_token()
    if code == 100:
        return invalid_parameter("Invalid parameter")
    return GraphError(code, http_status=http_status)


def status_error(code: int) -> dict[str, Any]:
    """One element of the `errors` array of a `failed` status webhook."""
    spec = spec_for(code)
    return {
        "code": code,
        "title": spec.title,
        "message": spec.title,
        "error_data": {"details": spec.details},
        "href": ERROR_CODES_URL,
    }
