"""A compiled FHIRPath (N1, R4) engine over FHIR JSON, built for search indexing.

``compile_path(expr)`` parses once and returns closures; ``evaluate`` and ``nodes`` run them.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from .compiler import Compiler
from .context import Ctx, Fn
from .errors import FhirPathError
from .model import Node, resource_info, type_info
from .parser import parse
from .quantity import Quantity
from .temporal import Date, DateTime, Time

__all__ = [
    "CompiledPath",
    "Date",
    "DateTime",
    "FhirPathError",
    "Node",
    "Quantity",
    "Time",
    "compile_path",
    "evaluate",
]


def _plain(node: Node) -> Any:
    info = node.ti
    if info is not None and info.conv is not None:
        return info.conv(node.value)
    return node.value


class CompiledPath:
    """A FHIRPath expression compiled to closures; evaluate it many times."""

    __slots__ = ("_fn", "context_type", "expression")

    def __init__(self, expression: str, fn: Fn, context_type: str | None):
        self.expression = expression
        self.context_type = context_type
        self._fn = fn

    def __repr__(self) -> str:
        return f"CompiledPath({self.expression!r})"

    def nodes(self, resource: Any, variables: Mapping[str, Any] | None = None) -> list[Node]:
        """Evaluate and return typed nodes (raw JSON value plus FHIR type name)."""
        if resource is None:
            root = None
            focus: list[Node] = []
        elif isinstance(resource, Node):
            root, focus = resource, [resource]
        else:
            root = Node(resource, resource_info(resource))
            focus = [root]
        return self._fn(Ctx(root, focus, variables), focus)

    def evaluate(self, resource: Any, variables: Mapping[str, Any] | None = None) -> list[Any]:
        """Evaluate and return plain values (primitives converted, value-less ones dropped)."""
        return [_plain(n) for n in self.nodes(resource, variables) if n.value is not None]


@lru_cache(maxsize=4096)
def compile_path(expr: str, context_type: str | None = None) -> CompiledPath:
    """Compile (and cache) an expression; ``context_type`` enables checks on root members."""
    focus = None
    if context_type is not None:
        info = type_info(context_type)
        if info is None:
            raise FhirPathError(f"unknown context type {context_type!r}")
        focus = (info,)
    fn, _ = Compiler().compile(parse(expr), focus, focus)
    return CompiledPath(expr, fn, context_type)


def evaluate(resource: Any, expr: str, variables: Mapping[str, Any] | None = None) -> list[Any]:
    """Compile (cached) and evaluate ``expr`` against ``resource``; return plain values."""
    return compile_path(expr).evaluate(resource, variables)
