"""Facts about a patient that access rules need, looked up in the FHIR store once per request.

* **Same person**: the MPI links each hospital's Patient record to one golden Person; a
  person's own records, consents and relationships are read across all of their Patients.
* **Consent**: active FHIR Consents (R4) of any of the person's Patients whose provision
  permits the actor (a deny provision for the actor wins). A consent without actors permits
  every treating professional.
* **Care relationship**: the Patient's managing organisation or general practitioner, or an
  Encounter, EpisodeOfCare, Appointment or CareTeam that names both the patient and the
  professional's institution or the professional.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, text

from gansu_health.core.clock import fhir_instant, now, to_micros
from gansu_health.core.errors import Gone, NotFound
from gansu_health.fhir.service import FhirService
from gansu_health.registry.terminology.systems import EXT_ADMIN_DIVISION

CARE_TYPES = ("Encounter", "EpisodeOfCare", "Appointment", "CareTeam")
# a care record (Encounter, EpisodeOfCare, Appointment, CareTeam) naming both the patient and
# the institution or the professional
CARED = text("SELECT 1 FROM idx_ref mine JOIN idx_ref other ON other.rid = mine.rid "
             "WHERE mine.target_type = 'Patient' AND mine.target_id = :patient "
             f"AND mine.rtype IN ({', '.join(repr(t) for t in CARE_TYPES)}) "
             "AND ((other.target_type = 'Organization' AND other.target_id = :org) "
             "OR (other.target_type = 'Practitioner' AND other.target_id = :practitioner)) "
             "LIMIT 1")
# the Patients linked to the golden Person(s) that link this one (Person.link is indexed)
LINKED = text("SELECT DISTINCT other.target_id FROM idx_ref mine "
              "JOIN idx_ref other ON other.rid = mine.rid "
              "WHERE mine.rtype = 'Person' AND mine.target_type = 'Patient' "
              "AND mine.target_id = :patient "
              "AND other.rtype = 'Person' AND other.target_type = 'Patient'")


def _refs(items: Any) -> set[str]:
    return {r["reference"] for r in items or [] if isinstance(r, dict) and "reference" in r}


def _in_period(period: dict[str, Any] | None, instant: str) -> bool:
    if not period:
        return True
    start, end = period.get("start"), period.get("end")
    return (not start or start[:len(instant)] <= instant) and (not end or instant <= end)


class Relations:
    """Looks up and remembers, for one request, who is related to which patient."""

    def __init__(self, conn: Connection, service: FhirService) -> None:
        self.conn = conn
        self.service = service
        self._patients: dict[str, dict[str, Any] | None] = {}
        self._linked: dict[str, frozenset[str]] = {}
        self._consents: dict[frozenset[str], list[dict[str, Any]]] = {}
        self._cared: dict[tuple[str, str | None, str | None], bool] = {}
        self.memo: dict[str, Any] = {}  # decisions derived from these facts, per request

    def patient(self, patient_id: str) -> dict[str, Any] | None:
        """The Patient resource, or None when unknown or deleted."""
        if patient_id not in self._patients:
            try:
                found = self.service.store.read(self.conn, "Patient", patient_id).json()
            except (NotFound, Gone):
                found = None
            self._patients[patient_id] = found
        return self._patients[patient_id]

    def linked(self, patient_id: str) -> frozenset[str]:
        """This Patient and every other Patient record of the same person (via the MPI)."""
        cached = self._linked.get(patient_id)
        if cached is not None:
            return cached
        rows = self.conn.execute(LINKED, {"patient": patient_id})
        ids = {patient_id} | {row[0] for row in rows if row[0]}
        result = frozenset(ids)
        for pid in result:
            self._linked[pid] = result
        return result

    def consents(self, patient_id: str) -> list[dict[str, Any]]:
        """Active Consents of the person behind ``patient_id``."""
        ids = self.linked(patient_id)
        if ids not in self._consents:
            refs = ",".join(f"Patient/{p}" for p in sorted(ids))
            found = self.service.match(self.conn, "Consent", f"patient={refs}&status=active",
                                       limit=200)
            self._consents[ids] = [s.json() for s in found]
        return self._consents[ids]

    def permits(self, patient_id: str, actors: set[str]) -> bool:
        """Whether an active consent of the person permits one of ``actors`` (references)."""
        instant = fhir_instant(to_micros(now()))
        permitted = False
        for consent in self.consents(patient_id):
            provision = consent.get("provision") or {}
            if not _in_period(provision.get("period"), instant):
                continue
            named = _refs([a.get("reference") for a in provision.get("actor") or []])
            if named and not named & actors:
                continue
            if provision.get("type", "permit") == "deny":
                return False
            permitted = True
        return permitted

    def cared_by(self, patient_id: str, organization: str | None,
                 practitioner: str | None) -> bool:
        """Whether the patient is under the care of this institution or professional."""
        key = (patient_id, organization, practitioner)
        if key not in self._cared:
            self._cared[key] = self._find_care(patient_id, organization, practitioner)
        return self._cared[key]

    def _find_care(self, patient_id: str, organization: str | None,
                   practitioner: str | None) -> bool:
        actors = {f"Organization/{organization}" if organization else "",
                  f"Practitioner/{practitioner}" if practitioner else ""} - {""}
        if not actors:
            return False
        resource = self.patient(patient_id) or {}
        if _refs([resource.get("managingOrganization")]) & actors or _refs(
                resource.get("generalPractitioner")) & actors:
            return True
        found = self.conn.execute(CARED, {
            "patient": patient_id, "org": organization or "", "practitioner": practitioner or ""})
        return found.first() is not None

    def region(self, patient_id: str) -> str | None:
        """The GB/T 2260 division code of the patient's first coded address."""
        for address in (self.patient(patient_id) or {}).get("address") or []:
            for ext in address.get("extension") or []:
                if ext.get("url") == EXT_ADMIN_DIVISION:
                    code = (ext.get("valueCoding") or {}).get("code")
                    if code:
                        return str(code)
        return None

    def age(self, patient_id: str) -> int | None:
        """The patient's age in whole years today, when the birth date is known."""
        born = (self.patient(patient_id) or {}).get("birthDate")
        if not born or len(born) < 4:
            return None
        parts = [int(p) for p in born.split("-")] + [1, 1]
        birthday = date(parts[0], parts[1], parts[2])
        today = now().date()
        return today.year - birthday.year - (
            (today.month, today.day) < (birthday.month, birthday.day))
