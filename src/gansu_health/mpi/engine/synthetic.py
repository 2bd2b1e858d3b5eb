"""A seeded synthetic Gansu population with duplicate registrations and ground truth.

Persons come from the demo household generator (``gansu_health.demo.people``): surname and
given-name frequencies from ``demo/data/names.json`` (Han, Hui, Dongxiang and Tibetan names),
valid GB 11643 IDs, children under 14 with birth-certificate numbers instead of IDs, households
sharing a phone and an address, and twins (``twin_rate`` of households with children get one).

Each person has an original registration; ``duplicates`` gives the probabilities of 0, 1, 2
or 3 further registrations at other hospitals (mean ≈ 0.9). Each duplicate gets a new
hospital MRN and, independently, these corruptions (rates per duplicate, ``CorruptionRates``):

===========================  =====  ====================================================
corruption                   rate   what happens
===========================  =====  ====================================================
homophone                    0.05   one given-name character → a common homophone
surname_homophone            0.01   the surname → a homophone (张→章, 王→汪)
near_shape                   0.02   one character → a near-shape one (己/已, 候/侯 …)
traditional                  0.03   name and address written in traditional characters
swap_given                   0.01   the two given-name characters reversed
text_only_name               0.05   only HumanName.text, no family/given parts
id_missing                   0.08   resident ID (or birth certificate) not recorded
id_15                        0.03   old 15-digit ID (persons born before 2000)
id_typo                      0.02   one digit changed or two transposed (bad check digit)
relative_id                  0.003  a household member's resident ID typed instead
birth_typo                   0.02   day/month swapped or one digit changed
birth_missing                0.02   no birthDate
sex_missing                  0.03   no gender
phone_changed                0.15   a new mobile number
phone_missing                0.05   no telecom
phone_typo                   0.01   one digit changed
phone_format                 0.30   "+86 138 0013 8000" or "138-0013-8000" style
address_changed              0.15   moved to another county and street
address_missing              0.05   no address
address_short                0.20   address text without province and city
health_record_dropped        0.70   the primary-care health-record number not recorded
===========================  =====  ====================================================
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, replace
from datetime import date
from functools import cache
from typing import Any

import zhconv
from pypinyin import lazy_pinyin

from gansu_health.demo.bundle import address as fhir_address
from gansu_health.demo.names import name_tables
from gansu_health.demo.people import PopulationBuilder, Resident, mobile_number, patient_resource
from gansu_health.demo.regions import municipal_regions
from gansu_health.mpi.engine.features import features_from_patient
from gansu_health.mpi.engine.model import MatchModel
from gansu_health.mpi.engine.text import CONFUSABLES
from gansu_health.mpi.engine.train import train_em
from gansu_health.mpi.resident_id import RESIDENT_ID_SYSTEM

AS_OF = date(2025, 6, 30)
MRN_SYSTEM = "https://gansu-health.cn/fhir/sid/mrn/"


@dataclass(frozen=True)
class CorruptionRates:
    """Per-duplicate probabilities of each corruption (see the module docstring)."""

    homophone: float = 0.05
    surname_homophone: float = 0.01
    near_shape: float = 0.02
    traditional: float = 0.03
    swap_given: float = 0.01
    text_only_name: float = 0.05
    id_missing: float = 0.08
    id_15: float = 0.03
    id_typo: float = 0.02
    relative_id: float = 0.003
    birth_typo: float = 0.02
    birth_missing: float = 0.02
    sex_missing: float = 0.03
    phone_changed: float = 0.15
    phone_missing: float = 0.05
    phone_typo: float = 0.01
    phone_format: float = 0.30
    address_changed: float = 0.15
    address_missing: float = 0.05
    address_short: float = 0.20
    health_record_dropped: float = 0.70


@dataclass(frozen=True, slots=True)
class SyntheticRecord:
    """One registration: record id, true person id, FHIR Patient and applied corruptions."""

    record_id: str
    person_id: str
    patient: dict[str, Any]
    corruptions: tuple[str, ...]


@cache
def _homophones() -> dict[str, tuple[str, ...]]:
    """Common (GB 2312 level-1) characters grouped by toneless pinyin."""
    groups: dict[str, list[str]] = {}
    for code in range(0x4E00, 0x9FA6):
        ch = chr(code)
        encoded = ch.encode("gb2312", "ignore")
        if len(encoded) == 2 and 0xB0 <= encoded[0] <= 0xD7:
            groups.setdefault(lazy_pinyin(ch)[0], []).append(ch)
    return {ch: tuple(g) for g in groups.values() for ch in g if len(g) > 1}


def _swap_char(text: str, index: int, rng: random.Random, table: str) -> str | None:
    ch = text[index]
    if table == "homophone":
        options = [c for c in _homophones().get(ch, ()) if c != ch]
    else:
        group = CONFUSABLES.get(ch)
        options = [c for c, g in CONFUSABLES.items() if g == group and c != ch] if group else []
    if not options:
        return None
    return text[:index] + rng.choice(options) + text[index + 1 :]


def misheard(text: str, rng: random.Random) -> str | None:
    """``text`` with one character replaced by a homophone (a clerk who heard the name), or None
    when none of its characters has one."""
    for index in rng.sample(range(len(text)), len(text)):
        swapped = _swap_char(text, index, rng, "homophone")
        if swapped:
            return swapped
    return None


class _Corrupter:
    def __init__(self, rng: random.Random, rates: CorruptionRates) -> None:
        self.rng = rng
        self.rates = rates

    def hit(self, name: str) -> bool:
        return self.rng.random() < float(getattr(self.rates, name))

    def names(self, patient: dict[str, Any], applied: list[str]) -> None:
        name = patient["name"][0]
        family, given = name.get("family", ""), "".join(name.get("given", []))
        for kind, part, rate_name in (
            ("homophone", "given", "homophone"),
            ("homophone", "family", "surname_homophone"),
            ("near_shape", "given", "near_shape"),
        ):
            text = given if part == "given" else family
            if text and self.hit(rate_name):
                new = _swap_char(text, self.rng.randrange(len(text)), self.rng, kind)
                if new:
                    applied.append(rate_name)
                    family, given = (family, new) if part == "given" else (new, given)
        if len(given) == 2 and self.hit("swap_given"):
            given = given[::-1]
            applied.append("swap_given")
        if self.hit("traditional"):
            family, given = zhconv.convert(family, "zh-tw"), zhconv.convert(given, "zh-tw")
            applied.append("traditional")
        dot = "·" if "·" in name.get("text", "") else ""
        text = f"{family}{given}" if not dot else name["text"]
        if self.hit("text_only_name"):
            patient["name"] = [{"use": "official", "text": text}]
            applied.append("text_only_name")
        else:
            new_name: dict[str, Any] = {"use": "official", "text": text, "given": [given]}
            if family:
                new_name["family"] = family
            patient["name"] = [new_name]

    def identifiers(
        self, patient: dict[str, Any], relatives: list[str], applied: list[str]
    ) -> None:
        kept = []
        for identifier in patient["identifier"]:
            system, value = identifier["system"], identifier["value"]
            if system.endswith("health-record") and self.hit("health_record_dropped"):
                continue
            if system != RESIDENT_ID_SYSTEM and not system.endswith("birth-certificate"):
                kept.append(identifier)
                continue
            if self.hit("id_missing"):
                applied.append("id_missing")
                continue
            if system == RESIDENT_ID_SYSTEM:
                value = self._resident_id(value, relatives, applied)
            kept.append({**identifier, "value": value})
        patient["identifier"] = kept

    def _resident_id(self, value: str, relatives: list[str], applied: list[str]) -> str:
        rng = self.rng
        if relatives and self.hit("relative_id"):
            applied.append("relative_id")
            return rng.choice(relatives)
        if value[6:8] == "19" and self.hit("id_15"):
            applied.append("id_15")
            return value[:6] + value[8:17]
        if self.hit("id_typo"):
            applied.append("id_typo")
            i = rng.randrange(17)
            if rng.random() < 0.5 and value[i] != value[i + 1]:
                return value[:i] + value[i + 1] + value[i] + value[i + 2 :]
            digit = str((int(value[i]) + rng.randrange(1, 10)) % 10)
            return value[:i] + digit + value[i + 1 :]
        return value

    def demographics(self, patient: dict[str, Any], applied: list[str]) -> None:
        rng = self.rng
        born = date.fromisoformat(patient["birthDate"])
        if self.hit("birth_missing"):
            del patient["birthDate"]
            applied.append("birth_missing")
        elif self.hit("birth_typo"):
            applied.append("birth_typo")
            if born.day <= 12 and born.day != born.month:
                born = born.replace(month=born.day, day=born.month)
            else:
                day = (born.day % 10 + rng.choice([1, 2])) % 10 + born.day // 10 * 10
                born = born.replace(day=max(1, min(day, 28)))
            patient["birthDate"] = born.isoformat()
        if self.hit("sex_missing"):
            del patient["gender"]
            applied.append("sex_missing")

    def phone(self, patient: dict[str, Any], applied: list[str]) -> None:
        rng = self.rng
        if self.hit("phone_missing"):
            patient.pop("telecom", None)
            patient.pop("contact", None)
            applied.append("phone_missing")
            return
        number = patient["telecom"][0]["value"]
        if self.hit("phone_changed"):
            number = mobile_number(rng)
            applied.append("phone_changed")
        elif self.hit("phone_typo"):
            i = rng.randrange(6, len(number))
            number = number[:i] + str((int(number[i]) + 1) % 10) + number[i + 1 :]
            applied.append("phone_typo")
        digits = number.removeprefix("+86")
        if self.hit("phone_format"):
            number = rng.choice(
                [
                    f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}",
                    f"{digits[:3]}-{digits[3:7]}-{digits[7:]}",
                ]
            )
        patient["telecom"] = [{"system": "phone", "value": number, "use": "mobile"}]
        patient.pop("contact", None)

    def address(self, patient: dict[str, Any], applied: list[str]) -> None:
        rng = self.rng
        if self.hit("address_missing"):
            patient.pop("address", None)
            applied.append("address_missing")
            return
        if self.hit("address_changed"):
            county = rng.choice(rng.choice(municipal_regions()).counties).code
            street = rng.choice(name_tables()["streets"])
            line = (
                f"{street}{rng.randint(1, 200)}号{rng.randint(1, 6)}单元{rng.randint(101, 1802)}室"
            )
            patient["address"] = [fhir_address(county, line)]
            applied.append("address_changed")
        home = patient["address"][0]
        if self.hit("address_short"):
            home["text"] = "".join([home.get("district", ""), *home.get("line", [])])
        if "traditional" in applied:
            home["text"] = zhconv.convert(home["text"], "zh-tw")


def _household_members(builder: PopulationBuilder, twin_rate: float) -> list[Resident]:
    members = builder.household()
    children = [m for m in members if m.birth_certificate]
    if children and builder.rng.random() < twin_rate:
        first = children[0]
        twin = builder.person(
            age=0, sex=builder.rng.choice(["male", "female"]), ethnicity=first.name.ethnicity,
            region=first.region, county=first.county, phone=first.phone,
            line=first.address_line, surname=first.name.family, guardian=first.guardian,
        )  # fmt: skip
        members.append(replace(twin, birth_date=first.birth_date))
    return members


def generate_population(
    persons: int,
    *,
    seed: int = 20250630,
    rates: CorruptionRates | None = None,
    duplicates: tuple[float, float, float, float] = (0.4, 0.35, 0.2, 0.05),
    twin_rate: float = 0.05,
) -> list[SyntheticRecord]:
    """Generate about ``persons`` persons with originals and corrupted duplicates (fixed seed)."""
    rates = rates or CorruptionRates()
    builder = PopulationBuilder(seed, AS_OF)
    rng = random.Random(f"gansu-mpi-synthetic-{seed}")
    corrupter = _Corrupter(rng, rates)
    records: list[SyntheticRecord] = []
    hospitals = [f"{MRN_SYSTEM}h{i:03d}" for i in range(40)]
    count = 0
    while count < persons:
        members = _household_members(builder, twin_rate)
        ids = [m.resident_id for m in members if m.resident_id]
        for member in members:
            count += 1
            original = patient_resource(member, "org-0", AS_OF)
            original["identifier"].append(
                {"system": rng.choice(hospitals), "value": f"{rng.randrange(10**8):08d}"}
            )
            records.append(
                SyntheticRecord(f"{member.patient_id}-0", member.patient_id, original, ())
            )
            relatives = [i for i in ids if i != member.resident_id]
            extra = rng.choices(range(len(duplicates)), duplicates)[0]
            for k in range(1, extra + 1):
                patient = copy.deepcopy(original)
                patient["identifier"] = [
                    i for i in patient["identifier"] if "/mrn/" not in i["system"]
                ]
                patient["identifier"].append(
                    {"system": rng.choice(hospitals), "value": f"{rng.randrange(10**8):08d}"}
                )
                applied: list[str] = []
                corrupter.names(patient, applied)
                corrupter.identifiers(patient, relatives, applied)
                corrupter.demographics(patient, applied)
                corrupter.phone(patient, applied)
                corrupter.address(patient, applied)
                record_id = f"{member.patient_id}-{k}"
                records.append(
                    SyntheticRecord(record_id, member.patient_id, patient, tuple(applied))
                )
    return records


def train_default_model(persons: int = 20_000, seed: int = 20250630) -> MatchModel:
    """Train the shipped model by EM on a synthetic population (data/model.json)."""
    records = [features_from_patient(r.patient) for r in generate_population(persons, seed=seed)]
    return train_em(records, version=f"synthetic-em-{persons}-{seed}")


if __name__ == "__main__":  # python -m gansu_health.mpi.engine.synthetic > data/model.json
    import sys

    sys.stdout.write(train_default_model().to_json() + "\n")
