"""Text search over codes and displays, with pinyin (full and initials) when pypinyin is there."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from functools import cache, lru_cache


@cache
def _pinyin() -> Callable[[str], list[str]] | None:
    try:
        module = importlib.import_module("pypinyin")
    except ImportError:
        return None
    lazy = module.lazy_pinyin
    style = module.Style.NORMAL

    def convert(text: str) -> list[str]:
        return [p.lower() for p in lazy(text, style=style) if p.strip()]

    return convert


def pinyin_available() -> bool:
    """Tell whether pinyin matching is available (pypinyin installed)."""
    return _pinyin() is not None


@lru_cache(maxsize=65536)
def _pinyin_keys(text: str) -> tuple[str, str]:
    convert = _pinyin()
    if convert is None or text.isascii():
        return "", ""
    syllables = convert(text)
    return "".join(syllables), "".join(s[0] for s in syllables)


class TextFilter:
    """A $expand ``filter``: every whitespace-separated term must match the code or a name."""

    def __init__(self, text: str) -> None:
        self.terms = [t.lower() for t in text.split() if t]

    def __bool__(self) -> bool:
        return bool(self.terms)

    def matches(self, code: str, names: Iterable[str]) -> bool:
        """Tell whether a concept with ``code`` and display/designations ``names`` matches."""
        haystacks = [code.lower()]
        for name in names:
            if name:
                haystacks.append(name.lower())
                full, initials = _pinyin_keys(name)
                if full:
                    haystacks.extend((full, initials))
        return all(any(term in hay for hay in haystacks) for term in self.terms)
