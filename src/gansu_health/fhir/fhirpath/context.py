"""Evaluation context, the function registry and collection helpers shared by the library."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import FhirPathError
from .model import BOOLEAN, Node, resource_info
from .operators import make, sysval
from .temporal import DateTime

TRUE = Node(True, BOOLEAN)
FALSE = Node(False, BOOLEAN)


class Ctx:
    """Per-evaluation state: root resource, ``$this``/``$index``/``$total`` and variables."""

    __slots__ = ("context", "index", "now", "root", "this", "total", "vars")

    def __init__(self, root: Node | None, focus: list[Node], variables: Mapping[str, Any] | None):
        self.root = root
        self.context = focus
        self.this = focus
        self.index: int | None = None
        self.total: list[Node] | None = None
        self.vars = variables
        self.now: DateTime | None = None


Fn = Callable[[Ctx, list[Node]], list[Node]]


@dataclass(frozen=True, slots=True)
class FuncSpec:
    """A library function: implementation, arity, which arguments are lambdas."""

    impl: Callable[..., list[Node]]
    min_args: int
    max_args: int
    lambdas: frozenset[int]
    type_arg: bool
    keeps_type: bool


FUNCTIONS: dict[str, FuncSpec] = {}


def function(
    name: str,
    min_args: int = 0,
    max_args: int | None = None,
    *,
    lambdas: tuple[int, ...] = (),
    type_arg: bool = False,
    keeps_type: bool = False,
) -> Callable[[Callable[..., list[Node]]], Callable[..., list[Node]]]:
    """Register a library function under ``name``."""

    def register(impl: Callable[..., list[Node]]) -> Callable[..., list[Node]]:
        top = min_args if max_args is None else max_args
        FUNCTIONS[name] = FuncSpec(impl, min_args, top, frozenset(lambdas), type_arg, keeps_type)
        return impl

    return register


def boolean(value: bool) -> list[Node]:
    """Return the singleton collection of a Boolean."""
    return [TRUE if value else FALSE]


def truth(items: list[Node], what: str) -> bool | None:
    """Singleton evaluation as Boolean: None when empty; non-Boolean singletons are true."""
    if not items:
        return None
    if len(items) > 1:
        raise FhirPathError(f"{what} expects a single value, got {len(items)}")
    value = items[0].value
    return value if isinstance(value, bool) else True


def strict_bool(items: list[Node], what: str) -> bool | None:
    """Singleton Boolean, raising when the single item is not a Boolean."""
    if not items:
        return None
    if len(items) > 1:
        raise FhirPathError(f"{what} expects a single Boolean, got {len(items)} items")
    value = sysval(items[0])
    if not isinstance(value, bool):
        raise FhirPathError(f"{what} expects a Boolean, got {value!r}")
    return value


def single(items: list[Node], what: str) -> Any:
    """Return the System value of a singleton, None if empty; raise if several."""
    if not items:
        return None
    if len(items) > 1:
        raise FhirPathError(f"{what} expects a single item, got {len(items)}")
    return sysval(items[0])


def wrap(value: Any) -> list[Node]:
    """Turn a user variable value (Node, list, JSON or System value) into a collection."""
    if value is None:
        return []
    if isinstance(value, Node):
        return [value]
    if isinstance(value, (list, tuple)):
        return [n for v in value for n in wrap(v)]
    if isinstance(value, dict):
        return [Node(value, resource_info(value))]
    return [make(value)]


def iterate(ctx: Ctx, items: list[Node], fn: Fn) -> list[tuple[Node, list[Node]]]:
    """Evaluate a lambda for each item with ``$this``/``$index`` bound; return the pairs."""
    saved_this, saved_index = ctx.this, ctx.index
    out: list[tuple[Node, list[Node]]] = []
    try:
        for i, node in enumerate(items):
            one = [node]
            ctx.this = one
            ctx.index = i
            out.append((node, fn(ctx, one)))
    finally:
        ctx.this, ctx.index = saved_this, saved_index
    return out
