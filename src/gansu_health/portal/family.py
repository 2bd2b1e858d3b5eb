"""Real-name binding and 就诊人 for the pages, through the accounts' member rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from gansu_health.core.database import read_transaction, write_transaction
from gansu_health.core.errors import NotFound
from gansu_health.identity.accounts import flows, members, repository
from gansu_health.identity.accounts.sessions import SessionInfo
from gansu_health.ui.fhir_access import FhirAs, FhirCallError
from gansu_health.ui.i18n import N_

RELATIONSHIP_LABELS = {"self": N_("Myself"), "child": N_("Child"), "parent": N_("Parent"),
                       "spouse": N_("Spouse"), "other": N_("Other")}
GENDER_LABELS = {"male": N_("Male"), "female": N_("Female"), "other": N_("Other"),
                 "unknown": N_("Unknown")}


@dataclass(frozen=True, slots=True)
class Person:
    """A 就诊人 as the pages show it; ``name`` is None when their record may not be read."""

    patient_id: str
    relationship: str
    guardian: bool
    name: str | None
    gender: str | None
    birth_date: str | None


def display_name(patient: dict[str, Any]) -> str:
    """The name of a Patient as written in Chinese (``text``, else family + given)."""
    for name in patient.get("name") or []:
        if name.get("text"):
            return str(name["text"])
        joined = (name.get("family") or "") + "".join(name.get("given") or [])
        if joined:
            return joined
    return ""


def account_of(request: Request, session: SessionInfo) -> repository.Account:
    """The signed-in account's row."""
    with read_transaction(flows.deps(request).engine) as conn:
        acct = repository.get_account(conn, session.account_id)
    assert acct is not None
    return acct


def people(request: Request, session: SessionInfo, fhir: FhirAs) -> list[Person]:
    """The account's 就诊人, self first, with what the account may read of each."""
    with read_transaction(flows.deps(request).engine) as conn:
        listed = members.list_members(conn, session.account_id)
    out = []
    for member in listed:
        try:
            patient = fhir.read("Patient", member.patient_id)
        except FhirCallError:
            patient = None
        out.append(Person(member.patient_id, member.relationship, member.guardian,
                          display_name(patient) if patient else None,
                          patient.get("gender") if patient else None,
                          patient.get("birthDate") if patient else None))
    return out


def readable(request: Request, session: SessionInfo, fhir: FhirAs) -> list[Person]:
    """The account's 就诊人 whose records it may read (self first)."""
    return [p for p in people(request, session, fhir) if p.name is not None]


def pick(persons: list[Person], who: str) -> Person | None:
    """The person ``who`` names (404 when not one of ``persons``), else the first one."""
    chosen = next((p for p in persons if p.patient_id == who), None)
    if who and chosen is None:
        raise NotFound("This person is not one of your family members")
    return chosen or (persons[0] if persons else None)


def bind(request: Request, session: SessionInfo, resident_id: str, name: str) -> str:
    """Real-name binding: the resident's own Patient, proven by ID number and name."""
    d = flows.deps(request)
    with write_transaction(d.engine) as conn:
        patient_id = members.find_resident(conn, d.fhir, resident_id, name)
        members.bind_self(conn, session.account_id, patient_id, d.settings.node_id)
    return patient_id


def add(request: Request, session: SessionInfo, resident_id: str, name: str,
        relationship: str) -> str:
    """Add a 就诊人 (a child is under the account's guardianship)."""
    d = flows.deps(request)
    with write_transaction(d.engine) as conn:
        patient_id = members.find_resident(conn, d.fhir, resident_id, name)
        members.add_member(conn, session.account_id, patient_id, relationship,
                           guardian=relationship == "child", node=d.settings.node_id)
    return patient_id


def remove(request: Request, session: SessionInfo, patient_id: str) -> None:
    """Remove a 就诊人."""
    with write_transaction(flows.deps(request).engine) as conn:
        members.remove_member(conn, session.account_id, patient_id)
