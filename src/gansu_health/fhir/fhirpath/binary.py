"""FHIRPath operators on collections: Boolean logic, union, equality, ordering, arithmetic."""

from __future__ import annotations

from typing import Any

from .context import FALSE, TRUE, Ctx, Fn, boolean, truth
from .errors import FhirPathError
from .model import Node
from .operators import arithmetic, compare, equal, equivalent, hash_key, make, sysval


def logic(left: Fn, right: Fn, handler: Any, op: str) -> Fn:
    def fn(ctx: Ctx, items: list[Node]) -> list[Node]:
        a = truth(left(ctx, items), op)
        if a is False and op == "and":
            return [FALSE]
        if a is True and op == "or":
            return [TRUE]
        if a is False and op == "implies":
            return [TRUE]
        result = handler(a, truth(right(ctx, items), op))
        return [] if result is None else [TRUE if result else FALSE]

    return fn


def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def _xor(a: bool | None, b: bool | None) -> bool | None:
    return None if a is None or b is None else a != b


def _implies(a: bool | None, b: bool | None) -> bool | None:
    if a is None:
        return True if b is True else None
    return True if b is True else (None if b is None else False)


LOGIC = {"and": _and, "or": _or, "xor": _xor, "implies": _implies}


def union(a: list[Node], b: list[Node]) -> list[Node]:
    seen: set[Any] = set()
    out: list[Node] = []
    for node in (*a, *b):
        key = hash_key(node)
        if key not in seen:
            seen.add(key)
            out.append(node)
    return out


def _eq(a: list[Node], b: list[Node]) -> list[Node]:
    if not a or not b:
        return []
    if len(a) != len(b):
        return [FALSE]
    for x, y in zip(a, b, strict=True):
        result = equal(sysval(x), sysval(y))
        if result is None:
            return []
        if not result:
            return [FALSE]
    return [TRUE]


def _ne(a: list[Node], b: list[Node]) -> list[Node]:
    result = _eq(a, b)
    return [FALSE if result[0] is TRUE else TRUE] if result else []


def _equiv(a: list[Node], b: list[Node]) -> list[Node]:
    if len(a) != len(b):
        return [FALSE]
    right = [sysval(y) for y in b]
    return boolean(all(any(equivalent(sysval(x), y) for y in right) for x in a))


def _not_equiv(a: list[Node], b: list[Node]) -> list[Node]:
    return [FALSE if _equiv(a, b)[0] is TRUE else TRUE]


def _comparison(test: Any) -> Any:
    def op(a: list[Node], b: list[Node]) -> list[Node]:
        if not a or not b:
            return []
        if len(a) > 1 or len(b) > 1:
            raise FhirPathError("comparison of collections with several items")
        result = compare(sysval(a[0]), sysval(b[0]))
        return [] if result is None else boolean(test(result))

    return op


def _membership(a: list[Node], b: list[Node]) -> list[Node]:
    if not a:
        return []
    if len(a) > 1:
        raise FhirPathError("'in' expects a single item on its left")
    value = sysval(a[0])
    return boolean(any(equal(value, sysval(y)) for y in b))


def _arith(op: str) -> Any:
    def fn(a: list[Node], b: list[Node]) -> list[Node]:
        if op == "&":
            sa = _concat_operand(a)
            sb = _concat_operand(b)
            return [make(sa + sb)]
        if not a or not b:
            return []
        if len(a) > 1 or len(b) > 1:
            raise FhirPathError(f"operator {op!r} applied to a collection of several items")
        result = arithmetic(op, sysval(a[0]), sysval(b[0]))
        return [] if result is None else [make(result)]

    return fn


def _concat_operand(items: list[Node]) -> str:
    if not items:
        return ""
    if len(items) > 1:
        raise FhirPathError("'&' applied to a collection of several items")
    value = sysval(items[0])
    if not isinstance(value, str):
        raise FhirPathError("'&' expects strings")
    return value


OPERATORS: dict[str, Any] = {
    "=": _eq,
    "!=": _ne,
    "~": _equiv,
    "!~": _not_equiv,
    "<": _comparison(lambda c: c < 0),
    "<=": _comparison(lambda c: c <= 0),
    ">": _comparison(lambda c: c > 0),
    ">=": _comparison(lambda c: c >= 0),
    "in": _membership,
    "contains": lambda a, b: _membership(b, a),
    **{op: _arith(op) for op in ("+", "-", "*", "/", "div", "mod", "&")},
}
