"""ValueSet compose evaluation: include/exclude, concept lists, filters, nested value sets."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from gansu_health.core.errors import BadRequest, NotFound
from gansu_health.registry.terminology.model import (
    CodeSystemIndex,
    Concept,
    Json,
    value_text,
)
from gansu_health.registry.terminology.text import TextFilter

Key = tuple[str, str]
HIERARCHY_OPS = {"is-a", "descendent-of", "is-not-a", "generalizes"}


@dataclass(frozen=True, slots=True)
class Member:
    """One code of an expansion, with its concept when the code system is known."""

    system: str
    version: str | None
    code: str
    display: str | None
    concept: Concept | None

    def names(self) -> list[str]:
        """Return the display and designation values."""
        extra = [str(d.get("value", "")) for d in self.concept.designations] if self.concept \
            else []
        return [self.display or "", *extra]

    def exists_on(self, day: date) -> bool:
        """Tell whether the code existed on ``day``."""
        return self.concept is None or self.concept.valid_on(day)

    def inactive(self, as_of: date | None) -> bool:
        """Tell whether the code is inactive (as of ``as_of`` when given)."""
        return self.concept is not None and self.concept.inactive(as_of)


class Expansion:
    """The full, unpaged content of a ValueSet, in compose order."""

    def __init__(self, header: Json, members: dict[Key, Member]) -> None:
        keep = ("id", "url", "version", "name", "title", "status")
        self.header: Json = {k: header[k] for k in keep if k in header}
        self.url: str | None = header.get("url")
        self.version: str | None = header.get("version")
        self.members = members
        self.by_code: dict[str, list[Member]] = {}
        for member in members.values():
            self.by_code.setdefault(member.code, []).append(member)

    def select(self, *, text: str = "", active_only: bool = False,
               as_of: date | None = None) -> list[Member]:
        """Return the members that pass the text filter, the date and the active-only flag."""
        wanted = TextFilter(text)
        out = []
        for member in self.members.values():
            if as_of is not None and not member.exists_on(as_of):
                continue
            if active_only and member.inactive(as_of):
                continue
            if wanted and not wanted.matches(member.code, member.names()):
                continue
            out.append(member)
        return out


class Resolver(Protocol):
    """What compose evaluation needs: code systems and nested value sets by canonical URL."""

    def code_system(self, url: str, version: str | None = None) -> CodeSystemIndex | None:
        """Return the compiled CodeSystem, or None when it is not stored."""

    def value_set(self, url: str, version: str | None = None) -> Expansion:
        """Return the expansion of a stored ValueSet, raising NotFound when there is none."""


def split_canonical(canonical: str) -> tuple[str, str | None]:
    """Split ``url|version``."""
    url, _, version = canonical.partition("|")
    return url, version or None


def compile_value_set(resource: Json, resolver: Resolver) -> Expansion:
    """Evaluate a ValueSet's compose (or take its stored expansion) into an Expansion."""
    members: dict[Key, Member] = {}
    compose = resource.get("compose")
    if compose is None:
        _flatten(resource.get("expansion", {}).get("contains", []), members)
    else:
        for i, part in enumerate(compose.get("include", [])):
            for key, member in _part(part, f"ValueSet.compose.include[{i}]", resolver).items():
                members.setdefault(key, member)
        for i, part in enumerate(compose.get("exclude", [])):
            for key in _part(part, f"ValueSet.compose.exclude[{i}]", resolver):
                members.pop(key, None)
    return Expansion(resource, members)


def _flatten(contains: list[Json], into: dict[Key, Member]) -> None:
    for item in contains:
        if item.get("code") and item.get("system"):
            into.setdefault((item["system"], item["code"]), Member(
                item["system"], item.get("version"), item["code"], item.get("display"), None))
        _flatten(item.get("contains", []), into)


def _part(part: Json, where: str, resolver: Resolver) -> dict[Key, Member]:
    """Evaluate one include/exclude: its system part intersected with its value sets."""
    results: list[dict[Key, Member]] = []
    system = part.get("system")
    if system:
        results.append(_system_part(system, part, where, resolver))
    for canonical in part.get("valueSet", []):
        url, version = split_canonical(canonical)
        results.append(dict(resolver.value_set(url, version).members))
    if not results:
        raise BadRequest("An include/exclude needs a system or a valueSet", expression=where)
    first, *rest = results
    return {k: m for k, m in first.items() if all(k in other for other in rest)}


def _system_part(system: str, part: Json, where: str, resolver: Resolver) -> dict[Key, Member]:
    cs = resolver.code_system(system, part.get("version"))
    version = cs.version if cs else part.get("version")
    if part.get("concept"):
        out = {}
        for item in part["concept"]:
            concept = cs.get(item.get("code", "")) if cs else None
            if cs is not None and concept is None and cs.content == "complete":
                continue  # not a code of the system: never part of the value set
            display = item.get("display") or (concept.display if concept else None)
            out[(system, item["code"])] = Member(system, version, item["code"], display, concept)
        return out
    if cs is None:
        raise NotFound(f"CodeSystem {system} is not known to this server", expression=where)
    tests = [_filter(cs, f, f"{where}.filter[{j}]") for j, f in enumerate(part.get("filter", []))]
    return {(system, c.code): Member(system, version, c.code, c.display, c)
            for c in cs if all(test(c) for test in tests)}


def _filter(cs: CodeSystemIndex, flt: Json, where: str) -> Callable[[Concept], bool]:
    """Compile one compose filter into a predicate over concepts."""
    prop, op, value = flt.get("property", ""), flt.get("op", ""), str(flt.get("value", ""))
    if op in HIERARCHY_OPS:
        if prop not in ("concept", "code"):
            raise BadRequest(f"Filter op {op} applies to the property 'concept'", expression=where)
        below = set(cs.descendants(value))
        chosen = {"is-a": below | {value}, "descendent-of": below,
                  "generalizes": cs.ancestors(value) | {value}}.get(op)
        if op == "is-not-a":
            excluded = below | {value}
            return lambda c: c.code not in excluded
        assert chosen is not None
        return lambda c: c.code in chosen
    if op in ("=", "in", "not-in", "regex", "exists"):
        return _value_filter(prop, op, value, where)
    raise BadRequest(f"Filter op '{op}' is not supported (is-a, descendent-of, is-not-a, "
                     f"generalizes, =, in, not-in, regex, exists)", expression=f"{where}.op")


def _targets(prop: str) -> Callable[[Concept], list[str]]:
    if prop in ("concept", "code"):
        return lambda c: [c.code]
    if prop == "display":
        return lambda c: [c.display or ""]
    return lambda c: [value_text(v) for v in c.values(prop)]


def _value_filter(prop: str, op: str, value: str, where: str) -> Callable[[Concept], bool]:
    targets = _targets(prop)
    if op == "exists":
        wanted = value.lower() == "true"
        return lambda c: bool(targets(c)) is wanted
    if op == "regex":
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise BadRequest(f"Invalid regex '{value}': {exc}", expression=f"{where}.value") \
                from exc
        return lambda c: any(pattern.fullmatch(t) for t in targets(c))
    choices = {v.strip() for v in value.split(",")} if op != "=" else {value}
    if op == "not-in":
        return lambda c: not any(t in choices for t in targets(c))
    return lambda c: any(t in choices for t in targets(c))


def contains_entry(member: Member, *, as_of: date | None, designations: bool) -> Json:
    """Render a member as ValueSet.expansion.contains."""
    out: dict[str, Any] = {"system": member.system}
    if member.version:
        out["version"] = member.version
    if member.concept is not None and member.concept.abstract:
        out["abstract"] = True
    if member.inactive(as_of):
        out["inactive"] = True
    out["code"] = member.code
    if member.display:
        out["display"] = member.display
    if designations and member.concept is not None and member.concept.designations:
        out["designation"] = member.concept.designations
    return out
