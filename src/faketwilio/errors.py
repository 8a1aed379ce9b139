"""Twilio's error codes and the REST error body faketwilio answers with.

Source: https://www.twilio.com/docs/api/errors (each code's page) and the Messages resource reference.
Body shape (REST API 2010-04-01):
    {"code": 21211, "message": "Invalid 'To' Phone Number: whatsapp:+1555", "more_info":
     "https://www.twilio.com/docs/errors/21211", "status": 400}
Codes that WhatsApp reports after a message was accepted (63016 window, 63024 invalid recipient...) come as
`ErrorCode` on a failed or undelivered status callback instead.
"""

from __future__ import annotations

from typing import Any

MORE_INFO = "https://www.twilio.com/docs/errors/"

# code: (HTTP status when answered synchronously, message)
CATALOG: dict[int, tuple[int, str]] = {
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "An internal server error has occurred"),
    20503: (503, "Service unavailable"),
    21211: (400, "Invalid 'To' Phone Number"),
    21602: (400, "Message body is required."),
    21603: (400, "A 'From' or 'MessagingServiceSid' parameter is required to send a message"),
    21604: (400, "A 'To' phone number is required."),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),
    21620: (400, "Invalid media URL(s)"),
    21623: (400, "Number of media files exceeds allowed limit"),
    21655: (400, "The ContentSid is Invalid."),
    21656: (400, "The ContentVariables Parameter is invalid."),
    21910: (400, "Invalid 'From' and 'To' pair. 'From' and 'To' should be of the same channel"),
    30001: (429, "Queue overflow"),
    30008: (400, "Unknown error"),
    63003: (400, "Channel could not find To address"),
    63007: (400, "Twilio could not find a Channel with the specified From address"),
    63016: (
        400,
        "Failed to send freeform message because you are outside the allowed window. If you are using WhatsApp, "
        "please use a Message Template.",
    ),
    63018: (429, "Rate limit exceeded for Channel"),
    63019: (400, "Media failed to download"),
    63024: (400, "Invalid message recipient"),
}


class TwilioError(Exception):
    """An error faketwilio answers with, as Twilio's REST API does."""

    def __init__(self, code: int, detail: str | None = None, status: int | None = None) -> None:
        http_status, message = CATALOG.get(code, (400, "Unknown error"))
        self.code = code
        self.status = status or http_status
        self.message = f"{message}: {detail}" if detail else message
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"{MORE_INFO}{self.code}",
            "status": self.status,
        }


def message_of(code: int) -> str:
    """The error's message, for `ErrorMessage` beside `ErrorCode` in a status callback."""
    return CATALOG.get(code, (400, "Unknown error"))[1]
