"""Math functions and the precision/boundary functions (lowBoundary, highBoundary, precision)."""

from __future__ import annotations

import calendar
import math
from collections.abc import Callable
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .context import Ctx, boolean, function, single
from .errors import FhirPathError
from .model import Node
from .operators import make
from .quantity import Quantity, comparable
from .temporal import Date, DateTime, Temporal, Time

_MAX_PRECISION = 28


def _number(items: list[Node], name: str) -> int | Decimal | Quantity | None:
    value = single(items, name)
    if value is None or isinstance(value, Quantity):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise FhirPathError(f"{name} expects a number, got {value!r}")
    return value


def _from_float(value: float) -> list[Node]:
    if math.isnan(value) or math.isinf(value):
        return []
    return [make(Decimal(repr(value)))]


@function("abs")
def _abs(ctx: Ctx, items: list[Node]) -> list[Node]:
    value = _number(items, "abs()")
    if value is None:
        return []
    if isinstance(value, Quantity):
        return [make(Quantity(abs(value.value), value.unit))]
    return [make(abs(value))]


def _integral(name: str, fn: Callable[[Decimal], int]) -> None:
    @function(name)
    def impl(ctx: Ctx, items: list[Node]) -> list[Node]:
        value = _number(items, f"{name}()")
        if value is None or isinstance(value, Quantity):
            return []
        return [make(fn(Decimal(value)))]


_integral("ceiling", math.ceil)
_integral("floor", math.floor)
_integral("truncate", lambda d: int(d))


def _real(name: str, fn: Callable[[float], float]) -> None:
    @function(name)
    def impl(ctx: Ctx, items: list[Node]) -> list[Node]:
        value = _number(items, f"{name}()")
        if value is None or isinstance(value, Quantity):
            return []
        try:
            return _from_float(fn(float(value)))
        except (ValueError, OverflowError):
            return []


_real("exp", math.exp)
_real("ln", math.log)
_real("sqrt", math.sqrt)


@function("log", 1)
def _log(ctx: Ctx, items: list[Node], base: list[Node]) -> list[Node]:
    value, b = _number(items, "log()"), _number(base, "log()")
    if value is None or b is None or isinstance(value, Quantity) or isinstance(b, Quantity):
        return []
    try:
        return _from_float(math.log(float(value), float(b)))
    except (ValueError, ZeroDivisionError):
        return []


@function("power", 1)
def _power(ctx: Ctx, items: list[Node], exponent: list[Node]) -> list[Node]:
    value, e = _number(items, "power()"), _number(exponent, "power()")
    if value is None or e is None or isinstance(value, Quantity) or isinstance(e, Quantity):
        return []
    if isinstance(value, int) and isinstance(e, int) and e >= 0:
        return [make(value**e)]
    try:
        result = float(value) ** float(e)
    except (ZeroDivisionError, OverflowError):
        return []
    return [] if isinstance(result, complex) else _from_float(result)


@function("round", 0, 1)
def _round(ctx: Ctx, items: list[Node], digits: list[Node] | None = None) -> list[Node]:
    value = _number(items, "round()")
    places = single(digits, "round()") if digits else 0
    if value is None or places is None or isinstance(value, Quantity):
        return []
    if places < 0:
        raise FhirPathError("round() precision must be >= 0")
    quantum = Decimal(1).scaleb(-places)
    return [make(Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP))]


def _places(value: Decimal) -> int:
    exp = value.as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def _low(value: Decimal, places: int, precision: int) -> Decimal:
    if value < 0:
        return _high(-value, places, precision).copy_negate()
    start = value - Decimal(5).scaleb(-(places + 1))
    return start.quantize(Decimal(1).scaleb(-precision), rounding=ROUND_DOWN)


def _high(value: Decimal, places: int, precision: int) -> Decimal:
    if value < 0:
        return _low(-value, places, precision).copy_negate()
    end = value + Decimal(5).scaleb(-(places + 1))
    return end.quantize(Decimal(1).scaleb(-precision), rounding=ROUND_HALF_UP)


_DATE_LEVELS = {4: 1, 6: 2, 8: 3}
_DATETIME_LEVELS = {4: 1, 6: 2, 8: 3, 10: 4, 12: 5, 14: 6, 17: 6}
_TIME_LEVELS = {2: 1, 4: 2, 6: 3, 9: 3}


def _temporal_boundary(value: Temporal, precision: int | None, high: bool) -> Temporal | None:
    if isinstance(value, Time):
        levels, default = _TIME_LEVELS, 9
    elif isinstance(value, DateTime):
        levels, default = _DATETIME_LEVELS, 17
    else:
        levels, default = _DATE_LEVELS, 8
    precision = default if precision is None else precision
    if precision not in levels:
        return None
    count = levels[precision]
    parts = list(value.parts)
    if value.offset + len(parts) == 4:
        parts.append(0)
    fill = [0, 12, 31, 23, 59, 59] if high else [0, 1, 1, 0, 0, 0]
    while len(parts) < count:
        parts.append(fill[value.offset + len(parts)])
        if high and value.offset == 0 and len(parts) == 3:
            parts[2] = calendar.monthrange(parts[0], parts[1])[1]
    parts = parts[:count]
    frac = None
    if precision in (9, 17):
        frac = value.frac if value.frac is not None else ("999" if high else "000")
    tz = value.tz
    if isinstance(value, DateTime) and count > 3 and tz is None:
        tz = -720 if high else 840
    return type(value)(tuple(parts), frac, tz if count > 3 else None)


def _boundary(items: list[Node], digits: list[Node] | None, high: bool) -> list[Node]:
    value = single(items, "boundary()")
    precision = single(digits, "boundary()") if digits else None
    if value is None:
        return []
    if isinstance(value, Temporal):
        result = _temporal_boundary(value, precision, high)
        return [] if result is None else [make(result)]
    target = value.value if isinstance(value, Quantity) else value
    if isinstance(target, bool) or not isinstance(target, (int, Decimal)):
        return []
    precision = 8 if precision is None else precision
    if not 0 <= precision <= _MAX_PRECISION:
        return []
    number = Decimal(target)
    try:
        bound = (_high if high else _low)(number, _places(number), precision)
    except InvalidOperation:
        return []
    return [make(Quantity(bound, value.unit) if isinstance(value, Quantity) else bound)]


@function("lowBoundary", 0, 1)
def _low_boundary(ctx: Ctx, items: list[Node], digits: list[Node] | None = None) -> list[Node]:
    return _boundary(items, digits, high=False)


@function("highBoundary", 0, 1)
def _high_boundary(ctx: Ctx, items: list[Node], digits: list[Node] | None = None) -> list[Node]:
    return _boundary(items, digits, high=True)


def _precision_of(value: Any) -> int | None:
    if isinstance(value, Decimal):
        return _places(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return 0
    if isinstance(value, Time):
        return {1: 2, 2: 4, 3: 6}[len(value.parts)] + (3 if value.frac is not None else 0)
    if isinstance(value, (Date, DateTime)):
        size = len(value.parts)
        return 4 + 2 * (size - 1) + (3 if value.frac is not None and size == 6 else 0)
    if isinstance(value, str):
        return len(value)
    return None


@function("precision")
def _precision(ctx: Ctx, items: list[Node]) -> list[Node]:
    result = _precision_of(single(items, "precision()"))
    return [] if result is None else [make(result)]


@function("comparable", 1)
def _comparable(ctx: Ctx, items: list[Node], other: list[Node]) -> list[Node]:
    a, b = single(items, "comparable()"), single(other, "comparable()")
    if not isinstance(a, Quantity) or not isinstance(b, Quantity):
        return []
    return boolean(comparable(a, b))
