from datetime import UTC, datetime

from wahub import errors
from wahub.domain import MessageStatus, moves_forward
from wahub.provider import graph
from wahub.worker import retry
from wahub.worker.ratelimit import TokenBucket

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def test_statuses_move_only_forward() -> None:
    order = [
        MessageStatus.QUEUED,
        MessageStatus.ACCEPTED,
        MessageStatus.SENT,
        MessageStatus.DELIVERED,
        MessageStatus.READ,
        MessageStatus.PLAYED,
    ]
    for i, earlier in enumerate(order):
        for later in order[i + 1 :]:
            assert moves_forward(earlier, later)
            assert not moves_forward(later, earlier)
        assert not moves_forward(earlier, earlier)


def test_failed_can_follow_sent_but_not_delivered_and_ends_the_message() -> None:
    assert moves_forward(MessageStatus.SENT, MessageStatus.FAILED)
    assert not moves_forward(MessageStatus.DELIVERED, MessageStatus.FAILED)
    assert not moves_forward(MessageStatus.FAILED, MessageStatus.READ)


def test_unknown_status_string_becomes_unknown() -> None:
    assert MessageStatus("teleported") is MessageStatus.UNKNOWN


def test_permanent_errors_are_not_retried() -> None:
    for code in (131026, 131047, 131051, 132000, 100):
        error = graph.error_for(code, "no")
        assert not error.retryable
        assert retry.decide(error, 1, retry.SEND, NOW) is None


def test_transient_errors_are_retried_with_growing_jittered_delays() -> None:
    error = graph.error_for(131000, "try later")
    delays = [retry.decide(error, n, retry.SEND, NOW, rand=lambda: 1.0) for n in range(1, 6)]
    assert all(d is not None for d in delays)
    seconds = [d.delay for d in delays if d]
    assert seconds == sorted(seconds) and seconds[0] < seconds[-1]
    low = retry.decide(error, 3, retry.SEND, NOW, rand=lambda: 0.0)
    assert low is not None and low.delay == seconds[2] / 2  # half fixed, half random


def test_the_pair_limit_backs_off_longer_and_5xx_and_is_transient_count_as_transient() -> None:
    paired = retry.decide(graph.error_for(131056, "pair rate limit"), 1, retry.SEND, NOW, rand=lambda: 0.0)
    throughput = retry.decide(graph.error_for(130429, "slow down"), 1, retry.SEND, NOW, rand=lambda: 0.0)
    plain = retry.decide(graph.error_for(131000, "oops"), 1, retry.SEND, NOW, rand=lambda: 0.0)
    assert paired and throughput and plain and paired.delay > plain.delay
    assert throughput.delay == plain.delay  # the number's send window slows down instead
    assert graph.error_for(None, "bad gateway", http_status=502).retryable
    assert graph.error_for(999999, "meta says transient", transient=True).retryable


def test_retries_stop_after_max_attempts() -> None:
    error = graph.error_for(131000, "try later")
    assert retry.decide(error, retry.SEND.max_attempts - 1, retry.SEND, NOW) is not None
    assert retry.decide(error, retry.SEND.max_attempts, retry.SEND, NOW) is None


def test_a_storage_failure_is_retried_like_a_transient_error_and_as_often() -> None:
    error = errors.StorageError("could not read sha256/ab/cd/abcd: connection reset")
    first = retry.decide(error, 1, retry.SEND, NOW, rand=lambda: 0.0)
    assert first is not None and first.delay == retry.SEND.base / 2
    assert retry.decide(error, retry.SEND.max_attempts, retry.SEND, NOW) is None


def test_expired_token_is_not_retried() -> None:
    error = graph.error_for(190, "token expired")
    assert isinstance(error, errors.AccessTokenInvalid)
    assert retry.decide(error, 1, retry.SEND, NOW) is None


def test_token_bucket_spaces_sends_at_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(10, clock=lambda: now[0])
    assert bucket.try_take() == 0
    wait = bucket.try_take()
    assert 0.09 < wait <= 0.1
    now[0] += wait
    assert bucket.try_take() == 0
