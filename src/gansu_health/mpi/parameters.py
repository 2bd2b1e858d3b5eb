"""Read operation inputs (query string or a Parameters body) and build Parameters answers."""

from __future__ import annotations

from typing import Any

from gansu_health.core.clock import fhir_instant
from gansu_health.core.errors import BadRequest
from gansu_health.fhir.operations import OperationCall

_VALUE_KEYS = ("valueString", "valueCode", "valueId", "valueUri", "valueBoolean",
               "valueInteger", "valueDecimal", "valueCanonical", "valueIdentifier",
               "valueReference", "valueDate", "valueDateTime", "valueInstant", "valueTime")


def inputs(call: OperationCall) -> dict[str, list[Any]]:
    """Collect named inputs from the query string and a Parameters body."""
    found: dict[str, list[Any]] = {}
    for name, value in call.params:
        if name != "_format":
            found.setdefault(name, []).append(value)
    body = call.body
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        for param in body.get("parameter") or []:
            if not isinstance(param, dict) or "name" not in param:
                raise BadRequest("Each Parameters.parameter needs a name", expression="parameter")
            given = param.get("resource", next(
                (param[k] for k in _VALUE_KEYS if k in param), None))
            found.setdefault(str(param["name"]), []).append(given)
    return found


def text(found: dict[str, list[Any]], name: str, *, required: bool = False) -> str | None:
    """Return one string input (a reference value is reduced to its text)."""
    values = found.get(name) or []
    if len(values) > 1:
        raise BadRequest(f"Parameter '{name}' may appear only once", expression=name)
    value = values[0] if values else None
    if isinstance(value, dict) and "reference" in value:
        value = value["reference"]
    if value in (None, ""):
        if required:
            raise BadRequest(f"Parameter '{name}' is required", expression=name)
        return None
    return str(value)


def reference_id(found: dict[str, list[Any]], name: str, rtype: str) -> str:
    """Return a required id of an ``rtype`` resource, accepting ``<rtype>/123`` or ``123``."""
    value = text(found, name, required=True)
    assert value is not None
    fid = value.rsplit("/_history", 1)[0].removeprefix(f"{rtype}/")
    if "/" in fid or not fid:
        raise BadRequest(f"'{value}' is not a {rtype} reference", expression=name)
    return fid


def patient_id(found: dict[str, list[Any]], name: str) -> str:
    """Return a required Patient id, accepting ``Patient/123`` or ``123``."""
    return reference_id(found, name, "Patient")


def golden_id(found: dict[str, list[Any]], name: str) -> str:
    """Return a required golden record id, accepting ``Person/123`` or ``123``."""
    return reference_id(found, name, "Person")


def integer(found: dict[str, list[Any]], name: str, default: int, *, low: int = 0,
            high: int = 1000) -> int:
    """Return a bounded integer input."""
    value = text(found, name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"Parameter '{name}' must be an integer", expression=name) from None
    if not low <= number <= high:
        raise BadRequest(f"Parameter '{name}' must be between {low} and {high}",
                         expression=name)
    return number


def boolean(found: dict[str, list[Any]], name: str) -> bool:
    """Return a boolean input (true/false)."""
    value = text(found, name)
    if value is None:
        return False
    if value.lower() not in ("true", "false"):
        raise BadRequest(f"Parameter '{name}' must be true or false", expression=name)
    return value.lower() == "true"


def part(name: str, value: Any) -> dict[str, Any]:
    """Build one Parameters.parameter, choosing value[x] from the Python type."""
    if isinstance(value, bool):
        return {"name": name, "valueBoolean": value}
    if isinstance(value, int):
        return {"name": name, "valueInteger": value}
    if isinstance(value, float):
        return {"name": name, "valueDecimal": value}
    if isinstance(value, dict) and "resourceType" in value:
        return {"name": name, "resource": value}
    if isinstance(value, dict) and "reference" in value:
        return {"name": name, "valueReference": value}
    if isinstance(value, dict):
        return {"name": name, "valueIdentifier": value}
    if isinstance(value, list):
        return {"name": name, "part": value}
    return {"name": name, "valueString": str(value)}


def parameters(*parts: dict[str, Any]) -> dict[str, Any]:
    """Wrap parts in a Parameters resource."""
    return {"resourceType": "Parameters", "parameter": list(parts)}


def instant(name: str, micros: int) -> dict[str, Any]:
    """Build a dateTime parameter from epoch microseconds."""
    return {"name": name, "valueDateTime": fhir_instant(micros)}
