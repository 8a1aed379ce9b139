"""The Prometheus text that ``/metrics`` writes (through prometheus_client): families grouped, histogram buckets
cumulative and in order, numbers exact, label values escaped."""

from __future__ import annotations

import pytest

from tests.support import prometheus_samples
from wahub.api import prometheus
from wahub.store import counters, monitor


def test_the_exposition_groups_each_family_and_orders_a_histograms_buckets() -> None:
    tally = counters.Tally()
    tally.observe("wahub_send_latency_seconds", 0.2, {"type": "text"})
    tally.observe("wahub_send_latency_seconds", 7, {"type": "text"})
    tally.count("wahub_sends_total", {"type": "text", "result": "accepted", "code": ""}, 1_234_567)
    tally.count("wahub_sends_total", {"type": 'say "hi"\n', "result": "failed", "code": "1"})
    gauges = monitor.Gauges(
        media={},
        outbox={"pending": 4},
        outbound={},
        events_waiting=0,
        oldest_waiting_seconds=0.0,
        deliveries={},
        accounts_paused=0,
    )
    text = prometheus.exposition(gauges, tally.take()).decode()
    lines = text.splitlines()
    samples = prometheus_samples(text)  # every sample line is well formed
    at = lines.index("# HELP wahub_outbox_jobs outbox jobs by state")
    assert lines[at + 1] == "# TYPE wahub_outbox_jobs gauge"
    assert lines[at + 2].startswith('wahub_outbox_jobs{state="pending"} ')
    assert samples["wahub_outbox_jobs", 'state="pending"'] == 4
    assert lines.count("# TYPE wahub_send_latency_seconds histogram") == 1
    assert lines.count("# TYPE wahub_sends_total counter") == 1
    latency = [line for line in lines if line.startswith("wahub_send_latency_seconds")]
    bounds = [line.split('le="')[1].split('"')[0] for line in latency if "_bucket" in line]
    assert bounds == [f"{b:g}" for b in counters.BUCKETS] + ["+Inf"]
    counts = [float(line.rsplit(" ", 1)[1]) for line in latency if "_bucket" in line]
    assert counts[bounds.index("0.1")] == 0 and counts[bounds.index("0.25")] == 1 and counts[bounds.index("10")] == 2
    assert [line.rsplit(" ", 1)[0] for line in latency[-2:]] == [
        'wahub_send_latency_seconds_sum{type="text"}',
        'wahub_send_latency_seconds_count{type="text"}',
    ]
    assert samples["wahub_send_latency_seconds_sum", 'type="text"'] == 7.2
    assert samples["wahub_send_latency_seconds_count", 'type="text"'] == 2
    assert samples["wahub_sends_total", 'code="",result="accepted",type="text"'] == 1_234_567  # not 1.23457e+06
    assert samples["wahub_sends_total", 'code="1",result="failed",type="say \\"hi\\"\\n"'] == 1
    assert not [line for line in lines if "_created" in line]  # the rows do not know when a counter began


def test_observing_a_batch_at_once_fills_the_cumulative_buckets() -> None:
    values = [0.0, 0.004, 0.005, 0.0051, 0.3, 1.0, 7.5, 400.0, -1.0]
    tally = counters.Tally()
    tally.observe_many("wahub_webhook_ingest_lag_seconds", values[:4])
    tally.observe_many("wahub_webhook_ingest_lag_seconds", values[4:])
    taken = tally.take()
    buckets = {
        labels.removeprefix('le="').removesuffix('"'): n
        for (name, labels), n in taken.items()
        if name == "wahub_webhook_ingest_lag_seconds_bucket"
    }
    # Each bucket counts the values at or under its bound; -1 counts as 0.
    assert buckets == {
        "0.005": 4, "0.01": 5, "0.025": 5, "0.05": 5, "0.1": 5, "0.25": 5, "0.5": 6, "1": 7, "2.5": 7, "5": 7,
        "10": 8, "30": 8, "60": 8, "300": 8, "+Inf": 9,
    }  # fmt: skip
    assert taken[("wahub_webhook_ingest_lag_seconds_count", "")] == len(values)
    assert taken[("wahub_webhook_ingest_lag_seconds_sum", "")] == pytest.approx(sum(max(0.0, v) for v in values))
