"""Check the resident identity numbers on a Patient body: 15→18 upgrade, check, policy flag."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from gansu_health.core.errors import BadRequest, OutcomeIssue
from gansu_health.demo.regions import is_gansu_region
from gansu_health.mpi.resident_id import (
    RESIDENT_ID_SYSTEM,
    ResidentIdError,
    parse_resident_id,
    upgrade_15_to_18,
)

MPI_TAG_SYSTEM = "https://gansu-health.cn/fhir/CodeSystem/mpi"
UNVERIFIED = "unverified-identity"
UNVERIFIED_TAG = {"system": MPI_TAG_SYSTEM, "code": UNVERIFIED,
                  "display": "Resident identity number failed the GB 11643 checks"}

# GB/T 2260 province-level codes, plus 71 Taiwan, 81/82 Hong Kong/Macao, 83 Taiwan residents
PROVINCES = frozenset((
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
    "65", "71", "81", "82", "83"))


def region_known(code: str) -> bool:
    """Tell whether an address code is plausible: a known province, and for Gansu a known code."""
    if code[:2] not in PROVINCES or code[2:] == "0000":
        return False
    return code[:2] != "62" or is_gansu_region(code)


@dataclass(frozen=True, slots=True)
class IdentityCheck:
    """The outcome of checking a body: its verified resident id and the problems found."""

    resident_id: str | None
    problems: tuple[OutcomeIssue, ...]

    @property
    def verified(self) -> bool:
        """Tell whether every resident id on the body passed the checks."""
        return not self.problems


def _check_one(ident: dict[str, Any], today: date) -> tuple[str, str | None]:
    """Return (normalised number, the 15-digit original when upgraded); raise on bad input."""
    raw = str(ident.get("value") or "").strip().upper()
    old = None
    if len(raw) == 15 and raw.isdigit():
        old, raw = raw, upgrade_15_to_18(raw, today=today)
    parsed = parse_resident_id(raw, regions=region_known, today=today)
    return parsed.number, old


def check_identity(body: dict[str, Any], *, reject: bool, today: date | None = None
                   ) -> IdentityCheck:
    """Validate (and normalise in place) every resident id; raise 400 or flag the body."""
    today = today or date.today()
    identifiers = body.get("identifier")
    problems: list[OutcomeIssue] = []
    upgraded: list[dict[str, Any]] = []
    found: str | None = None
    for i, ident in enumerate(identifiers if isinstance(identifiers, list) else []):
        if not isinstance(ident, dict) or ident.get("system") != RESIDENT_ID_SYSTEM or \
                ident.get("use") == "old":
            continue
        try:
            number, old = _check_one(ident, today)
        except ResidentIdError as exc:
            problems.append(OutcomeIssue(
                "error", "value", f"Invalid resident identity number ({exc.field}): "
                f"{exc.message}", f"Patient.identifier[{i}].value"))
            continue
        ident["value"] = number
        found = found or number
        if old is not None:
            upgraded.append({"use": "old", "system": RESIDENT_ID_SYSTEM, "value": old})
    if upgraded:
        known = {(i.get("use"), i.get("value")) for i in body["identifier"]}
        body["identifier"].extend(u for u in upgraded if ("old", u["value"]) not in known)
    if problems and reject:
        raise BadRequest(problems[0].diagnostics, issues=problems)
    _set_flag(body, bool(problems))
    return IdentityCheck(found, tuple(problems))


def _set_flag(body: dict[str, Any], unverified: bool) -> None:
    meta = body.get("meta") if isinstance(body.get("meta"), dict) else None
    tags = [t for t in (meta or {}).get("tag", []) if not (
        isinstance(t, dict) and t.get("system") == MPI_TAG_SYSTEM and t.get("code") == UNVERIFIED)]
    if unverified:
        tags.append(dict(UNVERIFIED_TAG))
    if tags or meta is not None:
        meta = meta if meta is not None else {}
        if tags:
            meta["tag"] = tags
        else:
            meta.pop("tag", None)
        body["meta"] = meta
