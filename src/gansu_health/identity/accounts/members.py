"""就诊人 (the family members an account books and reads for) and real-name binding.

A resident proves who a Patient is by the resident ID number (居民身份证) and the name on it;
``find_resident`` looks the Patient up in the FHIR store and compares the name.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import orjson
from sqlalchemy import Connection

from gansu_health.core.clock import now, to_micros
from gansu_health.core.errors import BadRequest, Conflict, NotFound, UnprocessableEntity
from gansu_health.fhir.service import FhirService
from gansu_health.identity.accounts import repository
from gansu_health.identity.accounts.models import RELATIONSHIPS
from gansu_health.identity.accounts.repository import Member
from gansu_health.mpi.resident_id import RESIDENT_ID_SYSTEM, is_valid_resident_id

MAX_MEMBERS = 10
NO_MATCH = "No registered resident has this ID number and name"


def _plain(name: str) -> str:
    text = unicodedata.normalize("NFKC", name).casefold()
    return "".join(c for c in text if c.isalnum())


def patient_names(body: dict[str, Any]) -> set[str]:
    """The normalised spellings of a Patient's names (text, family+given, given+family)."""
    names: set[str] = set()
    for human in body.get("name") or []:
        given = "".join(human.get("given") or [])
        family = human.get("family") or ""
        for candidate in (human.get("text") or "", family + given, given + family):
            if _plain(candidate):
                names.add(_plain(candidate))
    return names


def find_resident(conn: Connection, fhir: FhirService, resident_id: str, name: str) -> str:
    """The id of the Patient with this resident ID and name (the first registered, if several)."""
    number = "".join(resident_id.split()).upper()
    if not is_valid_resident_id(number):
        raise BadRequest("This is not a valid 18-character resident ID number",
                         expression="resident_id")
    wanted = _plain(name or "")
    if not wanted:
        raise BadRequest("The name is required", expression="name")
    search = fhir.parse("Patient", [("identifier", f"{RESIDENT_ID_SYSTEM}|{number}"),
                                    ("_count", "50")])
    found = [s for s in fhir.search(conn, search).matches if s.content is not None]
    matching = [s for s in found if wanted in patient_names(orjson.loads(s.content or b"{}"))]
    if not matching:
        raise UnprocessableEntity(NO_MATCH, expression="resident_id")
    return min(matching, key=lambda s: s.rid).fid


def bind_self(conn: Connection, account_id: str, patient_id: str, node: str) -> None:
    """Bind a citizen account to the resident's own Patient (real-name binding, 实名认证)."""
    acct = repository.get_account(conn, account_id, lock=True)
    if acct is None or acct.kind != "citizen":
        raise NotFound("No such citizen account", expression="account")
    if acct.patient_id == patient_id:
        return
    if acct.patient_id is not None:
        raise Conflict("This account is already bound to a resident", expression="patient")
    other = repository.find_by_patient(conn, patient_id)
    if other is not None:
        raise Conflict("This resident is bound to another account", expression="resident_id")
    repository.update_account(conn, account_id, patient_id=patient_id)
    repository.delete_member(conn, account_id, patient_id)
    repository.insert_member(conn, account_id, node,
                             Member(patient_id, "self", False, to_micros(now())))


def add_member(conn: Connection, account_id: str, patient_id: str, relationship: str, *,
               guardian: bool, node: str) -> Member:
    """Add a 就诊人 to an account (at most ten; ``self`` only through ``bind_self``)."""
    if relationship not in RELATIONSHIPS or relationship == "self":
        raise BadRequest("The relationship must be one of child, parent, spouse, other",
                         expression="relationship")
    members = repository.list_members(conn, account_id)
    if any(m.patient_id == patient_id for m in members):
        raise Conflict("This person already is a 就诊人 of the account",
                       expression="resident_id")
    if len(members) >= MAX_MEMBERS:
        raise UnprocessableEntity(f"An account has at most {MAX_MEMBERS} 就诊人",
                                  expression="resident_id")
    member = Member(patient_id, relationship, guardian, to_micros(now()))
    repository.insert_member(conn, account_id, node, member)
    return member


def remove_member(conn: Connection, account_id: str, patient_id: str) -> None:
    """Remove a 就诊人 (not the account holder themself)."""
    members = {m.patient_id: m for m in repository.list_members(conn, account_id)}
    if patient_id not in members:
        raise NotFound(f"Patient/{patient_id} is not a 就诊人 of this account",
                       expression="patient")
    if members[patient_id].relationship == "self":
        raise UnprocessableEntity("The account holder cannot be removed", expression="patient")
    repository.delete_member(conn, account_id, patient_id)


def list_members(conn: Connection, account_id: str) -> list[Member]:
    """The 就诊人 of an account, self first."""
    return repository.list_members(conn, account_id)
