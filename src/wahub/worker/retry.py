"""When to try a failed send again: a pure function of the error and the attempts made so far."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from wahub import errors

MAX_ATTEMPTS = 10
BASE_DELAY = 1.0
MAX_DELAY = 300.0
# The pair limit (131056, about one message per 6 s to one recipient) wants a pause of its own length. The
# throughput limit (130429) does not: the sender's window for the number slows down instead, and the message
# retries like any transient failure.
PAIR_LIMIT_CODE = 131056
PAIR_BASE_DELAY = 6.0


@dataclass(frozen=True, slots=True)
class RetryAt:
    when: datetime
    delay: float


def decide(
    error: errors.WahubError,
    attempts: int,
    now: datetime,
    rand: Callable[[], float] = random.random,
) -> RetryAt | None:
    """``RetryAt`` for a transient error with attempts left; None when the job should fail now.

    Exponential backoff with "equal jitter": half the delay is fixed, half random, so retries of many jobs
    that failed together spread out without ever retrying immediately.
    """
    # The media storage failing (a file to upload could not be read) is passing, like a provider's 5xx.
    transient = isinstance(error, errors.StorageError) or (isinstance(error, errors.ProviderError) and error.retryable)
    if not transient:
        return None
    if attempts >= MAX_ATTEMPTS:
        return None
    pair = isinstance(error, errors.ProviderError) and error.code == PAIR_LIMIT_CODE
    base = PAIR_BASE_DELAY if pair else BASE_DELAY
    ceiling = min(MAX_DELAY, base * 2 ** max(0, attempts - 1))
    delay = ceiling / 2 + rand() * ceiling / 2
    return RetryAt(when=now + timedelta(seconds=delay), delay=delay)
