"""What the authorisation server needs to know about accounts: names, 就诊人, fhirUser."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from gansu_health.core.errors import PlatformError
from gansu_health.fhir.storage.repository import ResourceStore
from gansu_health.identity.accounts import repository as accounts

RELATIONSHIP_WORDS = {"self": ("本人", "yourself"), "child": ("子女", "child"),
                      "parent": ("父母", "parent"), "spouse": ("配偶", "spouse"),
                      "other": ("其他", "other")}


@dataclass(frozen=True, slots=True)
class PatientChoice:
    """One patient the signed-in citizen may share: themself or one of their 就诊人."""

    patient_id: str
    name: str
    relationship_zh: str
    relationship_en: str


def account_name(conn: Connection, account_id: str) -> str:
    """How the signed-in account is shown."""
    acct = accounts.get_account(conn, account_id)
    if acct is None:
        return account_id
    return acct.display_name or acct.username or account_id


def fhir_user(conn: Connection, kind: str, subject: str) -> str | None:
    """The FHIR reference of the person behind a token (citizen: Patient, staff: Practitioner)."""
    if kind == "citizen":
        acct = accounts.get_account(conn, subject)
        return f"Patient/{acct.patient_id}" if acct and acct.patient_id else None
    if kind == "staff":
        practitioner = next((g.practitioner_id for g in accounts.list_roles(conn, subject)
                             if g.practitioner_id), None)
        return f"Practitioner/{practitioner}" if practitioner else None
    return None


def _display(body: dict[str, Any]) -> str:
    for human in body.get("name") or []:
        text = human.get("text") or (human.get("family") or "") + "".join(
            human.get("given") or [])
        if text:
            return str(text)
    return ""


def patient_choices(conn: Connection, store: ResourceStore | None, account_id: str
                    ) -> list[PatientChoice]:
    """The patients a citizen may pick as launch context: self first, then 就诊人."""
    acct = accounts.get_account(conn, account_id)
    if acct is None:
        return []
    members = accounts.list_members(conn, account_id)
    pairs = [(acct.patient_id, "self")] if acct.patient_id else []
    pairs += [(m.patient_id, m.relationship) for m in members if m.patient_id != acct.patient_id]
    choices = []
    for patient_id, relationship in pairs:
        if patient_id is None:
            continue
        name = ""
        if store is not None:
            try:
                name = _display(store.read(conn, "Patient", patient_id).json())
            except PlatformError:  # not (or no longer) in this node's store: show the id
                name = ""
        zh, en = RELATIONSHIP_WORDS.get(relationship, (relationship, relationship))
        choices.append(PatientChoice(patient_id, name or f"Patient/{patient_id}", zh, en))
    return choices
