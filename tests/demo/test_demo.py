"""Tests for the synthetic demo province."""

from __future__ import annotations

import importlib
import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from gansu_health.demo import generate_demo, iter_resources, summary
from gansu_health.demo.bundle import full_url
from gansu_health.demo.codes import (
    CS_INSTITUTION_LEVEL,
    CS_INSTITUTION_TYPE,
    SID_BIRTH_CERTIFICATE,
    SID_PLATFORM_NODE,
)
from gansu_health.demo.generator import DEFAULT_AS_OF
from gansu_health.demo.names import NameGenerator, PersonName, pinyin_of
from gansu_health.demo.regions import is_gansu_region, municipal_regions
from gansu_health.mpi.resident_id import RESIDENT_ID_SYSTEM, parse_resident_id

Json = dict[str, Any]
ID_PATTERN = re.compile(r"[A-Za-z0-9\-.]{1,64}")
DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T")
CITIES = [
    "兰州",
    "嘉峪关",
    "金昌",
    "白银",
    "天水",
    "武威",
    "张掖",
    "平凉",
    "酒泉",
    "庆阳",
    "定西",
    "陇南",
]


@pytest.fixture(scope="module")
def bundles() -> list[Json]:
    return generate_demo()


@pytest.fixture(scope="module")
def resources(bundles: list[Json]) -> list[Json]:
    return list(iter_resources(bundles))


def _of_type(resources: list[Json], resource_type: str) -> list[Json]:
    return [r for r in resources if r["resourceType"] == resource_type]


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield item
            else:
                yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def _strings(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for k, item in value.items():
            yield from _strings(item, k)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, key)
    elif isinstance(value, str):
        yield key, value


def _age(birth_date: str) -> int:
    born = date.fromisoformat(birth_date)
    before = (DEFAULT_AS_OF.month, DEFAULT_AS_OF.day) < (born.month, born.day)
    return DEFAULT_AS_OF.year - born.year - int(before)


def _codes(resource: Json, system: str) -> set[str]:
    return {
        c["code"] for t in resource.get("type", []) for c in t["coding"] if c["system"] == system
    }


def test_same_seed_gives_identical_output() -> None:
    first = json.dumps(generate_demo(7, 40), ensure_ascii=False, sort_keys=True)
    second = json.dumps(generate_demo(7, 40), ensure_ascii=False, sort_keys=True)
    assert first == second
    assert first != json.dumps(generate_demo(8, 40), ensure_ascii=False, sort_keys=True)


def test_population_size_is_a_parameter() -> None:
    for size in (0, 1, 37):
        assert summary(generate_demo(3, size)).get("Patient", 0) == size


def test_summary_counts_every_entry(bundles: list[Json]) -> None:
    counts = summary(bundles)
    assert sum(counts.values()) == sum(len(b["entry"]) for b in bundles)
    assert counts["Patient"] == 200
    for resource_type in (
        "Organization",
        "Location",
        "HealthcareService",
        "Practitioner",
        "PractitionerRole",
        "Encounter",
        "Condition",
        "Observation",
        "Immunization",
        "MedicationRequest",
    ):
        assert counts[resource_type] > 0, resource_type
    assert sum(counts.values()) < 10_000


def test_bundle_and_entry_structure(bundles: list[Json]) -> None:
    seen: set[str] = set()
    full_urls: set[str] = set()
    for bundle in bundles:
        assert bundle["resourceType"] == "Bundle"
        assert bundle["type"] == "transaction"
        assert bundle["entry"]
        for entry in bundle["entry"]:
            resource = entry["resource"]
            assert isinstance(resource["resourceType"], str)
            assert ID_PATTERN.fullmatch(resource["id"])
            key = f"{resource['resourceType']}/{resource['id']}"
            assert entry["request"] == {"method": "PUT", "url": key}
            assert entry["fullUrl"].startswith("urn:uuid:")
            assert key not in seen, f"{key} appears twice, so reseeding would not be idempotent"
            assert entry["fullUrl"] not in full_urls
            seen.add(key)
            full_urls.add(entry["fullUrl"])


def test_references_resolve(bundles: list[Json]) -> None:
    stable = {entry["request"]["url"] for b in bundles for entry in b["entry"]}
    checked = 0
    for bundle in bundles:
        local = {entry["fullUrl"] for entry in bundle["entry"]}
        for entry in bundle["entry"]:
            for reference in _references(entry["resource"]):
                checked += 1
                if reference.startswith("urn:uuid:"):
                    assert reference in local, f"{reference} not in bundle {bundle['id']}"
                else:
                    assert reference in stable, f"{reference} does not exist"
    assert checked > 1000


def test_registry_comes_before_households(bundles: list[Json]) -> None:
    kinds = ["household" in b["id"] for b in bundles]
    assert kinds == sorted(kinds)


def test_province_and_14_municipal_nodes(resources: list[Json]) -> None:
    nodes = {
        i["value"]: r
        for r in _of_type(resources, "Organization")
        for i in r.get("identifier", [])
        if i["system"] == SID_PLATFORM_NODE
    }
    expected = {region.code for region in municipal_regions()}
    assert len(expected) == 14
    assert set(nodes) == expected | {"province"}
    for code in expected:
        assert nodes[code]["partOf"]["reference"] == full_url("Organization", "gs-province")
        assert nodes[code]["id"] == f"gs-{code}"
    names = {r["name"] for r in nodes.values()}
    for city in CITIES:
        assert any(name.startswith(city) for name in names), city
    assert any("临夏回族自治州" in n for n in names)
    assert any("甘南藏族自治州" in n for n in names)


def test_every_region_has_hospitals_of_several_levels(resources: list[Json]) -> None:
    levels: dict[str, set[str]] = defaultdict(set)
    types: dict[str, set[str]] = defaultdict(set)
    for org in _of_type(resources, "Organization"):
        found = _codes(org, CS_INSTITUTION_LEVEL)
        if found:
            region = org["id"].split("-")[1]
            levels[region] |= found
            types[region] |= _codes(org, CS_INSTITUTION_TYPE)
            division = org["address"][0]["extension"][0]["valueCoding"]["code"]
            assert division[:4] == region[:4] and is_gansu_region(division)
    assert len(levels) == 14
    for region, found in levels.items():
        assert len(found) >= 4, region
        assert found & {"3A", "3B"}, region
        assert {"chc", "thc", "village"} <= types[region], region
    assert (
        len([o for o in _of_type(resources, "Organization") if o["id"].startswith("gs-620100-")])
        > 10
    )


def _resolver(bundles: list[Json]) -> dict[str, Json]:
    table = {}
    for bundle in bundles:
        for entry in bundle["entry"]:
            table[entry["fullUrl"]] = table[entry["request"]["url"]] = entry["resource"]
    return table


def test_medical_alliances(bundles: list[Json], resources: list[Json]) -> None:
    resolve = _resolver(bundles)
    alliances = 0
    for org in _of_type(resources, "Organization"):
        types = _codes(org, CS_INSTITUTION_TYPE)
        if types & {"thc", "village"}:
            parent = resolve[org["partOf"]["reference"]]
            expected = "thc" if "village" in types else "general"
            assert expected in _codes(parent, CS_INSTITUTION_TYPE)
            assert parent["id"].split("-")[1] == org["id"].split("-")[1]
            alliances += 1
    assert alliances == 28


def test_departments_and_doctors(bundles: list[Json], resources: list[Json]) -> None:
    resolve = _resolver(bundles)
    services = _of_type(resources, "HealthcareService")
    roles = _of_type(resources, "PractitionerRole")
    staffed = {resolve[r["healthcareService"][0]["reference"]]["id"] for r in roles}
    assert staffed == {s["id"] for s in services}
    for role in roles:
        service = resolve[role["healthcareService"][0]["reference"]]
        organization = resolve[role["organization"]["reference"]]
        assert resolve[service["providedBy"]["reference"]] is organization
    titles = {r["code"][0]["text"] for r in roles}
    assert {"主任医师", "副主任医师", "主治医师", "住院医师"} <= titles
    assert any(s["type"][0]["coding"][0]["code"] == "03.04" for s in services)
    licences = [i["value"] for p in _of_type(resources, "Practitioner") for i in p["identifier"]]
    assert len(licences) == len(set(licences))
    assert all(re.fullmatch(r"\d{15}", value) for value in licences)


def test_tertiary_departments_have_enough_doctors(bundles: list[Json]) -> None:
    lanzhou = next(b for b in bundles if b["id"] == "demo-registry-620100")
    per_service = Counter(
        tuple(ref["reference"] for ref in e["resource"]["healthcareService"])
        for e in lanzhou["entry"]
        if e["resource"]["resourceType"] == "PractitionerRole"
        and e["resource"]["organization"]["display"] == "兰州大学第一医院"
    )
    assert len(per_service) >= 8
    assert all(3 <= n <= 8 for n in per_service.values())


def test_resident_ids_are_valid_and_consistent(resources: list[Json]) -> None:
    patients = _of_type(resources, "Patient")
    numbers = []
    for patient in patients:
        ids = [i["value"] for i in patient["identifier"] if i["system"] == RESIDENT_ID_SYSTEM]
        if not ids:
            continue
        parsed = parse_resident_id(ids[0], regions=is_gansu_region, today=DEFAULT_AS_OF)
        assert parsed.birth_date.isoformat() == patient["birthDate"]
        assert parsed.sex == patient["gender"]
        numbers.append(parsed.number)
    assert len(numbers) == len(set(numbers)) > 100


def test_children_carry_birth_certificates_instead_of_ids(resources: list[Json]) -> None:
    children = 0
    for patient in _of_type(resources, "Patient"):
        systems = {i["system"] for i in patient["identifier"]}
        if _age(patient["birthDate"]) < 14:
            children += 1
            assert RESIDENT_ID_SYSTEM not in systems
            assert SID_BIRTH_CERTIFICATE in systems
            assert patient["contact"][0]["telecom"][0]["value"] == patient["telecom"][0]["value"]
        else:
            assert RESIDENT_ID_SYSTEM in systems
    assert children > 0


def test_households_share_address_and_phone(bundles: list[Json]) -> None:
    shared = 0
    for bundle in bundles:
        patients = [
            e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
        ]
        if len(patients) > 1:
            assert len({p["address"][0]["text"] for p in patients}) == 1
            phones = Counter(p["telecom"][0]["value"] for p in patients)
            shared += phones.most_common(1)[0][1] > 1
    assert shared > 10


def test_patient_names_addresses_and_phones(resources: list[Json]) -> None:
    for patient in _of_type(resources, "Patient"):
        official = patient["name"][0]
        assert official["use"] == "official" and official["text"]
        assert all("\u4e00" <= ch <= "\u9fff" or ch == "·" for ch in official["text"])
        usual = [n for n in patient["name"] if n.get("use") == "usual"]
        assert len(usual) == 1 and re.fullmatch(r"[A-Z][a-z]+( [A-Z][a-z]+)+", usual[0]["text"])
        assert re.fullmatch(r"\+861[3-9]\d{9}", patient["telecom"][0]["value"])
        division = patient["address"][0]["extension"][0]["valueCoding"]["code"]
        assert is_gansu_region(division)


def test_name_generator_covers_compound_and_minority_names() -> None:
    names = NameGenerator(random.Random(1))
    han = [names.name("male").text for _ in range(20_000)]
    assert any(n[:2] in ("欧阳", "司马", "诸葛", "上官") for n in han)
    assert Counter(n[0] for n in han).most_common(1)[0][0] in "王李张"
    tibetan = [names.name("female", "04") for _ in range(50)]
    assert any("·" in n.text for n in tibetan) and all(n.family is None for n in tibetan)
    hui = [names.name("male", "26") for _ in range(50)]
    assert any("·" in n.text for n in hui)


def test_datetimes_carry_the_china_offset(resources: list[Json]) -> None:
    count = 0
    for resource in resources:
        for key, value in _strings(resource):
            if DATETIME.match(value) and key not in ("text", "display"):
                assert value.endswith("+08:00"), (resource["id"], key, value)
                count += 1
    assert count > 500


def test_clinical_codes(resources: list[Json]) -> None:
    conditions = _of_type(resources, "Condition")
    assert {"I10", "E11.9"} <= {c["code"]["coding"][0]["code"] for c in conditions}
    assert all(
        c["code"]["coding"][0]["system"] == "http://hl7.org/fhir/sid/icd-10" for c in conditions
    )
    panels = [
        o for o in _of_type(resources, "Observation") if o["code"]["coding"][0]["code"] == "85354-9"
    ]
    assert panels and all(len(o["component"]) == 2 for o in panels)
    for observation in _of_type(resources, "Observation"):
        quantities = [observation.get("valueQuantity")] + [
            c["valueQuantity"] for c in observation.get("component", [])
        ]
        for quantity in filter(None, quantities):
            assert quantity["system"] == "http://unitsofmeasure.org" and quantity["code"]
    vaccines = {i["vaccineCode"]["coding"][0]["code"] for i in _of_type(resources, "Immunization")}
    assert {"HepB", "BCG"} <= vaccines


def test_resources_pass_the_platform_validator(resources: list[Json], bundles: list[Json]) -> None:
    try:
        validation = importlib.import_module("gansu_health.fhir.validation")
    except ImportError:
        pytest.skip("gansu_health.fhir.validation is not available yet")
    problems = [
        (resource["resourceType"], resource["id"], issue)
        for resource in [*resources, *bundles]
        for issue in validation.validate_resource(resource)
        if issue.severity == "error"
    ]
    assert problems == []


def test_resources_parse_strictly_with_fhirclient(
    resources: list[Json], bundles: list[Json]
) -> None:
    pytest.importorskip("fhirclient")
    for resource in [*resources, *bundles[:3]]:
        name = resource["resourceType"]
        module = importlib.import_module(f"fhirclient.models.{name.lower()}")
        getattr(module, name)(resource, strict=True)


def test_pinyin_reads_surnames_as_surnames() -> None:
    assert pinyin_of(PersonName("单小明", "单", ("小明",), "01")) == "Shan Xiaoming"
    assert pinyin_of(PersonName("欧阳娜娜", "欧阳", ("娜娜",), "01")) == "Ouyang Nana"
