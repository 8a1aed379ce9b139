"""Fault injection: what `POST /_fake/faults` can switch on, and the dice that decide each request.

A POST replaces the whole set (unnamed keys go back to their defaults), so a test states exactly the
faults it runs under. Rates are probabilities in [0, 1] drawn from the instance's RNG, which is seeded
from `FakeGraphConfig.seed` so a failing test replays the same way.

Which calls each fault touches:
- every Graph call: `latency_ms`, `http_5xx_rate`, `timeout_rate`
- message sends (not mark-as-read): `error_rate` + `error_code`, `fail_next`, `max_mps`, `pair_limit`
- accepted messages' webhooks: `failed_status_rate` + `failed_status_code`
- every webhook fakegraph posts: `duplicate_webhook_rate`, `reorder_webhooks`
- media uploads: `forget_uploads` (the id answered is one fakegraph does not keep, as if Meta lost or expired it)
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(slots=True)
class Faults:
    """The fault switches; defaults mean a healthy Meta."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    error_code: int = 131000
    fail_next: int = 0
    http_5xx_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_hang_s: float = 120.0
    failed_status_rate: float = 0.0
    failed_status_code: int = 131026
    duplicate_webhook_rate: float = 0.0
    # 1.0 (or true) reverses the order of every message's statuses; a fraction does it to some.
    reorder_webhooks: float = 0.0
    # Status answered with throttling errors (130429, 131056...): Meta uses 400.
    throttle_http_status: int = 400
    # Meta's throughput cap per phone number (130429 above it); None means unlimited.
    max_mps: int | None = None
    # Meta's pair rate limit: at most `pair_limit` messages to one recipient per `pair_window_s` (131056).
    pair_limit: int | None = None
    pair_window_s: float = 6.0
    # Share of uploads whose id fakegraph forgets at once: sends naming it get Meta's "not a valid ... media
    # attachment ID" (code 100), as when Meta deleted or expired the file.
    forget_uploads: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The switches as JSON."""
        return asdict(self)


_RATES = (
    "error_rate",
    "http_5xx_rate",
    "timeout_rate",
    "failed_status_rate",
    "duplicate_webhook_rate",
    "reorder_webhooks",
    "forget_uploads",
)
_OPTIONAL_INTS = ("max_mps", "pair_limit")


def parse(raw: object) -> Faults:
    """Build `Faults` from a JSON body, or raise ValueError naming the first bad key."""
    if not isinstance(raw, dict):
        raise ValueError("the body must be a JSON object of fault switches")
    known = {f.name: f for f in fields(Faults)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ValueError(f"unknown fault keys: {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        values[key] = _coerce(key, value)
    return Faults(**values)


def _coerce(key: str, value: object) -> Any:
    if key in _OPTIONAL_INTS and value is None:
        return None
    if key == "reorder_webhooks" and isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number")
    if key in _RATES:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{key} must be between 0 and 1")
        return float(value)
    if key in ("error_code", "failed_status_code", "fail_next", "throttle_http_status", *_OPTIONAL_INTS):
        if int(value) != value or value < 0:
            raise ValueError(f"{key} must be a non-negative integer")
        return int(value)
    if value < 0:
        raise ValueError(f"{key} must not be negative")
    return float(value)


def roll(rng: random.Random, rate: float) -> bool:
    """True with probability `rate`; never draws when the rate is 0 so healthy runs keep their sequence."""
    if rate <= 0.0:
        return False
    if rate >= 1.0:
        return True
    return rng.random() < rate
