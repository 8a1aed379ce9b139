"""What became of each thing a webhook event held: the contract between ``apply.py``, which counts them, and
``processor.py``, which writes them into the event's result and into ``/metrics``."""

from __future__ import annotations

import enum
from typing import NamedTuple


class Outcome(enum.StrEnum):
    """What became of one thing a webhook event held, in the words the event's result shows (``ok; 1 message;
    2 status``). ``processor.py`` maps each to the labels of ``wahub_webhook_items_total``."""

    MESSAGE = "message"
    UNKNOWN_MESSAGE = "unknown message"  # stored, of a type wahub does not know
    DUPLICATE_MESSAGE = "duplicate message"
    MESSAGE_FOR_UNKNOWN_NUMBER = "message for an unknown number"
    NUMBER_CHANGE = "number change"
    PLACEHOLDER_FILLED = "placeholder filled"
    IMPORT_TAKEN_OVER = "imported message taken over"  # a history or echo message an imported export held
    RETYPED = "retyped message"  # stored as unknown before, read now as its type (a redelivery, a reprocess)
    STATUS = "status"
    UNKNOWN_STATUS = "unknown status"
    STATUS_FOR_UNKNOWN_NUMBER = "status for an unknown number"
    PREFERENCE = "preference"
    ERROR_REPORT = "error report"
    FOREIGN_CHANGE = "change signed by another account's app secret"
    ACCOUNT_EVENT = "event"  # its subject: Meta's field
    UNKNOWN_TARGET = "of an unknown message"  # its subject: the reaction, edit or revoke type


class Held(NamedTuple):
    """One kind of thing an event held and what became of it; ``subject`` says which field or type for
    ``ACCOUNT_EVENT`` and ``UNKNOWN_TARGET``, and is empty for the others."""

    outcome: Outcome
    subject: str = ""

    @property
    def words(self) -> str:
        if self.outcome is Outcome.ACCOUNT_EVENT:
            return f"event {self.subject}"
        if self.outcome is Outcome.UNKNOWN_TARGET:
            return f"{self.subject} of an unknown message"
        return self.outcome.value
