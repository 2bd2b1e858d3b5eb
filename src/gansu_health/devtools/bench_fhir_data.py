"""Pure helpers of the FHIR benchmark: data discovery, Bundle replication, sampling, percentiles."""

from __future__ import annotations

import math
import os
import random
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

REPO_ROOT = Path(__file__).resolve().parents[3]
UUID_RE = re.compile(rb"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
REPLICA_NS = uuid.UUID("5b1f2f8e-4c1a-4d6e-9a53-6a0e7c9b2d11")
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"


def shared_data_dir() -> Path:
    """Return the shared data folder (GANSU_HEALTH_SHARED_DATA, else <repo>/../shared/data)."""
    env = os.environ.get("GANSU_HEALTH_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def synthea_files(limit: int | None = None) -> list[Path]:
    """Return the Synthea R4 transaction Bundle files, sorted, at most ``limit``."""
    folder = shared_data_dir() / "synthea-r4"
    if not folder.is_dir():
        raise FileNotFoundError(f"Synthea data not found at {folder} "
                                "(set GANSU_HEALTH_SHARED_DATA)")
    files = sorted(folder.glob("*.json"))
    return files[:limit] if limit else files


def replica_uuid(old: str, copy: int) -> str:
    """Return the deterministic new UUID of ``old`` in replica ``copy`` (copy 0 keeps it)."""
    if copy == 0:
        return old
    return str(uuid.uuid5(REPLICA_NS, f"{copy}:{old.lower()}"))


def _distinct_identifiers(resource: dict[str, Any], copy: int) -> None:
    for ident in resource.get("identifier") or []:
        value = ident.get("value") if isinstance(ident, dict) else None
        if isinstance(value, str) and not UUID_TEXT.fullmatch(value):
            ident["value"] = f"{value}-r{copy}"


def replicate_bundle(raw: bytes, copy: int) -> bytes:
    """Return a copy of a Bundle with every UUID (fullUrl, reference, id) and identifier renewed.

    UUIDs are mapped consistently within the copy (the same old UUID gives the same new one),
    so urn:uuid references keep pointing at their entries; identifiers that are not UUIDs
    get a ``-r<copy>`` suffix so that replicas do not collide on business identifiers.
    """
    if copy == 0:
        return raw
    cache: dict[bytes, bytes] = {}

    def swap(match: re.Match[bytes]) -> bytes:
        old = match.group(0)
        new = cache.get(old)
        if new is None:
            new = cache[old] = replica_uuid(old.decode(), copy).encode()
        return new

    bundle = orjson.loads(UUID_RE.sub(swap, raw))
    if bundle.get("id"):
        bundle["id"] = f"{bundle['id']}-r{copy}"
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource")
        if isinstance(resource, dict):
            _distinct_identifiers(resource, copy)
    return orjson.dumps(bundle)


@dataclass
class BundleFacts:
    """What the query mix samples from one Bundle (same facts in every replica)."""

    entries: int
    patient_index: int | None = None
    family: str | None = None
    observation_codes: list[str] = field(default_factory=list)
    condition_codes: list[str] = field(default_factory=list)
    encounter_dates: list[str] = field(default_factory=list)


def _codes(concept: Any, system: str) -> list[str]:
    if not isinstance(concept, dict):
        return []
    return [c["code"] for c in concept.get("coding") or []
            if isinstance(c, dict) and c.get("system") == system and c.get("code")]


def bundle_facts(bundle: dict[str, Any]) -> BundleFacts:
    """Extract the patient entry, family name, codes and encounter dates of a Bundle."""
    entries = bundle.get("entry") or []
    facts = BundleFacts(len(entries))
    for i, entry in enumerate(entries):
        res = entry.get("resource") or {}
        rtype = res.get("resourceType")
        if rtype == "Patient" and facts.patient_index is None:
            facts.patient_index = i
            names = res.get("name") or [{}]
            facts.family = names[0].get("family")
        elif rtype == "Observation":
            facts.observation_codes += _codes(res.get("code"), LOINC)
        elif rtype == "Condition":
            facts.condition_codes += _codes(res.get("code"), SNOMED)
        elif rtype == "Encounter":
            start = (res.get("period") or {}).get("start")
            if isinstance(start, str) and len(start) >= 10:
                facts.encounter_dates.append(start[:10])
    return facts


@dataclass(frozen=True)
class QueryKind:
    """One query type of the mix: a name and a template filled from sampled parameters."""

    name: str
    description: str
    build: Callable[[dict[str, str]], str]


def _date_window(day: str, days: int = 30) -> tuple[str, str]:
    start = date.fromisoformat(day)
    return start.isoformat(), (start + timedelta(days=days)).isoformat()


QUERY_KINDS: tuple[QueryKind, ...] = (
    QueryKind("token", "Observation?code=<loinc>",
              lambda p: f"Observation?code={LOINC}|{p['obs_code']}"),
    QueryKind("date range", "Encounter?date=ge<d>&date=lt<d+30>",
              lambda p: f"Encounter?date=ge{p['d0']}&date=lt{p['d1']}"),
    QueryKind("reference", "Observation?subject=Patient/<id>",
              lambda p: f"Observation?subject=Patient/{p['pid']}"),
    QueryKind("chain", "Observation?patient.family=<family>&code=<loinc>",
              lambda p: f"Observation?patient.family={p['family']}&code={LOINC}|{p['own_code']}"),
    QueryKind("_include", "Encounter?patient=<id>&_include=Encounter:practitioner"
                          "&_include=Encounter:service-provider",
              lambda p: f"Encounter?patient={p['pid']}&_include=Encounter:practitioner"
                        "&_include=Encounter:service-provider"),
    QueryKind("_revinclude", "Patient?_id=<id>&_revinclude=Encounter:patient",
              lambda p: f"Patient?_id={p['pid']}&_revinclude=Encounter:patient"),
    QueryKind("string", "Patient?name=<family>", lambda p: f"Patient?name={p['family']}"),
    QueryKind("_has", "Patient?_has:Condition:patient:code=<snomed>",
              lambda p: f"Patient?_has:Condition:patient:code={SNOMED}|{p['cond_code']}"),
)


@dataclass(frozen=True)
class Sample:
    """One abstract parameter set: the patient is (replica, bundle index), resolved per server."""

    patient: tuple[int, int]
    values: dict[str, str]


def sample_params(facts: Sequence[BundleFacts], copies: int, n: int, seed: int) -> list[Sample]:
    """Draw ``n`` parameter sets deterministically from the loaded data (``copies`` replicas)."""
    rng = random.Random(seed)
    with_patient = [i for i, f in enumerate(facts) if f.patient_index is not None and f.family]
    if not with_patient:
        raise ValueError("no Bundle holds a Patient with a family name")
    obs = [c for f in facts for c in f.observation_codes]
    conds = [c for f in facts for c in f.condition_codes]
    days = sorted({d for f in facts for d in f.encounter_dates})
    out: list[Sample] = []
    for _ in range(n):
        b = rng.choice(with_patient)
        own = facts[b].observation_codes
        d0, d1 = _date_window(rng.choice(days)) if days else ("2000-01-01", "2000-01-31")
        out.append(Sample((rng.randrange(copies), b), {
            "obs_code": rng.choice(obs) if obs else "8302-2",
            "own_code": rng.choice(own) if own else "8302-2",
            "cond_code": rng.choice(conds) if conds else "44054006",
            "family": str(facts[b].family),
            "d0": d0, "d1": d1,
        }))
    return out


def percentile(values: Sequence[float], q: float) -> float:
    """Return the q-th percentile (0-100) with linear interpolation between ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def ratio(num: float | None, den: float | None) -> float | None:
    """Return num/den, or None when either is missing or den is zero."""
    if num is None or den is None or den == 0 or math.isnan(num) or math.isnan(den):
        return None
    return num / den
