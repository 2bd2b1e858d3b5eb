"""How busy this process is serving requests, so that background work can step aside."""

from __future__ import annotations

import time


class Load:
    """Counts the requests in flight (changed on the event loop only; other threads read it).

    Background work that can wait a little — delivering outbox events, running periodic jobs —
    asks ``should_wait`` before each round: during a burst (``busy`` requests or more in flight)
    it waits, but never more than ``max_wait_s`` in a row, so events still flow under load.
    """

    def __init__(self, busy: int = 16, max_wait_s: float = 5.0) -> None:
        self.busy = busy
        self.max_wait_s = max_wait_s
        self.in_flight = 0
        self._waiting_since: float | None = None

    def enter(self) -> None:
        """A request started."""
        self.in_flight += 1

    def leave(self) -> None:
        """A request ended."""
        self.in_flight -= 1

    def should_wait(self) -> bool:
        """Whether background work should skip this round (see the class docstring)."""
        if self.busy <= 0 or self.in_flight < self.busy:
            self._waiting_since = None
            return False
        moment = time.monotonic()
        if self._waiting_since is None:
            self._waiting_since = moment
        if moment - self._waiting_since < self.max_wait_s:
            return True
        self._waiting_since = None
        return False
