"""Prometheus counters and histograms kept in the database, so ``/metrics`` shows the work of every process
(the webhook processor runs in a child process, senders may run on other machines) and counters survive
restarts instead of dropping to zero.

Each process counts in memory (``Tally``: a dict update, cheap enough for the webhook path) and adds what it
counted to the ``metric_counts`` rows now and then (``Flusher``), in one short transaction of its own, never
inside the work it counts: a metric must not make a send or an ack wait. A process killed with ``kill -9``
loses at most its last ``FLUSH_EVERY`` seconds of counts, never any work.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub.store import flushing, upsert
from wahub.store.models import MetricCount

FLUSH_EVERY = 5.0
MAX_LABEL = 100  # a label value longer than this is cut: labels come from Meta's answers too
# Histogram buckets in seconds: a Graph call takes ~0.1–1 s, ingest lag from milliseconds to minutes.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass(frozen=True, slots=True)
class Family:
    """A metric family's Prometheus type and help text."""

    kind: str  # "counter" or "histogram"
    help: str


FAMILIES: dict[str, Family] = {
    "wahub_webhook_requests_total": Family(
        "counter",
        "webhook POSTs by provider and result (accepted, bad_signature, too_large, too_slow, busy, unavailable)",
    ),
    "wahub_webhook_events_total": Family(
        "counter", "acknowledged webhook events processed, by result (processed, rejected, retried, gave_up)"
    ),
    "wahub_webhook_items_total": Family(
        "counter", "what processed webhook events held, by Meta's change field and what was done with it"
    ),
    "wahub_webhook_ingest_lag_seconds": Family(
        "histogram", "time from a webhook's acknowledgement to the end of its processing"
    ),
    "wahub_sends_total": Family(
        "counter",
        "requests to Meta by message type (read, typing for receipts) and result (accepted, retried, failed, "
        "paused), with Meta's error code",
    ),
    "wahub_send_latency_seconds": Family("histogram", "time Meta took to answer a send, by message type"),
    "wahub_media_downloads_total": Family("counter", "media downloads from Meta by result (stored, retried, failed)"),
    "wahub_media_downloaded_bytes_total": Family("counter", "bytes of media downloaded from Meta and stored"),
    "wahub_webhook_deliveries_total": Family(
        "counter", "subscriber webhook tries by event and result (delivered, pending: to be retried, failed)"
    ),
    "wahub_storage_errors_total": Family(
        "counter", "errors of the media storage by operation (write, read) and error class"
    ),
}

Key = tuple[str, str]  # (sample name, labels as Prometheus writes them between the braces)


def labels_text(labels: dict[str, str] | None) -> str:
    """``{"b": "2", "a": "1"}`` → ``a="1",b="2"``: one spelling per label set, so equal sets share a row."""
    if not labels:
        return ""
    return ",".join(f'{k}="{_escape(str(v)[:MAX_LABEL])}"' for k, v in sorted(labels.items()))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Tally:
    """What one process counted since its last flush."""

    def __init__(self) -> None:
        self._counts: dict[Key, float] = {}
        # Each histogram label set's keys: (buckets with +Inf, sum, count), spelled once.
        self._histograms: dict[Key, tuple[list[Key], Key, Key]] = {}

    def count(self, name: str, labels: dict[str, str] | None = None, amount: float = 1.0) -> None:
        self.bump((name, labels_text(labels)), amount)

    def bump(self, key: Key, amount: float = 1.0) -> None:
        """``count`` with the key spelled beforehand (``key``): for the hottest paths."""
        self._counts[key] = self._counts.get(key, 0.0) + amount

    def observe(self, name: str, seconds: float, labels: dict[str, str] | None = None) -> None:
        """One observation of histogram ``name``: one more in every bucket whose bound it does not exceed and in
        ``+Inf`` (Prometheus' buckets are cumulative), in the sum and in the count; every bucket is written, so
        that every bucket is shown."""
        self.observe_many(name, (seconds,), labels)

    def observe_many(self, name: str, values: Iterable[float], labels: dict[str, str] | None = None) -> None:
        """``observe`` of each of ``values``, the buckets written once for the lot (a batch of the processor's)."""
        spelled = labels_text(labels)
        keys = self._histograms.get((name, spelled))
        if keys is None:
            keys = self._histograms[name, spelled] = _histogram_keys(name, spelled)
        landed = [0] * len(keys[0])  # how many fall first into each bucket
        total = 0.0
        for value in values:
            value = max(0.0, value)
            landed[bisect.bisect_left(BUCKETS, value)] += 1
            total += value
        counts = self._counts
        below = 0
        for key, n in zip(keys[0], landed, strict=True):
            below += n
            counts[key] = counts.get(key, 0.0) + below
        counts[keys[1]] = counts.get(keys[1], 0.0) + total
        counts[keys[2]] = counts.get(keys[2], 0.0) + below

    def take(self) -> dict[Key, float]:
        taken, self._counts = self._counts, {}
        return taken

    def give_back(self, taken: dict[Key, float]) -> None:
        """Counts whose write failed: added to what came since, to be written with the next flush."""
        for key, amount in taken.items():
            self._counts[key] = self._counts.get(key, 0.0) + amount

    def __bool__(self) -> bool:
        return bool(self._counts)


def _histogram_keys(name: str, spelled: str) -> tuple[list[Key], Key, Key]:
    before = f"{spelled}," if spelled else ""
    buckets = [(f"{name}_bucket", f'{before}le="{_bound(bound)}"') for bound in (*BUCKETS, math.inf)]
    return buckets, (f"{name}_sum", spelled), (f"{name}_count", spelled)


def _bound(bound: float) -> str:
    return "+Inf" if bound == math.inf else f"{bound:g}"


async def add(session: AsyncSession, counts: dict[Key, float]) -> None:
    """Add ``counts`` to the stored values, creating the rows that are new. Rows go in one order, so two
    processes adding to the same rows wait for each other instead of deadlocking."""
    if not counts:
        return
    table: sa.Table = MetricCount.__table__  # type: ignore[assignment]
    stmt = upsert.insert(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.name, table.c.labels], set_={"value": table.c.value + stmt.excluded.value}
    )
    rows = [{"name": name, "labels": labels, "value": value} for (name, labels), value in sorted(counts.items())]
    await session.execute(stmt, rows)


async def stored(session: AsyncSession) -> dict[Key, float]:
    """Every stored sample."""
    rows = await session.execute(sa.select(MetricCount.name, MetricCount.labels, MetricCount.value))
    return {(name, labels): float(value) for name, labels, value in rows}


def family_of(sample: str) -> str:
    """The family a sample belongs to: a histogram's ``_bucket``, ``_sum`` and ``_count`` are its own."""
    for suffix in ("_bucket", "_sum", "_count"):
        base = sample.removesuffix(suffix)
        if base != sample and FAMILIES.get(base, Family("", "")).kind == "histogram":
            return base
    return sample


_LE = re.compile(r'(?:^|,)le="([^"]*)"$')
_PARTS = {"_bucket": 0, "_sum": 1, "_count": 2}


def sort_key(key: Key) -> tuple[str, str, int, float]:
    """Samples in the order Prometheus expects: by family and labels, then a histogram's buckets by bound,
    its sum and its count."""
    name, labels = key
    family = family_of(name)
    found = _LE.search(labels)
    bound = float(found.group(1)) if found else math.inf  # "+Inf" reads as inf
    others = labels[: found.start()] if found else labels
    return (family, others, _PARTS.get(name[len(family) :], 0), bound)


class Flusher:
    """Adds a process's ``Tally`` to the database every ``every`` seconds, and once more on ``stop``
    (``flushing.Periodic``)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], tally: Tally, every: float = FLUSH_EVERY) -> None:
        self._sessions = sessions
        self._periodic: flushing.Periodic[dict[Key, float], None] = flushing.Periodic(
            take=tally.take, write=add, give_back=tally.give_back, every=every, name="metric-flusher", what="metrics"
        )

    def start(self) -> None:
        self._periodic.start(self._sessions)

    async def stop(self) -> None:
        await self._periodic.stop(self._sessions)

    async def flush(self) -> None:
        await self._periodic.flush(self._sessions)
