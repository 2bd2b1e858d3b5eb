"""Type specifiers: resolving ``T`` / ``FHIR.T`` / ``System.T`` and matching nodes against them."""

from __future__ import annotations

from functools import cache

from .errors import FhirPathError
from .model import SYSTEM_TYPES, Node, TypeInfo, system_type, type_info
from .operators import system_info


class TypeMatcher:
    """A resolved type specifier."""

    __slots__ = ("fhir", "system")

    def __init__(self, fhir: TypeInfo | None, system: str | None):
        self.fhir = fhir
        self.system = system

    @property
    def static(self) -> TypeInfo | None:
        """Return the type a successful cast yields, for static checks."""
        if self.fhir is not None:
            return self.fhir
        return system_type(self.system) if self.system in SYSTEM_TYPES else None

    def matches(self, node: Node, exact: bool = False) -> bool:
        """Tell whether ``node`` is of this type (``exact`` disables primitive subtyping)."""
        ti = node.ti
        if ti is None or ti.namespace == "System":
            info = ti or system_info(node.value)
            return info is not None and info.name == self.system
        fhir = self.fhir
        if fhir is None:
            return False
        if exact and ti.kind == "primitive":
            return ti.name == fhir.name
        return fhir.name in ti.ancestors


@cache
def resolve_type(spec: str) -> TypeMatcher:
    """Resolve a (possibly qualified) type name; raise FhirPathError for unknown types."""
    parts = spec.split(".")
    if len(parts) == 2 and parts[0] in ("FHIR", "System"):
        namespace, name = parts
    elif len(parts) == 1:
        namespace, name = "", parts[0]
    else:
        raise FhirPathError(f"invalid type specifier {spec!r}")
    if namespace == "System":
        return TypeMatcher(None, name)
    fhir = type_info(name)
    if namespace == "FHIR":
        if fhir is None:
            raise FhirPathError(f"unknown FHIR type {name!r}")
        return TypeMatcher(fhir, None)
    system = name if name in SYSTEM_TYPES else None
    if fhir is None and system is None:
        raise FhirPathError(f"unknown type {name!r}")
    return TypeMatcher(fhir, system)
