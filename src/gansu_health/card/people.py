"""Who a card belongs to, through the MPI: golden Person, enterprise id, each hospital's Patient.

A card is tied to the golden record (and so to the enterprise id), never to one hospital's
Patient: a terminal gets back the Patient record its own institution keeps for that person
(``Patient.managingOrganization``), found among the sources the MPI links with MATCH.
Golden records merged away (REDIRECTED) are followed to the survivor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from gansu_health.core.errors import NotFound, UnprocessableEntity
from gansu_health.fhir.service import FhirService
from gansu_health.mpi import repository as mpi
from gansu_health.mpi.golden import GOLDEN_TYPE
from gansu_health.mpi.resident_id import RESIDENT_ID_SYSTEM

MAX_REDIRECTS = 16


@dataclass(frozen=True, slots=True)
class Person:
    """A golden record as the card sees it."""

    golden_id: str
    empi_id: str
    sources: tuple[str, ...]  # the Patient ids linked to it with MATCH


def current(conn: Connection, golden_id: str) -> Person:
    """The active golden record ``golden_id`` is (or was merged into), with its sources."""
    row = mpi.golden(conn, golden_id)
    for _ in range(MAX_REDIRECTS):
        if row is None or row.status != "redirected" or not row.redirect_to:
            break
        row = mpi.golden(conn, row.redirect_to)
    if row is None:
        raise NotFound(f"{GOLDEN_TYPE}/{golden_id} is not a golden record of the MPI",
                       expression="patient")
    sources = tuple(link.source_id for link in mpi.links_of(
        conn, golden_id=row.golden_id, result=mpi.MATCH))
    return Person(row.golden_id, row.empi_id, sources)


def of_patient(conn: Connection, patient: str) -> Person:
    """The person behind ``Patient/{patient}``; 422 when the MPI has not linked it (yet)."""
    link = mpi.match_link(conn, patient)
    if link is None:
        raise UnprocessableEntity(
            f"Patient/{patient} is not linked to a person of the master patient index (it may "
            "wait for a data steward's review); a card needs an enterprise id",
            expression="patient")
    return current(conn, link.golden_id)


def goldens(conn: Connection, person: Person) -> list[str]:
    """The golden ids a person's cards may be filed under: theirs and those merged into it."""
    return [person.golden_id, *(g for g, _ in mpi.absorbed(conn, person.golden_id))]


def local_patient(service: FhirService, conn: Connection, person: Person,
                  organization: str | None) -> str | None:
    """The Patient record ``organization`` keeps for the person (the most recent), or None."""
    if not organization or not person.sources:
        return None
    found = service.match(conn, "Patient", f"_id={','.join(person.sources)}"
                          f"&organization=Organization/{organization}&_sort=-_lastUpdated",
                          limit=1)
    return found[0].fid if found else None


def _resident_id(bodies: list[dict[str, Any]]) -> str | None:
    for body in bodies:
        for ident in body.get("identifier") or []:
            if isinstance(ident, dict) and ident.get("system") == RESIDENT_ID_SYSTEM:
                value = str(ident.get("value") or "").strip().upper()
                if value:
                    return value
    return None


def resident_id(service: FhirService, conn: Connection, person: Person,
                first: str | None = None) -> str | None:
    """The person's resident id from their Patient records (``first`` is looked at first)."""
    order = [first] if first else []
    order += [p for p in person.sources if p != first]
    bodies = []
    for fid in order:
        stored = service.store.current(conn, "Patient", fid)
        if stored is not None and not stored[2]:
            bodies.append(service.store.read(conn, "Patient", fid).json())
    return _resident_id(bodies)


def mask(value: str) -> str:
    """Mask an identity number for display: the first three and the last character stay."""
    if len(value) <= 4:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 4) + value[-1]


def _name(body: dict[str, Any]) -> str | None:
    for name in body.get("name") or []:
        if not isinstance(name, dict):
            continue
        if name.get("text"):
            return str(name["text"])
        joined = (name.get("family") or "") + "".join(name.get("given") or [])
        if joined:
            return joined
    return None


def identity(service: FhirService, conn: Connection, person: Person,
             local: str | None) -> dict[str, Any]:
    """Name, sex, birth date (from the golden Person) and the masked resident id."""
    golden = service.store.read(conn, GOLDEN_TYPE, person.golden_id).json()
    number = resident_id(service, conn, person, local)
    return {"name": _name(golden), "gender": golden.get("gender"),
            "birthDate": golden.get("birthDate"),
            "residentId": mask(number) if number else None}
