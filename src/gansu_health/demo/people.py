"""Synthetic residents in households: names, resident ids, birth certificates, phones, addresses."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from gansu_health.demo import codes
from gansu_health.demo.bundle import Resource, address, coding, concept
from gansu_health.demo.names import (
    NameGenerator,
    PersonName,
    ethnicity_for,
    human_names,
    name_tables,
)
from gansu_health.demo.regions import MunicipalRegion, municipal_regions
from gansu_health.mpi.resident_id import RESIDENT_ID_SYSTEM, Sex, make_resident_id

CHILD_AGE = 14
MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "173",
    "177",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "198",
    "199",
]


def mobile_number(rng: random.Random) -> str:
    """Return a mainland mobile number in E.164 form (+86 1xx xxxx xxxx)."""
    return f"+86{rng.choice(MOBILE_PREFIXES)}{rng.randrange(10**8):08d}"


def age_on(born: date, day: date) -> int:
    """Return the age in completed years on ``day``."""
    return day.year - born.year - int((day.month, day.day) < (born.month, born.day))


@dataclass(frozen=True, slots=True)
class Resident:
    """One generated person before conversion to a FHIR Patient."""

    patient_id: str
    name: PersonName
    sex: Sex
    birth_date: date
    region: str
    county: str
    resident_id: str | None
    birth_certificate: str | None
    health_record: str
    phone: str
    address_line: str
    guardian: str | None = None


class PopulationBuilder:
    """Draw households of residents with a seeded random generator."""

    def __init__(self, seed: int, as_of: date) -> None:
        self.seed = seed
        self.as_of = as_of
        self.rng = random.Random(f"gansu-demo-people-{seed}")
        self.names = NameGenerator(self.rng)
        self.count = 0
        self._ids: set[str] = set()
        self._regions = municipal_regions()

    def _region(self) -> MunicipalRegion:
        weights = [region.population_10k for region in self._regions]
        return self.rng.choices(self._regions, weights)[0]

    def _birth_date(self, age: int) -> date:
        latest = date(self.as_of.year - age, self.as_of.month, min(self.as_of.day, 28))
        return latest - timedelta(days=self.rng.randrange(365))

    def _resident_id(self, county: str, born: date, sex: Sex) -> str:
        while True:
            sequence = self.rng.randrange(1, 999)
            if (sequence % 2 == 1) != (sex == "male"):
                sequence += 1
            number = make_resident_id(county, born, sequence, sex)
            if number not in self._ids:
                self._ids.add(number)
                return number

    def _birth_certificate(self, born: date) -> str:
        letter = (
            "O"
            if born.year < 2014
            else "P"
            if born.year < 2018
            else "Q"
            if born.year < 2021
            else "R"
        )
        return f"{letter}62{self.rng.randrange(10**7):07d}"

    def person(
        self,
        *,
        age: int,
        sex: Sex,
        ethnicity: str,
        region: str,
        county: str,
        phone: str,
        line: str,
        surname: str | None = None,
        guardian: str | None = None,
    ) -> Resident:
        """Draw one resident of the given age and sex living at ``line``."""
        self.count += 1
        born = self._birth_date(age)
        name = self.names.name(sex, ethnicity, surname)
        child = age_on(born, self.as_of) < CHILD_AGE
        id_county = county
        if not child and self.rng.random() < 0.1:
            id_county = self.rng.choice(self.rng.choice(self._regions).counties).code
        return Resident(
            patient_id=f"demo-{self.seed}-p{self.count:05d}",
            name=name,
            sex=sex,
            birth_date=born,
            region=region,
            county=county,
            resident_id=None if child else self._resident_id(id_county, born, sex),
            birth_certificate=self._birth_certificate(born) if child else None,
            health_record=f"{county}{self.rng.randrange(1, 30):03d}{self.rng.randrange(1, 40):03d}"
            f"{self.count:05d}",
            phone=phone,
            address_line=line,
            guardian=guardian,
        )

    def household(self, county_choices: list[str] | None = None) -> list[Resident]:
        """Draw a household sharing an address and a family phone."""
        rng = self.rng
        region = self._region()
        counties = county_choices or [county.code for county in region.counties]
        county = rng.choice([c for c in counties if c[:4] == region.code[:4]] or counties)
        ethnicity = ethnicity_for(county, rng)
        phone = mobile_number(rng)
        street = rng.choice(name_tables()["streets"])
        line = f"{street}{rng.randint(1, 200)}号{rng.randint(1, 6)}单元{rng.randint(101, 1802)}室"
        base = {"ethnicity": ethnicity, "region": region.code, "county": county, "line": line}
        head_age = rng.randint(24, 82)
        head_sex: Sex = rng.choice(["male", "female"])
        head = self.person(age=head_age, sex=head_sex, phone=phone, **base)
        members = [head]
        surname = head.name.family if head_sex == "male" else None
        if rng.random() < 0.8:
            spouse_sex: Sex = "female" if head_sex == "male" else "male"
            spouse_age = max(20, head_age + rng.randint(-5, 5))
            spouse = self.person(age=spouse_age, sex=spouse_sex, phone=mobile_number(rng), **base)
            members.append(spouse)
            if spouse_sex == "male":
                surname = spouse.name.family
        if 24 <= head_age <= 50:
            for _ in range(rng.choice([0, 1, 1, 2, 2])):
                age = rng.randint(0, min(head_age - 22, 20))
                members.append(
                    self.person(
                        age=age,
                        sex=rng.choice(["male", "female"]),
                        phone=phone,
                        surname=surname,
                        guardian=head.name.text,
                        **base,
                    )
                )
        if 30 <= head_age <= 58 and rng.random() < 0.2:
            age = min(95, head_age + rng.randint(22, 35))
            members.append(
                self.person(age=age, sex=rng.choice(["male", "female"]), phone=phone, **base)
            )
        return members


def patient_resource(resident: Resident, primary_care: str, as_of: date) -> Resource:
    """Return the FHIR Patient for a resident registered with ``primary_care`` (Organization id)."""
    identifiers: list[Resource] = []
    if resident.resident_id:
        identifiers.append(
            {
                "use": "official",
                "type": concept(
                    codes.V2_0203, "NI", "National unique individual identifier", "居民身份证"
                ),
                "system": RESIDENT_ID_SYSTEM,
                "value": resident.resident_id,
            }
        )
    if resident.birth_certificate:
        identifiers.append(
            {
                "use": "official",
                "type": concept(codes.V2_0203, "BCT", "Birth Certificate", "出生医学证明"),
                "system": codes.SID_BIRTH_CERTIFICATE,
                "value": resident.birth_certificate,
            }
        )
    identifiers.append(
        {"use": "secondary", "system": codes.SID_HEALTH_RECORD, "value": resident.health_record}
    )
    ethnicity = resident.name.ethnicity
    patient: Resource = {
        "resourceType": "Patient",
        "id": resident.patient_id,
        "extension": [
            {
                "url": codes.EXT_ETHNICITY,
                "valueCoding": coding(codes.CS_ETHNICITY, ethnicity, codes.ETHNICITIES[ethnicity]),
            }
        ],
        "identifier": identifiers,
        "active": True,
        "name": human_names(resident.name),
        "telecom": [{"system": "phone", "value": resident.phone, "use": "mobile"}],
        "gender": resident.sex,
        "birthDate": resident.birth_date.isoformat(),
        "address": [address(resident.county, resident.address_line)],
    }
    if resident.guardian and age_on(resident.birth_date, as_of) < 18:
        patient["contact"] = [
            {
                "relationship": [concept(codes.V2_0131, "N", "Next-of-Kin", "监护人")],
                "name": {"text": resident.guardian},
                "telecom": [{"system": "phone", "value": resident.phone, "use": "mobile"}],
            }
        ]
    patient["generalPractitioner"] = [{"reference": f"Organization/{primary_care}"}]
    patient["managingOrganization"] = {"reference": f"Organization/{primary_care}"}
    return patient
