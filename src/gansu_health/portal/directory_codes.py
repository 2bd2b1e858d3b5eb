"""Filter choices for hospital navigation, from the registry's shipped code systems."""

from __future__ import annotations

from functools import cache

from gansu_health.registry.terminology.loader import shipped_code_systems
from gansu_health.registry.terminology.model import CodeSystemIndex, Concept

BASE = "https://gansu-health.cn/fhir/CodeSystem"
CS_DIVISION = f"{BASE}/administrative-division"
CS_LEVEL = f"{BASE}/institution-level"
CS_DEPARTMENT = f"{BASE}/department"
CS_TITLE = f"{BASE}/practitioner-title"
GANSU = "620000"


def _system(url: str) -> CodeSystemIndex:
    return shipped_code_systems()[url]


def label(concept: Concept, lang: str) -> str:
    """A concept's display in ``lang`` (the English designation, else the Chinese display)."""
    if lang != "zh-CN":
        for designation in concept.designations:
            if str(designation.get("language", "")).startswith("en") and designation.get("value"):
                return str(designation["value"])
    return concept.display or concept.code


def display(url: str, code: str, lang: str, fallback: str = "") -> str:
    """The display of ``code`` of code system ``url`` in ``lang``."""
    systems = shipped_code_systems()
    concept = systems[url].get(code) if url in systems else None
    return label(concept, lang) if concept else (fallback or code)


@cache
def cities() -> tuple[tuple[str, str], ...]:
    """Gansu's municipal regions: (code, name), current ones only."""
    divisions = _system(CS_DIVISION)
    root = divisions.get(GANSU)
    assert root is not None
    out = []
    for code in root.children:
        concept = divisions.get(code)
        if concept is not None and concept.display and concept.first("status") != "retired":
            out.append((code, concept.display))
    return tuple(out)


def city_name(code: str) -> str | None:
    """The name of a municipal region code (as written in addresses)."""
    return dict(cities()).get(code)


def top_level(url: str, lang: str) -> list[tuple[str, str]]:
    """The top-level concepts of a code system: (code, display in ``lang``)."""
    return [(c.code, label(c, lang)) for c in _system(url).concepts.values() if not c.parents]


def with_descendants(url: str, code: str) -> list[str]:
    """``code`` and every code below it."""
    system = _system(url)
    return [code, *sorted(system.descendants(code))] if system.get(code) else []
