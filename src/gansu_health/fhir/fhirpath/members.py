"""Member navigation: JSON keys, choice elements, primitive ``_name`` siblings, Resources."""

from __future__ import annotations

from typing import Any

from .context import Ctx, Fn
from .errors import FhirPathError
from .model import Member, Node, TypeInfo, resource_info, type_info
from .operators import system_info


def static_members(name: str, focus: tuple[TypeInfo, ...] | None) -> tuple[Member, ...] | None:
    """Resolve ``name`` on statically known types; raise when no type has it."""
    if focus is None:
        return None
    found: list[Member] = []
    for info in focus:
        found.extend(info.members().get(name, ()))
    if not found:
        names = ", ".join(sorted({i.name for i in focus}))
        raise FhirPathError(f"unknown element {name!r} on type {names}")
    return tuple(dict.fromkeys(found))


def _add(out: list[Node], value: Any, ext: Any, child: TypeInfo | None) -> None:
    if child is None:
        if type(value) is list:
            out.extend(Node(v, resource_info(v)) for v in value)
        elif value is not None:
            out.append(Node(value, resource_info(value)))
        return
    if type(value) is list or type(ext) is list:
        values = value if type(value) is list else [value]
        exts = ext if type(ext) is list else [ext] * len(values)
        for i in range(max(len(values), len(exts))):
            v = values[i] if i < len(values) else None
            e = exts[i] if i < len(exts) else None
            if v is not None or e is not None:
                out.append(Node(v, child, e))
    elif value is not None or ext is not None:
        out.append(Node(value, child, ext))


def _collect(node: Node, members: tuple[Member, ...], out: list[Node]) -> None:
    data = node.value
    if type(data) is dict:
        for key, ext_key, child in members:
            value = data.get(key)
            if child is not None and child.kind == "primitive":
                ext = data.get(ext_key)
                if value is None and ext is None:
                    continue
                _add(out, value, ext, child)
            elif value is not None:
                if type(value) is list:
                    if child is None:
                        out.extend(Node(v, resource_info(v)) for v in value)
                    else:
                        out.extend(Node(v, child) for v in value)
                else:
                    out.append(Node(value, child if child is not None else resource_info(value)))
    elif node.ext is not None:
        for key, _, child in members:
            value = node.ext.get(key)
            if value is not None:
                _add(out, value, None, child)


def _generic(node: Node, name: str, out: list[Node]) -> None:
    data = node.value
    if type(data) is not dict:
        data = node.ext
        if data is None:
            return
    value = data.get(name)
    ext = data.get("_" + name)
    if value is not None or ext is not None:
        if type(value) is list:
            out.extend(Node(v, resource_info(v)) for v in value)
        elif type(value) is dict:
            out.append(Node(value, resource_info(value)))
        else:
            out.append(Node(value, system_info(value), ext))
        return
    size = len(name)
    for key, value in data.items():
        if key.startswith(name) and len(key) > size and key[size].isupper():
            suffix = key[size:]
            info = type_info(suffix) or type_info(suffix[0].lower() + suffix[1:])
            _add(out, value, data.get("_" + key), info)


def member_fn(name: str, members: tuple[Member, ...] | None) -> Fn:
    """Return a closure navigating to ``name`` (pre-resolved when ``members`` is known)."""
    if members is not None and len(members) == 1 and members[0][2] is not None:
        key, _, child = members[0]
        if child is not None and child.kind != "primitive":

            def complex_member(ctx: Ctx, focus: list[Node]) -> list[Node]:
                out: list[Node] = []
                for node in focus:
                    data = node.value
                    if type(data) is dict:
                        value = data.get(key)
                        if value is not None:
                            if type(value) is list:
                                out.extend([Node(v, child) for v in value])
                            else:
                                out.append(Node(value, child))
                    elif node.ext is not None:
                        _collect(node, members, out)
                return out

            return complex_member
    if members is not None:
        fixed = members

        def known_member(ctx: Ctx, focus: list[Node]) -> list[Node]:
            out: list[Node] = []
            for node in focus:
                _collect(node, fixed, out)
            return out

        return known_member

    def dynamic_member(ctx: Ctx, focus: list[Node]) -> list[Node]:
        out: list[Node] = []
        for node in focus:
            info = node.ti
            if info is None:
                _generic(node, name, out)
            else:
                found = info.members().get(name)
                if found:
                    _collect(node, found, out)
        return out

    return dynamic_member


def children(node: Node) -> list[Node]:
    """Return the direct children of a node, typed where the model knows them."""
    out: list[Node] = []
    data = node.value
    if type(data) is not dict:
        if node.ext is not None:
            _collect(node, (("extension", "_extension", type_info("Extension")),), out)
        return out
    by_json = node.ti.by_json() if node.ti is not None else {}
    for key, value in data.items():
        if key == "resourceType":
            continue
        if key.startswith("_"):
            if key[1:] not in data:
                member = by_json.get(key[1:])
                _add(out, None, value, member[2] if member else None)
            continue
        member = by_json.get(key)
        if member is not None:
            _collect(node, (member,), out)
        else:
            _add(out, value, data.get("_" + key), None)
    return out
