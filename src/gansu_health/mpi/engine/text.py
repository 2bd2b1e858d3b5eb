"""Text folding for matching: Hanzi and Latin names, pinyin, phones and addresses."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import zhconv
from pypinyin import Style, lazy_pinyin

# Compound surnames (复姓) take precedence over single-character ones when splitting a name.
COMPOUND_SURNAMES: dict[str, str] = {
    "欧阳": "ou yang", "司马": "si ma", "诸葛": "zhu ge", "上官": "shang guan",
    "东方": "dong fang", "皇甫": "huang fu", "尉迟": "yu chi", "公孙": "gong sun",
    "慕容": "mu rong", "长孙": "zhang sun", "宇文": "yu wen", "司徒": "si tu",
    "夏侯": "xia hou", "令狐": "ling hu", "端木": "duan mu", "西门": "xi men",
    "南宫": "nan gong", "独孤": "du gu", "万俟": "mo qi", "单于": "chan yu",
    "澹台": "tan tai", "公冶": "gong ye", "轩辕": "xuan yuan", "呼延": "hu yan",
}  # fmt: skip
# Surname readings that differ from the characters' most common reading.
SURNAME_READINGS: dict[str, str] = {
    "单": "shan", "解": "xie", "曾": "zeng", "区": "ou", "仇": "qiu", "朴": "piao",
    "查": "zha", "盖": "ge", "乐": "yue", "缪": "miao", "覃": "qin", "翟": "zhai",
    "尉": "yu", "员": "yun", "召": "shao", "种": "chong", "秘": "bi", "折": "she",
    "华": "hua", "任": "ren", "纪": "ji", "宁": "ning", "车": "che", "隗": "wei",
    "繁": "po", "句": "gou", "朝": "chao", "沈": "shen", "柏": "bai", "薄": "bo",
    "重": "chong", "长": "chang", "牟": "mou", "冼": "xian", "洗": "xian", "祭": "zhai",
    "卜": "bu", "黑": "he", "藏": "zang", "阚": "kan", "都": "du", "过": "guo",
}  # fmt: skip
# Variant characters that zhconv leaves alone but registrations mix up.
_VARIANTS = str.maketrans({"於": "于", "峯": "峰", "淸": "清", "䶮": "龑", "敎": "教", "姉": "姊"})
# Small table of near-shape (形近) characters; each group folds to its first member.
_CONFUSABLE_GROUPS = (
    "己已巳", "未末", "戊戌戍", "人入", "日曰", "土士", "王玉壬", "天夭", "刀力", "大太犬",
    "晴睛", "候侯", "辩辨辫", "苟荀", "崇祟", "拔拨", "徽微", "斌赋", "兵乒乓", "洁沽",
    "杨扬", "浩皓", "霞露", "娟绢", "琳淋", "婷停", "莉利", "萍苹", "凤风", "贞员",
    "红江", "丽俪", "梅海", "秀季", "燕艳", "彬杉", "敏繁", "军车", "勇甬", "磊垒",
)  # fmt: skip
CONFUSABLES: dict[str, str] = {ch: group[0] for group in _CONFUSABLE_GROUPS for ch in group}
_CONFUSABLE_TABLE = str.maketrans(CONFUSABLES)
_DOTS = str.maketrans(dict.fromkeys("·・•‧∙⋅．", "·"))
_HANZI = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_NOT_NAME_LATIN = re.compile(r"[^a-z ]+")
_SPACES = re.compile(r"\s+")
_FUZZY_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"), ("h", "f"), ("r", "l"))
_FUZZY_FINALS = (("ang", "an"), ("eng", "en"), ("ing", "in"), ("uan", "an"))


def has_hanzi(text: str) -> bool:
    """Tell whether the text contains a CJK ideograph."""
    return _HANZI.search(text) is not None


def fold(text: str) -> str:
    """Full-width→half-width, traditional→simplified, variants, lower case, collapsed spaces."""
    folded = unicodedata.normalize("NFKC", text).translate(_DOTS)
    if has_hanzi(folded):
        folded = zhconv.convert(folded, "zh-cn").translate(_VARIANTS)
    return _SPACES.sub(" ", folded).strip().lower()


def fold_name(text: str) -> str:
    """Fold a name part: Hanzi without spaces or "·"; Latin letters and single spaces only."""
    folded = fold(text)
    if has_hanzi(folded):
        return "".join(ch for ch in folded if _HANZI.match(ch))
    return _SPACES.sub(" ", _NOT_NAME_LATIN.sub(" ", folded)).strip()


def split_full_name(text: str) -> tuple[str, str]:
    """Split a name text into (family, given): compound surnames first, "·" names have none."""
    folded = fold(text)
    if not has_hanzi(folded):
        parts = fold_name(folded).split(" ")
        return (parts[-1], " ".join(parts[:-1])) if len(parts) > 1 else ("", parts[0])
    if "·" in folded:
        return "", fold_name(folded)
    name = fold_name(folded)
    if len(name) <= 1:
        return "", name
    if name[:2] in COMPOUND_SURNAMES and len(name) > 2:
        return name[:2], name[2:]
    return name[:1], name[1:]


@lru_cache(maxsize=65536)
def _syllables(text: str) -> tuple[str, ...]:
    return tuple(s for s in lazy_pinyin(text, style=Style.NORMAL, errors="ignore") if s.strip())


def surname_pinyin(family: str) -> str:
    """Toneless pinyin of a folded surname using the surname readings (e.g. 单 → shan)."""
    if not has_hanzi(family):
        return family
    if family in COMPOUND_SURNAMES:
        return COMPOUND_SURNAMES[family]
    if len(family) == 1 and family in SURNAME_READINGS:
        return SURNAME_READINGS[family]
    head = SURNAME_READINGS.get(family[0])
    if head is not None:
        return " ".join((head, *_syllables(family[1:])))
    return " ".join(_syllables(family))


def given_pinyin(given: str) -> str:
    """Toneless pinyin syllables of a folded given name, space separated (Latin unchanged)."""
    if not has_hanzi(given):
        return given
    return " ".join(_syllables(given))


def initials(pinyin: str) -> str:
    """First letters of the space-separated syllables or words."""
    return "".join(part[0] for part in pinyin.split(" ") if part)


@lru_cache(maxsize=65536)
def fuzzy_pinyin(pinyin: str) -> str:
    """Fold 模糊音 pairs (z/zh, c/ch, s/sh, n/l, f/h, r/l, an/ang, en/eng, in/ing) per syllable."""
    out = []
    for syllable in pinyin.split(" "):
        for long, short in _FUZZY_INITIALS:
            if syllable.startswith(long):
                syllable = short + syllable[len(long) :]
                break
        for long, short in _FUZZY_FINALS:
            if syllable.endswith(long):
                syllable = syllable[: -len(long)] + short
                break
        out.append(syllable)
    return "".join(out)


def confusable_key(text: str) -> str:
    """Fold near-shape characters to one representative."""
    return text.translate(_CONFUSABLE_TABLE)


_PHONE_JUNK = re.compile(r"(转|ext\.?|x|#).*$", re.IGNORECASE)


def normalise_phone(value: str | None) -> str | None:
    """Mainland mobile as 11 digits, landline as 0+area code+number; None when unusable."""
    if not value:
        return None
    text = _PHONE_JUNK.sub("", unicodedata.normalize("NFKC", value)).strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    international = text.startswith("+") or digits.startswith("00")
    if digits.startswith("0086"):
        digits, international = digits[4:], True
    elif digits.startswith("86") and (text.startswith("+") or len(digits) in (12, 13)):
        digits, international = digits[2:], True
    if len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789":
        return digits
    if international and digits and digits[0] != "0":
        digits = "0" + digits
    return digits if len(digits) >= 7 else None
