"""Fast checkers for FHIR primitive values: a cheap yes/no test and a slow explanation."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from gansu_health.fhir.definitions import fhir_model

Check = Callable[[Any], bool]

_INT32 = (-(2**31), 2**31 - 1)
_XHTML_NS = "http://www.w3.org/1999/xhtml"
# The R4 string regex `[ \r\n\t\S]+` is meant to forbid control characters; Python's Unicode \s
# would also reject full-width spaces and NBSP, which are legitimate in Chinese text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]").search
_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}").fullmatch
_WS = re.compile(r"\s+")
_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_CACHE_LIMIT = 50_000


def _real_date(v: str) -> bool:
    """Tell whether the YYYY-MM-DD prefix (when present) names a real calendar day."""
    if len(v) < 10 or v[8:10] <= "28":
        return True
    year, month, day = int(v[0:4]), int(v[5:7]), int(v[8:10])
    if month == 2 and day == 29:
        return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return day <= _DAYS[month]


def _string_ok(v: Any) -> bool:
    return type(v) is str and v != "" and _CONTROL(v) is None


_INF = float("inf")


def _boolean_ok(v: Any) -> bool:
    return type(v) is bool


def _decimal_ok(v: Any) -> bool:
    # float subclasses carry decimals whose written precision must be kept (fhir.jsonio)
    return type(v) is int or (isinstance(v, float) and v == v and v not in (_INF, -_INF))


def _int_range(low: int) -> Check:
    high = _INT32[1]

    def ok(v: Any) -> bool:
        return type(v) is int and low <= v <= high

    return ok


def _base64_ok(v: Any) -> bool:
    if type(v) is not str or v == "":
        return False
    if not v.isascii():
        return False
    if " " in v or "\n" in v or "\r" in v or "\t" in v:
        v = _WS.sub("", v)
    return len(v) % 4 == 0 and _B64(v) is not None


def _xhtml_ok(v: Any) -> bool:
    if type(v) is not str or not v.startswith("<div"):
        return False
    head = v[: v.find(">") + 1]
    return f'xmlns="{_XHTML_NS}"' in head or f"xmlns='{_XHTML_NS}'" in head


def _regex_check(regex: str, dated: bool) -> Check:
    match = re.compile(regex).fullmatch
    seen: set[str] = set()

    def ok(v: Any) -> bool:
        if type(v) is not str:
            return False
        if v in seen:
            return True
        if match(v) is None or (dated and not _real_date(v)):
            return False
        if len(seen) > _CACHE_LIMIT:
            seen.clear()
        seen.add(v)
        return True

    return ok


@cache
def primitive_check(type_name: str) -> Check:
    """Return the cheap validity test for a value of primitive ``type_name``."""
    special: dict[str, Check] = {
        "string": _string_ok,
        "markdown": _string_ok,
        "boolean": _boolean_ok,
        "decimal": _decimal_ok,
        "integer": _int_range(_INT32[0]),
        "unsignedInt": _int_range(0),
        "positiveInt": _int_range(1),
        "base64Binary": _base64_ok,
        "xhtml": _xhtml_ok,
    }
    if type_name in special:
        return special[type_name]
    regex = fhir_model().primitives[type_name]["regex"] or r"\S+"
    if type_name in ("uri", "url", "canonical"):
        regex = r"\S+"
    return _regex_check(regex, type_name in ("date", "dateTime", "instant"))


_JSON_KIND: dict[str, type | tuple[type, ...]] = {
    "boolean": bool, "integer": int, "number": (int, float), "string": str}
_KIND_NAME = {"boolean": "a JSON boolean", "integer": "a JSON integer",
              "number": "a JSON number", "string": "a JSON string"}
_HINTS = {
    "dateTime": "a dateTime with a time part needs seconds and a timezone (Z or ±hh:mm)",
    "instant": "an instant needs a full date, time with seconds and a timezone",
    "date": "a date is YYYY, YYYY-MM or YYYY-MM-DD",
    "time": "a time is hh:mm:ss",
    "id": "an id is 1-64 characters of A-Z, a-z, 0-9, '-' and '.'",
    "code": "a code has no leading, trailing or repeated whitespace",
    "oid": "an oid is urn:oid: followed by dotted numbers",
    "uuid": "a uuid is urn:uuid: followed by a lower-case UUID",
    "base64Binary": "base64 data uses A-Z, a-z, 0-9, '+', '/' and '=' padding",
    "positiveInt": "a positiveInt is an integer from 1 to 2147483647",
    "unsignedInt": "an unsignedInt is an integer from 0 to 2147483647",
    "integer": "an integer lies between -2147483648 and 2147483647",
    "string": "a string may not contain control characters",
    "markdown": "markdown may not contain control characters",
    "xhtml": "the narrative must be a <div> element in the XHTML namespace",
}


def explain(type_name: str, value: Any, element: str) -> tuple[str, str]:
    """Return the issue code and sentence for a value that failed ``primitive_check``."""
    kind = "string" if type_name == "xhtml" else fhir_model().primitives[type_name]["json"]
    expected = _JSON_KIND[kind]
    if value is None:
        return "structure", f"Element {element} is null; null is only allowed in arrays."
    if (type(value) is bool and kind != "boolean") or not isinstance(value, expected):
        return "structure", (f"Element {element} must be {_KIND_NAME[kind]} ({type_name}), "
                             f"not {type(value).__name__} {value!r:.60}.")
    if value == "":
        return "value", f"Element {element} is an empty string, which FHIR JSON forbids."
    if type_name in ("date", "dateTime", "instant") and primitive_check("string")(value):
        match = re.compile(fhir_model().primitives[type_name]["regex"]).fullmatch(value)
        if match is not None:
            return "value", f"Element {element} value {value!r} is not a real calendar date."
    hint = _HINTS.get(type_name, f"it must match the {type_name} format")
    return "value", f"Element {element} value {value!r:.80} is not a valid {type_name}: {hint}."
