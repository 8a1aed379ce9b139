"""Fault injection: what `POST /_fake/faults` switches on, and the dice that decide each request.

A POST replaces the whole set (unnamed keys go back to their defaults). Rates are probabilities in [0, 1]
drawn from the instance's seeded RNG, so a failing test replays the same way.

Which calls each fault touches:
- every REST call: `latency_ms`, `http_5xx_rate`, `timeout_rate`
- message sends: `error_rate` + `error_code`, `fail_next`, `max_mps` (20429 above it)
- accepted messages' callbacks: `failed_status_rate` + `failed_status_code` (an undelivered status)
- every callback faketwilio posts: `duplicate_webhook_rate`, `reorder_webhooks`
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(slots=True)
class Faults:
    """The fault switches; defaults mean a healthy Twilio."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    error_code: int = 20500
    fail_next: int = 0
    http_5xx_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_hang_s: float = 120.0
    failed_status_rate: float = 0.0
    failed_status_code: int = 63024
    duplicate_webhook_rate: float = 0.0
    reorder_webhooks: float = 0.0
    # Twilio queues a sender's messages at its rate (80/s for WhatsApp by default); past the queue it refuses
    # with 20429. None: unlimited.
    max_mps: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_RATES = (
    "error_rate",
    "http_5xx_rate",
    "timeout_rate",
    "failed_status_rate",
    "duplicate_webhook_rate",
    "reorder_webhooks",
)
_INTS = ("error_code", "failed_status_code", "fail_next")


def parse(raw: object) -> Faults:
    """`Faults` from a JSON body, or ValueError naming the first bad key."""
    if not isinstance(raw, dict):
        raise ValueError("the body must be a JSON object of fault switches")
    known = {f.name for f in fields(Faults)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"unknown fault keys: {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return Faults(**{key: _coerce(key, value) for key, value in raw.items()})


def _coerce(key: str, value: object) -> Any:
    if key == "max_mps" and value is None:
        return None
    if key == "reorder_webhooks" and isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number")
    if key in _RATES:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{key} must be between 0 and 1")
        return float(value)
    if key in (*_INTS, "max_mps"):
        if int(value) != value or value < 0:
            raise ValueError(f"{key} must be a non-negative integer")
        return int(value)
    if value < 0:
        raise ValueError(f"{key} must not be negative")
    return float(value)


def roll(rng: random.Random, rate: float) -> bool:
    """True with probability `rate`; never draws when the rate is 0, so healthy runs keep their sequence."""
    if rate <= 0.0:
        return False
    if rate >= 1.0:
        return True
    return rng.random() < rate
