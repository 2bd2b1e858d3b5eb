"""The notifications inbox: the Communications sent to the account holder and their 就诊人."""

from __future__ import annotations

from dataclasses import dataclass

from gansu_health.portal.family import Person
from gansu_health.ui.fhir_access import FhirAs


@dataclass(frozen=True, slots=True)
class Message:
    """One message."""

    id: str
    person: str
    patient: str
    title: str
    text: str
    when: str
    about: str


def messages(fhir: FhirAs, people: list[Person], count: int = 30) -> list[Message]:
    """The latest messages of everyone the account acts for, newest first."""
    out = []
    for person in people:
        for c in fhir.search("Communication", [("recipient", f"Patient/{person.patient_id}"),
                                               ("_sort", "-_lastUpdated"),
                                               ("_count", str(count))]):
            about = str(((c.get("about") or [{}])[0]).get("reference", ""))
            out.append(Message(
                c["id"], person.name or "", person.patient_id,
                str((c.get("topic") or {}).get("text", "")),
                " ".join(str(p.get("contentString", "")) for p in c.get("payload") or []),
                str((c.get("meta") or {}).get("lastUpdated", "")),
                about.removeprefix("Appointment/") if about.startswith("Appointment/") else ""))
    return sorted(out, key=lambda m: m.when, reverse=True)[:count]
