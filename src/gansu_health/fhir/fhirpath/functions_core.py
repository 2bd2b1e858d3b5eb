"""Existence, filtering, subsetting, combining, aggregate and sort functions."""

from __future__ import annotations

import functools
from typing import Any

from .context import FALSE, TRUE, Ctx, Fn, boolean, function, iterate, single, strict_bool, truth
from .errors import FhirPathError
from .model import Node
from .operators import compare, equal, hash_key, make, sysval


def _distinct(items: list[Node]) -> list[Node]:
    seen: set[Any] = set()
    out: list[Node] = []
    for node in items:
        key = hash_key(node)
        if key not in seen:
            seen.add(key)
            out.append(node)
    return out


def _contains(items: list[Node], node: Node) -> bool:
    value = sysval(node)
    return any(equal(value, sysval(other)) for other in items)


@function("empty")
def _empty(ctx: Ctx, items: list[Node]) -> list[Node]:
    return [FALSE] if items else [TRUE]


@function("exists", 0, 1, lambdas=(0,))
def _exists(ctx: Ctx, items: list[Node], criteria: Fn | None = None) -> list[Node]:
    if criteria is not None:
        items = _where(ctx, items, criteria)
    return [TRUE] if items else [FALSE]


@function("all", 1, lambdas=(0,))
def _all(ctx: Ctx, items: list[Node], criteria: Fn) -> list[Node]:
    return boolean(all(truth(r, "all()") for _, r in iterate(ctx, items, criteria)))


def _bools(items: list[Node], name: str) -> list[bool]:
    values = [sysval(n) for n in items]
    if any(not isinstance(v, bool) for v in values):
        raise FhirPathError(f"{name}() expects Booleans")
    return values


@function("allTrue")
def _all_true(ctx: Ctx, items: list[Node]) -> list[Node]:
    return boolean(all(_bools(items, "allTrue")))


@function("anyTrue")
def _any_true(ctx: Ctx, items: list[Node]) -> list[Node]:
    return boolean(any(_bools(items, "anyTrue")))


@function("allFalse")
def _all_false(ctx: Ctx, items: list[Node]) -> list[Node]:
    return boolean(not any(_bools(items, "allFalse")))


@function("anyFalse")
def _any_false(ctx: Ctx, items: list[Node]) -> list[Node]:
    return boolean(not all(_bools(items, "anyFalse")))


@function("subsetOf", 1)
def _subset_of(ctx: Ctx, items: list[Node], other: list[Node]) -> list[Node]:
    return boolean(all(_contains(other, n) for n in items))


@function("supersetOf", 1)
def _superset_of(ctx: Ctx, items: list[Node], other: list[Node]) -> list[Node]:
    return boolean(all(_contains(items, n) for n in other))


@function("count")
def _count(ctx: Ctx, items: list[Node]) -> list[Node]:
    return [make(len(items))]


@function("distinct", keeps_type=True)
def _distinct_fn(ctx: Ctx, items: list[Node]) -> list[Node]:
    return _distinct(items)


@function("isDistinct")
def _is_distinct(ctx: Ctx, items: list[Node]) -> list[Node]:
    return boolean(len(_distinct(items)) == len(items))


@function("where", 1, lambdas=(0,), keeps_type=True)
def _where(ctx: Ctx, items: list[Node], criteria: Fn) -> list[Node]:
    return [n for n, r in iterate(ctx, items, criteria) if truth(r, "where()")]


@function("select", 1, lambdas=(0,))
def _select(ctx: Ctx, items: list[Node], projection: Fn) -> list[Node]:
    return [x for _, r in iterate(ctx, items, projection) for x in r]


@function("repeat", 1, lambdas=(0,))
def _repeat(ctx: Ctx, items: list[Node], projection: Fn) -> list[Node]:
    out: list[Node] = []
    seen: set[Any] = set()
    queue = items
    while queue:
        found: list[Node] = []
        for node in _select(ctx, queue, projection):
            key = hash_key(node)
            if key not in seen:
                seen.add(key)
                out.append(node)
                found.append(node)
        queue = found
    return out


@function("single", keeps_type=True)
def _single(ctx: Ctx, items: list[Node]) -> list[Node]:
    if len(items) > 1:
        raise FhirPathError(f"single() on a collection of {len(items)} items")
    return items


@function("first", keeps_type=True)
def _first(ctx: Ctx, items: list[Node]) -> list[Node]:
    return items[:1]


@function("last", keeps_type=True)
def _last(ctx: Ctx, items: list[Node]) -> list[Node]:
    return items[-1:]


@function("tail", keeps_type=True)
def _tail(ctx: Ctx, items: list[Node]) -> list[Node]:
    return items[1:]


def _count_arg(arg: list[Node], name: str) -> int | None:
    value = single(arg, name)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise FhirPathError(f"{name} expects an Integer")
    return value


@function("skip", 1, keeps_type=True)
def _skip(ctx: Ctx, items: list[Node], num: list[Node]) -> list[Node]:
    n = _count_arg(num, "skip()")
    return items if n is None else items[max(n, 0) :]


@function("take", 1, keeps_type=True)
def _take(ctx: Ctx, items: list[Node], num: list[Node]) -> list[Node]:
    n = _count_arg(num, "take()")
    return [] if n is None else items[: max(n, 0)]


@function("intersect", 1, keeps_type=True)
def _intersect(ctx: Ctx, items: list[Node], other: list[Node]) -> list[Node]:
    return _distinct([n for n in items if _contains(other, n)])


@function("exclude", 1, keeps_type=True)
def _exclude(ctx: Ctx, items: list[Node], other: list[Node]) -> list[Node]:
    return [n for n in items if not _contains(other, n)]


@function("union", 1)
def _union(ctx: Ctx, items: list[Node], other: list[Node]) -> list[Node]:
    return _distinct(items + other)


@function("combine", 1)
def _combine(ctx: Ctx, items: list[Node], other: list[Node]) -> list[Node]:
    return items + other


@function("not")
def _not(ctx: Ctx, items: list[Node]) -> list[Node]:
    value = truth(items, "not()")
    return [] if value is None else boolean(not value)


@function("iif", 2, 3, lambdas=(0, 1, 2))
def _iif(ctx: Ctx, items: list[Node], cond: Fn, then: Fn, other: Fn | None = None) -> list[Node]:
    if len(items) > 1:
        raise FhirPathError("iif() applied to a collection of several items")
    saved = ctx.this
    ctx.this = items
    try:
        if strict_bool(cond(ctx, items), "iif() criterion"):
            return then(ctx, items)
        return other(ctx, items) if other is not None else []
    finally:
        ctx.this = saved


@function("aggregate", 1, 2, lambdas=(0,))
def _aggregate(ctx: Ctx, items: list[Node], fn: Fn, init: list[Node] | None = None) -> list[Node]:
    saved = ctx.this, ctx.index, ctx.total
    total = init or []
    try:
        for i, node in enumerate(items):
            one = [node]
            ctx.this, ctx.index, ctx.total = one, i, total
            total = fn(ctx, one)
    finally:
        ctx.this, ctx.index, ctx.total = saved
    return total


@function("sort", 0, 16)
def _sort(ctx: Ctx, items: list[Node], *keys: list[Node]) -> list[Node]:
    raise AssertionError("sort() is compiled by the compiler")


def _order(a: Any, b: Any) -> int:
    if a is None or b is None:
        return (a is not None) - (b is not None)
    return compare(a, b) or 0


def sort_fn(keys: list[tuple[Fn, bool]]) -> Fn:
    """Build ``sort(keys...)``: each key is (projection, descending)."""

    def fn(ctx: Ctx, items: list[Node]) -> list[Node]:
        decorated: list[tuple[tuple[Any, ...], Node]] = []
        if not keys:
            decorated = [((sysval(n),), n) for n in items]
        else:
            for node in items:
                row: list[Any] = []
                for key, _ in keys:
                    value = iterate(ctx, [node], key)[0][1]
                    row.append(sysval(value[0]) if value else None)
                decorated.append((tuple(row), node))

        def cmp(x: tuple[tuple[Any, ...], Node], y: tuple[tuple[Any, ...], Node]) -> int:
            for i, (a, b) in enumerate(zip(x[0], y[0], strict=True)):
                c = _order(a, b)
                if c:
                    descending = keys and keys[i][1] and a is not None and b is not None
                    return -c if descending else c
            return 0

        return [n for _, n in sorted(decorated, key=functools.cmp_to_key(cmp))]

    return fn
