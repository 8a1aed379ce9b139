"""The one retry decision (``worker/retry.py``) with each job kind's policy: no database, no clock."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from wahub import errors
from wahub.worker import retry

NOW = datetime(2026, 11, 1, tzinfo=UTC)
POLICIES = [retry.SEND, retry.MEDIA_FETCH, retry.WEBHOOK_DELIVERY]


@pytest.mark.parametrize("policy", POLICIES)
def test_every_job_kind_gives_up_at_its_max_attempts(policy: retry.Policy) -> None:
    error = errors.TransientProviderError("try later")
    assert retry.decide(error, policy.max_attempts - 1, policy, NOW) is not None
    assert retry.decide(error, policy.max_attempts, policy, NOW) is None


@pytest.mark.parametrize("policy", POLICIES)
def test_the_delay_doubles_from_the_base_up_to_the_ceiling(policy: retry.Policy) -> None:
    error = errors.StorageError("unreachable")
    full = [retry.decide(error, n, policy, NOW, rand=lambda: 1.0) for n in range(1, policy.max_attempts)]
    delays = [d.delay for d in full if d is not None]
    assert delays[0] == policy.base
    assert all(later == min(policy.ceiling, 2 * earlier) for earlier, later in itertools.pairwise(delays))
    assert max(delays) <= policy.ceiling


def test_half_the_delay_is_fixed_and_the_retry_time_is_now_plus_the_delay() -> None:
    error = errors.DeliveryFailed("HTTP 503")
    low = retry.decide(error, 2, retry.WEBHOOK_DELIVERY, NOW, rand=lambda: 0.0)
    high = retry.decide(error, 2, retry.WEBHOOK_DELIVERY, NOW, rand=lambda: 1.0)
    assert low is not None and high is not None
    assert low.delay == high.delay / 2 == retry.WEBHOOK_DELIVERY.base
    assert low.when == NOW + timedelta(seconds=low.delay)


def test_a_slower_error_class_backs_off_from_its_own_base_and_its_subclasses_do_too() -> None:
    class Slower(errors.RateLimited):
        pass

    policy = retry.Policy(max_attempts=5, base=1.0, ceiling=100.0, slower=((errors.PairLimited, 6.0), (Slower, 3.0)))
    paired = retry.decide(errors.PairLimited("pair"), 1, policy, NOW, rand=lambda: 1.0)
    slower = retry.decide(Slower("slower"), 1, policy, NOW, rand=lambda: 1.0)
    plain = retry.decide(errors.ThroughputLimited("throughput"), 1, policy, NOW, rand=lambda: 1.0)
    assert paired is not None and paired.delay == 6.0
    assert slower is not None and slower.delay == 3.0
    assert plain is not None and plain.delay == 1.0


def test_the_send_policy_waits_for_the_pair_limit_by_its_class_not_by_a_code() -> None:
    without_code = retry.decide(errors.PairLimited("pair"), 1, retry.SEND, NOW, rand=lambda: 0.0)
    plain = retry.decide(errors.RateLimited("slow down"), 1, retry.SEND, NOW, rand=lambda: 0.0)
    assert without_code is not None and plain is not None and without_code.delay > plain.delay


@pytest.mark.parametrize(
    "error",
    [
        errors.PermanentProviderError("no"),
        errors.AccessTokenInvalid("expired"),
        errors.UploadLost("gone"),
        errors.MediaRejected("sha mismatch"),
        errors.InvalidInput("bad"),
    ],
)
def test_errors_that_are_not_retryable_fail_at_once_under_every_policy(error: errors.WahubError) -> None:
    for policy in POLICIES:
        assert retry.decide(error, 1, policy, NOW) is None


def test_a_provider_answer_can_make_an_error_retryable_or_not() -> None:
    assert retry.decide(errors.PermanentProviderError("x", transient=True), 1, retry.SEND, NOW) is not None
    assert retry.decide(errors.TransientProviderError("x", transient=False), 1, retry.SEND, NOW) is None


def test_an_exception_wahub_does_not_know_is_retried_until_the_attempts_run_out() -> None:
    error = RuntimeError("a library failed")
    assert retry.decide(error, 1, retry.MEDIA_FETCH, NOW) is not None
    assert retry.decide(error, retry.MEDIA_FETCH.max_attempts, retry.MEDIA_FETCH, NOW) is None


def test_policies_are_values() -> None:
    with pytest.raises(AttributeError):
        retry.SEND.max_attempts = 3  # type: ignore[misc]
    assert retry.Policy(3, 1.0, 10.0) == retry.Policy(3, 1.0, 10.0)
