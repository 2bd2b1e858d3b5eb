"""Normalise FHIR values for the index and for search input: strings, dates, numbers, references."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from zoneinfo import ZoneInfo

from gansu_health.core.clock import EPOCH

MIN_US = -(2**62)
MAX_US = 2**62
_DATE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


@lru_cache(maxsize=65536)
def normalize_string(value: str) -> str:
    """Fold case and accents and collapse spaces, as string search compares."""
    decomposed = unicodedata.normalize("NFKD", value)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(folded.split())[:255]


def _zone(tz: str | tzinfo) -> tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def date_range(value: str, default_tz: str | tzinfo = "Asia/Shanghai") -> tuple[int, int] | None:
    """Return the inclusive [lo, hi] epoch-microsecond range a FHIR date/dateTime/instant covers."""
    m = _DATE.match(value.strip().replace(" ", "+"))
    if not m:
        return None
    year, month, day, hour, minute, second, frac, offset = m.groups()
    try:
        if offset:
            tz: tzinfo = UTC if offset == "Z" else timezone(
                timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
                * (1 if offset[0] == "+" else -1))
        else:
            tz = _zone(default_tz)
        y = int(year)
        if month is None:
            start, end = datetime(y, 1, 1, tzinfo=tz), datetime(y + 1, 1, 1, tzinfo=tz)
        elif day is None:
            mo = int(month)
            start = datetime(y, mo, 1, tzinfo=tz)
            end = datetime(y + (mo == 12), mo % 12 + 1, 1, tzinfo=tz)
        elif hour is None:
            start = datetime(y, int(month), int(day), tzinfo=tz)
            end = start + timedelta(days=1)
        else:
            start = datetime(y, int(month), int(day), int(hour), int(minute),
                             int(second or 0), tzinfo=tz)
            if second is None:
                end = start + timedelta(minutes=1)
            elif frac:
                micro = int((frac[1:] + "000000")[:6])
                start = start.replace(microsecond=micro)
                digits = min(len(frac) - 1, 6)
                end = start + timedelta(microseconds=10 ** (6 - digits))
            else:
                end = start + timedelta(seconds=1)
    except ValueError:
        return None
    lo = (start - EPOCH) // timedelta(microseconds=1)
    hi = (end - EPOCH) // timedelta(microseconds=1) - 1
    return lo, hi


def decimal_range(text: str) -> tuple[float, float, float]:
    """Return (value, lo, hi) of a search number whose precision is implied by its digits."""
    try:
        dec = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"'{text}' is not a number") from exc
    if not dec.is_finite():
        raise ValueError(f"'{text}' is not a finite number")
    exponent = dec.as_tuple().exponent
    half = Decimal(5) * Decimal(10) ** (int(exponent) - 1)
    return float(dec), float(dec - half), float(dec + half)


@lru_cache(maxsize=16384)  # the same references recur: every index row of a resource, per param
def split_reference(ref: str, base_url: str) -> tuple[str | None, str | None, str | None]:
    """Split a reference string into (target type, target id, absolute url or None)."""
    if ref.startswith("#"):
        return None, None, None
    url = None
    local = ref
    if "://" in ref or ref.startswith("urn:"):
        if base_url and ref.startswith(base_url.rstrip("/") + "/"):
            local = ref[len(base_url.rstrip("/")) + 1:]
        else:
            url = ref
            if ref.startswith("urn:"):
                return None, None, url
    parts = local.split("/_history/")[0].split("|")[0].rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2][:1].isupper():
        return parts[-2], parts[-1], url
    return None, None, url or ref


DAY_US = 86_400_000_000
# the widest range (µs) of each span class; the last class is unbounded
SPAN_LIMITS = (DAY_US, 32 * DAY_US, 367 * DAY_US, 3_660 * DAY_US)
UNBOUNDED_SPAN = len(SPAN_LIMITS)


def span_class(lo: int, hi: int) -> int:
    """Return the span class of an inclusive [lo, hi] range."""
    width = hi - lo
    for i, limit in enumerate(SPAN_LIMITS):
        if width <= limit:
            return i
    return UNBOUNDED_SPAN
