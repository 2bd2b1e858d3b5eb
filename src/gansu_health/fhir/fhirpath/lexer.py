"""Tokenizer for FHIRPath expressions."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import FhirPathError


@dataclass(frozen=True, slots=True)
class Token:
    """A lexical token: kind is one of num, str, id, delim, date, time, datetime, var, op, eof."""

    kind: str
    text: str
    pos: int


_TM = r"\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?"
_DT = r"@\d{4}(?:-\d{2}(?:-\d{2})?)?(?:T(?:" + _TM + r"(?:Z|[+-]\d{2}:\d{2})?)?)?"
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|//[^\n]*|/\*.*?\*/)
  | (?P<time>@T\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:\d{2})?)
  | (?P<datetime>"""
    + _DT
    + r""")
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<str>'(?:[^'\\]|\\.)*')
  | (?P<delim>`(?:[^`\\]|\\.)*`)
  | (?P<var>%(?:[A-Za-z_][A-Za-z0-9_]*|`(?:[^`\\]|\\.)*`|'(?:[^'\\]|\\.)*'))
  | (?P<special>\$this|\$index|\$total)
  | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|!=|!~|[-+*/&|=~<>()\[\],.{}])
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {
    "'": "'",
    '"': '"',
    "`": "`",
    "\\": "\\",
    "/": "/",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


def unescape(body: str, pos: int) -> str:
    """Resolve the escapes of a string or delimited identifier body."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        elif nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            raise FhirPathError(f"invalid escape sequence '\\{nxt}' at position {pos + i}")
    return "".join(out)


def tokenize(text: str) -> list[Token]:
    """Split an expression into tokens; raise FhirPathError on a lexical error."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            if text.startswith("/*", pos):
                raise FhirPathError(f"unterminated comment at position {pos}")
            raise FhirPathError(f"unexpected character {text[pos]!r} at position {pos}")
        kind = m.lastgroup
        assert kind is not None
        value = m.group()
        if kind == "special":
            kind = "id"
        if kind == "str" or kind == "delim":
            value = unescape(value[1:-1], pos)
        elif kind == "var":
            body = value[1:]
            value = unescape(body[1:-1], pos) if body[0] in "`'" else body
        if kind != "ws":
            tokens.append(Token(kind, value, pos))
        pos = m.end()
    tokens.append(Token("eof", "", pos))
    return tokens
