"""A pool of threads for the blocking part of requests, cheap to hand work to from an event loop.

anyio's ``to_thread.run_sync`` costs the event loop a checkpoint, a capacity limiter, a cancel
scope, context-variable lookups and a condition-variable queue per call; at release time it was
a fifth of a server worker's interpreter time (py-spy). Here a job is one ``SimpleQueue.put``
(implemented in C) and its answer one ``call_soon_threadsafe``. Threads start when every
running one is busy, up to ``size``, and end after ``IDLE_S`` without work.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

IDLE_S = 10.0
T = TypeVar("T")
R = TypeVar("R")
_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", contextvars.Context,
             Callable[[Any], Any], Any]


class RequestThreads:
    """At most ``size`` threads running blocking calls for coroutines."""

    def __init__(self, size: int, name: str = "request") -> None:
        self.size = size
        self.name = name
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0  # threads waiting for a job
        self._queued = 0  # jobs no thread has taken yet

    async def run(self, func: Callable[[T], R], arg: T) -> R:
        """Run ``func(arg)`` in a pool thread (with the caller's context variables); await it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._jobs.put((loop, future, contextvars.copy_context(), func, arg))
        with self._lock:
            self._queued += 1
            start = self._queued > self._idle and self._threads < self.size
            if start:
                self._threads += 1
                number = self._threads
        if start:
            threading.Thread(target=self._work, daemon=True,
                             name=f"{self.name}-{number}").start()
        return await future

    def _work(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            try:
                job = self._jobs.get(timeout=IDLE_S)
            except queue.Empty:
                with self._lock:
                    self._idle -= 1
                    if self._jobs.empty():
                        self._threads -= 1
                        return
                continue
            with self._lock:
                self._idle -= 1
                self._queued -= 1
            loop, future, context, func, arg = job
            try:
                result = context.run(func, arg)
            except BaseException as exc:  # handed to the awaiting coroutine
                loop.call_soon_threadsafe(_fail, future, exc)
            else:
                loop.call_soon_threadsafe(_succeed, future, result)


def _succeed(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
