"""Data-steward work on possible duplicates, through the MPI's ``$mdm-*`` operations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gansu_health.mpi.resident_id import RESIDENT_ID_SYSTEM as RESIDENT_ID
from gansu_health.ui.fhir_access import FhirAs, FhirCallError
from gansu_health.ui.i18n import N_

Json = dict[str, Any]

FIELDS = (("name", N_("Name")), ("gender", N_("Sex")), ("birthDate", N_("Date of birth")),
          ("resident_id", N_("Resident ID number")), ("phone", N_("Phone")),
          ("address", N_("Address")), ("organization", N_("Registered by")))


def _value(part: Json) -> Any:
    return next((v for k, v in part.items() if k.startswith("value")), None)


def _links(parameters: Json) -> list[Json]:
    return [{p["name"]: _value(p) for p in entry.get("part") or []}
            for entry in parameters.get("parameter") or [] if entry.get("name") == "link"]


def _bare(reference: str) -> str:
    return reference.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A POSSIBLE_MATCH link awaiting review."""

    source_id: str
    golden_id: str
    score: float | None
    source_name: str


@dataclass(frozen=True, slots=True)
class Row:
    """One compared field: both values and whether they differ."""

    label: str
    left: str
    right: str

    @property
    def differs(self) -> bool:
        """Whether the two records disagree here."""
        return self.left.strip() != self.right.strip()


@dataclass(frozen=True, slots=True)
class Comparison:
    """A source record next to the record it may duplicate."""

    source_id: str
    golden_id: str
    own_golden_id: str
    other_source_id: str
    score: float | None
    rows: tuple[Row, ...]


def summary(patient: Json) -> dict[str, str]:
    """The compared fields of a Patient (or a golden Person)."""
    names = patient.get("name") or [{}]
    address = (patient.get("address") or [{}])[0]
    return {
        "name": names[0].get("text") or (names[0].get("family", "") + "".join(
            names[0].get("given") or [])),
        "gender": patient.get("gender", ""), "birthDate": patient.get("birthDate", ""),
        "resident_id": next((i.get("value", "") for i in patient.get("identifier") or []
                             if i.get("system") == RESIDENT_ID), ""),
        "phone": next((t.get("value", "") for t in patient.get("telecom") or []
                       if t.get("system") == "phone"), ""),
        "address": address.get("text", ""),
        "organization": (patient.get("managingOrganization") or {}).get("display") or _bare(
            (patient.get("managingOrganization") or {}).get("reference", "")),
    }


def queue(fhir: FhirAs, count: int = 50) -> list[Candidate]:
    """The review queue, highest score first, with the incoming record's name."""
    links = _links(fhir.call("GET", "$mdm-review-queue", [("_count", str(count))]))
    out = []
    for link in links:
        source = _bare(link.get("sourceResourceId", ""))
        try:
            name = summary(fhir.read("Patient", source))["name"]
        except FhirCallError:
            name = ""
        out.append(Candidate(source, _bare(link.get("goldenResourceId", "")), link.get("score"),
                             name))
    return out


def own_golden(fhir: FhirAs, source_id: str) -> str:
    """The golden record a source is currently matched to."""
    links = _links(fhir.call("GET", "$mdm-query-links", [("resourceId", f"Patient/{source_id}"),
                                                         ("matchResult", "MATCH")]))
    return _bare(links[0]["goldenResourceId"]) if links else ""


def compare(fhir: FhirAs, source_id: str, golden_id: str) -> Comparison:
    """The incoming record and the candidate golden record's source record, field by field."""
    left = summary(fhir.read("Patient", source_id))
    person = fhir.read("Person", golden_id)
    other = next((_bare(link["target"]["reference"]) for link in person.get("link") or []
                  if link.get("target", {}).get("reference", "").startswith("Patient/")
                  and _bare(link["target"]["reference"]) != source_id), "")
    right = summary(fhir.read("Patient", other)) if other else summary(person)
    links = _links(fhir.call("GET", "$mdm-query-links", [
        ("resourceId", f"Patient/{source_id}"), ("goldenResourceId", f"Person/{golden_id}")]))
    score = links[0].get("score") if links else None
    rows = tuple(Row(label, left[key], right[key]) for key, label in FIELDS)
    return Comparison(source_id, golden_id, own_golden(fhir, source_id), other, score, rows)


def _operation(fhir: FhirAs, name: str, **values: str | int) -> Json:
    parts = [{"name": k, "valueInteger" if isinstance(v, int) else "valueString": v}
             for k, v in values.items()]
    return fhir.call("POST", f"${name}", body={"resourceType": "Parameters", "parameter": parts})


def merge(fhir: FhirAs, from_golden: str, to_golden: str) -> int:
    """Merge the source's own golden record into the candidate; return the merge id."""
    result = _operation(fhir, "mdm-merge-golden-resources",
                        fromGoldenResourceId=f"Person/{from_golden}",
                        toGoldenResourceId=f"Person/{to_golden}")
    return int(next(_value(p) for p in result["parameter"] if p["name"] == "mergeId"))


def unmerge(fhir: FhirAs, merge_id: int) -> None:
    """Undo a merge."""
    _operation(fhir, "mdm-unmerge", mergeId=merge_id)


def not_duplicate(fhir: FhirAs, golden_id: str, other_golden: str) -> None:
    """Declare two golden records different people (resolves their pending reviews)."""
    _operation(fhir, "mdm-not-duplicate", goldenResourceId=f"Person/{golden_id}",
               resourceId=f"Person/{other_golden}")
