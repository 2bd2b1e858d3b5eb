"""FHIRPath Date, DateTime and Time values with partial precision and timezones."""

from __future__ import annotations

import calendar
import datetime as _dt
import re
from decimal import Decimal
from typing import ClassVar

from .errors import FhirPathError
from .quantity import CALENDAR

_DATE = r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?"
_TIME = r"(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
_TZ = r"(Z|[+-]\d{2}:\d{2})"
DATE_RE = re.compile(_DATE)
DATETIME_RE = re.compile(rf"{_DATE}(?:T(?:{_TIME}{_TZ}?)?)?")
TIME_RE = re.compile(_TIME)
_NO_T_DATETIME_RE = re.compile(rf"{_DATE}(?:T{_TIME}{_TZ}?)?")

_CAL_UNITS = {
    **CALENDAR,
    "wk": "week",
    "d": "day",
    "h": "hour",
    "min": "minute",
    "s": "second",
    "ms": "millisecond",
}
_SECONDS = {"week": 604800, "day": 86400, "hour": 3600, "minute": 60, "second": 1}


def _tz_minutes(text: str | None) -> int | None:
    if text is None:
        return None
    if text == "Z":
        return 0
    sign = -1 if text[0] == "-" else 1
    return sign * (int(text[1:3]) * 60 + int(text[4:6]))


def _tz_text(minutes: int) -> str:
    if minutes == 0:
        return "Z"
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


def _ints(groups: tuple[str | None, ...]) -> tuple[int, ...]:
    out: list[int] = []
    for g in groups:
        if g is None:
            break
        out.append(int(g))
    return tuple(out)


class Temporal:
    """A partial date/time: ``parts`` holds the known components, most significant first."""

    __slots__ = ("frac", "parts", "tz")
    kind: ClassVar[str] = ""
    offset: ClassVar[int] = 0  # index of parts[0] in (year, month, day, hour, minute, second)

    def __init__(self, parts: tuple[int, ...], frac: str | None = None, tz: int | None = None):
        self.parts = parts
        self.frac = frac
        self.tz = tz

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.iso()!r})"

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and isinstance(other, Temporal)
            and (self.parts, self.frac, self.tz) == (other.parts, other.frac, other.tz)
        )

    def __hash__(self) -> int:
        return hash((self.kind, self.parts, self.frac, self.tz))

    def __str__(self) -> str:
        return self.iso()

    def iso(self) -> str:
        """Return the ISO 8601 text of the value."""
        raise NotImplementedError

    def literal(self) -> str:
        """Return the FHIRPath literal text of the value."""
        return "@" + self.iso()

    def levels(self) -> list[int | Decimal]:
        """Return comparable components; seconds carry their fraction."""
        vals: list[int | Decimal] = list(self.parts)
        if self.offset + len(self.parts) == 6 and self.frac is not None:
            vals[-1] = Decimal(f"{self.parts[-1]}.{self.frac}")
        return vals

    def millis(self) -> int:
        """Return the fractional seconds as milliseconds."""
        return int((self.frac or "0").ljust(3, "0")[:3])


def _time_text(parts: tuple[int, ...], frac: str | None) -> str:
    text = ":".join(f"{p:02d}" for p in parts)
    return text + (f".{frac}" if frac is not None and len(parts) == 3 else "")


class Date(Temporal):
    """A FHIRPath Date (year, month, day precision)."""

    __slots__ = ()
    kind = "Date"

    def iso(self) -> str:
        """Return the ISO 8601 text of the value."""
        y, *rest = self.parts
        return f"{y:04d}" + "".join(f"-{p:02d}" for p in rest)

    @classmethod
    def parse(cls, text: str) -> Date | None:
        """Parse ``YYYY[-MM[-DD]]``; return None when malformed."""
        m = DATE_RE.fullmatch(text)
        return cls(_ints(m.groups())) if m and _valid(_ints(m.groups())) else None


class DateTime(Temporal):
    """A FHIRPath DateTime (year to millisecond precision, optional timezone)."""

    __slots__ = ()
    kind = "DateTime"

    def iso(self) -> str:
        """Return the ISO 8601 text of the value."""
        text = Date(self.parts[:3]).iso()
        if len(self.parts) > 3:
            text += "T" + _time_text(self.parts[3:], self.frac)
            if self.tz is not None:
                text += _tz_text(self.tz)
        return text

    def literal(self) -> str:
        """Return the FHIRPath literal text of the value."""
        return "@" + self.iso() + ("T" if len(self.parts) <= 3 else "")

    @classmethod
    def parse(cls, text: str) -> DateTime | None:
        """Parse an ISO date-time of any precision; return None when malformed."""
        m = _NO_T_DATETIME_RE.fullmatch(text)
        if not m:
            return None
        g = m.groups()
        date = _ints(g[:3])
        time = _ints(g[3:6]) if len(date) == 3 else ()
        parts = date + time
        if not _valid(parts):
            return None
        return cls(parts, g[6] if len(parts) == 6 else None, _tz_minutes(g[7]) if time else None)

    def to_date(self) -> Date:
        """Return the date part."""
        return Date(self.parts[:3])


class Time(Temporal):
    """A FHIRPath Time (hour to millisecond precision)."""

    __slots__ = ()
    kind = "Time"
    offset = 3

    def iso(self) -> str:
        """Return the ISO 8601 text of the value."""
        return _time_text(self.parts, self.frac)

    def literal(self) -> str:
        """Return the FHIRPath literal text of the value."""
        return "@T" + self.iso()

    @classmethod
    def parse(cls, text: str) -> Time | None:
        """Parse ``hh[:mm[:ss[.fff]]]``; return None when malformed."""
        m = TIME_RE.fullmatch(text)
        if not m:
            return None
        parts = _ints(m.groups()[:3])
        if not _valid((2000, 1, 1, *parts)):
            return None
        return cls(parts, m.group(4) if len(parts) == 3 else None)


def _valid(parts: tuple[int, ...]) -> bool:
    full = list(parts) + [1, 1, 1, 0, 0, 0][len(parts) :]
    y, mo, d, h, mi, s = full[:6]
    if not (1 <= mo <= 12) or y < 1 or h > 23 or mi > 59 or s > 59:
        return False
    return 1 <= d <= calendar.monthrange(y, mo)[1]


def _full(t: Temporal) -> _dt.datetime:
    full = [*t.parts, 1, 1, 1, 0, 0, 0][:6] if t.offset == 0 else [2000, 1, 1, *t.parts, 0, 0][:6]
    y, mo, d, h, mi, s = full
    return _dt.datetime(y, mo, d, h, mi, s, t.millis() * 1000)


def _from_full(t: Temporal, value: _dt.datetime) -> tuple[int, ...]:
    full = (value.year, value.month, value.day, value.hour, value.minute, value.second)
    return full[t.offset : t.offset + len(t.parts)]


def _as_datetime(t: Temporal) -> Temporal:
    return DateTime(t.parts) if isinstance(t, Date) else t


def _utc(t: Temporal) -> list[int | Decimal]:
    if t.tz is None or t.tz == 0 or len(t.parts) < 4:
        return t.levels()
    shifted = type(t)(_from_full(t, _full(t) - _dt.timedelta(minutes=t.tz)), t.frac)
    return shifted.levels()


def compare(a: Temporal, b: Temporal) -> int | None:
    """Compare two temporals: -1/0/1, or None when precision makes the answer uncertain."""
    a, b = _as_datetime(a), _as_datetime(b)
    if a.kind != b.kind:
        raise FhirPathError(f"cannot compare {a.kind} with {b.kind}")
    mixed_tz = (a.tz is None) != (b.tz is None) and len(a.parts) > 3 and len(b.parts) > 3
    if mixed_tz:
        la, lb = a.levels()[:3], b.levels()[:3]
    elif a.tz is not None and b.tz is not None:
        la, lb = _utc(a), _utc(b)
    else:
        la, lb = a.levels(), b.levels()
    for x, y in zip(la, lb, strict=False):
        if x != y:
            return -1 if x < y else 1
    if mixed_tz or len(la) != len(lb):
        return None
    return 0


def equivalent(a: Temporal, b: Temporal) -> bool:
    """Tell whether two temporals are equivalent (same precision and equal)."""
    a, b = _as_datetime(a), _as_datetime(b)
    if a.kind != b.kind or len(a.parts) != len(b.parts):
        return False
    return compare(a, b) == 0


def calendar_unit(unit: str) -> str:
    """Map a duration unit to its calendar unit name, or raise for non-calendar units."""
    name = _CAL_UNITS.get(unit)
    if name is None:
        raise FhirPathError(f"cannot add a quantity in {unit!r} to a date/time")
    return name


def add(t: Temporal, amount: Decimal | int, unit: str) -> Temporal:
    """Add a calendar duration (``unit`` normalized by calendar_unit) to a temporal."""
    n = int(amount)
    if unit in ("year", "month"):
        if isinstance(t, Time):
            raise FhirPathError("cannot add years or months to a Time")
        months = n * 12 if unit == "year" else n
        parts = list(t.parts)
        if len(parts) == 1:
            parts[0] += int(months / 12)
        else:
            total = parts[0] * 12 + parts[1] - 1 + months
            parts[0], parts[1] = divmod(total, 12)
            parts[1] += 1
            if len(parts) > 2:
                parts[2] = min(parts[2], calendar.monthrange(parts[0], parts[1])[1])
        return type(t)(tuple(parts), t.frac, t.tz)
    if unit == "millisecond":
        delta = _dt.timedelta(milliseconds=n)
    else:
        seconds = n * _SECONDS[unit]
        if isinstance(t, Date):
            seconds = int(seconds / 86400) * 86400
        delta = _dt.timedelta(seconds=seconds)
    value = _full(t) + delta
    frac = t.frac
    if frac is not None or (unit == "millisecond" and t.offset + len(t.parts) == 6):
        frac = f"{value.microsecond // 1000:03d}"
    return type(t)(_from_full(t, value), frac, t.tz)
