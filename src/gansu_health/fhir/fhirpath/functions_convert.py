"""Conversion, type, tree-navigation and utility functions, plus resolve() and extension()."""

from __future__ import annotations

import datetime as _dt
import logging
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .context import Ctx, Fn, boolean, function, iterate, single
from .errors import FhirPathError
from .members import children
from .model import Node, resource_info, type_info
from .operators import make, sysval
from .quantity import CALENDAR, Quantity
from .temporal import Date, DateTime, Temporal, Time
from .typecheck import TypeMatcher

logger = logging.getLogger("gansu_health.fhirpath")

_TRUE_TEXT = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE_TEXT = {"false", "f", "no", "n", "0", "0.0"}
_INT = re.compile(r"[+-]?\d+")
_DEC = re.compile(r"[+-]?\d+(\.\d+)?")
_QTY = re.compile(r"([+-]?\d+(?:\.\d+)?)\s*(?:'([^']*)'|([a-z]+))?")


def _to_boolean(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, Decimal)):
        return True if v == 1 else False if v == 0 else None
    if isinstance(v, str):
        low = v.lower()
        return True if low in _TRUE_TEXT else False if low in _FALSE_TEXT else None
    return None


def _to_integer(v: Any) -> int | None:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, str) and _INT.fullmatch(v):
        return int(v)
    return None


def _to_decimal(v: Any) -> Decimal | None:
    if isinstance(v, bool):
        return Decimal("1.0") if v else Decimal("0.0")
    if isinstance(v, (int, Decimal)):
        return Decimal(v)
    if isinstance(v, str) and _DEC.fullmatch(v):
        return Decimal(v)
    return None


def to_text(v: Any) -> str | None:
    """Return the FHIRPath String form of a System value."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Decimal):
        return format(v, "f")
    if isinstance(v, (int, str, Quantity)):
        return str(v)
    if isinstance(v, Temporal):
        return v.iso()
    return None


def _to_quantity(v: Any) -> Quantity | None:
    if isinstance(v, Quantity):
        return v
    if isinstance(v, bool):
        return Quantity(Decimal("1.0") if v else Decimal("0.0"))
    if isinstance(v, (int, Decimal)):
        return Quantity(Decimal(v))
    if isinstance(v, str):
        m = _QTY.fullmatch(v.strip())
        if m is None or (m.group(3) and m.group(3) not in CALENDAR):
            return None
        return Quantity(Decimal(m.group(1)), m.group(2) or m.group(3) or "1")
    return None


def _to_date(v: Any) -> Date | None:
    if isinstance(v, Date):
        return v
    if isinstance(v, DateTime):
        return v.to_date()
    return Date.parse(v) if isinstance(v, str) else None


def _to_datetime(v: Any) -> DateTime | None:
    if isinstance(v, DateTime):
        return v
    if isinstance(v, Date):
        return DateTime(v.parts)
    return DateTime.parse(v) if isinstance(v, str) else None


def _to_time(v: Any) -> Time | None:
    if isinstance(v, Time):
        return v
    return Time.parse(v) if isinstance(v, str) else None


def _conversion(name: str, convert: Callable[[Any], Any]) -> None:
    @function("to" + name)
    def to(ctx: Ctx, items: list[Node]) -> list[Node]:
        value = single(items, f"to{name}()")
        result = None if value is None else convert(value)
        return [] if result is None else [make(result)]

    @function("convertsTo" + name)
    def converts(ctx: Ctx, items: list[Node]) -> list[Node]:
        value = single(items, f"convertsTo{name}()")
        return [] if value is None else boolean(convert(value) is not None)


_conversion("Boolean", _to_boolean)
_conversion("Integer", _to_integer)
_conversion("Decimal", _to_decimal)
_conversion("String", to_text)
_conversion("Quantity", _to_quantity)
_conversion("Date", _to_date)
_conversion("DateTime", _to_datetime)
_conversion("Time", _to_time)


@function("is", 1, type_arg=True)
def _is(ctx: Ctx, items: list[Node], matcher: TypeMatcher) -> list[Node]:
    if len(items) > 1:
        raise FhirPathError("is() applied to a collection of several items")
    return boolean(matcher.matches(items[0])) if items else []


@function("as", 1, type_arg=True)
def _as(ctx: Ctx, items: list[Node], matcher: TypeMatcher) -> list[Node]:
    if len(items) > 1:
        raise FhirPathError("as() applied to a collection of several items")
    return [n for n in items if matcher.matches(n, exact=True)]


@function("ofType", 1, type_arg=True)
def _of_type(ctx: Ctx, items: list[Node], matcher: TypeMatcher) -> list[Node]:
    return [n for n in items if matcher.matches(n, exact=True)]


@function("type")
def _type(ctx: Ctx, items: list[Node]) -> list[Node]:
    out = []
    for node in items:
        info = node.ti or make(node.value).ti
        if info is not None:
            out.append(Node({"namespace": info.namespace, "name": info.name}))
    return out


@function("children")
def _children(ctx: Ctx, items: list[Node]) -> list[Node]:
    return [c for n in items for c in children(n)]


@function("descendants")
def _descendants(ctx: Ctx, items: list[Node]) -> list[Node]:
    out: list[Node] = []
    stack = [c for n in reversed(items) for c in reversed(children(n))]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed(children(node)))
    return out


@function("trace", 1, 2, lambdas=(1,), keeps_type=True)
def _trace(
    ctx: Ctx, items: list[Node], name: list[Node], projection: Fn | None = None
) -> list[Node]:
    label = single(name, "trace()")
    shown = (
        items if projection is None else [x for _, r in iterate(ctx, items, projection) for x in r]
    )
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("trace %s: %r", label, [n.value for n in shown])
    return items


def _now(ctx: Ctx) -> DateTime:
    if ctx.now is None:
        moment = _dt.datetime.now().astimezone()
        offset = moment.utcoffset()
        tz = int(offset.total_seconds() // 60) if offset is not None else 0
        parts = (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
        ctx.now = DateTime(parts, f"{moment.microsecond // 1000:03d}", tz)
    return ctx.now


@function("now")
def _now_fn(ctx: Ctx, items: list[Node]) -> list[Node]:
    return [make(_now(ctx))]


@function("today")
def _today(ctx: Ctx, items: list[Node]) -> list[Node]:
    return [make(_now(ctx).to_date())]


@function("timeOfDay")
def _time_of_day(ctx: Ctx, items: list[Node]) -> list[Node]:
    now = _now(ctx)
    return [make(Time(now.parts[3:], now.frac))]


def _reference_target(ctx: Ctx, reference: str) -> Node | None:
    if reference.startswith("#"):
        root = ctx.root.value if ctx.root is not None else None
        for contained in root.get("contained", ()) if isinstance(root, dict) else ():
            if isinstance(contained, dict) and contained.get("id") == reference[1:]:
                return Node(contained, resource_info(contained))
        return None
    path = reference.split("/_history/")[0].split("?")[0].rstrip("/").split("/")
    if len(path) >= 2:
        info = type_info(path[-2])
        if info is not None and info.kind == "resource":
            return Node({"resourceType": path[-2], "id": path[-1]}, info)
    return None


@function("resolve")
def _resolve(ctx: Ctx, items: list[Node]) -> list[Node]:
    out = []
    for node in items:
        value = node.value
        reference = value.get("reference") if isinstance(value, dict) else value
        target = _reference_target(ctx, reference) if isinstance(reference, str) else None
        declared = value.get("type") if isinstance(value, dict) else None
        if target is None and isinstance(declared, str):
            info = type_info(declared)
            if info is not None and info.kind == "resource":
                target = Node({"resourceType": declared}, info)
        if target is not None:
            out.append(target)
    return out


@function("extension", 1)
def _extension(ctx: Ctx, items: list[Node], url: list[Node]) -> list[Node]:
    wanted = single(url, "extension()")
    if wanted is None:
        return []
    info = type_info("Extension")
    out = []
    for node in items:
        holder = node.value if isinstance(node.value, dict) else node.ext
        for ext in holder.get("extension", ()) if isinstance(holder, dict) else ():
            if isinstance(ext, dict) and ext.get("url") == wanted:
                out.append(Node(ext, info))
    return out


@function("hasValue")
def _has_value(ctx: Ctx, items: list[Node]) -> list[Node]:
    return boolean(
        len(items) == 1
        and not isinstance(items[0].value, (dict, list))
        and items[0].value is not None
    )


@function("getValue")
def _get_value(ctx: Ctx, items: list[Node]) -> list[Node]:
    if len(items) != 1 or isinstance(items[0].value, dict) or items[0].value is None:
        return []
    return [make(sysval(items[0]))]


@function("htmlChecks")
def _html_checks(ctx: Ctx, items: list[Node]) -> list[Node]:
    return boolean(True)


@function("conformsTo", 1)
def _conforms_to(ctx: Ctx, items: list[Node], url: list[Node]) -> list[Node]:
    target = single(url, "conformsTo()")
    prefix = "http://hl7.org/fhir/StructureDefinition/"
    if not isinstance(target, str) or not target.startswith(prefix):
        raise FhirPathError(f"conformsTo(): unknown profile {target!r}")
    info = type_info(target[len(prefix) :])
    if info is None:
        raise FhirPathError(f"conformsTo(): unknown profile {target!r}")
    return boolean(all(n.ti is not None and info.name in n.ti.ancestors for n in items))


@function("defineVariable", 1, 2)
def _define_variable(
    ctx: Ctx, items: list[Node], name: list[Node], value: list[Node] | None = None
) -> list[Node]:
    label = single(name, "defineVariable()")
    if not isinstance(label, str):
        raise FhirPathError("defineVariable() expects a name")
    ctx.vars = {**(ctx.vars or {}), label: items if value is None else value}
    return items
