"""Which Patient compartments a resource belongs to, from the R4 CompartmentDefinition."""

from __future__ import annotations

from typing import Any

from gansu_health.fhir.definitions import patient_compartment
from gansu_health.fhir.search.indexer import CompiledParam, Indexer

# the parameter a search is narrowed by, when a type has several compartment parameters
NARROWING_ORDER = ("patient", "subject", "beneficiary", "individual", "member", "actor")


class PatientCompartments:
    """Finds the patients a resource is about, and the parameter that narrows a search to them."""

    def __init__(self, indexer: Indexer) -> None:
        self.indexer = indexer
        self.params = patient_compartment()
        self._compiled: dict[str, list[CompiledParam]] = {}

    def in_compartment(self, rtype: str) -> bool:
        """Whether resources of ``rtype`` can belong to a Patient compartment."""
        return rtype == "Patient" or bool(self.params.get(rtype))

    def patients(self, resource: dict[str, Any]) -> set[str]:
        """The ids of the Patients whose compartment holds ``resource``."""
        rtype = resource.get("resourceType", "")
        if rtype == "Patient":
            return {resource["id"]} if resource.get("id") else set()
        found: set[str] = set()
        for param in self._params_of(rtype):
            for value, vtype in param.extract(resource):
                for target_type, target_id, _url in self.indexer._reference(value, vtype, None):
                    if target_type == "Patient" and target_id:
                        found.add(target_id)
        return found

    def narrowing_param(self, rtype: str) -> str | None:
        """The search parameter that restricts ``rtype`` to given patients (``_id`` for Patient)."""
        if rtype == "Patient":
            return "_id"
        names = self.params.get(rtype) or ()
        return next((n for n in NARROWING_ORDER if n in names), names[0] if names else None)

    def _params_of(self, rtype: str) -> list[CompiledParam]:
        compiled = self._compiled.get(rtype)
        if compiled is None:
            names = set(self.params.get(rtype) or ())
            compiled = [p for p in self.indexer.params_for(rtype) if p.code in names]
            self._compiled[rtype] = compiled
        return compiled
