"""Registry rules run before Organization, HealthcareService, Practitioner and PractitionerRole
are stored: codes in the platform's code systems must exist, be selectable and be in force, and
each registry has a few structural rules. Codings in foreign systems are left alone."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

from sqlalchemy import Connection

from gansu_health.core.errors import OutcomeIssue, UnprocessableEntity
from gansu_health.registry.terminology import systems as S
from gansu_health.registry.terminology.loader import shipped_code_systems
from gansu_health.registry.terminology.model import Json

Issue = tuple[str, str]  # (expression, message)
LICENCE = re.compile(r"(?P<level>[12])(?P<category>[1-4])(?P<region>\d{6})(?P<year>\d{4})\d{3}")
GANSU = "620000"
FIRST_LICENCE_YEAR = 1949  # 执业医师法 dates from 1999, but re-registered older licences exist


def codings(node: Any, path: str) -> Iterator[tuple[str, Json]]:
    """Yield (FHIRPath-like path, Coding) for every Coding-shaped object in ``node``."""
    if isinstance(node, dict):
        if isinstance(node.get("system"), str) and isinstance(node.get("code"), str):
            yield path, node
        for key, value in node.items():
            yield from codings(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from codings(item, f"{path}[{i}]")


def _outside_gansu_division(code: str) -> bool:
    """Counties outside Gansu may postdate the 2021 table: accept a well-formed code."""
    divisions = shipped_code_systems()[S.CS_ADMIN_DIVISION]
    return (bool(re.fullmatch(r"\d{6}", code)) and code[:2] != GANSU[:2]
            and divisions.get(code[:2] + "0000") is not None)


def check_code(system: str, code: str, *, current: bool = True) -> str | None:
    """Return why ``system#code`` is not acceptable, or None (unknown systems pass)."""
    cs = shipped_code_systems().get(system)
    if cs is None:
        return None
    concept = cs.get(code)
    if concept is None:
        if system == S.CS_ADMIN_DIVISION and _outside_gansu_division(code):
            return None
        return f"Unknown code '{code}' in {system}"
    if concept.abstract:
        return f"'{code}' ({concept.display}) is a grouping code in {system}; use a code below it"
    if current and concept.inactive():
        successor = concept.first("replacedBy")
        hint = f"; use {successor}" if successor else ""
        until = concept.first("validTo")
        return f"'{code}' ({concept.display}) in {system} was retired" \
               f"{f' after {until}' if until else ''}{hint}"
    return None


def code_issues(body: Json, rtype: str) -> list[Issue]:
    """Check every Coding of the platform's code systems in a resource."""
    return [(f"{where}.code", problem) for where, coding in codings(body, rtype)
            if (problem := check_code(coding["system"], coding["code"])) is not None]


def _in(body: Json, element: str, system: str) -> list[Json]:
    return [c for concept in body.get(element, []) if isinstance(concept, dict)
            for c in concept.get("coding", []) if c.get("system") == system]


def organization_issues(body: Json) -> list[Issue]:
    """Institution registry: one level and one type, hospitals graded, partOf, node id."""
    issues: list[Issue] = []
    levels = _in(body, "type", S.CS_INSTITUTION_LEVEL)
    kinds = _in(body, "type", S.CS_INSTITUTION_TYPE)
    for found, what in ((levels, "institution level"), (kinds, "institution type")):
        if len(found) > 1:
            issues.append(("Organization.type", f"An Organization has at most one {what}"))
    types = shipped_code_systems()[S.CS_INSTITUTION_TYPE]
    hospitals = set(types.descendants("hospital"))
    if any(k.get("code") in hospitals for k in kinds) and not levels:
        issues.append(("Organization.type", "A hospital needs an institution-level coding "
                       f"({S.CS_INSTITUTION_LEVEL}; U 未定级 when not graded)"))
    reference = (body.get("partOf") or {}).get("reference")
    if reference is not None:
        if not (reference.startswith("Organization/") or reference.startswith("urn:")
                or "/Organization/" in reference):
            issues.append(("Organization.partOf", "partOf must reference an Organization"))
        elif body.get("id") and reference == f"Organization/{body['id']}":
            issues.append(("Organization.partOf", "An Organization cannot be part of itself"))
    nodes = {"province", *platform_nodes()}
    for i, ident in enumerate(body.get("identifier", [])):
        if ident.get("system") == S.SID_PLATFORM_NODE and ident.get("value") not in nodes:
            issues.append((f"Organization.identifier[{i}].value",
                           f"A platform node is 'province' or a Gansu prefecture code, not "
                           f"'{ident.get('value')}'"))
    return issues


def platform_nodes() -> list[str]:
    """Return the current Gansu prefecture-level codes (the municipal platform nodes)."""
    divisions = shipped_code_systems()[S.CS_ADMIN_DIVISION]
    return [code for code in divisions.concepts[GANSU].children
            if not divisions.concepts[code].inactive()]


def healthcare_service_issues(body: Json) -> list[Issue]:
    """Department registry: a HealthcareService says what it is, ideally by department code.

    Services from other systems may code their type in a foreign code system (left alone); an
    uncoded service cannot be placed in the department registry at all.
    """
    coded = [c for key in ("type", "specialty") for concept in body.get(key) or []
             if isinstance(concept, dict) for c in concept.get("coding") or []]
    if coded:
        return []
    return [("HealthcareService.type",
             f"A department (HealthcareService) needs a type or specialty coded in "
             f"{S.CS_DEPARTMENT}")]


def licence_problem(value: str, today: date | None = None) -> str | None:
    """Return why a physician licence number is malformed, or None."""
    match = LICENCE.fullmatch(value or "")
    if match is None:
        return f"'{value}' is not a 15-digit physician licence number (level, category, " \
               "region, year, sequence)"
    year = int(match["year"])
    if not FIRST_LICENCE_YEAR <= year <= (today or date.today()).year:
        return f"The licence year {year} in '{value}' is out of range " \
               f"({FIRST_LICENCE_YEAR} to this year)"
    region = match["region"]
    if check_code(S.CS_ADMIN_DIVISION, region, current=False) is not None:
        return f"The region code {region} in licence '{value}' is not a GB/T 2260 code"
    return None


def practitioner_issues(body: Json) -> list[Issue]:
    """Practitioner registry: licence numbers are well formed."""
    found = [(f"Practitioner.identifier[{i}].value", ident) for i, ident in
             enumerate(body.get("identifier", []))]
    found += [(f"Practitioner.qualification[{q}].identifier[{i}].value", ident)
              for q, qual in enumerate(body.get("qualification", []))
              for i, ident in enumerate(qual.get("identifier", []))]
    return [(where, problem) for where, ident in found
            if ident.get("system") == S.SID_PHYSICIAN_LICENCE
            and (problem := licence_problem(str(ident.get("value", "")))) is not None]


def practitioner_role_issues(body: Json) -> list[Issue]:
    """PractitionerRole registry: a role belongs to an organization."""
    if (body.get("organization") or {}).get("reference"):
        return []
    return [("PractitionerRole.organization", "A PractitionerRole needs its organization")]


RULES: dict[str, Callable[[Json], list[Issue]]] = {
    "Organization": organization_issues,
    "HealthcareService": healthcare_service_issues,
    "Practitioner": practitioner_issues,
    "PractitionerRole": practitioner_role_issues,
}


def check_resource(body: Json) -> None:
    """Raise UnprocessableEntity listing every registry-rule violation of ``body``."""
    rtype = body.get("resourceType", "")
    issues = code_issues(body, rtype) + RULES[rtype](body) if rtype in RULES else []
    if issues:
        raise UnprocessableEntity(issues[0][1], issues=[
            OutcomeIssue("error", "code-invalid" if "code" in where.rsplit(".", 1)[-1]
                         else "business-rule", message, where) for where, message in issues])


def before_write(conn: Connection, body: Json, is_new: bool) -> None:
    """Write hook: apply the registry rules."""
    check_resource(body)


def register_rules(store: Any) -> None:
    """Install the registry rules as before-write hooks on the resource store."""
    for rtype in RULES:
        store.on_before_write(rtype, before_write)
