"""Golden records: FHIR Person resources with the enterprise id and survivorship demographics."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gansu_health.mpi.settings import EMPI_SYSTEM

GOLDEN_TYPE = "Person"
# the tag system and codes HAPI FHIR MDM uses, so that MDM-aware tools recognise them
RECORD_STATUS_SYSTEM = "http://hapifhir.io/fhir/NamingSystem/mdm-record-status"
GOLDEN_RECORD = "GOLDEN_RECORD"
REDIRECTED = "REDIRECTED"
GOLDEN_TAG = {"system": RECORD_STATUS_SYSTEM, "code": GOLDEN_RECORD, "display": "Golden Record"}
REDIRECTED_TAG = {"system": RECORD_STATUS_SYSTEM, "code": REDIRECTED,
                  "display": "Merged into another golden record"}
# the Patient elements a Person can carry (telecom is merged separately)
DEMOGRAPHICS = ("name", "gender", "birthDate", "address")
# Person.link.assurance: an automatic certain match, and a data steward's decision
AUTO_ASSURANCE, MANUAL_ASSURANCE = "level3", "level4"


@dataclass(frozen=True, slots=True)
class SourceView:
    """A source Patient as survivorship sees it, with how it is linked to its golden record."""

    fid: str
    body: dict[str, Any]
    verified: bool
    updated_us: int
    manual: bool = False


def new_empi_id() -> str:
    """Return a fresh enterprise id (GS + 16 upper-case hex digits)."""
    return "GS" + uuid.uuid4().hex[:16].upper()


def golden_ref(golden_id: str) -> str:
    """Return the reference of a golden record."""
    return f"{GOLDEN_TYPE}/{golden_id}"


def has_tag(body: dict[str, Any], code: str) -> bool:
    """Tell whether a body carries an MDM record-status tag."""
    tags = (body.get("meta") or {}).get("tag") or []
    return any(isinstance(t, dict) and t.get("system") == RECORD_STATUS_SYSTEM and
               t.get("code") == code for t in tags)


def is_golden(body: dict[str, Any]) -> bool:
    """Tell whether a body claims to be a golden record."""
    return has_tag(body, GOLDEN_RECORD)


def empi_identifier(empi_id: str, use: str = "official") -> dict[str, Any]:
    """Return the enterprise identifier element."""
    return {"use": use, "type": {"text": "Enterprise master patient index"},
            "system": EMPI_SYSTEM, "value": empi_id}


def set_empi(body: dict[str, Any], empi_id: str) -> None:
    """Replace any enterprise identifier on a source body by ``empi_id``."""
    others = [i for i in body.get("identifier") or []
              if not (isinstance(i, dict) and i.get("system") == EMPI_SYSTEM)]
    body["identifier"] = [*others, {"use": "secondary", "system": EMPI_SYSTEM, "value": empi_id}]


def _best_first(sources: Sequence[SourceView]) -> list[SourceView]:
    """Verified identities first, then the most recently updated."""
    return sorted(sources, key=lambda s: (s.verified, s.updated_us), reverse=True)


def build_golden(golden_id: str, empi_id: str, sources: Sequence[SourceView], *,
                 old_empi_ids: Sequence[str] = (), replaces: Sequence[str] = ()
                 ) -> dict[str, Any]:
    """Build a golden Person: each demographic from the best source that has it."""
    ranked = _best_first(sources)
    body: dict[str, Any] = {
        "resourceType": GOLDEN_TYPE, "id": golden_id, "meta": {"tag": [dict(GOLDEN_TAG)]},
        "identifier": [empi_identifier(empi_id),
                       *(empi_identifier(old, "old") for old in old_empi_ids)]}
    for element in DEMOGRAPHICS:
        value = next((s.body[element] for s in ranked if s.body.get(element) not in (None, [])),
                     None)
        if value is not None:
            body[element] = copy.deepcopy(value)
    telecom: list[dict[str, Any]] = []
    seen: set[tuple[Any, Any]] = set()
    for s in ranked:
        for point in s.body.get("telecom") or []:
            key = (point.get("system"), point.get("value"))
            if isinstance(point, dict) and key not in seen:
                seen.add(key)
                telecom.append(copy.deepcopy(point))
    if telecom:
        body["telecom"] = telecom
    body["active"] = bool(sources)
    links = [{"target": {"reference": f"Patient/{s.fid}"},
              "assurance": MANUAL_ASSURANCE if s.manual else AUTO_ASSURANCE}
             for s in sorted(sources, key=lambda s: s.fid)]
    links += [{"target": {"reference": golden_ref(fid)}, "assurance": MANUAL_ASSURANCE}
              for fid in replaces]
    if links:
        body["link"] = links
    return body


def redirected(body: dict[str, Any], to_id: str) -> dict[str, Any]:
    """Return a merged-away golden Person: inactive, tagged REDIRECTED, linked to ``to_id``."""
    out = {k: copy.deepcopy(v) for k, v in body.items() if k not in ("meta", "link")}
    out["meta"] = {"tag": [dict(GOLDEN_TAG), dict(REDIRECTED_TAG)]}
    out["active"] = False
    out["link"] = [{"target": {"reference": golden_ref(to_id)}, "assurance": MANUAL_ASSURANCE}]
    return out


def same_content(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Compare two bodies ignoring versionId and lastUpdated."""
    def strip(body: dict[str, Any]) -> dict[str, Any]:
        meta = {k: v for k, v in (body.get("meta") or {}).items()
                if k not in ("versionId", "lastUpdated")}
        return {**body, "meta": meta}
    return strip(a) == strip(b)
