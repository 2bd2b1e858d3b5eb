"""Registry resources: the platform nodes, institutions, departments, locations and doctors."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date

from gansu_health.demo import codes
from gansu_health.demo.bundle import Resource, Transaction, address, concept, division_extension
from gansu_health.demo.facilities import FacilitySpec, region_facilities
from gansu_health.demo.names import NameGenerator, human_names, name_tables
from gansu_health.demo.people import mobile_number
from gansu_health.demo.regions import MunicipalRegion, municipal_regions
from gansu_health.mpi.resident_id import Sex

PROVINCE_ID = "gs-province"
DOCTORS_PER_DEPARTMENT = {
    "tertiary": (3, 5),
    "secondary": (2, 3),
    "primary": (1, 2),
    "village": (1, 1),
}
_BIRTH_YEARS = {
    "chief": (1962, 1976),
    "associate-chief": (1966, 1983),
    "attending": (1976, 1990),
    "resident": (1988, 1998),
    "village-doctor": (1960, 1992),
}
_WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


@dataclass(frozen=True, slots=True)
class Clinician:
    """A bookable doctor: PractitionerRole, Practitioner and HealthcareService ids."""

    role_id: str
    practitioner_id: str
    service_id: str
    department: str
    title: str


@dataclass(slots=True)
class Facility:
    """A generated institution with its departments and doctors."""

    spec: FacilitySpec
    clinicians: list[Clinician] = field(default_factory=list)


@dataclass(slots=True)
class Registry:
    """What the clinical generator needs to know about the registry."""

    facilities: dict[str, list[Facility]] = field(default_factory=dict)

    def in_region(self, region_code: str) -> list[Facility]:
        """Return the facilities of one municipal region."""
        return self.facilities[region_code]


def data_centre_id(region_code: str) -> str:
    """Return the stable Organization id of a municipal data centre."""
    return f"gs-{region_code}"


def _node_organizations(tx: Transaction) -> None:
    province: Resource = {
        "resourceType": "Organization",
        "id": PROVINCE_ID,
        "identifier": [{"system": codes.SID_PLATFORM_NODE, "value": "province"}],
        "active": True,
        "type": [
            concept(codes.HL7_ORG_TYPE, "govt", "Government"),
            concept(codes.CS_INSTITUTION_TYPE, "commission", codes.INSTITUTION_TYPES["commission"]),
        ],
        "name": "甘肃省卫生健康委员会",
        "alias": ["甘肃省全民健康信息平台", "健康甘肃"],
        "telecom": [{"system": "url", "value": "https://wsjk.gansu.gov.cn", "use": "work"}],
        "address": [address("620102", "白银路220号", use="work")],
    }
    province_ref = tx.put(province)
    for region in municipal_regions():
        tx.put(
            {
                "resourceType": "Organization",
                "id": data_centre_id(region.code),
                "identifier": [{"system": codes.SID_PLATFORM_NODE, "value": region.code}],
                "active": True,
                "type": [
                    concept(codes.HL7_ORG_TYPE, "govt", "Government"),
                    concept(
                        codes.CS_INSTITUTION_TYPE,
                        "data-centre",
                        codes.INSTITUTION_TYPES["data-centre"],
                    ),
                ],
                "name": f"{region.name}全民健康信息平台",
                "alias": [f"{region.name}卫生健康委员会数据中心"],
                "address": [address(region.counties[0].code, "人民路1号", use="work")],
                "partOf": province_ref,
            }
        )


class _RegistryBuilder:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.names = NameGenerator(rng)
        self.licence_counters: dict[tuple[str, int], int] = {}

    def _phone(self, region: MunicipalRegion) -> str:
        return f"{region.area_code}-{self.rng.randint(2, 8)}{self.rng.randrange(10**6):06d}"

    def _street(self) -> str:
        street: str = self.rng.choice(name_tables()["streets"])
        return f"{street}{self.rng.randint(1, 300)}号"

    def organization(self, tx: Transaction, spec: FacilitySpec, region: MunicipalRegion) -> None:
        line = self._street()
        org: Resource = {
            "resourceType": "Organization",
            "id": spec.id,
            "identifier": [{"system": codes.SID_INSTITUTION, "value": spec.id.removeprefix("gs-")}],
            "active": True,
            "type": [
                concept(codes.CS_INSTITUTION_LEVEL, spec.level, codes.LEVELS[spec.level]),
                concept(codes.CS_INSTITUTION_TYPE, spec.type, codes.INSTITUTION_TYPES[spec.type]),
                concept(codes.HL7_ORG_TYPE, "prov", "Healthcare Provider"),
            ],
            "name": spec.name,
            "telecom": [{"system": "phone", "value": self._phone(region), "use": "work"}],
            "address": [address(spec.county, line, use="work")],
        }
        if spec.part_of:
            org["partOf"] = tx.ref("Organization", spec.part_of)
        tx.put(org)
        tx.put(
            {
                "resourceType": "Location",
                "id": spec.id,
                "extension": [division_extension(spec.county)],
                "status": "active",
                "name": spec.name,
                "mode": "instance",
                "telecom": org["telecom"],
                "address": address(spec.county, line, use="work"),
                "physicalType": concept(codes.LOCATION_PHYSICAL_TYPE, "bu", "Building"),
                "managingOrganization": tx.ref("Organization", spec.id),
            }
        )

    def service(self, tx: Transaction, spec: FacilitySpec, department: str) -> str:
        service_id = f"{spec.id}-dept-{department.replace('.', '')}"
        name = codes.DEPARTMENTS[department]
        tx.put(
            {
                "resourceType": "HealthcareService",
                "id": service_id,
                "active": True,
                "providedBy": tx.ref("Organization", spec.id, spec.name),
                "type": [concept(codes.CS_DEPARTMENT, department, name)],
                "specialty": [concept(codes.CS_DEPARTMENT, department, name)],
                "location": [tx.ref("Location", spec.id)],
                "name": name.removesuffix("专业"),
                "appointmentRequired": spec.tier in ("tertiary", "secondary"),
                "availableTime": [
                    {
                        "daysOfWeek": _WEEKDAYS,
                        "availableStartTime": "08:00:00",
                        "availableEndTime": "17:30:00",
                    }
                ],
            }
        )
        return service_id

    def _title(self, spec: FacilitySpec, index: int) -> str:
        if spec.tier == "village":
            return "village-doctor"
        if spec.tier == "tertiary" and index < 2:
            return ("chief", "associate-chief")[index]
        if spec.tier == "secondary" and index == 0:
            return self.rng.choice(["associate-chief", "attending"])
        return self.rng.choice(["attending", "attending", "resident"])

    def _licence(self, spec: FacilitySpec, department: str, year: int) -> str:
        category = "2" if department in ("50", "51", "52") else "4" if department == "01" else "1"
        key = (spec.county, year)
        self.licence_counters[key] = self.licence_counters.get(key, 0) + 1
        return f"1{category}{spec.county}{year}{self.licence_counters[key]:03d}"

    def doctor(
        self,
        tx: Transaction,
        spec: FacilitySpec,
        department: str,
        service_id: str,
        number: int,
        index: int,
    ) -> Clinician:
        sex: Sex = self.rng.choice(["male", "female"])
        title = self._title(spec, index)
        low, high = _BIRTH_YEARS[title]
        born = date(self.rng.randint(low, high), self.rng.randint(1, 12), self.rng.randint(1, 28))
        licensed = min(born.year + self.rng.randint(24, 30), 2024)
        licence = self._licence(spec, department, licensed)
        name = self.names.name(sex)
        practitioner_id = f"{spec.id}-d{number:03d}"
        qualification = "village-doctor" if title == "village-doctor" else "physician"
        tx.put(
            {
                "resourceType": "Practitioner",
                "id": practitioner_id,
                "identifier": [
                    {
                        "use": "official",
                        "type": concept(codes.V2_0203, "MD", "Medical License number"),
                        "system": codes.SID_PHYSICIAN_LICENCE,
                        "value": licence,
                    }
                ],
                "active": True,
                "name": human_names(name),
                "telecom": [{"system": "phone", "value": mobile_number(self.rng), "use": "work"}],
                "gender": sex,
                "birthDate": born.isoformat(),
                "qualification": [
                    {
                        "identifier": [{"system": codes.SID_PHYSICIAN_LICENCE, "value": licence}],
                        "code": concept(
                            codes.CS_QUALIFICATION,
                            qualification,
                            "乡村医生执业证书" if qualification != "physician" else "医师执业证书",
                        ),
                        "period": {"start": f"{licensed}-07-01"},
                        "issuer": tx.ref("Organization", PROVINCE_ID),
                    }
                ],
            }
        )
        role_id = f"{practitioner_id}-role"
        tx.put(
            {
                "resourceType": "PractitionerRole",
                "id": role_id,
                "active": True,
                "practitioner": tx.ref("Practitioner", practitioner_id, name.text),
                "organization": tx.ref("Organization", spec.id, spec.name),
                "code": [
                    {
                        "coding": [
                            {
                                "system": codes.CS_PRACTITIONER_TITLE,
                                "code": title,
                                "display": codes.TITLES[title],
                            },
                            {
                                "system": codes.HL7_PRACTITIONER_ROLE,
                                "code": "doctor",
                                "display": "Doctor",
                            },
                        ],
                        "text": codes.TITLES[title],
                    }
                ],
                "specialty": [
                    concept(codes.CS_DEPARTMENT, department, codes.DEPARTMENTS[department])
                ],
                "location": [tx.ref("Location", spec.id)],
                "healthcareService": [tx.ref("HealthcareService", service_id)],
            }
        )
        return Clinician(role_id, practitioner_id, service_id, department, title)

    def region(
        self, region: MunicipalRegion, facilities: tuple[FacilitySpec, ...]
    ) -> tuple[Resource, list[Facility]]:
        tx = Transaction(f"demo-registry-{region.code}")
        built = []
        for spec in facilities:
            self.organization(tx, spec, region)
            facility = Facility(spec)
            low, high = DOCTORS_PER_DEPARTMENT[spec.tier]
            number = 0
            for department in codes.DEPARTMENTS_BY_KIND[spec.department_kind]:
                service_id = self.service(tx, spec, department)
                for index in range(self.rng.randint(low, high)):
                    number += 1
                    facility.clinicians.append(
                        self.doctor(tx, spec, department, service_id, number, index)
                    )
            built.append(facility)
        return tx.build(), built


def build_registry(seed: int) -> tuple[list[Resource], Registry]:
    """Return the registry transaction bundles (platform nodes first) and an index of them."""
    nodes = Transaction("demo-registry-province")
    _node_organizations(nodes)
    bundles = [nodes.build()]
    registry = Registry()
    builder = _RegistryBuilder(random.Random(f"gansu-demo-registry-{seed}"))
    regions = {region.code: region for region in municipal_regions()}
    for item in region_facilities():
        bundle, facilities = builder.region(regions[item.region], item.facilities)
        bundles.append(bundle)
        registry.facilities[item.region] = facilities
    return bundles, registry
