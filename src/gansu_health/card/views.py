"""Parameters answers of the card operations."""

from __future__ import annotations

from typing import Any

from gansu_health.card.steps import OUTCOME_SYSTEM, REASONS, STEP_SYSTEM, STEPS
from gansu_health.card.verify import Verified
from gansu_health.core.clock import fhir_instant
from gansu_health.mpi.golden import GOLDEN_TYPE
from gansu_health.mpi.parameters import instant, part
from gansu_health.mpi.settings import EMPI_SYSTEM

CARD_ID_SYSTEM = "https://gansu-health.cn/fhir/sid/e-health-card"


def card_parts(row: Any) -> list[dict[str, Any]]:
    """The parts describing one card."""
    parts = [part("cardId", {"system": CARD_ID_SYSTEM, "value": row.card_id}),
             {"name": "status", "valueCode": row.status},
             part("enterpriseId", {"system": EMPI_SYSTEM, "value": row.empi_id}),
             part("person", {"reference": f"{GOLDEN_TYPE}/{row.golden_id}"}),
             instant("issued", row.issued_us),
             part("pinSet", row.factor is not None)]
    if row.revoked_us is not None:
        parts += [instant("revoked", row.revoked_us),
                  {"name": "revokeReason", "valueCode": row.revoke_reason}]
    if row.replaced_by:
        parts.append(part("replacedBy", {"system": CARD_ID_SYSTEM, "value": row.replaced_by}))
    return parts


def card(row: Any, *extra: dict[str, Any]) -> dict[str, Any]:
    """A Parameters resource describing one card (plus ``extra`` parts)."""
    return {"resourceType": "Parameters", "parameter": [*card_parts(row), *extra]}


def step_coding(step: str) -> dict[str, Any]:
    """The coding of a usage step."""
    return {"system": STEP_SYSTEM, "code": step, "display": STEPS.get(step, step)}


def verified(found: Verified, identity: dict[str, Any], step: str,
             organization: str | None) -> dict[str, Any]:
    """The answer to a terminal: who the holder is, the ids it needs, what was logged."""
    person = found.person
    parts = [part("cardId", {"system": CARD_ID_SYSTEM, "value": found.card.card_id}),
             {"name": "codeKind", "valueCode": found.payload.kind},
             part("enterpriseId", {"system": EMPI_SYSTEM, "value": person.empi_id}),
             part("person", {"reference": f"{GOLDEN_TYPE}/{person.golden_id}"})]
    if found.local_patient:
        parts.append(part("patient", {"reference": f"Patient/{found.local_patient}"}))
    if organization:
        parts.append(part("organization", {"reference": f"Organization/{organization}"}))
    if identity.get("name"):
        parts.append(part("name", identity["name"]))
    if identity.get("gender"):
        parts.append({"name": "gender", "valueCode": identity["gender"]})
    if identity.get("birthDate"):
        parts.append({"name": "birthDate", "valueDate": identity["birthDate"]})
    if identity.get("residentId"):
        parts.append(part("residentId", identity["residentId"]))
    parts.append({"name": "step", "valueCoding": step_coding(step)})
    return {"resourceType": "Parameters", "parameter": parts}


def use(row: Any) -> dict[str, Any]:
    """One usage-log row as a ``use`` part."""
    parts = [part("cardId", {"system": CARD_ID_SYSTEM, "value": row.card_id}),
             {"name": "at", "valueInstant": fhir_instant(row.at_us)},
             {"name": "step", "valueCoding": step_coding(row.step)},
             {"name": "codeKind", "valueCode": row.code_kind}]
    if row.outcome == "accepted":
        parts.append({"name": "outcome", "valueCode": "accepted"})
    else:
        parts.append({"name": "outcome", "valueCoding": {
            "system": OUTCOME_SYSTEM, "code": row.outcome,
            "display": REASONS.get(row.outcome, (0, "", row.outcome))[2]}})
    if row.organization:
        parts.append(part("organization", {"reference": f"Organization/{row.organization}"}))
    parts.append(part("terminal", f"{row.actor_kind}:{row.actor}"))
    if row.patient:
        parts.append(part("patient", {"reference": f"Patient/{row.patient}"}))
    if row.appointment:
        parts.append(part("appointment", {"reference": f"Appointment/{row.appointment}"}))
    return {"name": "use", "part": parts}
