"""Focused tests of the FHIRPath engine for search indexing: typed nodes, choices, resolve()."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest

from gansu_health.fhir.definitions import search_parameters
from gansu_health.fhir.fhirpath import (
    CompiledPath,
    Date,
    DateTime,
    FhirPathError,
    Quantity,
    compile_path,
    evaluate,
)

OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "o1",
    "status": "final",
    "category": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "vital-signs",
                }
            ]
        }
    ],
    "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}], "text": "Weight"},
    "subject": {"reference": "Patient/p1"},
    "performer": [
        {"reference": "http://example.org/fhir/Practitioner/pr1/_history/2"},
        {"reference": "#org"},
    ],
    "contained": [{"resourceType": "Organization", "id": "org", "name": "Lab"}],
    "effectiveDateTime": "2016-03-28T09:30:00+08:00",
    "valueQuantity": {
        "value": 85.5,
        "unit": "kg",
        "system": "http://unitsofmeasure.org",
        "code": "kg",
    },
    "component": [
        {"code": {"coding": [{"code": "8480-6"}]}, "valueQuantity": {"value": 120}},
        {"code": {"coding": [{"code": "8462-4"}]}, "valueString": "n/a"},
    ],
    "extension": [{"url": "http://example.org/ext/age", "valueAge": {"value": 41, "code": "a"}}],
}
PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p1",
    "name": [
        {
            "family": "Chalmers",
            "given": ["Peter", None],
            "_given": [
                None,
                {"extension": [{"url": "http://example.org/ext/absent", "valueCode": "unknown"}]},
            ],
        }
    ],
    "birthDate": "1974-12-25",
    "_birthDate": {
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                "valueDateTime": "1974-12-25T14:35:45-05:00",
            }
        ]
    },
    "deceasedBoolean": False,
    "managingOrganization": {"reference": "Organization/1"},
}


def types(expr: str, resource: dict[str, Any]) -> list[str | None]:
    """Return the FHIR type names of the result nodes."""
    return [n.type for n in compile_path(expr).nodes(resource)]


def test_simple_path_returns_typed_nodes() -> None:
    nodes = compile_path("Observation.code").nodes(OBSERVATION)
    assert [n.type for n in nodes] == ["CodeableConcept"]
    assert nodes[0].value is OBSERVATION["code"]
    assert types("Observation.category", OBSERVATION) == ["CodeableConcept"]
    assert types("Observation.status", OBSERVATION) == ["code"]
    assert types("Observation.id", OBSERVATION) == ["id"]


def test_choice_element_resolves_to_concrete_type() -> None:
    nodes = compile_path("Observation.value").nodes(OBSERVATION)
    assert [(n.type, n.value["value"]) for n in nodes] == [("Quantity", 85.5)]
    assert types("Observation.value.ofType(Quantity)", OBSERVATION) == ["Quantity"]
    assert types("Observation.value.ofType(CodeableConcept)", OBSERVATION) == []
    assert types("Observation.value as CodeableConcept", OBSERVATION) == []
    assert types("(Observation.effective as dateTime)", OBSERVATION) == ["dateTime"]
    assert types("Observation.effective.ofType(Period)", OBSERVATION) == []
    assert types("Observation.component.value", OBSERVATION) == ["Quantity", "string"]


def test_choice_json_names_are_not_members() -> None:
    with pytest.raises(FhirPathError, match="valueQuantity"):
        compile_path("Observation.valueQuantity")


def test_plain_values() -> None:
    assert evaluate(OBSERVATION, "Observation.value.value") == [Decimal("85.5")]
    assert evaluate(OBSERVATION, "Observation.effective") == [
        DateTime.parse("2016-03-28T09:30:00+08:00")
    ]
    assert evaluate(PATIENT, "Patient.birthDate") == [Date.parse("1974-12-25")]
    assert evaluate(PATIENT, "Patient.deceased") == [False]
    assert evaluate({}, "2 'mg' * 3") == [Quantity(Decimal(6), "mg")]


def test_resolve_gives_typed_stubs_without_a_database() -> None:
    expr = "Observation.subject.where(resolve() is Patient)"
    assert evaluate(OBSERVATION, expr) == [{"reference": "Patient/p1"}]
    assert evaluate(OBSERVATION, "Observation.subject.where(resolve() is Group)") == []
    targets = compile_path("Observation.performer.resolve()").nodes(OBSERVATION)
    assert [n.type for n in targets] == ["Practitioner", "Organization"]
    assert targets[0].value == {"resourceType": "Practitioner", "id": "pr1"}
    assert targets[1].value["name"] == "Lab"  # the contained resource itself
    uuid_ref = {
        "resourceType": "Observation",
        "subject": {"reference": "urn:uuid:1", "type": "Group"},
    }
    assert types("Observation.subject.resolve()", uuid_ref) == ["Group"]
    assert evaluate(OBSERVATION, "Observation.performer.where(resolve() is Organization)") == [
        {"reference": "#org"}
    ]


def test_extensions_on_elements_and_primitives() -> None:
    url = "http://hl7.org/fhir/StructureDefinition/patient-birthTime"
    assert evaluate(PATIENT, f"Patient.birthDate.extension('{url}').value") == [
        DateTime.parse("1974-12-25T14:35:45-05:00")
    ]
    assert types("Patient.birthDate.extension", PATIENT) == ["Extension"]
    assert types("Observation.extension('http://example.org/ext/age').value", OBSERVATION) == [
        "Age"
    ]
    assert evaluate(
        OBSERVATION, "Observation.extension('http://example.org/ext/age').value is Quantity"
    ) == [True]


def test_primitive_with_only_an_extension() -> None:
    assert evaluate(PATIENT, "Patient.name.given.count()") == [2]
    assert evaluate(PATIENT, "Patient.name.given") == ["Peter"]
    assert evaluate(PATIENT, "Patient.name.given.select($this.hasValue())") == [True, False]
    assert evaluate(PATIENT, "Patient.name.given.extension.value") == ["unknown"]


def test_unions_deduplicate_and_keep_types() -> None:
    expr = "Observation.code | Observation.component.code | Observation.code"
    assert types(expr, OBSERVATION) == ["CodeableConcept"] * 3
    assert evaluate(PATIENT, "Patient.name.family | Practitioner.name.family") == ["Chalmers"]


def test_where_exists_first_index_and_logic() -> None:
    expr = "Observation.component.where(code.coding.code = '8480-6').value.first()"
    assert types(expr, OBSERVATION) == ["Quantity"]
    assert evaluate(OBSERVATION, "Observation.component[1].value") == ["n/a"]
    assert evaluate(OBSERVATION, "Observation.category.coding.exists(code = 'vital-signs')") == [
        True
    ]
    assert evaluate(OBSERVATION, "Observation.status = 'final' and Observation.id != 'x'") == [True]


def test_variables_and_environment() -> None:
    assert evaluate(PATIENT, "%who = 'p1' and %resource.id = %who", {"who": "p1"}) == [True]
    assert evaluate(PATIENT, "%ucum") == ["http://unitsofmeasure.org"]
    with pytest.raises(FhirPathError, match="undefined variable"):
        evaluate(PATIENT, "%missing")


def test_compile_errors_name_the_problem() -> None:
    with pytest.raises(FhirPathError, match="syntax error"):
        compile_path("Patient.name.where(")
    with pytest.raises(FhirPathError, match="unknown function"):
        compile_path("Patient.name.frobnicate()")
    with pytest.raises(FhirPathError, match="unknown element 'given1'"):
        compile_path("Patient.name.given1")
    with pytest.raises(FhirPathError, match="unknown type"):
        compile_path("Patient.gender.as(string1)")
    assert issubclass(FhirPathError, ValueError)


def test_compiled_paths_are_cached() -> None:
    first = compile_path("Observation.code")
    assert isinstance(first, CompiledPath)
    assert compile_path("Observation.code") is first


def test_trace_logs_instead_of_printing(caplog: pytest.LogCaptureFixture, capsys: Any) -> None:
    with caplog.at_level(logging.DEBUG, logger="gansu_health.fhirpath"):
        assert evaluate(PATIENT, "Patient.id.trace('id')") == ["p1"]
    assert capsys.readouterr().out == ""
    assert "trace id" in caplog.text


def test_date_arithmetic_and_partial_comparison() -> None:
    assert evaluate({}, "@2019-01-31 + 1 month") == [Date.parse("2019-02-28")]
    assert evaluate({}, "@2018-03 < @2018-03-01") == []
    assert evaluate({}, "@2017-11-05T01:30:00-04:00 < @2017-11-05T01:15:00-05:00") == [True]
    assert evaluate(PATIENT, "Patient.birthDate < @1975") == [True]


def test_every_r4_search_expression_compiles_and_runs() -> None:
    for rtype, params in search_parameters().items():
        for param in params.values():
            if param.expression:
                compile_path(param.expression).nodes({"resourceType": rtype})
            for _, _, component in param.components:
                compile_path(component).nodes({"resourceType": rtype})


def test_bundle_entries_are_typed_by_resource_type() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": PATIENT}, {"resource": OBSERVATION}],
    }
    assert types("Bundle.entry.resource", bundle) == ["Patient", "Observation"]
    assert evaluate(bundle, "Bundle.entry.resource.ofType(Patient).name.family") == ["Chalmers"]
    assert types("Bundle.entry.resource.descendants().ofType(Quantity)", bundle) == [
        "Quantity",
        "Quantity",
        "Age",
    ]
