"""Correctness of FHIR R4 resource validation: spec examples, Synthea bundles, negative cases."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from gansu_health.fhir.validation import Issue, validate_resource

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("GANSU_HEALTH_SHARED_DATA", REPO.parent / "shared" / "data"))
EXAMPLES = SHARED / "fhir-examples-r4"
SYNTHEA = SHARED / "synthea-r4"
MISSING = f"shared test data not found under {SHARED} (set GANSU_HEALTH_SHARED_DATA)"

# Official examples that really break R4 rules: file → (reason, issue code, expression suffix).
EXEMPT = {
    "bundle-questionnaire.json": (
        "the generated Questionnaire has 'display' items without linkId, but "
        "Questionnaire.item.linkId is 1..1 in R4",
        "required",
        ".linkId",
    ),
}


def _files(folder: Path) -> list[Path | None]:
    found: list[Path | None] = [*sorted(folder.glob("*.json"))] if folder.is_dir() else []
    return found or [None]


def _load(path: Path | None) -> Any:
    if path is None:
        pytest.skip(MISSING)
    return orjson.loads(path.read_bytes())


def _errors(issues: list[Issue]) -> list[tuple[str, str]]:
    return [(i.code, i.expression) for i in issues if i.severity == "error"]


def _names(paths: list[Path | None]) -> list[str]:
    return [p.name if p else "missing" for p in paths]


@pytest.mark.parametrize("path", _files(EXAMPLES), ids=_names(_files(EXAMPLES)))
def test_spec_example_is_valid(path: Path | None) -> None:
    resource = _load(path)
    assert path is not None
    errors = _errors(validate_resource(resource))
    if path.name in EXEMPT:
        _reason, code, suffix = EXEMPT[path.name]
        assert errors, f"{path.name} is exempt but now validates: drop the exemption"
        assert all(c == code and e.endswith(suffix) for c, e in errors), errors
    else:
        assert errors == []


def _synthea_sample(every: int) -> list[Path | None]:
    files = _files(SYNTHEA)
    return files if files == [None] else files[::every]


def _check_bundles(paths: list[Path | None]) -> int:
    checked = 0
    for path in paths:
        bundle = _load(path)
        assert bundle["type"] == "transaction"
        for n, entry in enumerate(bundle["entry"]):
            issues = validate_resource(entry["resource"])
            assert issues == [], f"{path} entry {n}: {issues[:3]}"
            checked += 1
        assert validate_resource(bundle, expected_type="Bundle") == []
    return checked


def test_synthea_sample_is_valid() -> None:
    assert _check_bundles(_synthea_sample(8)) > 1000


@pytest.mark.slow
def test_all_synthea_bundles_are_valid() -> None:
    assert _check_bundles(_synthea_sample(1)) > 40_000


def _patient(**fields: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", **fields}


def _obs(**fields: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, **fields}


def _bundle(*resources: Any, kind: str = "collection") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind,
            "entry": [{"fullUrl": f"urn:uuid:00000000-0000-4000-8000-00000000000{i}",
                       "resource": r} for i, r in enumerate(resources)]}


def _ext(**fields: Any) -> dict[str, Any]:
    return {"url": "http://example.org/ext", **fields}


XHTML = '<div xmlns="http://www.w3.org/1999/xhtml">ok</div>'
ORG = {"resourceType": "Organization", "id": "org"}

NEGATIVE: dict[str, tuple[Any, list[tuple[str, str]]]] = {
    "unknown property": (_patient(foo=1), [("structure", "Patient.foo")]),
    "unknown nested property": (_patient(name=[{"family": "A", "nick": "B"}]),
                                [("structure", "Patient.name[0].nick")]),
    "missing status and code": ({"resourceType": "Observation"},
                                [("required", "Observation.status"),
                                 ("required", "Observation.code")]),
    "missing nested required": (_obs(component=[{"valueString": "x"}]),
                                [("required", "Observation.component[0].code")]),
    "string for boolean": (_patient(active="yes"), [("structure", "Patient.active")]),
    "string for decimal": (_obs(valueQuantity={"value": "1.5"}),
                           [("structure", "Observation.valueQuantity.value")]),
    "float for integer": (_patient(multipleBirthInteger=1.5),
                          [("structure", "Patient.multipleBirthInteger")]),
    "negative unsignedInt": (_patient(photo=[{"size": -1}]),
                             [("value", "Patient.photo[0].size")]),
    "month 13": (_patient(birthDate="1990-13-01"), [("value", "Patient.birthDate")]),
    "30 February": (_patient(birthDate="2023-02-30"), [("value", "Patient.birthDate")]),
    "29 February off leap year": (_patient(birthDate="2023-02-29"),
                                  [("value", "Patient.birthDate")]),
    "dateTime without timezone": (_obs(effectiveDateTime="2020-01-01T10:00:00"),
                                  [("value", "Observation.effectiveDateTime")]),
    "dateTime without seconds": (_obs(effectiveDateTime="2020-01-01T10:00Z"),
                                 [("value", "Observation.effectiveDateTime")]),
    "instant without time": (_obs(issued="2020-01-01"), [("value", "Observation.issued")]),
    "bad id characters": (_patient(id="bad id!"), [("value", "Patient.id")]),
    "id too long": (_patient(id="a" * 65), [("value", "Patient.id")]),
    "unknown resourceType": ({"resourceType": "Patientx"}, [("not-supported", "resourceType")]),
    "abstract resourceType": ({"resourceType": "DomainResource"},
                              [("not-supported", "resourceType")]),
    "missing resourceType": ({"id": "x"}, [("required", "resourceType")]),
    "not an object": (["Patient"], [("structure", "Resource")]),
    "bogus gender": (_patient(gender="bogus"), [("code-invalid", "Patient.gender")]),
    "bogus status": (_obs(status="bogus"), [("code-invalid", "Observation.status")]),
    "bogus comparator": (_obs(valueQuantity={"value": 1, "comparator": "<<"}),
                         [("code-invalid", "Observation.valueQuantity.comparator")]),
    "bogus bound coding": (
        {"resourceType": "Condition", "subject": {"reference": "Patient/1"},
         "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                  "condition-clinical", "code": "bogus"}]}},
        [("code-invalid", "Condition.clinicalStatus.coding[0].code")]),
    "two value[x]": (_obs(valueString="a", valueBoolean=True),
                     [("structure", "Observation.valueBoolean")]),
    "disallowed value[x] type": (_obs(valueUri="http://x"),
                                 [("structure", "Observation.valueUri")]),
    "array where single expected": (_patient(gender=["male"]),
                                    [("structure", "Patient.gender")]),
    "object array where single expected": (_patient(maritalStatus=[{"text": "x"}]),
                                           [("structure", "Patient.maritalStatus")]),
    "single where array expected": (_patient(name={"family": "A"}),
                                    [("structure", "Patient.name")]),
    "primitive where array expected": (_patient(name=[{"given": "A"}]),
                                       [("structure", "Patient.name[0].given")]),
    "empty array": (_patient(name=[]), [("structure", "Patient.name")]),
    "empty object": (_patient(name=[{}]), [("structure", "Patient.name[0]")]),
    "empty string": (_patient(name=[{"family": ""}]), [("value", "Patient.name[0].family")]),
    "null single": (_patient(gender=None), [("structure", "Patient.gender")]),
    "null in primitive array": (_patient(name=[{"given": ["A", None]}]),
                                [("structure", "Patient.name[0].given[1]")]),
    "null in complex array": (_patient(name=[None]), [("structure", "Patient.name[0]")]),
    "_x on complex element": (_patient(_name=[{"id": "a"}]), [("structure", "Patient._name")]),
    "_x with unknown content": (_patient(birthDate="2000", _birthDate={"value": 1}),
                                [("structure", "Patient._birthDate.value")]),
    "resourceType in datatype": (_patient(name=[{"resourceType": "HumanName"}]),
                                 [("structure", "Patient.name[0].resourceType")]),
    "unknown reference type": (_patient(managingOrganization={"reference": "Foo/1"}),
                               [("value", "Patient.managingOrganization.reference")]),
    "bad reference id": (_patient(generalPractitioner=[{"reference": "Practitioner/a b"}]),
                         [("value", "Patient.generalPractitioner[0].reference")]),
    "too many reference segments": (_patient(managingOrganization={"reference": "A/b/c"}),
                                    [("value", "Patient.managingOrganization.reference")]),
    "bad urn": (_patient(managingOrganization={"reference": "urn:uuid:XYZ"}),
                [("value", "Patient.managingOrganization.reference")]),
    "dangling fragment": (_patient(managingOrganization={"reference": "#org"}),
                          [("not-found", "Patient.managingOrganization.reference")]),
    "contained error path": (
        _patient(contained=[ORG, {"resourceType": "Practitioner", "id": "p", "active": 1}],
                 managingOrganization={"reference": "#org"},
                 generalPractitioner=[{"reference": "#p"}]),
        [("structure", "Patient.contained[1].active")]),
    "contained unknown type": (_patient(contained=[{"resourceType": "Nope", "id": "n"}]),
                               [("not-supported", "Patient.contained[0].resourceType")]),
    "contained without id": (_patient(contained=[{"resourceType": "Organization"}]),
                             [("required", "Patient.contained[0].id")]),
    "contained inside contained": (
        _patient(contained=[{**ORG, "contained": [{**ORG, "id": "x"}]}]),
        [("invariant", "Patient.contained[0].contained")]),
    "bundle entry error path": (
        _bundle(_patient(), _obs(), _obs(status="bogus", valueInteger="1")),
        [("code-invalid", "Bundle.entry[2].resource.status"),
         ("structure", "Bundle.entry[2].resource.valueInteger")]),
    "bundle entry wrong resource": (_bundle({"resourceType": "Bogus"}),
                                    [("not-supported", "Bundle.entry[0].resource.resourceType")]),
    "typed resource element": (
        {"resourceType": "Bundle", "type": "transaction-response",
         "entry": [{"response": {"status": "200", "outcome": _patient()}}]},
        [("invalid", "Bundle.entry[0].response.outcome.resourceType")]),
    "extension without url": (_patient(extension=[{"valueString": "x"}]),
                              [("required", "Patient.extension[0].url")]),
    "extension with value and nested": (
        _patient(extension=[_ext(valueString="x", extension=[_ext(valueInteger=1)])]),
        [("invariant", "Patient.extension[0]")]),
    "extension with neither": (_patient(extension=[_ext()]),
                               [("invariant", "Patient.extension[0]")]),
    "extension value error": (_patient(extension=[_ext(valueDate="2020-02-31")]),
                              [("value", "Patient.extension[0].valueDate")]),
    "narrative not div": (_patient(text={"status": "generated", "div": "<p>x</p>"}),
                          [("value", "Patient.text.div")]),
    "narrative without namespace": (_patient(text={"status": "generated", "div": "<div>x</div>"}),
                                    [("value", "Patient.text.div")]),
    "expected type": (_patient(), [("invalid", "Patient.resourceType")]),
}


@pytest.mark.parametrize("case", NEGATIVE, ids=list(NEGATIVE))
def test_negative_case(case: str) -> None:
    resource, expected = NEGATIVE[case]
    kind = "Observation" if case == "expected type" else None
    issues = validate_resource(resource, expected_type=kind)
    assert _errors(issues) == expected
    assert all(i.diagnostics.endswith(".") and len(i.diagnostics) > 20 for i in issues)


VALID: dict[str, Any] = {
    "leap day": _patient(birthDate="2024-02-29"),
    "partial dates": _patient(birthDate="1990-05", deceasedDateTime="2020"),
    "dateTime with offset": _obs(effectiveDateTime="2020-01-01T10:00:00.123+08:00"),
    "primitive extension": _patient(birthDate="2000-01-01",
                                    _birthDate={"extension": [_ext(valueTime="10:00:00")]}),
    "extension only primitive": _obs(_status={"extension": [_ext(valueCode="unknown")]}),
    "null paired with _x": _patient(name=[{"given": ["A", None],
                                           "_given": [None, {"id": "g2", "extension": [
                                               _ext(valueString="B")]}]}]),
    "reference forms": _patient(
        contained=[ORG], managingOrganization={"reference": "#org"},
        generalPractitioner=[{"reference": "Practitioner/p1/_history/2"},
                             {"reference": "https://fhir.example.org/Practitioner/9"},
                             {"reference": "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e"},
                             {"reference": "urn:oid:1.2.3.4"}]),
    "container reference from contained": _patient(
        contained=[{"resourceType": "Provenance", "id": "prov", "recorded": "2020-01-01T00:00:00Z",
                    "target": [{"reference": "#"}], "agent": [{"who": {"reference": "#org"}}]},
                   ORG]),
    "narrative": _patient(text={"status": "generated", "div": XHTML}),
    "unicode text": _patient(name=[{"text": "张\u3000三"}]),
    "conditional reference in transaction": _bundle(
        _obs(subject={"reference": "Patient?identifier=http://x|1"}), kind="transaction"),
    "nested bundle resource": _bundle(_bundle(_patient(id="p"))),
}


@pytest.mark.parametrize("case", VALID, ids=list(VALID))
def test_valid_case(case: str) -> None:
    assert validate_resource(VALID[case]) == []


def test_conditional_reference_outside_transaction_is_a_warning() -> None:
    issues = validate_resource(_obs(subject={"reference": "Patient?identifier=x|1"}))
    assert [(i.severity, i.code, i.expression) for i in issues] == [
        ("warning", "value", "Observation.subject.reference")]


def test_all_issues_are_collected() -> None:
    resource = _patient(id="bad id", active="yes", gender="bogus", foo=1,
                        name=[{"family": ""}], contained=[{"resourceType": "Organization"}])
    assert sorted(_errors(validate_resource(resource))) == sorted([
        ("value", "Patient.id"), ("structure", "Patient.active"),
        ("code-invalid", "Patient.gender"), ("structure", "Patient.foo"),
        ("value", "Patient.name[0].family"), ("required", "Patient.contained[0].id")])


def test_diagnostics_name_the_element() -> None:
    (issue,) = validate_resource(_patient(name=[{"given": ["A", 7]}]))
    assert issue == Issue("error", "structure", "Patient.name[0].given[1]", issue.diagnostics)
    assert "Patient.name[0].given[1]" in issue.diagnostics and "string" in issue.diagnostics


def test_deep_nesting_is_reported_not_raised() -> None:
    ext: dict[str, Any] = _ext(valueString="x")
    for _ in range(3000):
        ext = _ext(extension=[ext])
    issues = validate_resource(_patient(extension=[ext]))
    assert _errors(issues) == [("too-complex", "Patient")]
