"""Operation inputs from GET query pairs or a POSTed Parameters body; Parameters outputs."""

from __future__ import annotations

from datetime import date
from typing import Any

from gansu_health.core.errors import BadRequest
from gansu_health.fhir.operations import OperationCall
from gansu_health.registry.terminology.model import Json, parse_date, property_value

_PRIMITIVES = ("valueString", "valueCode", "valueUri", "valueCanonical", "valueUrl",
               "valueBoolean", "valueInteger", "valueDateTime", "valueDate",
               "valueUnsignedInt", "valuePositiveInt", "valueId")

Coded = tuple[str | None, str, str | None, str | None, str]


class Inputs:
    """The named inputs of one operation call (query parameters and Parameters merged)."""

    def __init__(self, call: OperationCall) -> None:
        self.values: dict[str, list[Any]] = {}
        for name, value in call.params:
            if not name.startswith("_"):
                self.values.setdefault(name, []).append(value)
        body = call.body
        if body is None:
            return
        if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
            raise BadRequest("The body of a terminology operation must be a Parameters resource")
        for p in body.get("parameter", []):
            name = p.get("name")
            if not name:
                continue
            if "resource" in p:
                self.values.setdefault(name, []).append(p["resource"])
                continue
            found = property_value(p) or next(((k, p[k]) for k in _PRIMITIVES if k in p), None)
            found = found or next(((k, v) for k, v in p.items() if k.startswith("value")), None)
            if found is not None:
                value = found[1]
                if isinstance(value, bool):
                    value = "true" if value else "false"
                self.values.setdefault(name, []).append(value if isinstance(value, dict)
                                                        else str(value))

    def text(self, name: str) -> str | None:
        """Return the first value of a primitive input."""
        for value in self.values.get(name, []):
            if isinstance(value, str):
                return value
        return None

    def texts(self, name: str) -> list[str]:
        """Return every value of a primitive input (comma lists split)."""
        return [v.strip() for value in self.values.get(name, []) if isinstance(value, str)
                for v in value.split(",") if v.strip()]

    def complex(self, name: str) -> Json | None:
        """Return the first complex (Coding, CodeableConcept, resource) value of an input."""
        return next((v for v in self.values.get(name, []) if isinstance(v, dict)), None)

    def flag(self, name: str, default: bool = False) -> bool:
        """Return a boolean input."""
        value = self.text(name)
        if value is None:
            return default
        if value.lower() not in ("true", "false"):
            raise BadRequest(f"'{name}' must be true or false", expression=name)
        return value.lower() == "true"

    def integer(self, name: str, default: int | None = None) -> int | None:
        """Return a non-negative integer input."""
        value = self.text(name)
        if value is None:
            return default
        if not value.isdigit():
            raise BadRequest(f"'{name}' must be a non-negative integer", expression=name)
        return int(value)

    def day(self, name: str = "date") -> date | None:
        """Return a date input (a dateTime is cut to its date)."""
        value = self.text(name)
        if value is None:
            return None
        parsed = parse_date(value)
        if parsed is None:
            raise BadRequest(f"'{name}' must be a FHIR date or dateTime", expression=name)
        return parsed

    def codings(self, default_system: str | None = None) -> list[Coded]:
        """Return (system, code, display, version, input) from code/coding/codeableConcept."""
        out: list[Coded] = []
        code = self.text("code")
        if code is not None:
            out.append((self.text("system") or default_system, code, self.text("display"),
                        self.text("systemVersion") or self.text("version"), "code"))
        coding = self.complex("coding")
        if coding is not None:
            out.append((coding.get("system"), coding.get("code", ""), coding.get("display"),
                        coding.get("version"), "coding"))
        concept = self.complex("codeableConcept")
        for i, c in enumerate(concept.get("coding", []) if concept else []):
            out.append((c.get("system"), c.get("code", ""), c.get("display"), c.get("version"),
                        f"codeableConcept.coding[{i}]"))
        return out


def parameters(*parts: Json | None) -> Json:
    """Return a Parameters resource from parameter dicts (None entries are skipped)."""
    return {"resourceType": "Parameters", "parameter": [p for p in parts if p]}


def typed(name: str, key: str, value: Any) -> Json | None:
    """Return one parameter ``{name, valueX}`` (None when value is None)."""
    return None if value is None else {"name": name, key: value}
