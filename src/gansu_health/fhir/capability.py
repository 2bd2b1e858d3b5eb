"""Generate the CapabilityStatement from what the server actually implements."""

from __future__ import annotations

from typing import Any

from gansu_health import __version__
from gansu_health.core.clock import fhir_instant, now, to_micros
from gansu_health.fhir.definitions import FHIR_VERSION, fhir_model, search_parameters
from gansu_health.fhir.operations import OperationRegistry
from gansu_health.fhir.search.indexer import Indexer
from gansu_health.fhir.search.params import MODIFIERS

INTERACTIONS = ["read", "vread", "update", "patch", "delete", "history-instance",
                "history-type", "create", "search-type"]
RESULT_PARAMS = ["_count", "_sort", "_include", "_revinclude", "_summary", "_elements", "_total",
                 "_has"]


def capability_statement(base_url: str, registry: OperationRegistry, indexer: Indexer
                         ) -> dict[str, Any]:
    """Describe every resource type, interaction, search parameter and operation served."""
    ops = registry.all()
    resources = []
    for rtype in sorted(fhir_model().resource_types):
        params = search_parameters().get(rtype, {})
        indexed = {p.code for p in indexer.params_for(rtype)} | {
            "_id", "_lastUpdated", "_text", "_content"}
        search_params = [
            {"name": code, "definition": p.url, "type": p.type,
             "documentation": "modifiers: " + ", ".join(sorted(MODIFIERS[p.type]))
             + (", [type]" if p.type == "reference" else "")}
            for code, p in sorted(params.items()) if code in indexed and p.type in MODIFIERS
        ]
        resources.append({
            "type": rtype,
            "profile": f"http://hl7.org/fhir/StructureDefinition/{rtype}",
            "interaction": [{"code": c} for c in INTERACTIONS],
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": True,
            "conditionalCreate": True,
            "conditionalRead": "not-supported",
            "conditionalUpdate": True,
            "conditionalDelete": "multiple",
            "referencePolicy": ["literal", "logical"],
            "searchInclude": ["*", *sorted(f"{rtype}:{c}" for c, p in params.items()
                                           if p.type == "reference" and c in indexed)],
            "searchRevInclude": ["*"],
            "searchParam": search_params,
            "operation": [{"name": o.name, "definition":
                           f"http://hl7.org/fhir/OperationDefinition/{o.name}"}
                          for o in ops if "system" not in o.levels or len(o.levels) > 1
                          if o.types is None or rtype in o.types],
        })
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": fhir_instant(to_micros(now())),
        "publisher": "gansu-health",
        "kind": "instance",
        "software": {"name": "gansu-health", "version": __version__},
        "implementation": {"description": "Gansu provincial health-record hub", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [{
            "mode": "server",
            "resource": resources,
            "interaction": [{"code": "transaction"}, {"code": "batch"},
                            {"code": "history-system"}],
            "searchParam": [{"name": p, "type": "special"} for p in RESULT_PARAMS],
            "operation": [{"name": o.name, "definition":
                           f"http://hl7.org/fhir/OperationDefinition/{o.name}"}
                          for o in ops if "system" in o.levels],
        }],
    }
