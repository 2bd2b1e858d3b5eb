"""Per-type lookup tables compiled once from the R4 definitions: JSON key → slot."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from gansu_health.fhir.definitions import ElementDef, fhir_model, required_valuesets

from ._context import Context
from ._primitives import Check, primitive_check

PRIMITIVE, COMPLEX, RESOURCE, SIBLING, RESOURCE_TYPE = range(5)
CODED_TYPES = frozenset({"Coding", "CodeableConcept"})


@dataclass(slots=True, eq=False)
class Slot:
    """What one JSON property of an object may hold."""

    key: str
    kind: int
    is_list: bool
    max: int
    type_name: str
    ok: Check | None = None  # primitives only
    struct: Struct | None = None  # complex types and `_x` siblings
    choice: str | None = None
    codes: frozenset[str] | None = None  # required binding of a code element
    coding_codes: dict[str, frozenset[str]] | None = None  # required binding of Coding/CC
    binding: str | None = None


Special = Callable[[dict[str, Any], str, Context], None]


@dataclass(slots=True, eq=False)
class Struct:
    """The JSON shape of one complex type, backbone element or resource."""

    name: str
    slots: dict[str, Slot] = field(default_factory=dict)
    required: tuple[tuple[tuple[str, ...], str, int], ...] = ()
    choice_types: dict[str, tuple[str, ...]] = field(default_factory=dict)
    special: Special | None = None


def _suffix(type_name: str) -> str:
    return type_name[0].upper() + type_name[1:]


class _Compiler:
    def __init__(self) -> None:
        self.model = fhir_model()
        self.valuesets = required_valuesets()
        self.structs: dict[tuple[str, str], Struct] = {}
        self.children: dict[str, dict[str, list[tuple[str, ElementDef]]]] = {}

    def _children_of(self, type_name: str) -> dict[str, list[tuple[str, ElementDef]]]:
        table = self.children.get(type_name)
        if table is None:
            table = {}
            for rel, el in self.model.types[type_name].elements.items():
                parent, _, name = rel.rpartition(".")
                table.setdefault(parent, []).append((name, el))
            self.children[type_name] = table
        return table

    def struct(self, type_name: str, base: str = "") -> Struct:
        found = self.structs.get((type_name, base))
        if found is not None:
            return found
        is_resource = self.model.types[type_name].kind == "resource" and base == ""
        struct = Struct(f"{type_name}.{base}" if base else type_name)
        self.structs[(type_name, base)] = struct
        required: list[tuple[tuple[str, ...], str, int]] = []
        for name, el in self._children_of(type_name).get(base, []):
            path = f"{base}.{name}" if base else name
            keys = self._add_element(struct, type_name, path, name, el)
            if el.min > 0:
                required.append((keys, name, el.min))
        if is_resource:
            struct.slots["resourceType"] = Slot("resourceType", RESOURCE_TYPE, False, 1, "code")
            id_slot = struct.slots["id"]
            id_slot.type_name, id_slot.ok = "id", primitive_check("id")
        struct.required = tuple(required)
        if base == "":
            struct.special = _SPECIALS.get(type_name)
        return struct

    def _add_element(self, struct: Struct, owner: str, path: str, name: str,
                     el: ElementDef) -> tuple[str, ...]:
        keys: list[str] = []
        if el.is_choice:
            stem = name[:-3]
            struct.choice_types[stem] = tuple(el.types)
            for t in el.types:
                keys += self._add_key(struct, owner, path, stem + _suffix(t), t, el, name)
            return tuple(keys)
        has_children = path in self._children_of(owner)
        type_name = el.types[0] if el.types else "Element"
        return tuple(self._add_key(struct, owner, path, name, type_name, el, None,
                                   inline=has_children))

    def _add_key(self, struct: Struct, owner: str, path: str, key: str, type_name: str,
                 el: ElementDef, choice: str | None, inline: bool = False) -> list[str]:
        slot = Slot(key, COMPLEX, el.is_list, el.max, type_name, choice=choice)
        struct.slots[key] = slot
        if type_name.startswith("@"):
            slot.type_name = "BackboneElement"
            slot.struct = self.struct(owner, type_name[1:])
        elif inline:
            slot.struct = self.struct(owner, path)
        elif type_name in self.model.primitives or type_name == "xhtml":
            slot.kind, slot.ok = PRIMITIVE, primitive_check(type_name)
            sibling = Slot("_" + key, SIBLING, el.is_list, el.max, type_name,
                           struct=self.struct("Element"))
            struct.slots[sibling.key] = sibling
        elif self.model.types[type_name].kind == "resource":
            slot.kind = RESOURCE
        else:
            slot.struct = self.struct(type_name)
        expansion = self.valuesets.get(el.binding) if el.binding else None
        if expansion is not None:
            slot.binding = el.binding
            if type_name == "code":
                slot.codes = frozenset().union(*expansion.values())
            elif type_name in CODED_TYPES:
                slot.coding_codes = expansion
        return [key, "_" + key] if slot.kind == PRIMITIVE else [key]


_SPECIALS: dict[str, Special] = {}


def register_special(type_name: str, check: Special) -> None:
    """Attach a whole-object check to every object of complex type ``type_name``."""
    _SPECIALS[type_name] = check


@cache
def _compiler() -> _Compiler:
    return _Compiler()


def struct_for(type_name: str) -> Struct:
    """Return the compiled shape of a complex type or resource (built once, then cached)."""
    return _compiler().struct(type_name)


def resource_types() -> frozenset[str]:
    """Return the concrete R4 resource type names."""
    return fhir_model().resource_types
