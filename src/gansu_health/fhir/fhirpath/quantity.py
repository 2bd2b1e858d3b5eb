"""FHIRPath Quantity values with a small UCUM unit algebra and calendar durations."""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cache

from .errors import FhirPathError

CALENDAR = {
    "year": "year",
    "years": "year",
    "month": "month",
    "months": "month",
    "week": "week",
    "weeks": "week",
    "day": "day",
    "days": "day",
    "hour": "hour",
    "hours": "hour",
    "minute": "minute",
    "minutes": "minute",
    "second": "second",
    "seconds": "second",
    "millisecond": "millisecond",
    "milliseconds": "millisecond",
}
_CAL_AS_UCUM = {
    "week": "wk",
    "day": "d",
    "hour": "h",
    "minute": "min",
    "second": "s",
    "millisecond": "ms",
}

Dims = tuple[tuple[str, int], ...]
_D = Decimal
_PA = (_D(1000), {"g": 1, "m": -1, "s": -2})
_ATOMS: dict[str, tuple[Decimal, dict[str, int]]] = {
    "m": (_D(1), {"m": 1}),
    "g": (_D(1), {"g": 1}),
    "s": (_D(1), {"s": 1}),
    "min": (_D(60), {"s": 1}),
    "h": (_D(3600), {"s": 1}),
    "d": (_D(86400), {"s": 1}),
    "wk": (_D(604800), {"s": 1}),
    "mo": (_D(2629800), {"s": 1}),
    "a": (_D(31557600), {"s": 1}),
    "L": (_D("0.001"), {"m": 3}),
    "l": (_D("0.001"), {"m": 3}),
    "[in_i]": (_D("0.0254"), {"m": 1}),
    "[ft_i]": (_D("0.3048"), {"m": 1}),
    "[yd_i]": (_D("0.9144"), {"m": 1}),
    "[mi_i]": (_D("1609.344"), {"m": 1}),
    "[lb_av]": (_D("453.59237"), {"g": 1}),
    "[oz_av]": (_D("28.349523125"), {"g": 1}),
    "[gr]": (_D("0.06479891"), {"g": 1}),
    "t": (_D(1000000), {"g": 1}),
    "mol": (_D(1), {"mol": 1}),
    "eq": (_D(1), {"eq": 1}),
    "K": (_D(1), {"K": 1}),
    "Pa": _PA,
    "m[Hg]": (_D(133322) * 1000, _PA[1]),
    "N": (_D(1000), {"g": 1, "m": 1, "s": -2}),
    "J": (_D(1000), {"g": 1, "m": 2, "s": -2}),
    "cal": (_D(4184), {"g": 1, "m": 2, "s": -2}),
    "Hz": (_D(1), {"s": -1}),
    "%": (_D("0.01"), {}),
    "1": (_D(1), {}),
}
_METRIC = {"m", "g", "s", "L", "l", "mol", "eq", "Pa", "m[Hg]", "N", "J", "cal", "Hz", "K", "U"}
_PREFIXES = {
    "da": _D(10),
    "h": _D(100),
    "k": _D(1000),
    "M": _D(10) ** 6,
    "G": _D(10) ** 9,
    "T": _D(10) ** 12,
    "d": _D("0.1"),
    "c": _D("0.01"),
    "m": _D("0.001"),
    "u": _D(10) ** -6,
    "n": _D(10) ** -9,
    "p": _D(10) ** -12,
    "f": _D(10) ** -15,
}
_TERM = re.compile(r"(.+?)([+-]?\d+)?")
_POWER = re.compile(r"10[*^]([+-]?\d+)")


def _atom(name: str) -> tuple[Decimal, dict[str, int]]:
    if name in _ATOMS:
        return _ATOMS[name]
    for size in (2, 1):
        prefix, rest = name[:size], name[size:]
        if prefix in _PREFIXES and rest in _METRIC:
            factor, dims = _ATOMS.get(rest, (_D(1), {rest: 1}))
            return _PREFIXES[prefix] * factor, dims
    return _D(1), {name: 1}


@cache
def unit_dims(unit: str) -> tuple[Decimal, Dims]:
    """Return (factor to base units, dimension vector) of a UCUM unit expression."""
    text = re.sub(r"\{[^}]*\}", "", unit) or "1"
    factor, dims = _D(1), dict[str, int]()
    sign = 1
    for token in re.split(r"([./])", text):
        if token in (".", "/"):
            sign = -1 if token == "/" else 1
            continue
        if not token:
            continue
        power = _POWER.fullmatch(token)
        if power:
            factor *= _D(10) ** (sign * int(power.group(1)))
            continue
        if token.isdigit():
            factor *= _D(token) ** sign
            continue
        m = _TERM.fullmatch(token)
        assert m is not None
        name, exp = m.group(1), int(m.group(2) or 1) * sign
        if name.endswith("]") or name.endswith("}"):
            name, exp = token, sign
        f, d = _atom(name)
        factor *= f**exp
        for k, v in d.items():
            dims[k] = dims.get(k, 0) + v * exp
    return factor, tuple(sorted((k, v) for k, v in dims.items() if v))


class Quantity:
    """A FHIRPath Quantity: a decimal value with a UCUM unit or a calendar duration keyword."""

    __slots__ = ("unit", "value")

    def __init__(self, value: Decimal, unit: str = "1"):
        self.value = value
        self.unit = unit

    @property
    def calendar(self) -> str | None:
        """Return the calendar unit (year … millisecond) when this is a calendar duration."""
        return CALENDAR.get(self.unit)

    def __repr__(self) -> str:
        return f"Quantity({self.__str__()!r})"

    def __str__(self) -> str:
        value = format(self.value, "f")
        return f"{value} {self.unit}" if self.unit in CALENDAR else f"{value} '{self.unit}'"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Quantity) and quantity_compare(self, other) == 0

    def __hash__(self) -> int:
        return hash(self.value)

    def base(self) -> tuple[Decimal, Dims]:
        """Return the value in base units and the dimension vector."""
        cal = self.calendar
        if cal in ("year", "month"):
            return self.value * (12 if cal == "year" else 1), (("cal-month", 1),)
        factor, dims = unit_dims(_CAL_AS_UCUM[cal] if cal else self.unit)
        return self.value * factor, dims


def _is_cal_month(dims: Dims) -> bool:
    return dims == (("cal-month", 1),)


def quantity_compare(a: Quantity, b: Quantity) -> int | None:
    """Compare two quantities; None when they are not comparable."""
    va, da = a.base()
    vb, db = b.base()
    if da != db:
        return None
    return (va > vb) - (va < vb)


def comparable(a: Quantity, b: Quantity) -> bool:
    """Tell whether two quantities have commensurable units."""
    return a.base()[1] == b.base()[1]


def quantity_equal(a: Quantity, b: Quantity) -> bool | None:
    """Return FHIRPath ``=`` of two quantities (None when uncertain)."""
    da, db = a.base()[1], b.base()[1]
    if da != db:
        if _is_cal_month(da) or _is_cal_month(db):
            return None if (("s", 1),) in (da, db) else False
        return False
    return quantity_compare(a, b) == 0


def _places(d: Decimal) -> int:
    exp = d.as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def quantity_equivalent(a: Quantity, b: Quantity) -> bool:
    """Return FHIRPath ``~`` of two quantities, at the precision of the least precise one."""
    da = a.base()[1]
    vb, db = b.base()
    if da != db:
        return False
    vb_in_a = vb / unit_factor(a)
    places = min(_places(a.value), _places(b.value))
    q = _D(1).scaleb(-places)
    return a.value.quantize(q) == vb_in_a.quantize(q)


def _unit_text(dims_a: str, op: str, dims_b: str) -> str:
    if dims_b == "1":
        return dims_a
    if dims_a == "1" and op == ".":
        return dims_b
    return f"({dims_a}){op}({dims_b})" if op == "/" and "/" in dims_b else f"{dims_a}{op}{dims_b}"


def multiply(a: Quantity, b: Quantity, divide: bool = False) -> Quantity:
    """Multiply or divide two quantities, combining their units."""
    ua = _CAL_AS_UCUM.get(a.calendar or "", a.unit)
    ub = _CAL_AS_UCUM.get(b.calendar or "", b.unit)
    if divide:
        if b.value == 0:
            raise ZeroDivisionError
        _, da = unit_dims(ua)
        _, db = unit_dims(ub)
        if da == db:
            fa, _ = unit_dims(ua)
            fb, _ = unit_dims(ub)
            return Quantity(a.value * fa / (b.value * fb), "1")
        return Quantity(a.value / b.value, _unit_text(ua, "/", ub))
    return Quantity(a.value * b.value, _unit_text(ua, ".", ub))


def add(a: Quantity, b: Quantity, sign: int = 1) -> Quantity:
    """Add (or subtract) two quantities of the same dimension, in the unit of the first."""
    da = a.base()[1]
    vb, db = b.base()
    if da != db:
        raise FhirPathError(f"cannot add quantities in {a.unit!r} and {b.unit!r}")
    return Quantity(a.value + sign * vb / unit_factor(a), a.unit)


def unit_factor(q: Quantity) -> Decimal:
    """Return the factor converting one unit of ``q`` to base units."""
    return Quantity(_D(1), q.unit).base()[0]
