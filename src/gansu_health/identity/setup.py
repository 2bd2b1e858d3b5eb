"""Plug identity into the FHIR endpoint: ``Patient/{id}/$access-log`` (who looked at my record)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gansu_health.fhir.operations import OperationCall, OperationResult
from gansu_health.identity.audit.service import patient_trail
from gansu_health.identity.keys import FieldCipher, key_provider
from gansu_health.identity.rekey import register

if TYPE_CHECKING:
    from gansu_health.fhir.rest.dispatch import FhirApi


def access_log(call: OperationCall) -> OperationResult:
    """The audit trail of one patient as AuditEvents, newest first (``_count``, ``_before``)."""
    values = dict(call.params)
    count = max(1, min(int(values.get("_count", "20") or 20), 200))
    before = int(values["_before"]) if values.get("_before", "").isdigit() else None
    api = call.services
    flush = getattr(api.guard, "flush", None)
    if flush is not None:
        flush()  # rows of requests just answered are still in the writer's queue
    return OperationResult(patient_trail(api.engine, call.fid or "", count=count, before=before,
                                         base_url=call.base_url))


def setup(api: FhirApi) -> None:
    """Register the identity operations and the accounts' re-key target."""
    if api.settings.field_encryption:
        from gansu_health.identity.accounts.rekey import rekey_target

        register(api, rekey_target(FieldCipher(key_provider(api.settings))))
    api.registry.register("access-log", access_log, levels={"instance"}, types={"Patient"},
                          description="Who accessed this patient's record (audit trail)",
                          access="patient")
