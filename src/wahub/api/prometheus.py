"""What ``GET /metrics`` answers: the gauges read now and the counters and histograms every process added to the
database (``store/counters.py``), written by prometheus_client (SPEC §10: the text format, escaping and
ordering are the library's job).

prometheus_client collects synchronously and the database is read asynchronously, so the route reads first
and then hands the values to a collector of that one scrape, registered on a registry of its own (never the
library's global one, which would also export this process's own Python metrics as if they were wahub's).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from wahub.store import counters, monitor

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # Prometheus' text format, which every scraper reads


def exposition(gauges: monitor.Gauges, counted: dict[counters.Key, float]) -> bytes:
    """The text of one scrape: ``gauges`` first, then the stored counters and histograms by family."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Scrape(gauges, counted))
    return generate_latest(registry)


class Scrape(Collector):
    """The metric families of values read beforehand."""

    def __init__(self, gauges: monitor.Gauges, counted: dict[counters.Key, float]) -> None:
        self._gauges = gauges
        self._counted = counted

    def collect(self) -> Iterator[Metric]:
        yield from _gauge_families(self._gauges)
        yield from _stored_families(self._counted)


def _gauge_families(found: monitor.Gauges) -> Iterator[Metric]:
    media = GaugeMetricFamily("wahub_media", "media files by state", labels=["state"])
    size = GaugeMetricFamily(
        "wahub_media_bytes",
        "bytes of media files by state (the same bytes named by several messages count for each)",
        labels=["state"],
    )
    for state, (n, nbytes) in found.media.items():
        media.add_metric([state], n)
        size.add_metric([state], nbytes)
    yield media
    yield size
    yield _by("wahub_outbox_jobs", "outbox jobs by state", "state", found.outbox)
    yield _by("wahub_outbound_messages", "outbound messages by status", "status", found.outbound)
    yield GaugeMetricFamily(
        "wahub_webhook_events_waiting", "webhook events acknowledged and not processed yet", found.events_waiting
    )
    yield GaugeMetricFamily(
        "wahub_webhook_oldest_waiting_seconds",
        "how long the oldest webhook event not processed yet has waited since its ack (0: none waits)",
        round(found.oldest_waiting_seconds, 3),
    )
    yield _by(
        "wahub_webhook_deliveries",
        "subscriber webhook deliveries kept (30 days) by state: pending is the queue to subscribers",
        "state",
        found.deliveries,
    )
    yield GaugeMetricFamily(
        "wahub_accounts_sending_paused", "accounts whose sending Meta paused (190)", found.accounts_paused
    )


def _by(name: str, help_text: str, label: str, counts: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help_text, labels=[label])
    for value, n in counts.items():
        family.add_metric([value], n)
    return family


def _stored_families(counted: dict[counters.Key, float]) -> Iterator[Metric]:
    """The stored samples, one family each: a histogram's rows are its buckets (cumulative, ``le`` included),
    sum and count as every process added to them, so they are passed on as they are, not recomputed."""
    family: Metric | None = None
    for name, spelled in sorted(counted, key=counters.sort_key):
        base = counters.family_of(name)
        if family is None or _family_name(family) != base:
            if family is not None:
                yield family
            family = _family(base)
        family.add_sample(name, _labels(spelled), counted[name, spelled])
    if family is not None:
        yield family


def _family(name: str) -> Metric:
    known = counters.FAMILIES.get(name)
    if known is None:  # a name stored by another version of wahub
        return Metric(name, "", "unknown")
    if known.kind == "counter":
        return CounterMetricFamily(name, known.help)  # no _created sample: the rows do not know it
    if known.kind == "histogram":
        return HistogramMetricFamily(name, known.help)
    return Metric(name, known.help, known.kind)


def _family_name(family: Metric) -> str:
    # prometheus_client keeps a counter's name without its _total suffix (OpenMetrics' way).
    return f"{family.name}_total" if family.type == "counter" else family.name


_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_ESCAPED = re.compile(r"\\(.)")


def _labels(spelled: str) -> dict[str, str]:
    """The labels of a stored row (``counters.labels_text``'s spelling) as a dict, unescaped: prometheus_client
    escapes them again when it writes them."""
    return {key: _ESCAPED.sub(_unescape, value) for key, value in _LABEL.findall(spelled)}


def _unescape(found: re.Match[str]) -> str:
    return "\n" if found.group(1) == "n" else found.group(1)
