"""The request thread pool: results, errors and context come back; at most ``size`` threads."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest
from tests.conftest import run_async

from gansu_health.core import threads
from gansu_health.core.threads import RequestThreads

who: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


def test_jobs_answer_with_results_errors_and_the_callers_context() -> None:
    pool = RequestThreads(4)

    def greet(name: str) -> str:
        if name == "bad":
            raise ValueError("no such person")
        return f"{name} seen by {who.get()} on {threading.current_thread().name}"

    async def main() -> None:
        who.set("caller")
        answer = await pool.run(greet, "张三")
        assert answer.startswith("张三 seen by caller on request-")
        with pytest.raises(ValueError, match="no such person"):
            await pool.run(greet, "bad")

    run_async(main())


def test_never_more_threads_than_its_size_and_idle_ones_end(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "IDLE_S", 0.2)
    pool = RequestThreads(3, name="capped")
    running: set[str] = set()
    peak: list[int] = []
    lock = threading.Lock()

    def work(n: int) -> int:
        with lock:
            running.add(threading.current_thread().name)
            peak.append(sum(t.name.startswith("capped-") for t in threading.enumerate()))
        time.sleep(0.01)
        with lock:
            running.discard(threading.current_thread().name)
        return n * n

    async def main() -> list[int]:
        return list(await asyncio.gather(*(pool.run(work, n) for n in range(40))))

    assert run_async(main()) == [n * n for n in range(40)]
    assert max(peak) == 3
    assert pool._threads == 3  # a burst of 40 started all three
    deadline = time.monotonic() + 5
    while pool._threads and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pool._threads == 0  # idle threads ended
    assert run_async(main()) == [n * n for n in range(40)]  # and new ones start when needed
