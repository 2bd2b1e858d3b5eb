"""The compact FHIR R4 (4.0.1) tables derived by scripts/gen_fhir_tables.py, loaded once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import orjson

FHIR_VERSION = "4.0.1"


@dataclass(frozen=True, slots=True)
class ElementDef:
    """One element of a type: cardinality, allowed types and required binding."""

    path: str
    min: int
    max: int  # -1 means unbounded
    types: tuple[str, ...]  # FHIR type codes; "@x.y" points at the element x.y of the same type
    binding: str | None  # canonical of a required ValueSet
    summary: bool = False  # part of the _summary=true view

    @property
    def is_list(self) -> bool:
        """Tell whether the element repeats."""
        return self.max != 1

    @property
    def is_choice(self) -> bool:
        """Tell whether the element is a choice ``[x]``."""
        return self.path.endswith("[x]")


@dataclass(frozen=True, slots=True)
class TypeDef:
    """A complex type or resource with its elements keyed by path relative to the type."""

    name: str
    kind: str
    abstract: bool
    base: str | None
    elements: dict[str, ElementDef]


@dataclass(frozen=True, slots=True)
class SearchParamDef:
    """An R4 SearchParameter as it applies to one resource type."""

    code: str
    type: str
    expression: str | None
    url: str
    targets: tuple[str, ...] = ()
    components: tuple[tuple[str, str, str], ...] = ()  # (code, type, relative expression)


def _read(name: str) -> Any:
    return orjson.loads(resources.files(__package__).joinpath(name).read_bytes())


@dataclass(frozen=True)
class FhirModel:
    """The R4 structure definitions: resource types, primitive types, complex types."""

    resource_types: frozenset[str]
    primitives: dict[str, dict[str, Any]]
    types: dict[str, TypeDef]

    def element(self, type_name: str, path: str) -> ElementDef | None:
        """Return the element at ``path`` (relative, dot-separated) inside ``type_name``."""
        typedef = self.types.get(type_name)
        return typedef.elements.get(path) if typedef else None

    def is_primitive(self, type_name: str) -> bool:
        """Tell whether ``type_name`` is a FHIR primitive type."""
        return type_name in self.primitives


@cache
def fhir_model() -> FhirModel:
    """Load the structure tables (cached for the process)."""
    raw = _read("types.json")
    types = {
        name: TypeDef(
            name=name,
            kind=t["kind"],
            abstract=t["abstract"],
            base=t["base"],
            elements={
                path: ElementDef(path, e[0], e[1], tuple(e[2]), e[3], bool(e[4]))
                for path, e in t["elements"].items()
            },
        )
        for name, t in raw["types"].items()
    }
    return FhirModel(frozenset(raw["resources"]), raw["primitives"], types)


@cache
def search_parameters() -> dict[str, dict[str, SearchParamDef]]:
    """Return every R4 search parameter, by resource type and code."""
    raw = _read("search.json")
    return {
        rtype: {
            code: SearchParamDef(
                code=code,
                type=p["type"],
                expression=p["expr"],
                url=p["url"],
                targets=tuple(p.get("targets", ())),
                components=tuple(tuple(c) for c in p.get("components", ())),
            )
            for code, p in params.items()
        }
        for rtype, params in raw.items()
    }


@cache
def required_valuesets() -> dict[str, dict[str, frozenset[str]]]:
    """Return the expansions of the ValueSets used in required bindings: url → system → codes."""
    raw = _read("valuesets.json")
    return {url: {s: frozenset(c) for s, c in systems.items()} for url, systems in raw.items()}


@cache
def patient_compartment() -> dict[str, tuple[str, ...]]:
    """Return, per resource type, the search parameters that place it in a Patient compartment."""
    return {k: tuple(v) for k, v in _read("compartment.json").items()}
