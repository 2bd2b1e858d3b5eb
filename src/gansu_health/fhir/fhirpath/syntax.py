"""The FHIRPath abstract syntax tree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Lit:
    """A literal value (System type given by name: Boolean, String, Integer …)."""

    value: Any
    type: str


@dataclass(frozen=True, slots=True)
class Empty:
    """The empty collection literal ``{}``."""


@dataclass(frozen=True, slots=True)
class Ident:
    """A member name (or type name) applied to the focus."""

    name: str


@dataclass(frozen=True, slots=True)
class Var:
    """An external constant ``%name``."""

    name: str


@dataclass(frozen=True, slots=True)
class Special:
    """``$this``, ``$index`` or ``$total``."""

    name: str


@dataclass(frozen=True, slots=True)
class Call:
    """A function invocation applied to the focus."""

    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Dot:
    """``target.member`` or ``target.function(...)``."""

    target: Expr
    step: Ident | Call


@dataclass(frozen=True, slots=True)
class Index:
    """``target[index]``."""

    target: Expr
    index: Expr


@dataclass(frozen=True, slots=True)
class Unary:
    """Polarity ``+x`` / ``-x``."""

    op: str
    operand: Expr


@dataclass(frozen=True, slots=True)
class Binary:
    """A binary operator."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class TypeOp:
    """``x is T`` or ``x as T``."""

    op: str
    operand: Expr
    type_name: str


Expr = Lit | Empty | Ident | Var | Special | Call | Dot | Index | Unary | Binary | TypeOp


def type_name_of(expr: Expr) -> str | None:
    """Return the dotted type name an argument expression spells (``FHIR.Patient``), if any."""
    if isinstance(expr, Ident):
        return expr.name
    if isinstance(expr, Dot) and isinstance(expr.step, Ident):
        head = type_name_of(expr.target)
        return f"{head}.{expr.step.name}" if head else None
    return None
