"""The official FHIRPath R4 conformance suite (tests-fhir-r4.xml) run against our engine."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from gansu_health.fhir.definitions import ElementDef, fhir_model
from gansu_health.fhir.fhirpath import FhirPathError, Node, Quantity, compile_path
from gansu_health.fhir.fhirpath.operators import sysval
from gansu_health.fhir.fhirpath.temporal import Temporal, Time

SHARED = Path(
    os.environ.get(
        "GANSU_HEALTH_SHARED_DATA", Path(__file__).resolve().parents[2] / "../shared/data"
    )
)
SUITE = SHARED / "fhirpath" / "tests-fhir-r4.xml"
FHIR_NS = "{http://hl7.org/fhir}"
XHTML_NS = "http://www.w3.org/1999/xhtml"

# Cases we knowingly do not support, with the reason.
XFAIL: dict[str, str] = {
    "testDollarOrderNotAllowed": "strict 'ordered function on unordered collection' check",
}

# ---------------------------------------------------------------- XML -> FHIR JSON


def _local(tag: str) -> str:
    return tag.split("}", 1)[-1]


def _lookup(type_name: str, prefix: str, tag: str) -> tuple[ElementDef, str]:
    elements = fhir_model().types[type_name].elements
    edef = elements.get(prefix + tag)
    if edef is not None:
        return edef, edef.types[0] if edef.types else "Element"
    for path, edef in elements.items():
        base = path[len(prefix) : -3]
        if path.endswith("[x]") and path.startswith(prefix) and "." not in base:
            for code in edef.types:
                if tag == base + code[0].upper() + code[1:]:
                    return edef, code
    raise ValueError(f"unknown element {tag!r} in {type_name}.{prefix}")


def _primitive(code: str, text: str) -> Any:
    kind = fhir_model().primitives[code]["json"]
    if kind == "boolean":
        return text == "true"
    if kind == "integer":
        return int(text)
    if kind == "number":
        return int(text) if text.lstrip("-").isdigit() else float(text)
    return text


def _element(elem: ET.Element, type_name: str, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {k: v for k, v in elem.attrib.items() if k in ("id", "url")}
    pairs: dict[str, list[tuple[Any, Any]]] = {}
    lists: dict[str, bool] = {}
    for child in elem:
        if not isinstance(child.tag, str):
            continue
        tag = _local(child.tag)
        edef, code = _lookup(type_name, prefix, tag)
        lists[tag] = edef.is_list
        value: Any
        ext: Any = None
        if code == "xhtml":
            ET.register_namespace("", XHTML_NS)
            value = ET.tostring(child, encoding="unicode").strip()
        elif code in fhir_model().primitives:
            value = _primitive(code, child.attrib["value"]) if "value" in child.attrib else None
            ext = _element(child, "Element", "") or None
        elif code == "Resource":
            value = resource_json(next(iter(child)))
        elif code.startswith("@"):
            value = _element(child, type_name, code[1:] + ".")
        elif code in ("BackboneElement", "Element") and f"{edef.path}.id" in (
            fhir_model().types[type_name].elements
        ):
            value = _element(child, type_name, edef.path + ".")
        else:
            value = _element(child, code, "")
        pairs.setdefault(tag, []).append((value, ext))
    for tag, items in pairs.items():
        values = [v for v, _ in items]
        exts = [e for _, e in items]
        out[tag] = values if lists[tag] else values[0]
        if any(e is not None for e in exts):
            out["_" + tag] = exts if lists[tag] else exts[0]
        if all(v is None for v in values):
            del out[tag]
    return out


def resource_json(elem: ET.Element) -> dict[str, Any]:
    """Convert a FHIR XML resource element to FHIR JSON, using the model for cardinality."""
    rtype = _local(elem.tag)
    return {"resourceType": rtype, **_element(elem, rtype, "")}


# ---------------------------------------------------------------- the suite


@dataclass(frozen=True)
class Case:
    """One conformance test."""

    name: str
    expression: str
    inputfile: str | None
    invalid: str | None
    outputs: tuple[tuple[str | None, str], ...]
    predicate: bool
    ordered: bool


def _cases() -> list[Case]:
    if not SUITE.exists():
        return []
    cases: list[Case] = []
    for group in ET.parse(SUITE).getroot():
        for test in group.iter("test"):
            expr = test.find("expression")
            assert expr is not None
            cases.append(
                Case(
                    name=test.get("name", "unnamed"),
                    expression=expr.text or "",
                    inputfile=test.get("inputfile"),
                    invalid=expr.get("invalid"),
                    outputs=tuple((o.get("type"), o.text or "") for o in test.findall("output")),
                    predicate=test.get("predicate") == "true",
                    ordered=test.get("ordered") != "false",
                )
            )
    return cases


@cache
def load_input(name: str) -> dict[str, Any] | None:
    """Load an input resource: the suite's XML (converted) or a JSON twin."""
    stem = name.rsplit(".", 1)[0]
    xml_path = SHARED / "fhirpath" / f"{stem}.xml"
    if name.endswith(".xml") and xml_path.exists():
        return resource_json(ET.parse(xml_path).getroot())
    for path in (
        SHARED / "fhirpath" / f"{stem}.json",
        SHARED / "fhir-examples-r4" / f"{stem}.json",
    ):
        if path.exists():
            data: dict[str, Any] = json.loads(path.read_text())
            return data
    return None


_SYSTEM_NAMES = {
    "Boolean": "boolean",
    "String": "string",
    "Integer": "integer",
    "Decimal": "decimal",
    "Date": "date",
    "DateTime": "dateTime",
    "Time": "time",
}


def _render(node: Node) -> tuple[set[str], str]:
    value = sysval(node)
    names = set(node.ti.ancestors) if node.ti is not None else set()
    if node.ti is not None and node.ti.name in _SYSTEM_NAMES:
        names = {_SYSTEM_NAMES[node.ti.name]}
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, Decimal):
        text = format(value, "f")
    elif isinstance(value, Time):
        text = "@T" + value.iso()
    elif isinstance(value, Temporal):
        text = "@" + value.iso()
    elif isinstance(value, Quantity):
        text = str(value)
    else:
        text = str(value)
    return names, text


def _same(expected: tuple[str | None, str], actual: tuple[set[str], str]) -> bool:
    kind, text = expected
    names, got = actual
    if kind is not None and kind not in names:
        return False
    if got == text:
        return True
    try:
        return kind == "decimal" and Decimal(got) == Decimal(text)
    except InvalidOperation:
        return False


CASES = _cases()


def _ids() -> list[str]:
    seen: dict[str, int] = {}
    ids = []
    for case in CASES:
        seen[case.name] = seen.get(case.name, 0) + 1
        ids.append(case.name if seen[case.name] == 1 else f"{case.name}#{seen[case.name]}")
    return ids


@pytest.mark.skipif(not SUITE.exists(), reason=f"FHIRPath suite not found at {SUITE}")
@pytest.mark.parametrize("case", CASES or [None], ids=_ids() or ["suite-missing"])
def test_conformance(case: Case | None) -> None:
    """Run one official test case."""
    assert case is not None
    if case.name in XFAIL:
        pytest.xfail(XFAIL[case.name])
    resource = None
    if case.inputfile:
        resource = load_input(case.inputfile)
        if resource is None:
            pytest.skip(f"input {case.inputfile} is not available in {SHARED}")
    context = resource.get("resourceType") if resource else None
    if case.invalid:
        with pytest.raises(FhirPathError):
            compile_path(case.expression, context).nodes(resource)
        return
    result = compile_path(case.expression, context).nodes(resource)
    if case.predicate:
        rendered = [({"boolean"}, "true" if result else "false")]
    else:
        rendered = [_render(n) for n in result]
    expected = list(case.outputs)
    if not case.ordered:
        rendered.sort(key=lambda r: r[1])
        expected.sort(key=lambda e: e[1])
    assert len(rendered) == len(expected), f"{case.expression!r}: got {rendered}"
    for exp, got in zip(expected, rendered, strict=True):
        assert _same(exp, got), f"{case.expression!r}: expected {exp}, got {got}"


@pytest.mark.skipif(not SUITE.exists(), reason=f"FHIRPath suite not found at {SUITE}")
@pytest.mark.parametrize("stem", ["patient-example"])
def test_xml_converter_matches_json_twin(stem: str) -> None:
    """The harness's XML→JSON converter reproduces the official JSON examples."""
    twin = SHARED / "fhir-examples-r4" / f"{stem}.json"
    if not twin.exists():
        pytest.skip(f"{twin} not available")
    converted = load_input(f"{stem}.xml")
    assert converted is not None
    expected = json.loads(twin.read_text())
    converted.pop("text", None)
    expected.pop("text", None)
    assert converted == expected
