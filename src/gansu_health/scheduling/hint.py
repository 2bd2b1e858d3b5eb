"""The sold-out hint: refuse a booking for a full clinic from memory, before a transaction opens.

At release time most requests ask for clinics that are already full. Once a booking has been
refused because no number of a session channel (or slot) is left in the committed state, this
process remembers that for ``ttl_s`` seconds and answers further $hold/$book requests for it with
the same refusal without touching the database. It is only a hint: the database still decides
every booking that gets through, a number given back in this process clears the hint at once,
and one given back elsewhere (another worker, a job) is offered again at most ``ttl_s`` later —
as if the request had come that much earlier.
"""

from __future__ import annotations

import threading
from time import monotonic

from gansu_health.core.errors import Conflict

SessionKey = tuple[str, str, str]  # (Schedule id, day, period)
TTL_S = 1.0
_MAX_NAMES = 100_000


class SoldOut:
    """Full session channels (and slots) of this process, each remembered for a while."""

    def __init__(self, ttl_s: float = TTL_S) -> None:
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._sessions: dict[SessionKey, int] = {}  # immutable: one session per key
        self._slots: dict[str, tuple[int, int]] = {}  # Slot id -> (session id, slot id)
        self._full: dict[tuple[int, str, int | None], tuple[float, str]] = {}

    def name_session(self, key: SessionKey, session_id: int) -> None:
        """Remember which session a Schedule, day and period name."""
        if len(self._sessions) > _MAX_NAMES:
            self._sessions.clear()
        self._sessions[key] = session_id

    def session_of(self, key: SessionKey) -> int | None:
        """Return the session a Schedule, day and period name, when known."""
        return self._sessions.get(key)

    def name_slot(self, fid: str, session_id: int, slot_id: int) -> None:
        """Remember which session a Slot belongs to."""
        if len(self._slots) > _MAX_NAMES:
            self._slots.clear()
        self._slots[fid] = (session_id, slot_id)

    def mark(self, session_id: int, channel: str, slot_id: int | None, message: str) -> None:
        """Note that no number of this channel is left, with the refusal's text."""
        with self._lock:
            self._full[(session_id, channel, slot_id)] = (monotonic() + self.ttl_s, message)

    def forget(self, session_id: int) -> None:
        """Numbers of a session came back: drop its hints."""
        with self._lock:
            for key in [k for k in self._full if k[0] == session_id]:
                del self._full[key]

    def refusal(self, channel: str, session: SessionKey | None = None,
                slot: str | None = None) -> Conflict | None:
        """Return the refusal for a clinic (or slot) known to be full, or None."""
        key: tuple[int, str, int | None] | None = None
        if slot is not None:
            named = self._slots.get(slot)
            key = (named[0], channel, named[1]) if named else None
        elif session is not None and session in self._sessions:
            key = (self._sessions[session], channel, None)
        hit = self._full.get(key) if key else None
        if key is None or hit is None:
            return None
        if hit[0] < monotonic():
            with self._lock:
                self._full.pop(key, None)
            return None
        return Conflict(hit[1], expression="slot")
