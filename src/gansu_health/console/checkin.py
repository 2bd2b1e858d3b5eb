"""The check-in desk: verify a scanned (or typed) e-health-card code, show who it is and their
bookings here today, and check one in (``Patient/$card-verify`` then
``Appointment/<id>/$check-in``). A dynamic code works once, so the desk verifies it once and
checks the booking in by its id."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from gansu_health.portal.booking import actor
from gansu_health.ui.fhir_access import FhirAs

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Arrival:
    """A booking of the card holder at this institution today."""

    id: str
    patient: str
    status: str
    start: str
    doctor: str
    department: str


@dataclass
class Holder:
    """The verified card holder."""

    card_id: str
    name: str
    gender: str
    birth_date: str
    resident_id: str
    bookings: list[Arrival] = field(default_factory=list)


def _values(answer: Json) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in answer.get("parameter") or []:
        value = next((v for k, v in part.items() if k.startswith("value")), None)
        if isinstance(value, dict):
            value = value.get("value") or value.get("reference") or value.get("code")
        out[part["name"]] = value
    return out


def verify(fhir: FhirAs, code: str) -> tuple[Holder, list[str]]:
    """Verify a code (identity step); the holder and all their Patient records."""
    answer = fhir.call("POST", "Patient/$card-verify", body={
        "resourceType": "Parameters", "parameter": [
            {"name": "code", "valueString": code.strip()},
            {"name": "step", "valueCode": "identify"}]})
    values = _values(answer)
    person = fhir.read("Person", str(values["person"]).removeprefix("Person/"))
    patients = [str(link["target"]["reference"]).removeprefix("Patient/")
                for link in person.get("link") or []
                if str((link.get("target") or {}).get("reference", "")).startswith("Patient/")]
    holder = Holder(str(values.get("cardId", "")), str(values.get("name", "")),
                    str(values.get("gender", "")), str(values.get("birthDate", "")),
                    str(values.get("residentId", "")))
    return holder, patients


def bookings_today(fhir: FhirAs, patients: list[str], organization: str, today: date
                   ) -> list[Arrival]:
    """The holder's bookings at ``organization`` today (booked or already checked in)."""
    if not patients:
        return []
    found, included = fhir.search_with_includes("Appointment", [
        ("patient", ",".join(f"Patient/{p}" for p in patients)),
        ("date", today.isoformat()), ("status", "booked,arrived"),
        ("_include", "Appointment:actor"), ("_count", "50")])
    out = []
    for appt in found:
        role = included.get(f"PractitionerRole/{actor(appt, 'PractitionerRole')}", {})
        if (role.get("organization") or {}).get("reference") != f"Organization/{organization}":
            continue
        service = included.get(f"HealthcareService/{actor(appt, 'HealthcareService')}", {})
        out.append(Arrival(appt["id"], actor(appt, "Patient"), str(appt.get("status")),
                           str(appt.get("start", "")), str(appt.get("description", "")),
                           str(service.get("name", ""))))
    return out


def check_in(fhir: FhirAs, appointment: str, patient: str) -> int | None:
    """Check a booking in; the patients ahead of it in the waiting room."""
    fhir.call("POST", f"Appointment/{appointment}/$check-in", body={
        "resourceType": "Parameters", "parameter": [
            {"name": "patient", "valueReference": {"reference": f"Patient/{patient}"}}]})
    answer = fhir.call("GET", f"Appointment/{appointment}/$queue", [("patient", patient)])
    return next((int(p["valueInteger"]) for p in answer.get("parameter") or []
                 if p.get("name") == "ahead"), None)
