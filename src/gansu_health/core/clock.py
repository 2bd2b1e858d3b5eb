"""Injectable time source so that expiries and histories are testable."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    """Return the current time (UTC, aware)."""
    return _now()


def set_clock(func: Callable[[], datetime] | None) -> None:
    """Replace the time source (``None`` restores the system clock)."""
    global _now
    _now = func or (lambda: datetime.now(UTC))


def to_micros(moment: datetime) -> int:
    """Convert an aware datetime to integer microseconds since the epoch."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def from_micros(micros: int) -> datetime:
    """Convert epoch microseconds back to an aware UTC datetime."""
    return EPOCH + timedelta(microseconds=micros)


def fhir_instant(micros: int) -> str:
    """Format epoch microseconds as a FHIR instant in UTC."""
    return from_micros(micros).isoformat(timespec="microseconds").replace("+00:00", "Z")
