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


def test_start_up_objects_are_frozen_and_the_young_generation_collected_less_often(collector: None) -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    runtime.settle_heap()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (runtime.GC_YOUNG_THRESHOLD, 10, 10)
    assert runtime.GC_YOUNG_THRESHOLD > 700
