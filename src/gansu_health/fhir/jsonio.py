"""FHIR JSON in and out, keeping decimal precision (``1.50`` stays ``1.50``).

orjson parses numbers into floats, which is exact for most data but drops trailing zeros and
exponent notation that FHIR decimals must keep. Bodies whose decimal literals would not survive a
float round trip are re-parsed with the standard library into :class:`FhirDecimal`, a float that
remembers its text and is written back verbatim.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_DECIMAL = re.compile(rb"[:\[,]\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?=\s*[,\]}])")


class FhirDecimal(float):
    """A decimal that serialises exactly as it was written."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> FhirDecimal:
        """Parse ``text`` and remember it."""
        value = float.__new__(cls, text)
        value.text = text
        return value


def _exact(raw: bytes) -> bool:
    for match in _DECIMAL.finditer(raw):
        literal = match.group(1)
        if (b"." in literal or b"e" in literal or b"E" in literal) and \
                repr(float(literal)).encode() != literal:
            return False
    return True


def loads(raw: bytes | str) -> Any:
    """Parse JSON; raises ``orjson.JSONDecodeError`` (a ValueError) when malformed."""
    data = orjson.loads(raw)
    encoded = raw.encode() if isinstance(raw, str) else raw
    if _exact(encoded):
        return data
    return json.loads(encoded, parse_float=FhirDecimal)


def _default(value: Any) -> Any:
    if isinstance(value, FhirDecimal):
        return orjson.Fragment(value.text.encode())
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> bytes:
    """Serialise to compact JSON bytes, writing FHIR decimals exactly."""
    return orjson.dumps(value, default=_default)
