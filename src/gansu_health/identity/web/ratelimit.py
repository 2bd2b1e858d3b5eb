"""Rate limits: a ``RateLimiter`` interface, a thread-safe in-memory GCRA limiter, named policies.

GCRA (the generic cell rate algorithm, a token bucket kept as one timestamp per key) allows a
burst of ``limit`` and then ``limit`` per ``period``; it needs one float per key and answers how
long to wait. The in-memory limiter counts per process; a store shared by every process (for
example Redis running the same arithmetic in a script) replaces it behind ``RateLimiter``.
"""

from __future__ import annotations

import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gansu_health.core.errors import TooManyRequests


@dataclass(frozen=True, slots=True)
class Policy:
    """At most ``limit`` hits per ``period_s`` seconds for one key."""

    limit: int
    period_s: float


class RateLimiter(ABC):
    """Counts hits per key; implementations must be safe to call from many threads."""

    @abstractmethod
    def hit(self, key: str, policy: Policy) -> float:
        """Count one hit; return 0 when allowed, else the seconds until one would be."""


class MemoryRateLimiter(RateLimiter):
    """In-process GCRA limiter; idle keys are pruned as they come back to full allowance."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, prune_every: int = 10_000
                 ) -> None:
        self._clock = clock
        self._tat: dict[str, float] = {}  # theoretical arrival time per key
        self._lock = threading.Lock()
        self._prune_every = prune_every
        self._hits = 0

    def hit(self, key: str, policy: Policy) -> float:
        """Count one hit; return 0 when allowed, else the seconds until one would be."""
        interval = policy.period_s / policy.limit
        tolerance = policy.period_s - interval
        with self._lock:
            t = self._clock()
            self._hits += 1
            if self._hits % self._prune_every == 0:
                self._tat = {k: v for k, v in self._tat.items() if v > t}
            tat = max(self._tat.get(key, t), t)
            wait = tat - tolerance - t
            if wait > 0:
                return wait
            self._tat[key] = tat + interval
            return 0.0


DEFAULT_POLICIES: dict[str, Policy] = {
    "signin-ip": Policy(160, 60.0),  # as Medplum: 160 sign-in requests per minute per address
    "signin-user": Policy(20, 60.0),  # per username or phone
    "otp-ip": Policy(30, 600.0),  # SMS codes requested from one address per 10 minutes
    "client": Policy(60_000, 60.0),  # API requests per client id (1000/s sustained)
}


class RateLimits:
    """Named policies over one limiter; ``check`` raises 429 with Retry-After."""

    def __init__(self, limiter: RateLimiter | None = None,
                 policies: Mapping[str, Policy] | None = None) -> None:
        self.limiter = limiter if limiter is not None else MemoryRateLimiter()
        self.policies = dict(DEFAULT_POLICIES)
        self.policies.update(policies or {})

    def check(self, name: str, key: str, *, expression: str | None = None) -> None:
        """Count a hit on ``name``/``key``; raise TooManyRequests when over the policy."""
        policy = self.policies[name]
        wait = self.limiter.hit(f"{name}\x00{key}", policy)
        if wait > 0:
            raise TooManyRequests(f"Too many requests ({policy.limit} per "
                                  f"{policy.period_s:g} s); try again later",
                                  retry_after=max(1, math.ceil(wait)), expression=expression)


_current = RateLimits()


def current_limits() -> RateLimits:
    """The process's limits (replaced by ``install_web_security``)."""
    return _current


def use_limits(limits: RateLimits) -> None:
    """Make ``limits`` the process's limits."""
    global _current
    _current = limits


def check_client_quota(key: str) -> None:
    """Count one API request of client ``key``; raise TooManyRequests over its quota."""
    _current.check("client", key, expression="client_id")
