"""Hospital navigation: institutions by city, level, department or doctor, from the registry.

Every query goes through the FHIR API (as the signed-in person, or as the anonymous directory
reader), so the directory pages see exactly what the registry publishes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gansu_health.portal import directory_codes as codes
from gansu_health.portal.family import display_name
from gansu_health.ui.fhir_access import FhirAs
from gansu_health.ui.i18n import N_

Json = dict[str, Any]
PROVIDER = "http://terminology.hl7.org/CodeSystem/organization-type|prov"
PAGE = 20
DAY_LABELS = {"mon": N_("Mon"), "tue": N_("Tue"), "wed": N_("Wed"), "thu": N_("Thu"),
              "fri": N_("Fri"), "sat": N_("Sat"), "sun": N_("Sun")}
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


@dataclass(frozen=True, slots=True)
class Filters:
    """What a visitor searches hospitals by."""

    city: str = ""
    level: str = ""
    department: str = ""
    q: str = ""
    doctor: str = ""

    @property
    def any(self) -> bool:
        """Whether any filter is set."""
        return any((self.city, self.level, self.department, self.q, self.doctor))


@dataclass(frozen=True, slots=True)
class Hours:
    """Opening hours: the days (msgids or a day range) and the times."""

    days: tuple[str, ...]
    start: str
    end: str


@dataclass(frozen=True, slots=True)
class Hospital:
    """An institution as listed."""

    id: str
    name: str
    level: str
    address: str
    phone: str


@dataclass(frozen=True, slots=True)
class Doctor:
    """A doctor's role at an institution."""

    name: str
    title: str
    department: str
    hospital_id: str
    hospital: str
    role_id: str = ""


@dataclass
class Department:
    """A department (HealthcareService) with its hours and doctors."""

    id: str
    name: str
    hours: list[Hours]
    appointment_required: bool
    doctors: list[Doctor] = field(default_factory=list)


def coded(concepts: list[Json] | None, system: str, lang: str) -> str:
    """The display (in ``lang`` for registry code systems) of the first coding of ``system``."""
    for concept in concepts or []:
        for coding in concept.get("coding") or []:
            if coding.get("system") == system and coding.get("code"):
                return codes.display(system, coding["code"], lang, coding.get("display", ""))
    return ""


def _hospital(org: Json, lang: str) -> Hospital:
    address = (org.get("address") or [{}])[0]
    phone = next((t.get("value", "") for t in org.get("telecom") or []
                  if t.get("system") == "phone"), "")
    return Hospital(org["id"], org.get("name", ""), coded(org.get("type"), codes.CS_LEVEL, lang),
                    address.get("text") or " ".join(address.get("line") or []), phone)


def hours_of(service: Json) -> list[Hours]:
    """The opening hours of a HealthcareService (or a Location's hoursOfOperation)."""
    out = []
    for slot in service.get("availableTime") or service.get("hoursOfOperation") or []:
        days = list(slot.get("daysOfWeek") or [])
        shown: tuple[str, ...] = (N_("Mon–Fri"),) if days == WEEKDAYS else tuple(
            DAY_LABELS[d] for d in days if d in DAY_LABELS)
        if slot.get("allDay"):
            out.append(Hours(shown, "00:00", "24:00"))
        else:
            out.append(Hours(shown, (slot.get("availableStartTime") or slot.get(
                "openingTime") or "")[:5], (slot.get("availableEndTime") or slot.get(
                "closingTime") or "")[:5]))
    return out


def search_hospitals(fhir: FhirAs, filters: Filters, lang: str) -> list[Hospital]:
    """Institutions matching the filters, by name."""
    params = [("type", PROVIDER), ("active", "true"), ("_count", str(PAGE)), ("_sort", "name")]
    city = codes.city_name(filters.city)
    if city:
        params.append(("address-city", city))
    levels = codes.with_descendants(codes.CS_LEVEL, filters.level) if filters.level else []
    if levels:
        params.append(("type", ",".join(f"{codes.CS_LEVEL}|{c}" for c in levels)))
    departments = (codes.with_descendants(codes.CS_DEPARTMENT, filters.department)
                   if filters.department else [])
    if departments:
        params.append(("_has:HealthcareService:organization:specialty",
                       ",".join(f"{codes.CS_DEPARTMENT}|{c}" for c in departments)))
    if filters.q.strip():
        params.append(("name:contains", filters.q.strip()))
    return [_hospital(org, lang) for org in fhir.search("Organization", params)]


def _doctor(role: Json, included: dict[str, Json], lang: str) -> Doctor:
    practitioner = included.get((role.get("practitioner") or {}).get("reference", ""), {})
    org_ref = (role.get("organization") or {})
    name = display_name(practitioner) or (role.get("practitioner") or {}).get("display", "")
    title = next((c.get("text", "") for c in role.get("code") or [] if c.get("text")), "")
    if lang != "zh-CN":
        title = coded(role.get("code"), codes.CS_TITLE, lang) or title
    return Doctor(name, title, coded(role.get("specialty"), codes.CS_DEPARTMENT, lang),
                  org_ref.get("reference", "").removeprefix("Organization/"),
                  org_ref.get("display", ""), str(role.get("id", "")))


def search_doctors(fhir: FhirAs, filters: Filters, lang: str) -> list[Doctor]:
    """Doctors whose name contains ``filters.doctor`` (in the chosen city, if any)."""
    params = [("practitioner.name:contains", filters.doctor.strip()), ("active", "true"),
              ("_include", "PractitionerRole:practitioner"), ("_count", str(PAGE))]
    city = codes.city_name(filters.city)
    if city:
        params.append(("organization.address-city", city))
    roles, included = fhir.search_with_includes("PractitionerRole", params)
    return [_doctor(role, included, lang) for role in roles]


def hospital_detail(fhir: FhirAs, org_id: str, lang: str
                    ) -> tuple[Hospital, list[Department]]:
    """An institution with its departments, their hours and their doctors."""
    org = fhir.read("Organization", org_id)
    services = fhir.search("HealthcareService", [("organization", org_id), ("active", "true"),
                                                 ("_count", "100")])
    departments = {s["id"]: Department(s["id"], coded(s.get("specialty"), codes.CS_DEPARTMENT,
                                                      lang) or s.get("name", ""),
                                       hours_of(s), bool(s.get("appointmentRequired")))
                   for s in services}
    roles, included = fhir.search_with_includes("PractitionerRole", [
        ("organization", org_id), ("active", "true"),
        ("_include", "PractitionerRole:practitioner"), ("_count", "200")])
    for role in roles:
        for ref in role.get("healthcareService") or []:
            service_id = ref.get("reference", "").removeprefix("HealthcareService/")
            if service_id in departments:
                departments[service_id].doctors.append(_doctor(role, included, lang))
    return _hospital(org, lang), list(departments.values())
