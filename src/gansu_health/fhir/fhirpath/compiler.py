"""Compile the AST into nested closures, checking members statically where types are known."""

from __future__ import annotations

from typing import Any

from . import functions_convert, functions_core, functions_math, functions_text  # noqa: F401
from .binary import LOGIC, OPERATORS, logic, union
from .context import FUNCTIONS, Ctx, Fn, boolean, wrap
from .errors import FhirPathError
from .members import member_fn, static_members
from .model import Node, TypeInfo, system_type, type_info
from .operators import make, negate, sysval
from .syntax import (
    Binary,
    Call,
    Dot,
    Empty,
    Expr,
    Ident,
    Index,
    Lit,
    Special,
    TypeOp,
    Unary,
    Var,
    type_name_of,
)
from .typecheck import resolve_type

Static = tuple[TypeInfo, ...] | None
_CONSTANTS = {
    "ucum": "http://unitsofmeasure.org",
    "sct": "http://snomed.info/sct",
    "loinc": "http://loinc.org",
}


def _const(value: Any, type_name: str) -> Fn:
    node = Node(value, system_type(type_name))

    def fn(ctx: Ctx, focus: list[Node]) -> list[Node]:
        return [node]

    return fn


def _empty(ctx: Ctx, focus: list[Node]) -> list[Node]:
    return []


def _chain(first: Fn, second: Fn) -> Fn:
    def fn(ctx: Ctx, focus: list[Node]) -> list[Node]:
        return second(ctx, first(ctx, focus))

    return fn


def _type_filter(info: TypeInfo) -> Fn:
    name = info.name

    def fn(ctx: Ctx, focus: list[Node]) -> list[Node]:
        return [n for n in focus if n.ti is not None and name in n.ti.ancestors]

    return fn


class Compiler:
    """Turns one AST into a closure ``fn(ctx, focus) -> list[Node]``."""

    def compile(self, expr: Expr, focus: Static, this: Static) -> tuple[Fn, Static]:
        """Compile ``expr`` evaluated on a focus of static type ``focus``."""
        if isinstance(expr, Lit):
            return _const(expr.value, expr.type), (system_type(expr.type),)
        if isinstance(expr, Empty):
            return _empty, None
        if isinstance(expr, Ident):
            return self.ident(expr.name, focus, root=True)
        if isinstance(expr, Dot):
            target, static = self.compile(expr.target, focus, this)
            if isinstance(expr.step, Ident):
                step, out = self.ident(expr.step.name, static, root=False)
            else:
                step, out = self.call(expr.step, static, this)
            return _chain(target, step), out
        if isinstance(expr, Call):
            return self.call(expr, focus, this)
        if isinstance(expr, Var):
            return self.var(expr.name), None
        if isinstance(expr, Special):
            return self.special(expr.name, this)
        if isinstance(expr, Index):
            return self.index(expr, focus, this)
        if isinstance(expr, Unary):
            return self.unary(expr, focus, this)
        if isinstance(expr, TypeOp):
            return self.type_op(expr, focus, this)
        return self.binary(expr, focus, this)

    def ident(self, name: str, focus: Static, root: bool) -> tuple[Fn, Static]:
        if root and name[:1].isupper():
            info = type_info(name)
            if info is not None and info.kind in ("resource", "complex"):
                return _type_filter(info), (info,)
        return member_fn(name, static_members(name, focus)), _member_static(name, focus)

    def call(self, call: Call, focus: Static, this: Static) -> tuple[Fn, Static]:
        name, args = call.name, call.args
        spec = FUNCTIONS.get(name)
        if spec is None:
            raise FhirPathError(f"unknown function {name}()")
        if not spec.min_args <= len(args) <= spec.max_args:
            raise FhirPathError(f"wrong number of arguments for {name}(): {len(args)}")
        if name == "sort":
            return functions_core.sort_fn([self.sort_key(a, focus) for a in args]), focus
        if spec.type_arg:
            type_name = type_name_of(args[0])
            if type_name is None:
                raise FhirPathError(f"{name}() expects a type name")
            matcher = resolve_type(type_name)
            impl = spec.impl

            def typed(ctx: Ctx, items: list[Node]) -> list[Node]:
                return impl(ctx, items, matcher)

            static = matcher.static
            return typed, (static,) if static is not None and name != "is" else None
        compiled: list[tuple[bool, Fn]] = []
        out_static: Static = focus if spec.keeps_type else None
        for i, arg in enumerate(args):
            if i in spec.lambdas:
                fn, st = self.compile(arg, focus, focus)
                if name == "select":
                    out_static = st
                compiled.append((True, fn))
            else:
                fn, st = self.compile(arg, this, this)
                if name in ("union", "combine") and focus is not None and st is not None:
                    out_static = tuple(dict.fromkeys(focus + st))
                compiled.append((False, fn))
        if name == "extension":
            ext = type_info("Extension")
            out_static = (ext,) if ext else None
        return _invoke(spec.impl, compiled), out_static

    def sort_key(self, arg: Expr, focus: Static) -> tuple[Fn, bool]:
        if isinstance(arg, Unary) and arg.op == "-":
            return self.compile(arg.operand, focus, focus)[0], True
        return self.compile(arg, focus, focus)[0], False

    def var(self, name: str) -> Fn:
        if name in ("resource", "rootResource"):
            return lambda ctx, focus: [ctx.root] if ctx.root is not None else []
        if name == "context":
            return lambda ctx, focus: ctx.context
        constant = _CONSTANTS.get(name)
        if constant is None and name.startswith("vs-"):
            constant = "http://hl7.org/fhir/ValueSet/" + name[3:]
        if constant is None and name.startswith("ext-"):
            constant = "http://hl7.org/fhir/StructureDefinition/" + name[4:]
        if constant is not None:
            return _const(constant, "String")

        def fn(ctx: Ctx, focus: list[Node]) -> list[Node]:
            if ctx.vars is None or name not in ctx.vars:
                raise FhirPathError(f"undefined variable %{name}")
            return wrap(ctx.vars[name])

        return fn

    def special(self, name: str, this: Static) -> tuple[Fn, Static]:
        if name == "$this":
            return (lambda ctx, focus: ctx.this), this
        if name == "$index":
            return (lambda ctx, focus: [] if ctx.index is None else [make(ctx.index)]), None
        if name == "$total":
            return (lambda ctx, focus: ctx.total or []), None
        raise FhirPathError(f"unknown special variable {name}")

    def index(self, expr: Index, focus: Static, this: Static) -> tuple[Fn, Static]:
        target, static = self.compile(expr.target, focus, this)
        index, _ = self.compile(expr.index, this, this)

        def fn(ctx: Ctx, items: list[Node]) -> list[Node]:
            found = target(ctx, items)
            position = index(ctx, ctx.this)
            if not position:
                return []
            i = sysval(position[0])
            if not isinstance(i, int) or isinstance(i, bool):
                raise FhirPathError("an indexer must be an Integer")
            return [found[i]] if 0 <= i < len(found) else []

        return fn, static

    def unary(self, expr: Unary, focus: Static, this: Static) -> tuple[Fn, Static]:
        operand, static = self.compile(expr.operand, focus, this)
        minus = expr.op == "-"

        def fn(ctx: Ctx, items: list[Node]) -> list[Node]:
            value = operand(ctx, items)
            if not value:
                return []
            if len(value) > 1:
                raise FhirPathError("unary operator on a collection of several items")
            v = sysval(value[0])
            return [make(negate(v) if minus else negate(negate(v)))]

        return fn, static

    def type_op(self, expr: TypeOp, focus: Static, this: Static) -> tuple[Fn, Static]:
        operand, _ = self.compile(expr.operand, focus, this)
        matcher = resolve_type(expr.type_name)
        is_op = expr.op == "is"

        def fn(ctx: Ctx, items: list[Node]) -> list[Node]:
            value = operand(ctx, items)
            if not value:
                return []
            if len(value) > 1:
                raise FhirPathError(f"'{expr.op}' applied to {len(value)} items")
            if is_op:
                return boolean(matcher.matches(value[0]))
            return value if matcher.matches(value[0], exact=True) else []

        static = matcher.static
        return fn, None if is_op or static is None else (static,)

    def binary(self, expr: Binary, focus: Static, this: Static) -> tuple[Fn, Static]:
        left, ls = self.compile(expr.left, focus, this)
        right, rs = self.compile(expr.right, focus, this)
        op = expr.op
        if op == "|":
            static = tuple(dict.fromkeys(ls + rs)) if ls is not None and rs is not None else None
            return _binary(left, right, union), static
        handler = LOGIC.get(op)
        if handler is not None:
            return logic(left, right, handler, op), None
        return _binary(left, right, OPERATORS[op]), None


def _member_static(name: str, focus: Static) -> Static:
    if focus is None:
        return None
    children: list[TypeInfo] = []
    for info in focus:
        for _, _, child in info.members().get(name, ()):
            if child is None:
                return None
            children.append(child)
    return tuple(dict.fromkeys(children))


def _invoke(impl: Any, compiled: list[tuple[bool, Fn]]) -> Fn:
    if not compiled:
        return lambda ctx, items: impl(ctx, items)
    if len(compiled) == 1 and compiled[0][0]:
        only = compiled[0][1]
        return lambda ctx, items: impl(ctx, items, only)

    def fn(ctx: Ctx, items: list[Node]) -> list[Node]:
        this = ctx.this
        args = [f if is_lambda else f(ctx, this) for is_lambda, f in compiled]
        return impl(ctx, items, *args)  # type: ignore[no-any-return]

    return fn


def _binary(left: Fn, right: Fn, op: Any) -> Fn:
    def fn(ctx: Ctx, items: list[Node]) -> list[Node]:
        return op(left(ctx, items), right(ctx, items))  # type: ignore[no-any-return]

    return fn
