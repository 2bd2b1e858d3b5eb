"""Health-education articles shipped as TOML files (one per article, Chinese and English)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ARTICLE_DIR = Path(__file__).parent / "articles"


@dataclass(frozen=True, slots=True)
class Section:
    """A heading with paragraphs and/or a bulleted list."""

    heading: str
    paragraphs: tuple[str, ...]
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Article:
    """One article in one language."""

    slug: str
    title: str
    summary: str
    source: str
    reviewed: str
    sections: tuple[Section, ...]


def _article(raw: dict[str, Any], lang: str) -> Article:
    text = raw["zh" if lang == "zh-CN" else "en"]
    sections = tuple(Section(s["heading"], tuple(s.get("paragraphs", ())),
                             tuple(s.get("items", ()))) for s in text["sections"])
    return Article(raw["slug"], text["title"], text["summary"], text["source"], raw["reviewed"],
                   sections)


@cache
def _raw() -> tuple[dict[str, Any], ...]:
    loaded = [tomllib.loads(p.read_text("utf-8")) for p in ARTICLE_DIR.glob("*.toml")]
    return tuple(sorted(loaded, key=lambda a: (a.get("order", 99), a["slug"])))


def articles(lang: str) -> list[Article]:
    """Every article in ``lang``, in reading order."""
    return [_article(raw, lang) for raw in _raw()]


def article(slug: str, lang: str) -> Article | None:
    """The article ``slug`` in ``lang``."""
    return next((_article(raw, lang) for raw in _raw() if raw["slug"] == slug), None)
