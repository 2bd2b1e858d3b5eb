"""Recursive-descent parser producing the FHIRPath AST."""

from __future__ import annotations

from decimal import Decimal

from .errors import FhirPathError
from .lexer import Token, tokenize
from .quantity import CALENDAR, Quantity
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
)
from .temporal import Date, DateTime, Time

_LEVELS: tuple[frozenset[str], ...] = tuple(
    frozenset(ops)
    for ops in (
        ("implies",),
        ("or", "xor"),
        ("and",),
        ("in", "contains"),
        ("=", "~", "!=", "!~"),
        ("<", ">", "<=", ">="),
        ("|",),
        ("is", "as"),
        ("+", "-", "&"),
        ("*", "/", "div", "mod"),
    )
)
_KEYWORD_OPS = frozenset(
    {"implies", "or", "xor", "and", "in", "contains", "is", "as", "div", "mod"}
)


class _Parser:
    def __init__(self, text: str):
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        if self.tok.kind != "op" or self.tok.text != text:
            raise self.error(f"expected {text!r}")
        self.i += 1

    def error(self, message: str) -> FhirPathError:
        tok = self.tok
        found = "end of expression" if tok.kind == "eof" else repr(tok.text)
        return FhirPathError(f"syntax error at position {tok.pos}: {message}, found {found}")

    def parse(self) -> Expr:
        expr = self.level(0)
        if self.tok.kind != "eof":
            raise self.error("unexpected token")
        return expr

    def _op_at(self, level: int) -> str | None:
        tok = self.tok
        ops = _LEVELS[level]
        if tok.kind == "op" and tok.text in ops:
            return tok.text
        if tok.kind == "id" and tok.text in ops and tok.text in _KEYWORD_OPS:
            return tok.text
        return None

    def level(self, level: int) -> Expr:
        if level == len(_LEVELS):
            return self.unary()
        left = self.level(level + 1)
        while (op := self._op_at(level)) is not None:
            self.advance()
            if op in ("is", "as"):
                left = TypeOp(op, left, self.type_spec())
            else:
                left = Binary(op, left, self.level(level + 1))
        return left

    def unary(self) -> Expr:
        if self.tok.kind == "op" and self.tok.text in ("+", "-"):
            op = self.advance().text
            return Unary(op, self.unary())
        return self.postfix()

    def postfix(self) -> Expr:
        expr = self.term()
        while self.tok.kind == "op" and self.tok.text in (".", "["):
            if self.advance().text == ".":
                expr = Dot(expr, self.invocation())
            else:
                index = self.level(0)
                self.expect("]")
                expr = Index(expr, index)
        return expr

    def identifier(self) -> str:
        tok = self.tok
        if tok.kind == "delim" or (tok.kind == "id" and not tok.text.startswith("$")):
            self.advance()
            return tok.text
        raise self.error("expected an identifier")

    def invocation(self) -> Ident | Call:
        delimited = self.tok.kind == "delim"
        name = self.identifier()
        if not delimited and self.tok.kind == "op" and self.tok.text == "(":
            return Call(name, self.arguments())
        return Ident(name)

    def arguments(self) -> tuple[Expr, ...]:
        self.expect("(")
        args: list[Expr] = []
        if not (self.tok.kind == "op" and self.tok.text == ")"):
            args.append(self.level(0))
            while self.tok.kind == "op" and self.tok.text == ",":
                self.advance()
                args.append(self.level(0))
        self.expect(")")
        return tuple(args)

    def type_spec(self) -> str:
        parts = [self.identifier()]
        while (
            self.tok.kind == "op" and self.tok.text == "." and self.peek().kind in ("id", "delim")
        ):
            self.advance()
            parts.append(self.identifier())
        return ".".join(parts)

    def term(self) -> Expr:
        tok = self.tok
        kind = tok.kind
        if kind == "num":
            self.advance()
            return self.number(tok.text)
        if kind == "str":
            self.advance()
            return Lit(tok.text, "String")
        if kind in ("datetime", "time"):
            self.advance()
            return self.temporal(tok)
        if kind == "var":
            self.advance()
            return Var(tok.text)
        if kind == "op" and tok.text == "(":
            self.advance()
            expr = self.level(0)
            self.expect(")")
            return expr
        if kind == "op" and tok.text == "{":
            self.advance()
            self.expect("}")
            return Empty()
        if kind == "id" and tok.text.startswith("$"):
            self.advance()
            return Special(tok.text)
        if kind == "id" and tok.text in ("true", "false"):
            self.advance()
            return Lit(tok.text == "true", "Boolean")
        if kind in ("id", "delim"):
            return self.invocation()
        raise self.error("expected an expression")

    def number(self, text: str) -> Expr:
        value: int | Decimal = Decimal(text) if "." in text else int(text)
        tok = self.tok
        if tok.kind == "str":
            self.advance()
            return Lit(Quantity(Decimal(value), tok.text), "Quantity")
        if tok.kind == "id" and tok.text in CALENDAR:
            self.advance()
            return Lit(Quantity(Decimal(value), tok.text), "Quantity")
        return Lit(value, "Decimal" if isinstance(value, Decimal) else "Integer")

    def temporal(self, tok: Token) -> Expr:
        text = tok.text[1:]
        if tok.kind == "time":
            value: Date | DateTime | Time | None = Time.parse(text[1:])
            if value is None:
                raise FhirPathError(f"invalid time literal {tok.text!r} at position {tok.pos}")
            return Lit(value, "Time")
        if "T" in text:
            value = DateTime.parse(text.rstrip("T"))
            kind = "DateTime"
        else:
            value = Date.parse(text)
            kind = "Date"
        if value is None:
            raise FhirPathError(f"invalid date/time literal {tok.text!r} at position {tok.pos}")
        return Lit(value, kind)


def parse(text: str) -> Expr:
    """Parse a FHIRPath expression into its AST; raise FhirPathError on a syntax error."""
    return _Parser(text).parse()
