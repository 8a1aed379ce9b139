"""When to try a failed job again: one pure function of the error, the attempts made so far and the job kind's
``Policy``. Every job kind (sends, media downloads, subscriber webhooks) declares its policy here; a new kind
declares one more.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from wahub import errors


@dataclass(frozen=True, slots=True)
class Policy:
    """How a job kind retries: at most ``max_attempts`` tries (the failed one included), the n-th retry waiting
    between half and all of ``min(ceiling, base * 2 ** (n - 1))`` seconds. ``slower`` gives some error classes a
    base of their own."""

    max_attempts: int
    base: float
    ceiling: float
    slower: tuple[tuple[type[Exception], float], ...] = ()

    def base_for(self, error: Exception) -> float:
        return next((base for cls, base in self.slower if isinstance(error, cls)), self.base)


# A schedule's firing that failed for a reason not its own (the database): a few tries, then recorded as not sent.
SCHEDULE_FIRING = Policy(max_attempts=5, base=5.0, ceiling=300.0)
# A campaign's step (queueing its next chunk): tried again a few times over minutes, then the campaign pauses.
CAMPAIGN_STEP = Policy(max_attempts=6, base=2.0, ceiling=120.0)

# A report's run (its source read, its file built and stored): a database or URL that is down gets about half an
# hour of tries; a source that can never work (a query that writes, a missing file) fails at once.
REPORT_RUN = Policy(max_attempts=5, base=60.0, ceiling=900.0)

# Sends. The pair limit (about one message per 6 s to one recipient) wants a pause of its own length. The
# throughput limit does not: the sender's window for the number slows down instead, and the message retries
# like any transient failure.
SEND = Policy(max_attempts=10, base=1.0, ceiling=300.0, slower=((errors.PairLimited, 6.0),))
MEDIA_FETCH = Policy(max_attempts=8, base=2.0, ceiling=600.0)
# Reading an account's templates: a few tries over an hour or so, then the next daily sync.
TEMPLATE_SYNC = Policy(max_attempts=6, base=30.0, ceiling=1800.0)
WEBHOOK_DELIVERY = Policy(max_attempts=15, base=10.0, ceiling=3600.0)  # about 12 hours of tries


@dataclass(frozen=True, slots=True)
class RetryAt:
    when: datetime
    delay: float


def decide(
    error: Exception,
    attempts: int,
    policy: Policy,
    now: datetime,
    rand: Callable[[], float] = random.random,
) -> RetryAt | None:
    """``RetryAt`` for a passing error with attempts left; None when the job should fail now.

    Passing: a ``WahubError`` whose class (or provider's answer) says ``retryable``, such as a provider's 5xx, a
    throttle or the media storage failing; and any exception wahub does not know (a library's), which is given
    the benefit of the doubt until the attempts run out. Exponential backoff with "equal jitter": half the delay
    is fixed, half random, so retries of many jobs that failed together spread out without ever retrying
    immediately.
    """
    passing = error.retryable if isinstance(error, errors.WahubError) else True
    if not passing or attempts >= policy.max_attempts:
        return None
    ceiling = min(policy.ceiling, policy.base_for(error) * 2 ** max(0, attempts - 1))
    delay = ceiling / 2 + rand() * ceiling / 2
    return RetryAt(when=now + timedelta(seconds=delay), delay=delay)
