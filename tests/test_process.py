"""The tuning of a long-running process."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest

from renkei.process import tune_long_running_process


@pytest.fixture
def restored() -> Iterator[None]:
    interval, thresholds = sys.getswitchinterval(), gc.get_threshold()
    yield
    sys.setswitchinterval(interval)
    gc.set_threshold(*thresholds)
    gc.unfreeze()


@pytest.mark.usefixtures("restored")
def test_a_long_running_process_is_tuned() -> None:
    tune_long_running_process()
    assert sys.getswitchinterval() == pytest.approx(0.0001)
    assert gc.get_threshold()[0] == 20_000
    assert gc.get_freeze_count() > 0
