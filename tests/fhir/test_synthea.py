"""Ingest of the Synthea R4 transaction Bundles, then search results checked against the files.

Every expected number is computed straight from the JSON files with plain Python (no server code),
so a disagreement is a server defect or a test defect, never a shared one.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from fastapi.testclient import TestClient

from gansu_health.core.settings import Settings
from gansu_health.mpi.settings import EMPI_SYSTEM

pytestmark = pytest.mark.slow

SYNTHEA_ID = "https://github.com/synthetichealth/synthea"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
CVX = "http://hl7.org/fhir/sid/cvx"
SHARED = {"Organization", "Practitioner"}  # the non-compartment resources Synthea references
# Take every n-th file (1 = all 160); raise it only when a full ingest gets too slow.
EVERY = int(os.environ.get("GANSU_HEALTH_SYNTHEA_EVERY", "1"))
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- expected values, from the files ------------------------------------------------------------


@dataclass
class PatientFile:
    """One Synthea file: its patient and resources, references still as urn:uuid."""

    path: Path
    synthea_id: str
    patient_url: str
    patient: dict[str, Any]
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)  # fullUrl -> resource


def _load(paths: list[Path]) -> list[PatientFile]:
    files = []
    for path in paths:
        bundle = orjson.loads(path.read_bytes())
        assert bundle["type"] == "transaction"
        patients = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
        assert len(patients) == 1, path
        patient = patients[0]["resource"]
        sid = next(i["value"] for i in patient["identifier"] if i.get("system") == SYNTHEA_ID)
        pf = PatientFile(path, sid, patients[0]["fullUrl"], patient)
        pf.resources = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
        files.append(pf)
    return files


def _all(files: list[PatientFile], rtype: str) -> list[dict[str, Any]]:
    return [r for pf in files for r in pf.resources.values() if r["resourceType"] == rtype]


def _has_coding(concept: dict[str, Any] | None, system: str, code: str) -> bool:
    return any(c.get("system") == system and c.get("code") == code
               for c in (concept or {}).get("coding", []))


def _references(node: Any, skip_contained: bool = True) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                found.append(value)
            elif not (skip_contained and key == "contained"):
                found += _references(value, skip_contained)
    elif isinstance(node, list):
        for item in node:
            found += _references(item, skip_contained)
    return found


def _refers_to_patient(resource: dict[str, Any], patient_url: str) -> bool:
    """Synthea puts every clinical resource in the compartment through subject or patient."""
    return any((resource.get(k) or {}).get("reference") == patient_url
               for k in ("subject", "patient"))


def _fold(text: str) -> str:
    """FHIR string matching: case- and accent-insensitive."""
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c))
                    .casefold().split())


def _name_parts(name: dict[str, Any]) -> list[str]:
    parts = [name.get("family"), name.get("text")]
    parts += name.get("given", []) + name.get("prefix", []) + name.get("suffix", [])
    return [p for p in parts if p]


_DT = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
                 r"(Z|[+-]\d{2}:\d{2})?)?)?)?$")


def _instant_range(value: str, zone: tzinfo) -> tuple[datetime, datetime]:
    """The half-open [start, end) span a FHIR date/dateTime covers at its own precision."""
    m = _DT.match(value)
    assert m, value
    year, month, day, hour, minute, second, frac, offset = m.groups()
    tz: tzinfo = zone
    if offset == "Z":
        tz = UTC
    elif offset:
        sign = 1 if offset[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
    if month is None:
        start = datetime(int(year), 1, 1, tzinfo=tz)
        return start, start.replace(year=start.year + 1)
    if day is None:
        start = datetime(int(year), int(month), 1, tzinfo=tz)
        nxt = datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=tz)
        return start, nxt
    if hour is None:
        start = datetime(int(year), int(month), int(day), tzinfo=tz)
        return start, start + timedelta(days=1)
    start = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
                     tzinfo=tz)
    if second is None:
        return start, start + timedelta(minutes=1)
    if frac:
        digits = len(frac) - 1
        start += timedelta(microseconds=int((frac[1:] + "000000")[:6]))
        return start, start + timedelta(microseconds=10 ** max(6 - digits, 0))
    return start, start + timedelta(seconds=1)


def _period_overlaps(period: dict[str, Any], lo: datetime, hi: datetime, zone: tzinfo) -> bool:
    """FHIR ``date=geLO&date=ltHI`` on a Period: it overlaps [LO, +inf) and (-inf, HI)."""
    far_past = datetime(1, 1, 2, tzinfo=UTC)
    far_future = datetime(9999, 12, 30, tzinfo=UTC)
    start = _instant_range(period["start"], zone)[0] if period.get("start") else far_past
    end = _instant_range(period["end"], zone)[1] if period.get("end") else far_future
    # ge: some instant of [start, end) is >= lo; lt: some instant of [start, end) is < hi.
    return end > lo and start < hi


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthea(shared_data: Path) -> list[PatientFile]:
    """The Synthea files this module ingests (all of them unless EVERY says otherwise)."""
    paths = sorted((shared_data / "synthea-r4").glob("*.json"))
    if not paths:
        pytest.skip("no Synthea bundles under shared data")
    return _load(paths[::EVERY])


@pytest.fixture(scope="module")
def ingested(client: TestClient, synthea: list[PatientFile]) -> dict[str, str]:
    """POST every file as a transaction; return synthea patient id -> server Patient id."""
    server_ids: dict[str, str] = {}
    for pf in synthea:
        resp = client.post("/fhir", content=pf.path.read_bytes(),
                           headers={"content-type": "application/fhir+json"})
        assert resp.status_code == 200, f"{pf.path.name}: {resp.text[:1000]}"
        reply = resp.json()
        assert reply["resourceType"] == "Bundle"
        assert reply["type"] == "transaction-response"
        entries = reply["entry"]
        assert len(entries) == len(pf.resources), pf.path.name
        statuses = Counter(e["response"]["status"].split()[0] for e in entries)
        assert statuses == {"201": len(pf.resources)}, (pf.path.name, statuses)
        # Response entries follow request order; the patient is the file's first entry.
        for url, entry in zip(pf.resources, entries, strict=True):
            rtype, fid = entry["response"]["location"].split("/")[:2]
            assert rtype == pf.resources[url]["resourceType"]
            if url == pf.patient_url:
                server_ids[pf.synthea_id] = fid
    return server_ids


def _get(client: TestClient, path: str, **params: str | list[str]) -> dict[str, Any]:
    url = path if path.startswith("http") else f"/fhir/{path}"
    # An empty params mapping would make httpx drop the query of a next link.
    resp = client.get(url, params=params) if params else client.get(url)
    assert resp.status_code == 200, resp.text[:1000]
    return resp.json()  # type: ignore[no-any-return]


def _total(client: TestClient, path: str, **params: str | list[str]) -> int:
    """Count matches with _summary=count, cross-checked with _total=accurate."""
    counted = _get(client, path, _summary="count", **params)
    assert "entry" not in counted or all(e["search"]["mode"] == "outcome"
                                         for e in counted["entry"])
    accurate = _get(client, path, _total="accurate", _count="1", **params)
    assert accurate["total"] == counted["total"], (path, params)
    return int(counted["total"])


def _pages(client: TestClient, path: str, **params: str | list[str]) -> list[dict[str, Any]]:
    """Every entry of a search, following next links."""
    entries: list[dict[str, Any]] = []
    bundle = _get(client, path, **params)
    for _ in range(10_000):
        entries += bundle.get("entry", [])
        nxt = [link["url"] for link in bundle.get("link", []) if link["relation"] == "next"]
        if not nxt:
            return entries
        bundle = _get(client, nxt[0])
    raise AssertionError("paging did not end")


def _server_patient(client: TestClient, pf: PatientFile) -> str:
    found = _get(client, "Patient", identifier=f"{SYNTHEA_ID}|{pf.synthea_id}")
    ids = [e["resource"]["id"] for e in found.get("entry", []) if e["search"]["mode"] == "match"]
    assert len(ids) == 1, (pf.synthea_id, ids)
    return str(ids[0])


def _sample(synthea: list[PatientFile]) -> list[PatientFile]:
    """A few patients: the largest, the smallest and one in the middle."""
    by_size = sorted(synthea, key=lambda pf: len(pf.resources))
    return [by_size[-1], by_size[0], by_size[len(by_size) // 2]]


# --- tests --------------------------------------------------------------------------------------


def test_ingest_maps_every_patient(ingested: dict[str, str], synthea: list[PatientFile],
                                   client: TestClient) -> None:
    assert len(ingested) == len(synthea)
    assert len(set(ingested.values())) == len(synthea)
    pf = _sample(synthea)[0]
    stored = _get(client, f"Patient/{ingested[pf.synthea_id]}")
    assert stored["name"] == pf.patient["name"]
    assert [i for i in stored["identifier"] if i["system"] != EMPI_SYSTEM] == pf.patient[
        "identifier"]


def test_totals_per_resource_type(ingested: dict[str, str], synthea: list[PatientFile],
                                  client: TestClient) -> None:
    expected = Counter(r["resourceType"] for pf in synthea for r in pf.resources.values())
    got = {rtype: _total(client, rtype) for rtype in expected}
    assert got == dict(expected)
    assert sum(got.values()) == sum(len(pf.resources) for pf in synthea)
    if EVERY == 1:
        assert sum(got.values()) == 49_901


def test_references_were_rewritten(ingested: dict[str, str], client: TestClient) -> None:
    page = _get(client, "Encounter", _count="50")
    for entry in page["entry"]:
        refs = _references(entry["resource"], skip_contained=False)
        assert refs
        assert not [r for r in refs if r.startswith("urn:uuid:")], refs
        for ref in refs:
            if not ref.startswith("#"):
                assert re.fullmatch(r"[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}", ref), ref


@pytest.mark.parametrize(("path", "param", "system", "code", "element"), [
    ("Observation", "code", LOINC, "8302-2", "code"),  # body height
    ("Observation", "code", LOINC, "29463-7", "code"),  # body weight
    ("Observation", "code", LOINC, "72166-2", "code"),  # tobacco smoking status
    ("Condition", "code", SNOMED, "444814009", "code"),  # viral sinusitis
    ("Condition", "code", SNOMED, "38341003", "code"),  # hypertension
    ("Immunization", "vaccine-code", CVX, "140", "vaccineCode"),  # influenza
    ("Immunization", "vaccine-code", CVX, "113", "vaccineCode"),  # Td
    ("Encounter", "type", SNOMED, "185349003", "type"),  # check-up
])
def test_token_search_counts(ingested: dict[str, str], synthea: list[PatientFile],
                             client: TestClient, path: str, param: str, system: str, code: str,
                             element: str) -> None:
    def matches(resource: dict[str, Any]) -> bool:
        value = resource.get(element)
        concepts = value if isinstance(value, list) else [value]
        return any(_has_coding(c, system, code) for c in concepts)

    expected = sum(matches(r) for r in _all(synthea, path))
    assert expected > 0
    assert _total(client, path, **{param: f"{system}|{code}"}) == expected
    assert _total(client, path, **{param: code}) == expected
    assert _total(client, path, **{param: f"{system}|"}) == sum(
        any(c.get("system") == system
            for v in (r.get(element) if isinstance(r.get(element), list) else [r.get(element)])
            for c in (v or {}).get("coding", []))
        for r in _all(synthea, path))


def test_token_not_and_status(ingested: dict[str, str], synthea: list[PatientFile],
                              client: TestClient) -> None:
    conditions = _all(synthea, "Condition")
    sinusitis = sum(_has_coding(c["code"], SNOMED, "444814009") for c in conditions)
    assert _total(client, "Condition", **{"code:not": f"{SNOMED}|444814009"}) == \
        len(conditions) - sinusitis
    finished = sum(e["status"] == "finished" for e in _all(synthea, "Encounter"))
    assert _total(client, "Encounter", status="finished") == finished


def test_encounter_date_range(ingested: dict[str, str], synthea: list[PatientFile],
                              client: TestClient, settings: Settings) -> None:
    zone = ZoneInfo(settings.timezone)
    lo, hi = datetime(2015, 1, 1, tzinfo=zone), datetime(2016, 1, 1, tzinfo=zone)
    encounters = _all(synthea, "Encounter")
    expected = sum(_period_overlaps(e["period"], lo, hi, zone) for e in encounters)
    assert 0 < expected < len(encounters)
    assert _total(client, "Encounter", date=["ge2015-01-01", "lt2016-01-01"]) == expected
    # With explicit UTC bounds the answer follows the offsets, not the server zone.
    ulo, uhi = datetime(2015, 1, 1, tzinfo=UTC), datetime(2016, 1, 1, tzinfo=UTC)
    expected_utc = sum(_period_overlaps(e["period"], ulo, uhi, UTC) for e in encounters)
    assert _total(client, "Encounter", date=["ge2015-01-01T00:00:00Z",
                                             "lt2016-01-01T00:00:00Z"]) == expected_utc


def test_observation_date_eq_day(ingested: dict[str, str], synthea: list[PatientFile],
                                 client: TestClient, settings: Settings) -> None:
    zone = ZoneInfo(settings.timezone)
    observations = _all(synthea, "Observation")
    day = Counter(o["effectiveDateTime"][:10] for o in observations).most_common(1)[0][0]
    lo = datetime.fromisoformat(day).replace(tzinfo=zone)
    hi = lo + timedelta(days=1)

    def within(o: dict[str, Any]) -> bool:
        start, end = _instant_range(o["effectiveDateTime"], zone)
        return start >= lo and end <= hi  # eq: the target range lies inside the day

    expected = sum(within(o) for o in observations)
    assert expected > 0
    assert _total(client, "Observation", date=day) == expected


def test_reference_search_per_patient(ingested: dict[str, str], synthea: list[PatientFile],
                                      client: TestClient) -> None:
    for pf in _sample(synthea):
        pid = _server_patient(client, pf)
        assert pid == ingested[pf.synthea_id]
        mine = [r for r in pf.resources.values() if r["resourceType"] == "Observation"
                and r["subject"]["reference"] == pf.patient_url]
        assert _total(client, "Observation", patient=f"Patient/{pid}") == len(mine)
        assert _total(client, "Observation", subject=f"Patient/{pid}") == len(mine)
        assert _total(client, "Observation", subject=pid) == len(mine)
        encounters = [r for r in pf.resources.values() if r["resourceType"] == "Encounter"]
        assert _total(client, "Encounter", patient=pid) == len(encounters)
        claims = [r for r in pf.resources.values() if r["resourceType"] == "Claim"]
        assert _total(client, "Claim", patient=f"Patient/{pid}") == len(claims)
        entries = _pages(client, "Observation", patient=f"Patient/{pid}", _count="100")
        got = sorted(e["resource"]["id"] for e in entries)
        assert len(got) == len(set(got)) == len(mine)


def test_chained_search_on_family(ingested: dict[str, str], synthea: list[PatientFile],
                                  client: TestClient) -> None:
    for pf in _sample(synthea)[:2]:
        family = pf.patient["name"][0]["family"]
        patients = {p.patient_url for p in synthea
                    if any(_fold(n.get("family", "")).startswith(_fold(family))
                           for n in p.patient["name"])}
        expected = sum(o["subject"]["reference"] in patients
                       for o in _all(synthea, "Observation"))
        assert expected > 0
        assert _total(client, "Observation", **{"subject:Patient.family": family}) == expected
        assert _total(client, "Observation", **{"patient.family": family}) == expected


def test_has_condition(ingested: dict[str, str], synthea: list[PatientFile],
                       client: TestClient) -> None:
    for code in ("38341003", "444814009", "15777000"):
        expected = sum(any(r["resourceType"] == "Condition" and _has_coding(r["code"], SNOMED,
                                                                            code)
                           for r in pf.resources.values()) for pf in synthea)
        assert expected > 0
        assert _total(client, "Patient", **{"_has:Condition:patient:code": code}) == expected
        got = {e["resource"]["id"] for e in _pages(
            client, "Patient", **{"_has:Condition:patient:code": f"{SNOMED}|{code}"},
            _count="50")}
        assert len(got) == expected


def test_include_and_revinclude(ingested: dict[str, str], synthea: list[PatientFile],
                                client: TestClient) -> None:
    code = "38341003"  # hypertension: fewer conditions than one page
    conditions = [(pf, r) for pf in synthea for r in pf.resources.values()
                  if r["resourceType"] == "Condition" and _has_coding(r["code"], SNOMED, code)]
    bundle = _get(client, "Condition", code=f"{SNOMED}|{code}",
                  _include="Condition:patient", _count="1000")
    modes = Counter(e["search"]["mode"] for e in bundle["entry"])
    assert modes["match"] == len(conditions)
    assert modes["include"] == len({pf.synthea_id for pf, _ in conditions})
    assert {e["resource"]["resourceType"] for e in bundle["entry"]
            if e["search"]["mode"] == "include"} == {"Patient"}

    for pf in _sample(synthea):
        pid = ingested[pf.synthea_id]
        encounters = [r for r in pf.resources.values() if r["resourceType"] == "Encounter"]
        rev = _get(client, "Patient", _id=pid, _revinclude="Encounter:patient")
        kinds = Counter((e["search"]["mode"], e["resource"]["resourceType"])
                        for e in rev["entry"])
        assert kinds == {("match", "Patient"): 1, ("include", "Encounter"): len(encounters)}
        # Encounter?_include=Encounter:service-provider names the page's organizations.
        orgs = {r["serviceProvider"]["reference"] for r in encounters if "serviceProvider" in r}
        inc = _get(client, "Encounter", patient=pid, _include="Encounter:service-provider",
                   _count="1000")
        included = [e for e in inc["entry"] if e["search"]["mode"] == "include"]
        assert len(included) == len(orgs)
        assert {e["resource"]["resourceType"] for e in included} <= {"Organization"}


def test_string_search_on_patient_name(ingested: dict[str, str], synthea: list[PatientFile],
                                       client: TestClient) -> None:
    sample = _sample(synthea)
    for pf in sample:
        family = pf.patient["name"][0]["family"]
        for probe in (family, family[:3], family[:3].upper()):
            expected = sum(any(_fold(part).startswith(_fold(probe))
                               for n in p.patient["name"] for part in _name_parts(n))
                           for p in synthea)
            assert _total(client, "Patient", name=probe) == expected, probe
            by_family = sum(any(_fold(n.get("family", "")).startswith(_fold(probe))
                                for n in p.patient["name"]) for p in synthea)
            assert _total(client, "Patient", family=probe) == by_family, probe
        exact = sum(any(n.get("family") == family for n in p.patient["name"]) for p in synthea)
        assert _total(client, "Patient", **{"family:exact": family}) == exact
        assert _total(client, "Patient", **{"family:exact": family.lower()}) == sum(
            any(n.get("family") == family.lower() for n in p.patient["name"]) for p in synthea)
        given = pf.patient["name"][0]["given"][0]
        both = sum(any(_fold(n.get("family", "")).startswith(_fold(family))
                       for n in p.patient["name"])
                   and any(_fold(g).startswith(_fold(given))
                           for n in p.patient["name"] for g in n.get("given", []))
                   for p in synthea)
        assert _total(client, "Patient", family=family, given=given) == both


def _everything_expected(pf: PatientFile) -> Counter[str]:
    """Patient + its compartment + the shared resources those reference (by type)."""
    members = [r for r in pf.resources.values() if _refers_to_patient(r, pf.patient_url)]
    referenced = {ref for r in members for ref in _references(r)}
    shared = [r for url, r in pf.resources.items()
              if r["resourceType"] in SHARED and url in referenced]
    return Counter(r["resourceType"] for r in [pf.patient, *members, *shared])


def test_patient_everything_pages(ingested: dict[str, str], synthea: list[PatientFile],
                                  client: TestClient) -> None:
    for pf in _sample(synthea):
        pid = ingested[pf.synthea_id]
        expected = _everything_expected(pf)
        assert sum(expected.values()) == len(pf.resources)  # Synthea files are one record each
        expected["Person"] += 1  # the master Person of the MPI: in the compartment (Person.patient)
        entries = _pages(client, f"Patient/{pid}/$everything", _count="50")
        keys = [(e["resource"]["resourceType"], e["resource"]["id"]) for e in entries]
        assert Counter(t for t, _ in set(keys)) == expected
        repeated = {k: n for k, n in Counter(keys).items() if n > 1}
        assert not repeated, f"resources repeated across $everything pages: {repeated}"
        assert len(keys) == sum(expected.values())
        assert all(e["fullUrl"].endswith(f"/{t}/{i}") for e, (t, i) in zip(entries, keys,
                                                                           strict=True))
        assert keys.count(("Patient", pid)) == 1
        # One page big enough for everything reports the total.
        single = _get(client, f"Patient/{pid}/$everything", _count="1000")
        assert single["total"] == sum(expected.values())  # every page reports the whole record
        if sum(expected.values()) <= 1000 - 10:  # fits on one page of the 1,000 maximum
            assert len(single["entry"]) == sum(expected.values())
