"""What the processor makes of ``apply``'s outcomes: every outcome has its ``/metrics`` labels, and the event's
result keeps its words."""

from __future__ import annotations

from collections import Counter

from wahub.worker import processor
from wahub.worker.outcome import Held, Outcome


def test_every_outcome_has_its_item_and_result_labels() -> None:
    assert set(processor.ITEM_LABELS) == set(Outcome)
    assert processor._labels(Held(Outcome.DUPLICATE_MESSAGE)) == {"item": "message", "result": "duplicate"}
    assert processor._labels(Held(Outcome.ACCOUNT_EVENT, "account_update")) == {
        "item": "account_update",
        "result": "stored",
    }
    assert processor._labels(Held(Outcome.UNKNOWN_TARGET, "reaction")) == {
        "item": "reaction",
        "result": "unknown_target",
    }


def test_an_events_result_names_what_it_held_in_words() -> None:
    held = Counter({Held(Outcome.STATUS): 2, Held(Outcome.ACCOUNT_EVENT, "account_update"): 1})
    held[Held(Outcome.UNKNOWN_TARGET, "reaction")] += 1
    assert processor._summary(held) == "ok; 1 event account_update; 1 reaction of an unknown message; 2 status"
    assert processor._summary(Counter()) == "ok: nothing to store"
