"""The single pass over a resource's JSON that checks it against the compiled slots."""

from __future__ import annotations

from typing import Any

from ._context import Context
from ._primitives import explain
from ._schema import (
    COMPLEX,
    PRIMITIVE,
    RESOURCE_TYPE,
    SIBLING,
    Slot,
    Struct,
    resource_types,
    struct_for,
)
from ._special import check_coded, unknown_property

_NO_IDS: frozenset[str] = frozenset()
_ANY_RESOURCE = frozenset({"Resource", "DomainResource"})


def walk_resource(res: Any, path: str, ctx: Context, expected: str | None = None,
                  contained: bool = False) -> None:
    """Validate ``res`` as a resource located at ``path`` ("" for a top-level resource)."""
    where = path or expected or "Resource"
    if type(res) is not dict:
        ctx.error("structure", where, f"{where} must be a JSON object holding a resource.")
        return
    rtype = res.get("resourceType")
    if rtype is None:
        ctx.error("required", f"{where}.resourceType" if path else "resourceType",
                  f"{where} has no resourceType.")
        return
    types = resource_types()
    if type(rtype) is not str or rtype not in types:
        ctx.error("not-supported", f"{path}.resourceType" if path else "resourceType",
                  f"resourceType {rtype!r} is not a known FHIR R4 resource type.")
        return
    if expected is not None and rtype != expected:
        ctx.error("invalid", f"{path or rtype}.resourceType",
                  f"Expected resourceType {expected!r} but found {rtype!r}.")
    path = path or rtype
    saved = ctx.contained_ids, ctx.in_contained, ctx.in_transaction
    if contained:
        ctx.in_contained = True
        if "contained" in res:
            ctx.error("invariant", f"{path}.contained",
                      f"Contained resource {path} may not itself contain resources (dom-2).")
        if "id" not in res:
            ctx.error("required", f"{path}.id", f"Contained resource {path} must have an id.")
    else:
        ctx.in_contained = False
        inner = res.get("contained")
        ctx.contained_ids = _NO_IDS if type(inner) is not list else frozenset(
            c["id"] for c in inner if type(c) is dict and type(c.get("id")) is str)
    if rtype == "Bundle":
        ctx.in_transaction = res.get("type") in ("transaction", "batch")
    walk_object(res, struct_for(rtype), path, ctx)
    ctx.contained_ids, ctx.in_contained, ctx.in_transaction = saved


def walk_object(obj: dict[str, Any], struct: Struct, path: str, ctx: Context) -> None:
    """Check every property of ``obj`` against ``struct``, then required elements."""
    slots = struct.slots
    chosen: dict[str, str] | None = None
    for key, value in obj.items():
        slot = slots.get(key)
        if slot is None:
            unknown_property(struct, key, path, ctx)
            continue
        if slot.choice is not None:
            if chosen is None:
                chosen = {slot.choice: key}
            elif slot.choice in chosen:
                ctx.error("structure", f"{path}.{key}",
                          f"Choice element '{slot.choice}' in {path} has both "
                          f"'{chosen[slot.choice]}' and '{key}'; only one type is allowed.")
            else:
                chosen[slot.choice] = key
        kind = slot.kind
        if kind == PRIMITIVE:
            ok = slot.ok
            assert ok is not None
            if not slot.is_list:
                if not ok(value):
                    _bad_primitive(obj, slot, value, f"{path}.{key}", ctx, -1)
                elif slot.codes is not None and value not in slot.codes:
                    _bad_code(slot, value, f"{path}.{key}", ctx)
            elif _list_shape(slot, value, path, ctx):
                codes = slot.codes
                for i, item in enumerate(value):
                    if not ok(item):
                        _bad_primitive(obj, slot, item, f"{path}.{key}[{i}]", ctx, i)
                    elif codes is not None and item not in codes:
                        _bad_code(slot, item, f"{path}.{key}[{i}]", ctx)
        elif kind == RESOURCE_TYPE:
            continue
        elif kind == SIBLING:
            _walk_sibling(obj, slot, value, path, ctx)
        elif not slot.is_list:
            if type(value) is list:
                ctx.error("structure", f"{path}.{key}",
                          f"Element '{key}' in {path} repeats at most once but is a JSON array.")
            else:
                _visit(slot, value, f"{path}.{key}", ctx)
        elif _list_shape(slot, value, path, ctx):
            sub = f"{path}.{key}"
            for i, item in enumerate(value):
                _visit(slot, item, f"{sub}[{i}]", ctx)
    for keys, name, minimum in struct.required:
        for k in keys:
            if k in obj:
                if minimum > 1 and type(obj[k]) is list and len(obj[k]) < minimum:
                    ctx.error("required", f"{path}.{k}",
                              f"Element '{k}' in {path} needs at least {minimum} items.")
                break
        else:
            ctx.error("required", f"{path}.{name}",
                      f"Required element '{name}' is missing from {path}.")
    if struct.special is not None:
        struct.special(obj, path, ctx)


def _visit(slot: Slot, value: Any, path: str, ctx: Context) -> None:
    if slot.kind == COMPLEX:
        if type(value) is not dict:
            what = "null" if value is None else f"a JSON {type(value).__name__}"
            ctx.error("structure", path, f"Element {path} ({slot.type_name}) must be a JSON "
                                         f"object, not {what}.")
        elif not value:
            ctx.error("structure", path, f"Element {path} is an empty object, which FHIR JSON "
                                         "forbids.")
        else:
            assert slot.struct is not None
            walk_object(value, slot.struct, path, ctx)
            if slot.coding_codes is not None:
                check_coded(slot, value, path, ctx)
    else:
        expected = None if slot.type_name in _ANY_RESOURCE else slot.type_name
        walk_resource(value, path, ctx, expected, slot.key == "contained")


def _list_shape(slot: Slot, value: Any, path: str, ctx: Context) -> bool:
    key = slot.key
    if type(value) is not list:
        ctx.error("structure", f"{path}.{key}",
                  f"Element '{key}' in {path} repeats, so it must be a JSON array.")
        return False
    if not value:
        ctx.error("structure", f"{path}.{key}",
                  f"Element '{key}' in {path} is an empty array, which FHIR JSON forbids.")
        return False
    if 1 < slot.max < len(value):
        ctx.error("structure", f"{path}.{key}",
                  f"Element '{key}' in {path} allows at most {slot.max} items, not {len(value)}.")
    return True


def _bad_primitive(obj: dict[str, Any], slot: Slot, value: Any, path: str, ctx: Context,
                   index: int) -> None:
    if value is None and index >= 0:
        sibling = obj.get("_" + slot.key)
        if type(sibling) is list and index < len(sibling) and sibling[index] is not None:
            return
        ctx.error("structure", path, f"Element {path} is null without a matching extension in "
                                     f"'_{slot.key}'.")
        return
    if type(value) is list and not slot.is_list:
        ctx.error("structure", path, f"Element {path} repeats at most once but is a JSON array.")
        return
    code, message = explain(slot.type_name, value, path)
    ctx.error(code, path, message)


def _bad_code(slot: Slot, value: Any, path: str, ctx: Context) -> None:
    ctx.error("code-invalid", path, f"Element {path} has code {value!r}, which is not in the "
                                    f"required value set {slot.binding}.")


def _walk_sibling(obj: dict[str, Any], slot: Slot, value: Any, path: str, ctx: Context) -> None:
    struct = slot.struct
    assert struct is not None
    if not slot.is_list:
        if type(value) is not dict or not value:
            ctx.error("structure", f"{path}.{slot.key}", f"Element '{slot.key}' in {path} must "
                                                         "be a non-empty JSON object.")
        else:
            walk_object(value, struct, f"{path}.{slot.key}", ctx)
        return
    if not _list_shape(slot, value, path, ctx):
        return
    values = obj.get(slot.key[1:])
    if type(values) is list and len(values) != len(value):
        ctx.error("structure", f"{path}.{slot.key}",
                  f"'{slot.key}' in {path} must have as many items as '{slot.key[1:]}'.")
    for i, item in enumerate(value):
        where = f"{path}.{slot.key}[{i}]"
        if item is None:
            if type(values) is not list or i >= len(values) or values[i] is None:
                ctx.error("structure", where, f"Element {where} is null and so is its value.")
        elif type(item) is not dict or not item:
            ctx.error("structure", where, f"Element {where} must be a non-empty JSON object.")
        else:
            walk_object(item, struct, where, ctx)
