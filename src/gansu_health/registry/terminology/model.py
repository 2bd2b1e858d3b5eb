"""Compiled CodeSystems: concepts by code, the is-a hierarchy, properties and validity periods."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

Json = dict[str, Any]
_VALUE_KEYS = ("valueCode", "valueCoding", "valueString", "valueInteger", "valueBoolean",
               "valueDateTime", "valueDecimal")
_INACTIVE_STATUS = {"retired", "inactive"}
_FROM_PROPERTIES = ("validFrom", "effectiveDate")
_TO_PROPERTIES = ("validTo", "retirementDate")


def property_value(prop: Json) -> tuple[str, Any] | None:
    """Return (valueX key, value) of a concept property or Parameters part, or None."""
    for key in _VALUE_KEYS:
        if key in prop:
            return key, prop[key]
    return None


def value_text(value: Any) -> str:
    """Render a property value for comparison with a filter value (booleans lower-case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return str(value.get("code", ""))
    return str(value)


def parse_date(text: str, *, end: bool = False) -> date | None:
    """Parse a FHIR date or dateTime (YYYY, YYYY-MM, YYYY-MM-DD…); ``end`` takes the last day."""
    match = re.match(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", text.strip())
    if not match:
        return None
    year, month, day = match.group(1), match.group(2), match.group(3)
    if day:
        return date(int(year), int(month), int(day))
    if month:
        if not end:
            return date(int(year), int(month), 1)
        nxt = date(int(year) + int(month) // 12, int(month) % 12 + 1, 1)
        return date.fromordinal(nxt.toordinal() - 1)
    return date(int(year), 12, 31) if end else date(int(year), 1, 1)


@dataclass(slots=True)
class Concept:
    """One concept of a CodeSystem with its resolved hierarchy."""

    code: str
    display: str | None
    definition: str | None
    designations: list[Json]
    properties: list[Json]
    parents: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)

    def values(self, name: str) -> list[Any]:
        """Return every value of the property ``name``."""
        out = []
        for prop in self.properties:
            if prop.get("code") == name and (found := property_value(prop)) is not None:
                out.append(found[1])
        return out

    def first(self, name: str) -> Any:
        """Return the first value of the property ``name``, or None."""
        found = self.values(name)
        return found[0] if found else None

    @property
    def abstract(self) -> bool:
        """Tell whether the concept is not selectable (a grouper)."""
        return self.first("notSelectable") is True

    def period(self) -> tuple[date | None, date | None]:
        """Return the validity period (inclusive) from validFrom/validTo-like properties."""
        start = next((parse_date(str(v)) for n in _FROM_PROPERTIES for v in self.values(n)),
                     None)
        end = next((parse_date(str(v), end=True) for n in _TO_PROPERTIES for v in self.values(n)),
                   None)
        return start, end

    def valid_on(self, day: date) -> bool:
        """Tell whether the concept existed on ``day`` (concepts without a period always did)."""
        start, end = self.period()
        return (start is None or start <= day) and (end is None or day <= end)

    def inactive(self, as_of: date | None = None) -> bool:
        """Tell whether the concept is inactive now, or on ``as_of`` when a date is given."""
        start, end = self.period()
        if as_of is not None and (start is not None or end is not None):
            return not self.valid_on(as_of)
        return self.first("inactive") is True or self.first("status") in _INACTIVE_STATUS


class CodeSystemIndex:
    """A CodeSystem resource compiled for look-ups, hierarchy walks and filters."""

    def __init__(self, resource: Json) -> None:
        self.resource_id: str | None = resource.get("id")
        self.url: str = resource.get("url", "")
        self.version: str | None = resource.get("version")
        self.name: str = resource.get("name") or resource.get("title") or self.url
        self.content: str = resource.get("content", "complete")
        self.case_sensitive: bool = resource.get("caseSensitive", True) is not False
        self.property_types = {p.get("code"): p.get("type") for p in resource.get("property", [])}
        self.concepts: dict[str, Concept] = {}
        self._folded: dict[str, str] = {}
        self._add(resource.get("concept", []), None)
        for concept in self.concepts.values():  # hierarchy given as parent/child properties
            for parent in concept.values("parent"):
                self._link(value_text(parent), concept.code)
            for child in concept.values("child"):
                self._link(concept.code, value_text(child))

    def _add(self, items: list[Json], parent: str | None) -> None:
        for item in items:
            code = item.get("code")
            if not isinstance(code, str):
                continue
            self.concepts.setdefault(code, Concept(
                code, item.get("display"), item.get("definition"),
                list(item.get("designation", [])),
                [p for p in item.get("property", []) if p.get("code") not in ("parent", "child")]
                + [p for p in item.get("property", []) if p.get("code") in ("parent", "child")]))
            self._folded.setdefault(code.lower(), code)
            if parent is not None:
                self._link(parent, code)
            self._add(item.get("concept", []), code)

    def _link(self, parent: str, child: str) -> None:
        if parent in self.concepts and child in self.concepts and parent != child:
            if child not in self.concepts[parent].children:
                self.concepts[parent].children.append(child)
            if parent not in self.concepts[child].parents:
                self.concepts[child].parents.append(parent)

    def get(self, code: str) -> Concept | None:
        """Return the concept for ``code`` (case-insensitively when the system says so)."""
        found = self.concepts.get(code)
        if found is None and not self.case_sensitive:
            key = self._folded.get(code.lower())
            found = self.concepts.get(key) if key else None
        return found

    def descendants(self, code: str) -> list[str]:
        """Return every code below ``code`` (depth first, without ``code`` itself)."""
        out: list[str] = []
        seen = {code}
        stack = list(reversed(self.concepts[code].children)) if code in self.concepts else []
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            out.append(current)
            stack.extend(reversed(self.concepts[current].children))
        return out

    def ancestors(self, code: str) -> set[str]:
        """Return every code above ``code``."""
        out: set[str] = set()
        stack = list(self.concepts[code].parents) if code in self.concepts else []
        while stack:
            current = stack.pop()
            if current not in out:
                out.add(current)
                stack.extend(self.concepts[current].parents)
        return out

    def __iter__(self) -> Iterator[Concept]:
        return iter(self.concepts.values())

    def __len__(self) -> int:
        return len(self.concepts)

    def display_matches(self, concept: Concept, display: str) -> bool:
        """Tell whether ``display`` is the concept's display or one of its designations."""
        wanted = display.strip()
        return wanted == (concept.display or "").strip() or any(
            wanted == str(d.get("value", "")).strip() for d in concept.designations)
