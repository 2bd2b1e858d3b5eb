"""FHIRPath equality, equivalence, ordering and arithmetic on System values."""

from __future__ import annotations

import re
from decimal import Decimal, DivisionByZero, InvalidOperation
from typing import Any

import orjson

from . import quantity as q
from . import temporal as t
from .errors import FhirPathError
from .model import (
    BOOLEAN,
    DATE,
    DATETIME,
    DECIMAL,
    INTEGER,
    QUANTITY,
    STRING,
    TIME,
    Node,
    TypeInfo,
)
from .quantity import Quantity
from .temporal import Temporal


def _fhir_quantity(value: dict[str, Any]) -> Quantity | None:
    number = value.get("value")
    if number is None or isinstance(number, bool):
        return None
    code = value.get("code")
    unit = code if code and value.get("system") in (None, "http://unitsofmeasure.org") else None
    return Quantity(
        Decimal(repr(number)) if isinstance(number, float) else Decimal(number),
        unit or value.get("unit") or "1",
    )


def sysval(node: Node) -> Any:
    """Return the System value of a node (Decimal, Date, Quantity …, or the raw value)."""
    ti = node.ti
    value = node.value
    if ti is not None:
        if ti.conv is not None:
            return ti.conv(value)
        if ti.quantity and type(value) is dict:
            return _fhir_quantity(value) or value
    if type(value) is float:
        return Decimal(repr(value))
    return value


def system_info(value: Any) -> TypeInfo | None:
    """Return the System type of a plain value."""
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, (Decimal, float)):
        return DECIMAL
    if isinstance(value, str):
        return STRING
    if isinstance(value, Quantity):
        return QUANTITY
    if isinstance(value, Temporal):
        return {"Date": DATE, "DateTime": DATETIME, "Time": TIME}[value.kind]
    return None


def make(value: Any) -> Node:
    """Wrap a System value in a node."""
    return Node(value, system_info(value))


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, Decimal)) and not isinstance(v, bool)


def equal(a: Any, b: Any) -> bool | None:
    """FHIRPath ``=`` on two System values; None when the result is unknown."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b if isinstance(a, bool) and isinstance(b, bool) else False
    if _is_num(a) and _is_num(b):
        return bool(a == b)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, Temporal) and isinstance(b, Temporal):
        try:
            c = t.compare(a, b)
        except FhirPathError:
            return False
        return None if c is None else c == 0
    if isinstance(a, Quantity) and isinstance(b, Quantity):
        return q.quantity_equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a == b
    return False


_WS = re.compile(r"\s+")


def _places(d: Decimal) -> int:
    exp = d.as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def equivalent(a: Any, b: Any) -> bool:
    """FHIRPath ``~`` on two System values."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if _is_num(a) and _is_num(b):
        da, db = Decimal(a), Decimal(b)
        quant = Decimal(1).scaleb(-min(_places(da), _places(db)))
        return da.quantize(quant) == db.quantize(quant)
    if isinstance(a, str) and isinstance(b, str):
        return _WS.sub(" ", a.strip()).lower() == _WS.sub(" ", b.strip()).lower()
    if isinstance(a, Temporal) and isinstance(b, Temporal):
        return t.equivalent(a, b)
    if isinstance(a, Quantity) and isinstance(b, Quantity):
        return q.quantity_equivalent(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equiv_json(a[k], b[k]) for k in a)
    return False


def _equiv_json(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equiv_json(x, y) for x, y in zip(a, b, strict=True))
    return equivalent(a, b)


def compare(a: Any, b: Any) -> int | None:
    """Order two System values (-1/0/1, None when uncertain); raise if incomparable."""
    if (_is_num(a) and _is_num(b)) or (isinstance(a, str) and isinstance(b, str)):
        return int(a > b) - int(a < b)
    if isinstance(a, Temporal) and isinstance(b, Temporal):
        return t.compare(a, b)
    if isinstance(a, Quantity) and isinstance(b, Quantity):
        c = q.quantity_compare(a, b)
        if c is None:
            raise FhirPathError(f"cannot compare quantities in {a.unit!r} and {b.unit!r}")
        return c
    raise FhirPathError(f"cannot compare {type_label(a)} with {type_label(b)}")


def type_label(value: Any) -> str:
    """Return a readable System type name for error messages."""
    info = system_info(value)
    return info.name if info else type(value).__name__


def _dec(v: int | Decimal) -> Decimal:
    return v if isinstance(v, Decimal) else Decimal(v)


def arithmetic(op: str, a: Any, b: Any) -> Any:
    """Apply ``+ - * / div mod`` to two System values; None means an empty result."""
    try:
        return _arith(op, a, b)
    except (ZeroDivisionError, DivisionByZero, InvalidOperation):
        return None


def _arith(op: str, a: Any, b: Any) -> Any:
    if _is_num(a) and _is_num(b):
        both_int = isinstance(a, int) and isinstance(b, int)
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return _dec(a) / _dec(b)
        if op == "div":
            if b == 0:
                return None
            result = _dec(a) / _dec(b)
            return int(result) if both_int else Decimal(int(result))
        if op == "mod":
            if b == 0:
                return None
            if both_int:
                return a - b * int(Decimal(a) / Decimal(b))
            return _dec(a) % _dec(b)
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return a + b
    if op in ("+", "-") and isinstance(a, Temporal) and isinstance(b, Quantity):
        unit = t.calendar_unit(b.unit)
        return t.add(a, b.value if op == "+" else -b.value, unit)
    if isinstance(a, Quantity) and isinstance(b, Quantity):
        if op in ("+", "-"):
            return q.add(a, b, 1 if op == "+" else -1)
        if op in ("*", "/"):
            return q.multiply(a, b, divide=op == "/")
    if isinstance(a, Quantity) and _is_num(b) and op in ("*", "/"):
        return Quantity(a.value * b if op == "*" else a.value / _dec(b), a.unit)
    if _is_num(a) and isinstance(b, Quantity) and op == "*":
        return Quantity(a * b.value, b.unit)
    raise FhirPathError(f"operator {op!r} cannot apply to {type_label(a)} and {type_label(b)}")


def negate(value: Any) -> Any:
    """Unary minus."""
    if _is_num(value):
        return 0 - value
    if isinstance(value, Quantity):
        return Quantity(0 - value.value, value.unit)
    raise FhirPathError(f"unary minus cannot apply to {type_label(value)}")


def hash_key(node: Node) -> Any:
    """Return a hashable key such that equal keys mean FHIRPath-equal items (best effort)."""
    v = sysval(node)
    if isinstance(v, bool):
        return ("b", v)
    if isinstance(v, (int, Decimal, str)):
        return v
    if isinstance(v, Temporal):
        return (v.kind, v.parts, v.millis(), v.tz)
    if isinstance(v, Quantity):
        base, dims = v.base()
        return ("q", base, dims)
    if isinstance(v, dict):
        try:
            return ("j", orjson.dumps(v, option=orjson.OPT_SORT_KEYS))
        except TypeError:
            return ("d", _freeze(v))
    return ("o", id(v))


def _freeze(v: Any) -> Any:
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, float):
        return Decimal(repr(v))
    return v
