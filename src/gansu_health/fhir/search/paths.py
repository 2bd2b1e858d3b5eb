"""Compile the simple FHIRPath shapes used by SearchParameters into fast typed extractors.

Handles ``Type.a.b``, unions, ``as``/``ofType``, ``where(resolve() is X)`` and
``where(field='literal')``; anything else is left to the full FHIRPath engine.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from gansu_health.fhir.definitions import FhirModel, fhir_model
from gansu_health.fhir.search.values import split_reference

Node = tuple[Any, str | None]  # (JSON value, FHIR type)
Extractor = Callable[[dict[str, Any]], list[Node]]
Step = Callable[[list[Node]], list[Node]]

_STEP = re.compile(
    r"""\.(?:(?P<name>[A-Za-z_]\w*)(?![\w(])
    |as\((?P<as>\w+)\)|ofType\((?P<of>\w+)\)
    |where\(resolve\(\)\s+is\s+(?P<res>\w+)\)
    |where\((?P<wf>\w+)\s*=\s*'(?P<wv>[^']*)'\)
    |(?P<first>first\(\)))""",
    re.VERBOSE,
)


class Unsupported(Exception):
    """The expression needs the full FHIRPath engine."""


def _split_union(expr: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in expr:
        depth += (ch == "(") - (ch == ")")
        if ch == "|" and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


def reference_type(value: Any) -> str | None:
    """Return the resource type a Reference points at, read from its ``reference`` or ``type``."""
    if not isinstance(value, dict):
        return None
    ref = value.get("reference")
    if isinstance(ref, str):
        rtype = split_reference(ref, "")[0]
        if rtype:
            return rtype
    typ = value.get("type")
    return typ if isinstance(typ, str) else None


class _Context:
    """A static position in the model: an owning type and a path inside it."""

    __slots__ = ("owner", "path", "type")

    def __init__(self, owner: str, path: str, type_: str | None) -> None:
        self.owner, self.path, self.type = owner, path, type_


def _children(model: FhirModel, ctx: _Context, name: str) -> list[tuple[str, _Context]]:
    """Return (json key, context) alternatives for child ``name`` of ``ctx``."""
    owner, prefix = (ctx.owner, ctx.path) if ctx.type in ("BackboneElement", "Element", None) \
        and ctx.path else (ctx.type or ctx.owner, "")
    for _ in range(4):
        tdef = model.types.get(owner)
        if tdef is None:
            raise Unsupported(f"unknown type {owner}")
        rel = f"{prefix}.{name}" if prefix else name
        el = tdef.elements.get(rel) or tdef.elements.get(rel + "[x]")
        if el is not None:
            break
        if prefix or not tdef.base:
            raise Unsupported(f"no element {rel} in {owner}")
        owner = tdef.base
    else:
        raise Unsupported(name)
    if el.path.endswith("[x]"):
        return [(name + t[0].upper() + t[1:], _Context(owner, rel, t)) for t in el.types]
    typ = el.types[0] if el.types else None
    if typ and typ.startswith("@"):
        return [(name, _Context(owner, typ[1:], "BackboneElement"))]
    if typ in ("BackboneElement", "Element"):
        return [(name, _Context(owner, rel, typ))]
    return [(name, _Context(owner, rel, typ))]


def _member_step(alternatives: list[tuple[str, _Context]]) -> Step:
    keys = [(k, c.type) for k, c in alternatives]

    def step(nodes: list[Node]) -> list[Node]:
        out: list[Node] = []
        for value, _ in nodes:
            if not isinstance(value, dict):
                continue
            for key, typ in keys:
                item = value.get(key)
                if item is None:
                    continue
                if isinstance(item, list):
                    out.extend((v, typ) for v in item if v is not None)
                else:
                    out.append((item, typ))
        return out

    return step


def _compile_steps(model: FhirModel, rest: str, contexts: list[_Context]) -> list[Step]:
    steps: list[Step] = []
    pos = 0
    while pos < len(rest):
        m = _STEP.match(rest, pos)
        if m is None:
            raise Unsupported(rest)
        pos = m.end()
        if m.group("name"):
            alts = [a for c in contexts for a in _children(model, c, m.group("name"))]
            steps.append(_member_step(alts))
            contexts = [c for _, c in alts]
        elif m.group("as") or m.group("of"):
            wanted = m.group("as") or m.group("of")
            steps.append(_type_filter(wanted))
            contexts = [c for c in contexts if c.type == wanted] or contexts
        elif m.group("res"):
            steps.append(_resolve_filter(m.group("res")))
        elif m.group("wf"):
            steps.append(_field_filter(m.group("wf"), m.group("wv")))
        else:
            steps.append(lambda nodes: nodes[:1])
    return steps


def _run(steps: list[Step], nodes: list[Node]) -> list[Node]:
    for step in steps:
        nodes = step(nodes)
        if not nodes:
            break
    return nodes


def _compile_part(model: FhirModel, part: str) -> Extractor:
    while part.startswith("(") and part.endswith(")"):
        part = part[1:-1].strip()
    as_type = None
    m = re.fullmatch(r"\(?(.+?)\)?\s+as\s+(\w+)", part)
    if m:
        part, as_type = m.group(1).strip().strip("()"), m.group(2)
    root, _, rest = part.partition(".")
    if root not in model.types:
        raise Unsupported(part)
    steps = _compile_steps(model, "." + rest if rest else "", [_Context(root, "", root)])
    if as_type:
        steps.append(_type_filter(as_type))
    generic = root in ("Resource", "DomainResource")

    def extract(resource: dict[str, Any]) -> list[Node]:
        if not generic and resource.get("resourceType") != root:
            return []
        return _run(steps, [(resource, resource.get("resourceType"))])

    return extract


def compile_component(expr: str, owner: str, path: str, model: FhirModel | None = None,
                      ) -> Callable[[Node, dict[str, Any]], list[Node]]:
    """Compile a composite component expression relative to the element at ``owner.path``."""
    model = model or fhir_model()
    from_root: list[Extractor] = []
    relative: list[list[Step]] = []
    for part in _split_union(expr):
        if part.startswith("%resource."):
            from_root.append(_compile_part(model, owner + part[len("%resource"):]))
            continue
        ctx = _Context(owner, path, "BackboneElement") if path else _Context(owner, "", owner)
        relative.append(_compile_steps(model, "." + part, [ctx]))

    def extract(node: Node, resource: dict[str, Any]) -> list[Node]:
        out: list[Node] = []
        for steps in relative:
            out.extend(_run(steps, [node]))
        for fn in from_root:
            out.extend(fn(resource))
        return out

    return extract


def _type_filter(wanted: str) -> Step:
    lowered = wanted[0].lower() + wanted[1:]
    return lambda nodes: [n for n in nodes if n[1] in (wanted, lowered)]


def _resolve_filter(wanted: str) -> Step:
    return lambda nodes: [n for n in nodes if reference_type(n[0]) == wanted]


def _field_filter(field: str, literal: str) -> Step:
    return lambda nodes: [n for n in nodes if isinstance(n[0], dict) and n[0].get(field) == literal]


def compile_simple(expr: str, model: FhirModel | None = None) -> Extractor:
    """Compile ``expr`` or raise :class:`Unsupported` when it is not a simple shape."""
    model = model or fhir_model()
    parts = [_compile_part(model, p) for p in _split_union(expr)]
    if len(parts) == 1:
        return parts[0]

    def extract(resource: dict[str, Any]) -> list[Node]:
        out: list[Node] = []
        for part in parts:
            out.extend(part(resource))
        return out

    return extract
