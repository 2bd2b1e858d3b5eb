"""String functions (N1 plus the 2.1 additions trim, split, join, encode, decode, escape)."""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from typing import Any

from .context import Ctx, boolean, function, single
from .errors import FhirPathError
from .model import Node
from .operators import make, sysval


def _text(items: list[Node], name: str) -> str | None:
    value = single(items, name)
    if value is not None and not isinstance(value, str):
        raise FhirPathError(f"{name} expects a String, got {type(value).__name__}")
    return value


def _args(name: str, *args: list[Node]) -> list[Any] | None:
    values = [single(a, name) for a in args]
    return None if any(v is None for v in values) else values


def _str(value: Any) -> list[Node]:
    return [make(value)]


@function("indexOf", 1)
def _index_of(ctx: Ctx, items: list[Node], sub: list[Node]) -> list[Node]:
    text, args = _text(items, "indexOf()"), _args("indexOf()", sub)
    return [] if text is None or args is None else _str(text.find(args[0]))


@function("substring", 1, 2)
def _substring(
    ctx: Ctx, items: list[Node], start: list[Node], length: list[Node] | None = None
) -> list[Node]:
    text = _text(items, "substring()")
    begin = single(start, "substring()")
    if text is None or begin is None or not 0 <= begin < len(text):
        return []
    if length is None or not length:
        return _str(text[begin:])
    size = single(length, "substring()")
    return _str(text[begin : begin + max(size, 0)])


def _string_test(name: str, test: Any) -> None:
    @function(name, 1)
    def impl(ctx: Ctx, items: list[Node], arg: list[Node]) -> list[Node]:
        text, args = _text(items, f"{name}()"), _args(f"{name}()", arg)
        return [] if text is None or args is None else boolean(test(text, args[0]))


_string_test("startsWith", lambda s, a: s.startswith(a))
_string_test("endsWith", lambda s, a: s.endswith(a))
_string_test("contains", lambda s, a: a in s)
_string_test("matches", lambda s, a: re.search(a, s, re.DOTALL) is not None)
_string_test("matchesFull", lambda s, a: re.fullmatch(a, s, re.DOTALL) is not None)


def _string_map(name: str, fn: Any) -> None:
    @function(name)
    def impl(ctx: Ctx, items: list[Node]) -> list[Node]:
        text = _text(items, f"{name}()")
        return [] if text is None else _str(fn(text))


_string_map("upper", str.upper)
_string_map("lower", str.lower)
_string_map("length", len)
_string_map("trim", str.strip)


@function("toChars")
def _to_chars(ctx: Ctx, items: list[Node]) -> list[Node]:
    text = _text(items, "toChars()")
    return [] if text is None else [make(c) for c in text]


@function("replace", 2)
def _replace(ctx: Ctx, items: list[Node], pattern: list[Node], sub: list[Node]) -> list[Node]:
    text, args = _text(items, "replace()"), _args("replace()", pattern, sub)
    return [] if text is None or args is None else _str(text.replace(args[0], args[1]))


@function("replaceMatches", 2)
def _replace_matches(
    ctx: Ctx, items: list[Node], pattern: list[Node], sub: list[Node]
) -> list[Node]:
    text, args = _text(items, "replaceMatches()"), _args("replaceMatches()", pattern, sub)
    if text is None or args is None:
        return []
    if args[0] == "":
        return _str(text)
    replacement = re.sub(r"\$(\d+)", r"\\\1", args[1])
    return _str(re.sub(args[0], replacement, text, flags=re.DOTALL))


@function("split", 1)
def _split(ctx: Ctx, items: list[Node], sep: list[Node]) -> list[Node]:
    text, args = _text(items, "split()"), _args("split()", sep)
    return [] if text is None or args is None else [make(p) for p in text.split(args[0])]


@function("join", 0, 1)
def _join(ctx: Ctx, items: list[Node], sep: list[Node] | None = None) -> list[Node]:
    separator = single(sep, "join()") if sep else ""
    values = [sysval(n) for n in items]
    if any(not isinstance(v, str) for v in values):
        raise FhirPathError("join() expects Strings")
    return _str((separator or "").join(values))


def _encode(text: str, form: str) -> str:
    raw = text.encode()
    if form == "hex":
        return raw.hex()
    if form == "base64":
        return base64.b64encode(raw).decode()
    if form == "urlbase64":
        return base64.urlsafe_b64encode(raw).decode()
    raise FhirPathError(f"unknown encoding {form!r}")


def _decode(text: str, form: str) -> str:
    try:
        if form == "hex":
            return bytes.fromhex(text).decode()
        if form == "base64":
            return base64.b64decode(text).decode()
        if form == "urlbase64":
            return base64.urlsafe_b64decode(text).decode()
    except (ValueError, binascii.Error) as exc:
        raise FhirPathError(f"cannot decode {text!r} as {form}") from exc
    raise FhirPathError(f"unknown encoding {form!r}")


def _escape(text: str, form: str) -> str:
    if form == "html":
        return html.escape(text)
    if form == "json":
        return json.dumps(text)[1:-1]
    raise FhirPathError(f"unknown escape target {form!r}")


def _unescape(text: str, form: str) -> str:
    if form == "html":
        return html.unescape(text)
    if form == "json":
        return _JSON_ESCAPE.sub(_json_char, text)
    raise FhirPathError(f"unknown escape target {form!r}")


_JSON_ESCAPE = re.compile(r'\\(["\\/bfnrt]|u[0-9a-fA-F]{4})')


def _json_char(m: re.Match[str]) -> str:
    code = m.group(1)
    return chr(int(code[1:], 16)) if code[0] == "u" else str(json.loads(f'"\\{code}"'))


def _codec(name: str, fn: Any) -> None:
    @function(name, 1)
    def impl(ctx: Ctx, items: list[Node], form: list[Node]) -> list[Node]:
        text, args = _text(items, f"{name}()"), _args(f"{name}()", form)
        return [] if text is None or args is None else _str(fn(text, args[0]))


_codec("encode", _encode)
_codec("decode", _decode)
_codec("escape", _escape)
_codec("unescape", _unescape)
