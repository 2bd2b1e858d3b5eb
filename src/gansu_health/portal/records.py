"""My records: visits, diagnoses, results with trends, vaccines, prescriptions, who looked.

Each function makes FHIR searches as the signed-in citizen; the guard decides what they see
(their own record, their children's, family members who consented) and audits every search.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from gansu_health.ui.fhir_access import FhirAs
from gansu_health.ui.i18n import N_

Json = dict[str, Any]
LOINC = "http://loinc.org"
RESULT_CATEGORIES = "laboratory,vital-signs,imaging,exam"
STATUS_LABELS = {"active": N_("Ongoing"), "resolved": N_("Resolved"),
                 "inactive": N_("Inactive"), "remission": N_("In remission"),
                 "completed": N_("Completed"), "stopped": N_("Stopped"),
                 "cancelled": N_("Cancelled"), "": N_("Unknown")}


def text_of(concept: Json | None) -> str:
    """The human text of a CodeableConcept (text, else the first display, else the code)."""
    if not concept:
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding") or []:
        if coding.get("display") or coding.get("code"):
            return str(coding.get("display") or coding.get("code"))
    return ""


def code_of(concept: Json | None, system: str = LOINC) -> str:
    """The code of ``system`` in a CodeableConcept."""
    for coding in (concept or {}).get("coding") or []:
        if coding.get("system") == system and coding.get("code"):
            return str(coding["code"])
    return ""


@dataclass(frozen=True, slots=True)
class Visit:
    """An encounter with its diagnoses."""

    start: str
    kind: str
    place: str
    clinician: str
    diagnoses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """A condition on the record."""

    name: str
    code: str
    status: str
    onset: str


@dataclass(frozen=True, slots=True)
class Value:
    """One measured value with its reference range and flag (``H``, ``L`` or ``N``)."""

    code: str
    name: str
    value: float | None
    unit: str
    low: float | None
    high: float | None
    when: str
    flag: str

    @property
    def range(self) -> str:
        """The reference range as text."""
        if self.low is not None and self.high is not None:
            return f"{self.low:g}–{self.high:g} {self.unit}".strip()
        return ""


@dataclass
class ResultSeries:
    """All values of one test, newest first."""

    code: str
    name: str
    values: list[Value] = field(default_factory=list)

    @property
    def latest(self) -> Value:
        """The newest value."""
        return self.values[0]


def _values(obs: Json) -> list[Value]:
    when = obs.get("effectiveDateTime") or (obs.get("effectivePeriod") or {}).get("start") or ""
    parts = [obs] if "valueQuantity" in obs else list(obs.get("component") or [])
    out = []
    for part in parts:
        quantity = part.get("valueQuantity") or {}
        ranges = (part.get("referenceRange") or obs.get("referenceRange") or [{}])[0]
        low = (ranges.get("low") or {}).get("value")
        high = (ranges.get("high") or {}).get("value")
        value = quantity.get("value")
        flag = code_of((part.get("interpretation") or obs.get("interpretation") or [{}])[0],
                       "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation")
        if not flag and value is not None and low is not None and high is not None:
            flag = "H" if value > high else "L" if value < low else "N"
        code = code_of(part.get("code")) or code_of(obs.get("code"))
        out.append(Value(code, text_of(part.get("code")) if part is not obs else
                         text_of(obs.get("code")), value, quantity.get("unit") or "", low, high,
                         when, flag or ""))
    return out


def visits(fhir: FhirAs, patient: str) -> tuple[list[Visit], list[Diagnosis]]:
    """Visits (newest first) with their diagnoses, and the diagnoses on the record."""
    encounters = fhir.search("Encounter", [("patient", patient), ("_sort", "-date"),
                                           ("_count", "30")])
    conditions = fhir.search("Condition", [("patient", patient), ("_count", "100")])
    by_encounter: dict[str, list[str]] = {}
    for condition in conditions:
        ref = (condition.get("encounter") or {}).get("reference", "")
        by_encounter.setdefault(ref.removeprefix("Encounter/"), []).append(
            text_of(condition.get("code")))
    out = []
    for enc in encounters:
        participant = next((p.get("individual", {}).get("display", "")
                            for p in enc.get("participant") or []), "")
        out.append(Visit((enc.get("period") or {}).get("start", ""),
                         text_of((enc.get("type") or [None])[0]) or
                         (enc.get("class") or {}).get("display", ""),
                         (enc.get("serviceProvider") or {}).get("display", ""), participant,
                         tuple(by_encounter.get(enc["id"], ()))))
    diagnoses = [Diagnosis(text_of(c.get("code")), code_of(c.get("code"),
                                                           "http://hl7.org/fhir/sid/icd-10"),
                           code_of(c.get("clinicalStatus"),
                                   "http://terminology.hl7.org/CodeSystem/condition-clinical"),
                           c.get("onsetDateTime", "")) for c in conditions]
    diagnoses.sort(key=lambda d: d.onset, reverse=True)
    return out, diagnoses


def results(fhir: FhirAs, patient: str) -> tuple[list[ResultSeries], list[Json]]:
    """Lab and exam results grouped per test (newest first), and diagnostic reports."""
    observations = fhir.search("Observation", [("patient", patient),
                                               ("category", RESULT_CATEGORIES),
                                               ("_sort", "-date"), ("_count", "200")])
    series: OrderedDict[str, ResultSeries] = OrderedDict()
    for obs in observations:
        for value in _values(obs):
            if value.code:
                series.setdefault(value.code, ResultSeries(value.code, value.name)).values.append(
                    value)
    reports = fhir.search("DiagnosticReport", [("patient", patient), ("_sort", "-date"),
                                               ("_count", "20")])
    return list(series.values()), reports


def trend(fhir: FhirAs, patient: str, code: str) -> ResultSeries | None:
    """Every value of one test (a LOINC code, also a component such as systolic pressure)."""
    observations = fhir.search("Observation", [("patient", patient),
                                               ("combo-code", f"{LOINC}|{code}"),
                                               ("_sort", "-date"), ("_count", "100")])
    found = ResultSeries(code, "")
    for obs in observations:
        found.values.extend(v for v in _values(obs) if v.code == code and v.value is not None)
    if not found.values:
        return None
    found.name = found.values[0].name
    return found


def immunizations(fhir: FhirAs, patient: str) -> list[Json]:
    """Vaccinations, newest first."""
    return fhir.search("Immunization", [("patient", patient), ("_sort", "-date"),
                                        ("_count", "100")])


def prescriptions(fhir: FhirAs, patient: str) -> list[Json]:
    """Prescriptions, newest first."""
    return fhir.search("MedicationRequest", [("patient", patient), ("_sort", "-authoredon"),
                                             ("_count", "50")])


def access_log(fhir: FhirAs, patient: str, before: str = "") -> tuple[list[Json], str]:
    """Who accessed the record, newest first, and the cursor of the next page ('' at the end)."""
    params = [("_count", "20")] + ([("_before", before)] if before.isdigit() else [])
    bundle = fhir.call("GET", f"Patient/{patient}/$access-log", params)
    events = [e["resource"] for e in bundle.get("entry") or []]
    following = next((link["url"] for link in bundle.get("link") or []
                      if link.get("relation") == "next"), "")
    cursor = following.split("_before=", 1)[1].split("&", 1)[0] if "_before=" in following else ""
    return events, cursor


ACTIONS = {"C": N_("created"), "R": N_("viewed"), "U": N_("changed"), "D": N_("deleted"),
           "E": N_("searched")}
OUTCOMES = {"0": N_("allowed"), "4": N_("refused"), "8": N_("failed"), "12": N_("failed")}


@dataclass(frozen=True, slots=True)
class Access:
    """One line of "who looked at my record"."""

    when: str
    who: str
    citizen: bool
    action: str
    what: str
    outcome: str
    allowed: bool
    emergency: bool
    reason: str


def access_rows(events: list[Json]) -> list[Access]:
    """AuditEvents as lines people can read."""
    out = []
    for event in events:
        agent = (event.get("agent") or [{}])[0]
        roles = {c.get("code") for c in (agent.get("type") or {}).get("coding") or []}
        what = ""
        for entity in event.get("entity") or []:
            reference = (entity.get("what") or {}).get("reference", "")
            if entity.get("description"):
                what = str(entity["description"])
            elif reference and not reference.startswith("Patient/"):
                what = reference.split("/", 1)[0]
        what = what or "Patient"
        purpose = (event.get("purposeOfEvent") or [{}])[0]
        emergency = any(c.get("code") == "BTG" for c in (event.get("meta") or {}).get(
            "security") or [])
        citizen = "PAT" in roles  # the account holder or family, through the citizen app
        out.append(Access(event.get("recorded", ""),
                          "" if citizen else (agent.get("who") or {}).get("display", ""), citizen,
                          ACTIONS.get(event.get("action", ""), N_("used")),
                          what, OUTCOMES.get(event.get("outcome", "0"), N_("failed")),
                          event.get("outcome", "0") == "0", emergency,
                          purpose.get("text", "")))
    return out
