"""Name folding, pinyin and phone normalisation of the MPI matching engine."""

from __future__ import annotations

import pytest

from gansu_health.mpi.engine.text import (
    fold_name,
    fuzzy_pinyin,
    given_pinyin,
    normalise_phone,
    split_full_name,
    surname_pinyin,
)


@pytest.mark.parametrize(
    ("surname", "pinyin"),
    [("单", "shan"), ("解", "xie"), ("曾", "zeng"), ("区", "ou"), ("仇", "qiu"), ("朴", "piao"),
     ("欧阳", "ou yang"), ("司马", "si ma"), ("诸葛", "zhu ge"), ("王", "wang")],
)  # fmt: skip
def test_surname_pinyin_uses_surname_readings(surname: str, pinyin: str) -> None:
    assert surname_pinyin(surname) == pinyin


def test_traditional_full_width_and_spaces_fold() -> None:
    assert fold_name("歐陽 建國") == "欧阳建国"
    assert fold_name("葉　麗") == "叶丽"
    assert fold_name("ＺＨＡＮＧ  Wei") == "zhang wei"


def test_compound_and_minority_names_split() -> None:
    assert split_full_name("欧阳娜娜") == ("欧阳", "娜娜")
    assert split_full_name("诸葛亮") == ("诸葛", "亮")
    assert split_full_name("张伟") == ("张", "伟")
    assert split_full_name("阿依莎・马") == ("", "阿依莎马")
    assert split_full_name("扎西·卓玛") == ("", "扎西卓玛")


def test_given_pinyin_and_fuzzy_pinyin() -> None:
    assert given_pinyin("建国") == "jian guo"
    assert fuzzy_pinyin("zhang") == fuzzy_pinyin("zan")
    assert fuzzy_pinyin("nan") == fuzzy_pinyin("lang")


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("+86 138 0013 8000", "13800138000"), ("138-0013-8000", "13800138000"),
     ("008613800138000", "13800138000"), ("8613800138000", "13800138000"),
     ("0931-8123456", "09318123456"), ("(0931) 812 3456", "09318123456"),
     ("+86 931 8123456", "09318123456"), ("0931-8123456转123", "09318123456"),
     ("１３８００１３８０００", "13800138000"), ("12", None), ("", None), (None, None)],
)  # fmt: skip
def test_phone_normalisation(raw: str | None, normal: str | None) -> None:
    assert normalise_phone(raw) == normal
