"""What a journaled webhook body is, by the route it came to: ``webhook_events.provider``, which tells the
processor which parser reads it (``webhook/meta.py``, ``webhook/twilio.py``)."""

from __future__ import annotations

import enum


class Source(enum.StrEnum):
    META = "meta"  # POST /webhooks/meta
    TWILIO = "twilio"  # POST /webhooks/twilio: an inbound message
    TWILIO_STATUS = "twilio-status"  # POST /webhooks/twilio/status: a status callback

    @property
    def provider(self) -> str:
        """The provider, as metrics and accounts name it."""
        return "meta" if self is Source.META else "twilio"
