"""Runtime type information derived from the FHIR model tables, and the evaluation Node."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any

from gansu_health.fhir.definitions import ElementDef, fhir_model

from .temporal import Date, DateTime, Time

SYSTEM_TYPES = ("Boolean", "String", "Integer", "Decimal", "Date", "DateTime", "Time", "Quantity")
QUANTITY_TYPES = frozenset(
    {"Quantity", "Age", "Count", "Distance", "Duration", "MoneyQuantity", "SimpleQuantity"}
)
_PRIMITIVE_BASE = {
    "code": "string",
    "id": "string",
    "markdown": "string",
    "url": "uri",
    "canonical": "uri",
    "oid": "uri",
    "uuid": "uri",
    "positiveInt": "integer",
    "unsignedInt": "integer",
}


def _to_decimal(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return value


def _parser(cls: type[Date] | type[DateTime] | type[Time]) -> Callable[[Any], Any]:
    parse = lru_cache(maxsize=8192)(cls.parse)

    def conv(value: Any) -> Any:
        if isinstance(value, str):
            return parse(value) or value
        return value

    return conv


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "decimal": _to_decimal,
    "date": _parser(Date),
    "dateTime": _parser(DateTime),
    "instant": _parser(DateTime),
    "time": _parser(Time),
}

# A member: (json key, "_" + json key, child type or None when the child is any Resource)
Member = tuple[str, str, "TypeInfo | None"]


class TypeInfo:
    """A FHIR or System type as the engine sees it, with lazily resolved members."""

    __slots__ = (
        "_by_json",
        "_members",
        "ancestors",
        "base",
        "conv",
        "kind",
        "name",
        "namespace",
        "owner",
        "path",
        "quantity",
    )

    def __init__(self, namespace: str, name: str, kind: str, owner: str = "", path: str = ""):
        self.namespace = namespace
        self.name = name
        self.kind = kind  # "system", "primitive", "complex", "resource", "backbone"
        self.owner = owner or name
        self.path = path
        self.conv = _CONVERTERS.get(name) if kind == "primitive" else None
        self.quantity = kind == "complex" and name in QUANTITY_TYPES
        self.ancestors: frozenset[str] = frozenset({name})
        self.base: str | None = None
        self._members: dict[str, tuple[Member, ...]] | None = None
        self._by_json: dict[str, Member] | None = None

    def __repr__(self) -> str:
        return f"TypeInfo({self.namespace}.{self.name}{'@' + self.path if self.path else ''})"

    @property
    def is_primitive(self) -> bool:
        """Tell whether values of this type are JSON primitives."""
        return self.kind in ("primitive", "system")

    def members(self) -> dict[str, tuple[Member, ...]]:
        """Return the FHIRPath-visible members by name (choice elements expanded)."""
        if self._members is None:
            self._build()
        assert self._members is not None
        return self._members

    def by_json(self) -> dict[str, Member]:
        """Return members by their JSON key (``valueQuantity`` …)."""
        if self._by_json is None:
            self._build()
        assert self._by_json is not None
        return self._by_json

    def _build(self) -> None:
        members: dict[str, tuple[Member, ...]] = {}
        if self.kind == "primitive":
            members = {
                "id": (("id", "_id", system_type("String")),),
                "extension": (("extension", "_extension", type_info("Extension")),),
            }
        elif self.kind != "system":
            typedef = fhir_model().types[self.owner]
            prefix = self.path + "." if self.path else ""
            for rel, edef in typedef.elements.items():
                if not rel.startswith(prefix) or "." in rel[len(prefix) :]:
                    continue
                name = rel[len(prefix) :]
                if name.endswith("[x]"):
                    base = name[:-3]
                    members[base] = tuple(
                        (
                            base + t[0].upper() + t[1:],
                            "_" + base + t[0].upper() + t[1:],
                            type_info(t),
                        )
                        for t in edef.types
                    )
                else:
                    members[name] = ((name, "_" + name, self._child(name, edef)),)
        self._members = members
        self._by_json = {m[0]: m for ms in members.values() for m in ms}

    def _child(self, name: str, edef: ElementDef) -> TypeInfo | None:
        code = edef.types[0] if edef.types else "Element"
        if name == "id" and self.kind == "resource":
            return type_info("id")
        if code.startswith("@"):
            return backbone_info(self.owner, code[1:], "BackboneElement")
        if code in ("BackboneElement", "Element") and (
            f"{edef.path}.id" in fhir_model().types[self.owner].elements
        ):
            return backbone_info(self.owner, edef.path, code)
        if code == "Resource":
            return None
        if code.startswith("http://hl7.org/fhirpath/System."):
            return system_type(code.rsplit(".", 1)[1])
        return type_info(code)


def _ancestors(name: str) -> frozenset[str]:
    model = fhir_model()
    names: set[str] = set()
    current: str | None = name
    while current:
        names.add(current)
        current = (
            model.types[current].base if current in model.types else _PRIMITIVE_BASE.get(current)
        )
    return frozenset(names)


@cache
def type_info(name: str) -> TypeInfo | None:
    """Return the FHIR type ``name`` (resource, complex or primitive), or None if unknown."""
    model = fhir_model()
    if name in model.primitives:
        info = TypeInfo("FHIR", name, "primitive")
    elif name in model.types:
        typedef = model.types[name]
        info = TypeInfo("FHIR", name, "resource" if typedef.kind == "resource" else "complex")
        info.base = typedef.base
    else:
        return None
    info.ancestors = _ancestors(name)
    return info


@cache
def backbone_info(owner: str, path: str, declared: str) -> TypeInfo:
    """Return the anonymous element type at ``owner.path`` (BackboneElement or Element)."""
    info = TypeInfo("FHIR", declared, "backbone", owner, path)
    info.ancestors = frozenset({declared, "Element"})
    return info


@cache
def system_type(name: str) -> TypeInfo:
    """Return the System type ``name``."""
    return TypeInfo("System", name, "system")


def resource_info(value: Any) -> TypeInfo | None:
    """Return the type of a resource from its ``resourceType``."""
    if type(value) is dict:
        rtype = value.get("resourceType")
        if type(rtype) is str:
            return type_info(rtype)
    return None


class Node:
    """One item of a FHIRPath collection: a raw JSON value (or System value) and its type."""

    __slots__ = ("ext", "ti", "value")

    def __init__(self, value: Any, ti: TypeInfo | None = None, ext: dict[str, Any] | None = None):
        self.value = value
        self.ti = ti
        self.ext = ext

    @property
    def type(self) -> str | None:
        """Return the FHIR (or System) type name, None when unknown."""
        return self.ti.name if self.ti is not None else None

    def __repr__(self) -> str:
        return f"Node({self.value!r}, {self.type})"


BOOLEAN = system_type("Boolean")
STRING = system_type("String")
INTEGER = system_type("Integer")
DECIMAL = system_type("Decimal")
DATE = system_type("Date")
DATETIME = system_type("DateTime")
TIME = system_type("Time")
QUANTITY = system_type("Quantity")
