"""Chinese personal names: Han names by surname frequency, Hui, Dongxiang and Tibetan names."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from gansu_health.demo.bundle import Resource
from gansu_health.mpi.engine.text import given_pinyin, surname_pinyin
from gansu_health.mpi.resident_id import Sex


@dataclass(frozen=True, slots=True)
class PersonName:
    """A generated name: the Hanzi text, optional surname, given parts and GB/T 3304 ethnicity."""

    text: str
    family: str | None
    given: tuple[str, ...]
    ethnicity: str


@cache
def name_tables() -> dict[str, Any]:
    """Return the name tables from data/names.json."""
    text = resources.files("gansu_health.demo").joinpath("data/names.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def pinyin_of(name: PersonName) -> str:
    """Return the name in capitalised pinyin, reading surnames as surnames (单 → Shan)."""
    family = "".join(surname_pinyin(name.family).split()).capitalize() if name.family else ""
    given = ["".join(given_pinyin(g).split()).capitalize() for g in name.given]
    return " ".join(part for part in (family, *given) if part)


def ethnicity_for(county_code: str, rng: random.Random) -> str:
    """Draw a GB/T 3304 ethnicity code with a rough local mix (Linxia, Gannan, Tianzhu…)."""
    roll = rng.random()
    if county_code == "622926":
        return "26" if roll < 0.8 else ("03" if roll < 0.9 else "01")
    if county_code[:4] == "6229" or county_code == "620525":
        return "03" if roll < 0.55 else ("26" if roll < 0.65 else "01")
    if county_code[:4] == "6230":
        return "04" if roll < 0.55 else ("03" if roll < 0.65 else "01")
    if county_code == "620623":
        return "04" if roll < 0.3 else "01"
    return "03" if roll < 0.02 else "01"


class NameGenerator:
    """Draw names from the frequency tables with a caller-supplied random generator."""

    def __init__(self, rng: random.Random) -> None:
        tables = name_tables()
        self._rng = rng
        self._surnames: list[str] = [s for s, _ in tables["surnames"]]
        self._surname_weights = [w for _, w in tables["surnames"]]
        self._hui: list[str] = [s for s, _ in tables["hui_surnames"]]
        self._hui_weights = [w for _, w in tables["hui_surnames"]]
        self._tables = tables

    def surname(self, ethnicity: str = "01") -> str:
        """Draw a surname suited to the ethnicity."""
        if ethnicity in ("03", "26"):
            return self._rng.choices(self._hui, self._hui_weights)[0]
        return self._rng.choices(self._surnames, self._surname_weights)[0]

    def given(self, sex: Sex) -> str:
        """Draw a one- or two-character given name."""
        pool = self._tables["male_given" if sex == "male" else "female_given"]
        length = 2 if self._rng.random() < 0.65 else 1
        return "".join(self._rng.choice(pool) for _ in range(length))

    def name(self, sex: Sex, ethnicity: str = "01", surname: str | None = None) -> PersonName:
        """Draw a full name; minority names sometimes take the transliterated "·" form."""
        rng = self._rng
        if ethnicity == "04":
            first = rng.choice(self._tables["tibetan_male" if sex == "male" else "tibetan_female"])
            second = rng.choice(
                self._tables["tibetan_female" if sex == "female" else "tibetan_male"]
            )
            if first == second or rng.random() < 0.4:
                return PersonName(first, None, (first,), ethnicity)
            return PersonName(f"{first}·{second}", None, (first, second), ethnicity)
        family = surname or self.surname(ethnicity)
        given = self.given(sex)
        if ethnicity in ("03", "26") and rng.random() < (0.4 if ethnicity == "26" else 0.15):
            religious = rng.choice(
                self._tables["religious_male" if sex == "male" else "religious_female"]
            )
            return PersonName(f"{religious}·{family}{given}", family, (religious, given), ethnicity)
        return PersonName(f"{family}{given}", family, (given,), ethnicity)


def human_names(name: PersonName) -> list[Resource]:
    """Return FHIR HumanNames: the official Hanzi name and its pinyin."""
    official: Resource = {"use": "official", "text": name.text, "given": list(name.given)}
    if name.family:
        official["family"] = name.family
    result = [official]
    result.append({"use": "usual", "text": pinyin_of(name)})
    return result
