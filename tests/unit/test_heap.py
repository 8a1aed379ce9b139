"""What ``wahub serve`` does to the cyclic garbage collector once it has started (``runtime.settle_heap``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from wahub import runtime


@pytest.fixture
def collector() -> Iterator[None]:
    """The test process's collector as it was, afterwards."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_a_processing_process_freezes_start_up_and_collects_young_objects_less_often(collector: None) -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    runtime.settle_heap(processing=True)
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (runtime.GC_YOUNG_THRESHOLD, 10, 10)
    assert runtime.GC_YOUNG_THRESHOLD > 700


def test_a_web_process_keeps_the_default_thresholds(collector: None) -> None:
    """Where bodies are in flight: a higher threshold let slow bodies raise the peak RSS (runtime.py)."""
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    runtime.settle_heap(processing=False)
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (700, 10, 10)
