"""Card ids: ``GS`` + issuing node + 10-digit sequence + ISO 7064 MOD 37,36 check character.

Example: ``GS620000`` (node 620000, the provincial centre) ``0000000042`` ``Q`` →
``GS6200000000000042Q``. The node part is the node id upper-cased with everything but letters
and digits dropped (≤ 16 characters), so ids stay unique across the 15 nodes, and an id is at
most 29 characters (the national card-management systems allow 64). The check character
catches every single-character error and every adjacent transposition, so a mistyped id is
refused before any lookup.
"""

from __future__ import annotations

import re

PREFIX = "GS"
SEQ_DIGITS = 10
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SHAPE = re.compile(rf"^{PREFIX}([0-9A-Z]{{1,16}})(\d{{{SEQ_DIGITS}}})([0-9A-Z])$")


def node_code(node: str) -> str:
    """The node part of a card id: letters and digits of the node id, upper-case."""
    code = re.sub(r"[^0-9A-Z]", "", node.upper())[:16]
    if not code:
        raise ValueError(f"node id {node!r} has no letters or digits")
    return code


def check_char(body: str) -> str:
    """ISO 7064 MOD 37,36 (hybrid system) check character of an upper-case alphanumeric body."""
    p = 36
    for ch in body:
        s = (p + ALPHABET.index(ch)) % 36 or 36
        p = (s * 2) % 37
    return ALPHABET[(37 - p) % 36]


def make_card_id(node: str, seq: int) -> str:
    """Return the card id of sequence number ``seq`` issued by ``node``."""
    if not 0 < seq < 10**SEQ_DIGITS:
        raise ValueError(f"card sequence {seq} out of range")
    body = f"{PREFIX}{node_code(node)}{seq:0{SEQ_DIGITS}d}"
    return body + check_char(body)


def is_valid(card_id: str) -> bool:
    """Tell whether ``card_id`` has the card-id shape and a correct check character."""
    found = _SHAPE.match(card_id)
    return found is not None and check_char(card_id[:-1]) == card_id[-1]

