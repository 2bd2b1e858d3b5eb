"""One audit row per FHIR request (IHE BALP style): who, which patient, what, why, the outcome."""

from __future__ import annotations

from sqlalchemy import Engine

from gansu_health.fhir.rest.dispatch import FhirRequest
from gansu_health.identity.audit.repository import AuditRecord, record_now
from gansu_health.identity.principal import Principal

ETREAT = "ETREAT"  # v3 ActReason: emergency treatment (break-glass)


def outcome_of(status: int) -> int:
    """The AuditEvent outcome for an HTTP status (0 success, 4 minor, 8 serious failure)."""
    if status < 400:
        return 0
    return 4 if status < 500 else 8


def actor_of(who: Principal) -> tuple[str, str | None, str | None]:
    """(actor_type, actor_id, actor_name) as the audit table keeps them."""
    if who.kind == "citizen":
        return ("Patient", who.patient, who.display or who.subject) if who.patient else (
            "citizen", who.subject, who.display)
    if who.kind == "staff":
        return ("Practitioner", who.practitioner, who.display or who.subject) if (
            who.practitioner) else ("staff", who.subject, who.display)
    return who.kind, who.client_id or who.subject, who.display or who.subject


class RequestAuditor:
    """Appends the audit row of each request to the SM3-chained trail."""

    def __init__(self, engine: Engine, node: str) -> None:
        self.engine = engine
        self.node = node

    def record(self, req: FhirRequest, status: int) -> None:
        """Append the row for ``req``, which ended with HTTP ``status``."""
        who: Principal = req.principal
        note = req.access
        actor_type, actor_id, actor_name = actor_of(who)
        patients = sorted(note.patients)
        query = note.query
        if len(patients) > 1:
            query = f"{query or ''} [patients: {','.join(patients[:20])}]".strip()
        record_now(self.engine, AuditRecord(
            action=note.action, subtype=note.subtype or "request", actor_type=actor_type,
            actor_id=actor_id, actor_name=actor_name,
            patient_id=patients[0] if len(patients) == 1 else None,
            resource_type=note.resource_type, resource_id=note.resource_id, query=query,
            purpose_of_use=ETREAT if who.break_glass else None, outcome=outcome_of(status),
            source_ip=req.client_ip, user_agent=req.headers.get("user-agent"),
            break_glass=who.break_glass is not None, reason=who.break_glass, node=self.node))
