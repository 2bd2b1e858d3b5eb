"""Background work steps aside while many requests are in flight, but never for long."""

from __future__ import annotations

import time

from gansu_health.core.load import Load


def test_background_work_waits_during_a_burst_but_not_longer_than_allowed() -> None:
    load = Load(busy=3, max_wait_s=0.05)
    assert not load.should_wait()
    for _ in range(3):
        load.enter()
    assert load.should_wait() and load.should_wait()  # a burst: wait
    time.sleep(0.06)
    assert not load.should_wait()  # waited long enough: this round goes ahead
    assert load.should_wait()  # and the next one waits again
    load.leave()
    assert not load.should_wait() and load.in_flight == 2  # the burst is over


def test_zero_means_never_wait() -> None:
    load = Load(busy=0)
    for _ in range(100):
        load.enter()
    assert not load.should_wait()
