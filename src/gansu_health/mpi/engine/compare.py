"""Comparison levels per field for a pair of Features (the Fellegi–Sunter comparison vector)."""

from __future__ import annotations

from datetime import date

from rapidfuzz import fuzz
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler

from gansu_health.mpi.engine.features import Features
from gansu_health.mpi.engine.text import confusable_key, fuzzy_pinyin, has_hanzi
from gansu_health.mpi.resident_id import RESIDENT_ID_SYSTEM

NULL = -1
NAME_LEVELS = ("exact", "pinyin", "fuzzy", "swap", "partial", "different")
LEVELS: dict[str, tuple[str, ...]] = {
    "resident_id": ("exact", "typo", "different_valid", "different"),
    "identifier": ("exact", "close", "different_document", "different"),
    "family": NAME_LEVELS,
    "given": NAME_LEVELS,
    "birth_date": ("exact", "typo", "year", "different"),
    "sex": ("exact", "different"),
    "phone": ("exact", "close", "different"),
    "region": ("exact", "prefix4", "prefix2", "different"),
    "address": ("exact", "high", "partial", "different"),
}
FIELDS: tuple[str, ...] = tuple(LEVELS)
RID, IDENT, FAMILY, GIVEN, BIRTH, SEX, PHONE, REGION, ADDRESS = range(len(FIELDS))
ID_EXACT, ID_TYPO, ID_DIFFERENT_VALID = 0, 1, 2
N_EXACT, N_PINYIN, N_FUZZY, N_SWAP, N_PARTIAL, N_DIFFERENT = range(len(NAME_LEVELS))
Levels = tuple[int, ...]
# Identifier systems where one person holds one value for life (a different value means a
# different person, unlike hospital MRNs); extend at start-up for other documents.
DOCUMENT_SYSTEMS: set[str] = {
    "https://gansu-health.cn/fhir/sid/birth-certificate",
    "https://gansu-health.cn/fhir/sid/health-record",
}


def _resident_id(a: Features, b: Features) -> int:
    x, y = a.resident_id, b.resident_id
    if not x or not y:
        return NULL
    if x == y:
        return ID_EXACT
    if a.resident_id_valid and b.resident_id_valid:
        return ID_DIFFERENT_VALID
    return ID_TYPO if DamerauLevenshtein.distance(x, y, score_cutoff=3) <= 2 else 3


def _identifier(a: Features, b: Features) -> int:
    level = NULL
    for system, value in a.identifiers:
        if system == RESIDENT_ID_SYSTEM:
            continue
        for other_system, other in b.identifiers:
            if other_system != system:
                continue
            if other == value:
                return 0
            if DamerauLevenshtein.distance(value, other, score_cutoff=2) <= 1:
                level = 1
            elif level != 1:
                level = 2 if system in DOCUMENT_SYSTEMS else max(level, 3)
    return level


def _name(x: str, y: str, px: str, py: str) -> int:
    if not x or not y:
        return NULL
    if x == y:
        return N_EXACT
    sx, sy = px.replace(" ", ""), py.replace(" ", "")
    hanzi = has_hanzi(x) and has_hanzi(y)
    if sx == sy or (hanzi and confusable_key(x) == confusable_key(y)):
        return N_PINYIN
    if fuzzy_pinyin(px) == fuzzy_pinyin(py) or JaroWinkler.similarity(sx, sy) >= 0.94:
        return N_FUZZY
    if sorted(x if hanzi else x.split(" ")) == sorted(y if hanzi else y.split(" ")):
        return N_SWAP
    if hanzi and len(x) > 1 and len(y) > 1 and DamerauLevenshtein.distance(x, y) <= 1:
        return N_PARTIAL
    if JaroWinkler.similarity(sx, sy) >= 0.84:
        return N_PARTIAL
    if not hanzi and (sx.startswith(sy) or sy.startswith(sx)):
        return N_PARTIAL
    return N_DIFFERENT


def _joined(f: Features) -> str:
    return f"{f.family_pinyin} {f.given_pinyin}".strip()


def _names(a: Features, b: Features) -> tuple[int, int]:
    full_a, full_b = a.family + a.given, b.family + b.given
    if full_a and full_a == full_b:
        return N_EXACT, N_EXACT
    if a.family and a.given and a.family == b.given and a.given == b.family:
        return N_SWAP, N_SWAP
    if not a.family or not b.family:  # no surname (Tibetan names) or split differently
        given = _name(full_a, full_b, _joined(a), _joined(b))
        if given > N_SWAP and sorted(full_a) == sorted(full_b):
            given = N_SWAP
        return NULL, given
    family = _name(a.family, b.family, a.family_pinyin, b.family_pinyin)
    given = _name(a.given, b.given, a.given_pinyin, b.given_pinyin)
    if family == given == N_DIFFERENT and not has_hanzi(full_a):
        cross = JaroWinkler.similarity(a.family, b.given) + JaroWinkler.similarity(
            a.given, b.family
        )
        if cross >= 1.8:
            return N_SWAP, N_SWAP
    return family, given


def _birth_date(x: date | None, y: date | None) -> int:
    if x is None or y is None:
        return NULL
    if x == y:
        return 0
    if (x.year, x.month, x.day) == (y.year, y.day, y.month):
        return 1
    if DamerauLevenshtein.distance(x.strftime("%Y%m%d"), y.strftime("%Y%m%d")) <= 1:
        return 1
    return 2 if x.year == y.year else 3


def _phone(x: str | None, y: str | None) -> int:
    if not x or not y:
        return NULL
    if x == y:
        return 0
    if x[-8:] == y[-8:] or DamerauLevenshtein.distance(x, y, score_cutoff=2) <= 1:
        return 1
    return 2


def _region(x: str | None, y: str | None) -> int:
    if not x or not y:
        return NULL
    if x == y:
        return 0
    if x[:4] == y[:4]:
        return 1
    return 2 if x[:2] == y[:2] else 3


def _address(x: str | None, y: str | None) -> int:
    if not x or not y:
        return NULL
    if x == y:
        return 0
    ratio = fuzz.ratio(x, y, score_cutoff=70)
    if ratio >= 90:
        return 1
    if ratio >= 70 or fuzz.token_set_ratio(x, y, score_cutoff=85) >= 85:
        return 2
    return 3


def compare_levels(a: Features, b: Features) -> Levels:
    """Return the comparison level index of every field (NULL = -1 when either is missing)."""
    family, given = _names(a, b)
    sex = NULL if a.sex is None or b.sex is None else (0 if a.sex == b.sex else 1)
    return (
        _resident_id(a, b),
        _identifier(a, b),
        family,
        given,
        _birth_date(a.birth_date, b.birth_date),
        sex,
        _phone(a.phone, b.phone),
        _region(a.region, b.region),
        _address(a.address, b.address),
    )


CONTACT_FIELDS = frozenset({PHONE, REGION, ADDRESS})


def pattern_weight(levels: Levels, factors: list[list[float]]) -> float:
    """Sum of log2 Bayes factors; agreeing contact fields (shared by households) count once."""
    weight = 0.0
    shared = 0.0
    for index, level in enumerate(levels):
        if level != NULL:
            factor = factors[index][level]
            if factor > 0 and index in CONTACT_FIELDS:
                shared = max(shared, factor)
            else:
                weight += factor
    return weight + shared


def level_names(levels: Levels) -> dict[str, str]:
    """Name the level of every field ("null" when missing)."""
    return {
        field: "null" if index == NULL else LEVELS[field][index]
        for field, index in zip(FIELDS, levels, strict=True)
    }
