"""Rules beyond structure: reference formats, extensions, coded bindings, unknown keys."""

from __future__ import annotations

import re
from typing import Any

from gansu_health.fhir.definitions import fhir_model

from ._context import Context
from ._primitives import primitive_check
from ._schema import Slot, Struct, register_special

_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s/?#]+\S*").fullmatch
_REFERENCE_FORMS = ("a relative 'Type/id' (optionally '/_history/version'), an absolute URL, "
                    "a urn:uuid: or urn:oid: URN, or '#id' of a contained resource")


def _relative_problem(ref: str) -> str | None:
    parts = ref.split("/")
    if len(parts) == 4 and parts[2] == "_history":
        if not primitive_check("id")(parts[3]):
            return f"version '{parts[3]}' is not a valid id"
    elif len(parts) != 2:
        return f"it is not {_REFERENCE_FORMS}"
    if parts[0] not in fhir_model().resource_types:
        return f"'{parts[0]}' is not a known resource type"
    if not primitive_check("id")(parts[1]):
        return f"'{parts[1]}' is not a valid resource id"
    return None


def check_reference(obj: dict[str, Any], path: str, ctx: Context) -> None:
    """Check that ``Reference.reference`` has one of the R4 literal-reference forms."""
    ref = obj.get("reference")
    if type(ref) is not str or not ref:
        return
    where = f"{path}.reference"
    problem: str | None = None
    if ref[0] == "#":
        if ref == "#":
            if not ctx.in_contained:
                problem = "'#' refers to the container, so it only works inside contained resources"
        elif ref[1:] not in ctx.contained_ids:
            ctx.error("not-found", where, f"Reference {where} {ref!r} does not name a contained "
                                          "resource of this resource.")
            return
    elif ref.startswith("urn:"):
        if not (primitive_check("uuid")(ref) or primitive_check("oid")(ref)):
            problem = "a URN reference must be urn:uuid:<lower-case uuid> or urn:oid:<oid>"
    elif "?" in ref and ":" not in ref.split("?", 1)[0]:
        rtype = ref.split("?", 1)[0]
        if rtype not in fhir_model().resource_types:
            problem = f"'{rtype}' is not a known resource type for a conditional reference"
        elif not ctx.in_transaction:
            ctx.warning("value", where, f"Reference {where} {ref!r} is a conditional reference, "
                                        "which only a transaction or batch can resolve.")
    elif "://" in ref:
        if _ABSOLUTE(ref) is None:
            problem = "it is not a well-formed absolute URL"
    else:
        problem = _relative_problem(ref)
    if problem is not None:
        ctx.error("value", where, f"Reference {where} {ref!r} is malformed: {problem}.")


def check_extension(obj: dict[str, Any], path: str, ctx: Context) -> None:
    """Check ext-1: an extension has either a value[x] or nested extensions, not both."""
    has_value = False
    for key in obj:
        if key.startswith("value") or key.startswith("_value"):
            has_value = True
            break
    has_nested = "extension" in obj
    if has_value and has_nested:
        ctx.error("invariant", path, f"Extension {path} has both a value[x] and nested "
                                     "extensions; it must have one or the other (ext-1).")
    elif not has_value and not has_nested:
        ctx.error("invariant", path, f"Extension {path} has neither a value[x] nor nested "
                                     "extensions; it must have one of them (ext-1).")


def check_coded(slot: Slot, value: dict[str, Any], path: str, ctx: Context) -> None:
    """Check Coding codes against a required binding, where the coding's system is bound."""
    expansion = slot.coding_codes
    assert expansion is not None
    if slot.type_name == "Coding":
        codings: list[tuple[Any, str]] = [(value, path)]
    else:
        found = value.get("coding")
        if type(found) is not list:
            return
        codings = [(c, f"{path}.coding[{i}]") for i, c in enumerate(found)]
    for coding, where in codings:
        if type(coding) is not dict:
            continue
        system, code = coding.get("system"), coding.get("code")
        if type(system) is not str or type(code) is not str:
            continue
        codes = expansion.get(system)
        if codes is not None and code not in codes:
            ctx.error("code-invalid", f"{where}.code",
                      f"Element {where}.code has code {code!r}, which is not in the required "
                      f"value set {slot.binding}.")


def unknown_property(struct: Struct, key: str, path: str, ctx: Context) -> None:
    """Report a JSON property that ``struct`` does not define, saying why it is wrong."""
    where = f"{path}.{key}"
    if key == "resourceType":
        message = f"'resourceType' is only allowed on resources, not in {path}."
    elif key.startswith("_") and key[1:] in struct.slots:
        message = f"'{key}' is not allowed in {path}: '{key[1:]}' is not a primitive element."
    else:
        message = f"Unknown element '{key}' in {path}."
        for stem, types in struct.choice_types.items():
            suffix = key[len(stem):]
            if key.startswith(stem) and suffix[:1].isupper():
                message = (f"'{key}' in {path} is not an allowed type for {stem}[x]; allowed "
                           f"types are {', '.join(types)}.")
                break
    ctx.error("structure", where, message)


register_special("Reference", check_reference)
register_special("Extension", check_extension)
