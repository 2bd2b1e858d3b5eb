"""Background work steps aside while many requests are in flight, but never for long."""

from __future__ import annotations

import time

from anyio import to_thread
from fastapi.testclient import TestClient

from gansu_health.app import create_app
from gansu_health.core.load import Load
from gansu_health.core.settings import Settings


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


def test_the_app_serves_with_the_configured_number_of_request_threads(db_url: str) -> None:
    settings = Settings(database_url=db_url, request_threads=7, event_delivery_s=0)
    with TestClient(create_app(settings)) as client:
        assert client.portal is not None
        tokens = client.portal.call(lambda: to_thread.current_default_thread_limiter()
                                    .total_tokens)
    assert tokens == 7
