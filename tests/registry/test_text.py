"""Text filters: substring search on codes and names, pinyin when pypinyin is importable."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator

import pytest

from gansu_health.registry.terminology import text

SYLLABLES = {"兰": "lan", "州": "zhou", "市": "shi"}


@pytest.fixture
def fake_pypinyin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    module = types.ModuleType("pypinyin")
    module.Style = types.SimpleNamespace(NORMAL=0)  # type: ignore[attr-defined]
    module.lazy_pinyin = lambda s, style=0: [SYLLABLES.get(ch, ch) for ch in s]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pypinyin", module)
    text._pinyin.cache_clear()
    text._pinyin_keys.cache_clear()
    yield
    text._pinyin.cache_clear()
    text._pinyin_keys.cache_clear()


def test_terms_must_all_match() -> None:
    assert text.TextFilter("内科 呼吸").matches("03.01", ["呼吸内科专业"])
    assert not text.TextFilter("内科 骨").matches("03.01", ["呼吸内科专业"])
    assert text.TextFilter("03.0").matches("03.01", [""])
    assert not text.TextFilter("")


def test_pinyin_initials_and_full(fake_pypinyin: None) -> None:
    assert text.pinyin_available()
    assert text.TextFilter("lzs").matches("620100", ["兰州市"])
    assert text.TextFilter("LanZhou").matches("620100", ["兰州市"])
    assert not text.TextFilter("bys").matches("620100", ["兰州市"])
