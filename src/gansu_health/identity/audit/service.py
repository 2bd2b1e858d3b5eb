"""Audit rows as FHIR R4 AuditEvent resources in the IHE BALP style, and the patient's trail.

Agents follow BALP: the user (``requestor``; type IRCP for reads/queries, AUT for writes, PAT when
the user is the patient), the client (DCM 110153 Source Role ID, with its IP address) and this
server (DCM 110152 Destination Role ID). Entities: the resource (role 4 Domain Resource), the
search query (role 24, base64) and the patient (type 1 Person, role 1 Patient). Break-glass access
carries the ``BTG`` security label and purpose ``ETREAT`` unless another purpose was given.
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import Engine

from gansu_health.core.clock import fhir_instant
from gansu_health.core.database import read_transaction
from gansu_health.identity.audit.repository import AuditRow, search_by_patient

DCM = "http://dicom.nema.org/resources/ontology/DCM"
EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
REST = "http://hl7.org/fhir/restful-interaction"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ROLE_CLASS = "http://terminology.hl7.org/CodeSystem/v3-RoleClass"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
OUTCOME = "http://terminology.hl7.org/CodeSystem/audit-event-outcome"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
LOCAL_SUBTYPE = "urn:gansu-health:audit-subtype"
CLIENT_ID = "urn:gansu-health:client-id"
FHIR_ACTORS = frozenset({"Practitioner", "PractitionerRole", "Patient", "RelatedPerson",
                         "Device", "Organization"})
REST_SUBTYPES = frozenset({
    "read", "vread", "update", "patch", "delete", "history", "history-instance", "history-type",
    "history-system", "create", "search", "search-type", "search-system", "capabilities",
    "transaction", "batch", "operation"})
OUTCOME_DISPLAY = {0: "Success", 4: "Minor failure", 8: "Serious failure", 12: "Major failure"}


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


REST_TYPE = _coding(EVENT_TYPE, "rest", "Restful Operation")
SPECIAL_TYPES: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "login": (_coding(DCM, "110114", "User Authentication"), _coding(DCM, "110122", "Login")),
    "logout": (_coding(DCM, "110114", "User Authentication"), _coding(DCM, "110123", "Logout")),
    "export": (_coding(DCM, "110106", "Export"), _coding(REST, "operation", "operation")),
    "break-glass": (_coding(DCM, "110113", "Security Alert"),
                    _coding(DCM, "110127", "Emergency Override Started")),
    "purge": (_coding(DCM, "110101", "Audit Log Used"), _coding(REST, "delete", "delete")),
}


def _event_type(subtype: str) -> tuple[dict[str, str], dict[str, str]]:
    if subtype in SPECIAL_TYPES:
        return SPECIAL_TYPES[subtype]
    if subtype in REST_SUBTYPES:
        return REST_TYPE, _coding(REST, subtype, subtype)
    return REST_TYPE, _coding(LOCAL_SUBTYPE, subtype)


def _who(row: AuditRow) -> dict[str, Any]:
    who: dict[str, Any] = {}
    if row.actor_id and row.actor_type in FHIR_ACTORS:
        who["reference"] = f"{row.actor_type}/{row.actor_id}"
    elif row.actor_id:
        who["identifier"] = {"system": CLIENT_ID, "value": row.actor_id}
    who["display"] = row.actor_name or row.actor_id or row.actor_type
    return who


def _user_type(row: AuditRow) -> dict[str, str]:
    if row.actor_type == "Patient":
        return _coding(ROLE_CLASS, "PAT", "patient")
    if row.action in ("C", "U"):
        return _coding(PARTICIPATION, "AUT", "author (originator)")
    if row.action == "D":
        return _coding(ROLE_CLASS, "AGNT", "agent")
    return _coding(PARTICIPATION, "IRCP", "information recipient")


def _agents(row: AuditRow, server: str, base_url: str | None) -> list[dict[str, Any]]:
    user: dict[str, Any] = {"type": {"coding": [_user_type(row)]}, "who": _who(row),
                            "requestor": True}
    if row.actor_name:
        user["name"] = row.actor_name
    agents = [user]
    if row.source_ip or row.user_agent:
        client: dict[str, Any] = {
            "type": {"coding": [_coding(DCM, "110153", "Source Role ID")]},
            "who": {"display": row.user_agent or "client"}, "requestor": False}
        if row.source_ip:
            client["network"] = {"address": row.source_ip, "type": "2"}
        agents.append(client)
    dest: dict[str, Any] = {"type": {"coding": [_coding(DCM, "110152", "Destination Role ID")]},
                            "who": {"display": server}, "requestor": False}
    if base_url:
        dest["network"] = {"address": base_url, "type": "5"}
    agents.append(dest)
    return agents


def _entities(row: AuditRow) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = []
    if row.resource_type and row.resource_id:
        entities.append({"what": {"reference": f"{row.resource_type}/{row.resource_id}"},
                         "type": _coding(ENTITY_TYPE, "2", "System Object"),
                         "role": _coding(OBJECT_ROLE, "4", "Domain Resource")})
    if row.query:
        entities.append({"type": _coding(ENTITY_TYPE, "2", "System Object"),
                         "role": _coding(OBJECT_ROLE, "24", "Query"),
                         "description": row.resource_type or "query",
                         "query": base64.b64encode(row.query.encode()).decode("ascii")})
    if row.patient_id:
        entities.append({"what": {"reference": f"Patient/{row.patient_id}"},
                         "type": _coding(ENTITY_TYPE, "1", "Person"),
                         "role": _coding(OBJECT_ROLE, "1", "Patient")})
    return entities


def _purpose(row: AuditRow) -> list[dict[str, Any]]:
    code = row.purpose_of_use or ("ETREAT" if row.break_glass else None)
    concept: dict[str, Any] = {"coding": [_coding(ACT_REASON, code)]} if code else {}
    if row.reason and row.outcome == 0:
        concept["text"] = row.reason
    return [concept] if concept else []


def render(row: AuditRow, *, base_url: str | None = None) -> dict[str, Any]:
    """Render a stored audit row as a FHIR R4 AuditEvent (IHE BALP style)."""
    server = f"gansu-health node {row.node}"
    event_type, subtype = _event_type(row.subtype)
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent", "id": str(row.id), "type": event_type,
        "subtype": [subtype], "action": row.action, "recorded": fhir_instant(row.recorded_us),
        "outcome": str(row.outcome)}
    if row.break_glass:
        resource["meta"] = {"security": [_coding(ACT_REASON, "BTG", "break the glass")]}
    if row.outcome != 0:
        resource["outcomeDesc"] = row.reason or OUTCOME_DISPLAY[row.outcome]
    purpose = _purpose(row)
    if purpose:
        resource["purposeOfEvent"] = purpose
    resource["agent"] = _agents(row, server, base_url)
    resource["source"] = {"site": row.node, "observer": {"display": server},
                          "type": [_coding(SOURCE_TYPE, "4", "Application Server")]}
    entities = _entities(row)
    if entities:
        resource["entity"] = entities
    return resource


def patient_trail(engine: Engine, patient_id: str, *, count: int = 20,
                  before: int | None = None, base_url: str | None = None) -> dict[str, Any]:
    """Return "who looked at my record" as a searchset Bundle of AuditEvents, newest first."""
    with read_transaction(engine) as conn:
        page = search_by_patient(conn, patient_id, limit=count, before=before)
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"fullUrl": f"{base_url}/AuditEvent/{row.id}" if base_url else f"urn:audit:{row.id}",
         "resource": render(row, base_url=base_url), "search": {"mode": "match"}}
        for row in page.rows]}
    if page.next_before is not None and base_url:
        bundle["link"] = [{"relation": "next", "url": f"{base_url}/AuditEvent?patient="
                           f"{patient_id}&_count={count}&_before={page.next_before}"}]
    return bundle
