"""Extract typed search-index rows from a resource using every SearchParameter of its type."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gansu_health.fhir import fhirpath
from gansu_health.fhir.definitions import (
    FhirModel,
    SearchParamDef,
    fhir_model,
    required_valuesets,
    search_parameters,
)
from gansu_health.fhir.search import paths
from gansu_health.fhir.search.values import (
    date_range,
    normalize_string,
    span_class,
    split_reference,
)

log = logging.getLogger(__name__)
Row = tuple[Any, ...]
Node = paths.Node
INDEXED_SPECIAL = {"near"}  # Location.position, kept as latitude/longitude number rows
_INF = 2**62


@dataclass
class CompiledParam:
    """A search parameter ready to extract: its code, type and compiled expression."""

    code: str
    type: str
    extract: Callable[[dict[str, Any]], list[Node]]
    system: str | None = None  # implied code system of bare ``code`` values
    components: list[tuple[str, str, Callable[[Node, dict[str, Any]], list[Node]]]] = field(
        default_factory=list)


def _fhirpath_extractor(expr: str) -> Callable[[dict[str, Any]], list[Node]]:
    compiled = fhirpath.compile_path(expr)

    def extract(resource: dict[str, Any]) -> list[Node]:
        return [(n.value, n.type) for n in compiled.nodes(resource)]

    return extract


def _binding_system(model: FhirModel, expr: str | None) -> str | None:
    if not expr or not re.fullmatch(r"\w+(\.\w+)+", expr):
        return None
    owner, *names = expr.split(".")
    path = ""
    for name in names:
        path = f"{path}.{name}" if path else name
        el = model.element(owner, path)
        if el is None:
            return None
        if el.types and el.types[0] not in ("BackboneElement", "Element") and name != names[-1]:
            owner, path = el.types[0], ""
    if el is None or not el.binding:
        return None
    systems = required_valuesets().get(el.binding, {})
    return next(iter(systems)) if len(systems) == 1 else None


def _component_owner(model: FhirModel, expr: str) -> tuple[str, str]:
    owner, _, path = expr.partition(".")
    if path:
        el = model.element(owner, path)
        if el and el.types and el.types[0] not in ("BackboneElement", "Element"):
            return el.types[0], ""
    return owner, path


def compile_param(p: SearchParamDef, model: FhirModel) -> CompiledParam | None:
    """Compile one search parameter, or return None when it is not indexable."""
    if (p.type == "special" and p.code not in INDEXED_SPECIAL) or not p.expression:
        return None
    try:
        extract = paths.compile_simple(p.expression, model)
    except paths.Unsupported:
        try:
            extract = _fhirpath_extractor(p.expression)
        except Exception as exc:
            log.warning("search parameter %s not indexed: %s", p.url, exc)
            return None
    compiled = CompiledParam(p.code, p.type, extract, _binding_system(model, p.expression))
    if p.type == "composite":
        owner, path = _component_owner(model, p.expression.split("|")[-1].strip())
        for code, ctype, cexpr in p.components:
            try:
                compiled.components.append(
                    (code, ctype, paths.compile_component(cexpr, owner, path, model)))
            except paths.Unsupported:
                return None
    return compiled


def _position_rows(code: str, nodes: list[Node]) -> list[Row]:
    rows: list[Row] = []
    for grp, (value, _) in enumerate(nodes, start=1):
        if isinstance(value, dict) and all(
                isinstance(value.get(k), int | float) for k in ("latitude", "longitude")):
            rows.append((f"{code}$lat", grp, float(value["latitude"])))
            rows.append((f"{code}$lon", grp, float(value["longitude"])))
    return rows


def _token_row(system: Any, code: Any, text: Any) -> Row:
    return (system if isinstance(system, str) else None,
            None if code is None else str(code)[:255],
            normalize_string(text) or None if isinstance(text, str) else None)


class Indexer:
    """Turns resources into rows for the ``idx_*`` tables: tuples ``(param, grp, *values)``."""

    def __init__(self, base_url: str = "", default_tz: str = "Asia/Shanghai") -> None:
        self.base_url = base_url
        self.default_tz = default_tz
        self._params: dict[str, list[CompiledParam]] = {}

    def params_for(self, rtype: str) -> list[CompiledParam]:
        """Return the compiled parameters of a resource type (compiled on first use)."""
        compiled = self._params.get(rtype)
        if compiled is None:
            model = fhir_model()
            defs = search_parameters().get(rtype, {})
            compiled = [c for p in defs.values() if (c := compile_param(p, model))]
            self._params[rtype] = compiled
        return compiled

    def rows(self, resource: dict[str, Any]) -> dict[str, list[Row]]:
        """Return index rows keyed by search-parameter type (without rid/node/rtype)."""
        out: dict[str, list[Row]] = {}
        rtype = resource["resourceType"]
        for param in self.params_for(rtype):
            if param.code in ("_id", "_lastUpdated"):
                continue
            nodes = param.extract(resource)
            if not nodes:
                continue
            if param.type == "special":
                out.setdefault("number", []).extend(_position_rows(param.code, nodes))
            elif param.type == "composite":
                for grp, node in enumerate(nodes, start=1):
                    for i, (_, ctype, cextract) in enumerate(param.components):
                        self._emit(out, ctype, f"{param.code}${i}", cextract(node, resource),
                                   None, grp)
            else:
                self._emit(out, param.type, param.code, nodes, param.system, 0)
        return out

    def _emit(self, out: dict[str, list[Row]], ptype: str, code: str, nodes: Iterable[Node],
              system: str | None, grp: int) -> None:
        convert = getattr(self, f"_{ptype}")
        emitted: list[Row] = []
        for value, vtype in nodes:
            emitted.extend((code, grp, *vals) for vals in convert(value, vtype, system))
            if ptype == "reference" and isinstance(value, dict):
                ident = value.get("identifier")
                if isinstance(ident, dict) and ident.get("value") is not None:
                    out.setdefault("token", []).append(
                        (f"{code}:identifier", grp, ident.get("system"),
                         str(ident["value"])[:255], None))
        if grp == 0 and len(emitted) > 1:  # a repeated value (five participants "accepted")
            emitted = list(dict.fromkeys(emitted))  # matches the same: one row is enough
        if ptype == "date":
            multi = len(emitted) > 1
            emitted = [(*row, span_class(row[2], row[3]), multi) for row in emitted]
        out.setdefault(ptype, []).extend(emitted)

    @staticmethod
    def _token(value: Any, vtype: str | None, system: str | None) -> list[Row]:
        if isinstance(value, bool):
            return [(None, "true" if value else "false", None)]
        if isinstance(value, str | int | float):
            return [(system, str(value)[:255], None)]
        if not isinstance(value, dict):
            return []
        if vtype == "CodeableConcept" or "coding" in value:
            text = value.get("text")
            rows = [_token_row(c.get("system"), c.get("code"), c.get("display") or text)
                    for c in value.get("coding", []) if isinstance(c, dict)]
            if text and not rows:
                rows.append(_token_row(None, None, text))
            return rows
        if vtype == "ContactPoint":
            return [_token_row(None, value.get("value"), None)]
        if vtype == "Identifier" or ("value" in value and "code" not in value):
            return [_token_row(value.get("system"), value.get("value"),
                               (value.get("type") or {}).get("text"))]
        if "code" in value:
            return [_token_row(value.get("system"), value.get("code"), value.get("display"))]
        return []

    @staticmethod
    def _string(value: Any, vtype: str | None, system: str | None) -> list[Row]:
        texts: list[str] = []
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, dict):
            for key in ("family", "given", "prefix", "suffix", "text", "line", "city", "district",
                        "state", "postalCode", "country", "value", "display"):
                v = value.get(key)
                if isinstance(v, str):
                    texts.append(v)
                elif isinstance(v, list):
                    texts.extend(x for x in v if isinstance(x, str))
        return [(normalize_string(t), t[:1024]) for t in texts if t]

    def _date(self, value: Any, vtype: str | None, system: str | None) -> list[Row]:
        if isinstance(value, str):
            rng = date_range(value, self.default_tz)
            return [rng] if rng else []
        if not isinstance(value, dict):
            return []
        if vtype == "Timing" or "event" in value or "repeat" in value:
            rows: list[Row] = [r for e in value.get("event", [])
                               if (r := date_range(e, self.default_tz))]
            bounds = (value.get("repeat") or {}).get("boundsPeriod")
            return rows + (self._date(bounds, "Period", None) if bounds else [])
        start = date_range(value["start"], self.default_tz) if value.get("start") else None
        end = date_range(value["end"], self.default_tz) if value.get("end") else None
        if start is None and end is None:
            return []
        return [(start[0] if start else -_INF, end[1] if end else _INF)]

    @staticmethod
    def _number(value: Any, vtype: str | None, system: str | None) -> list[Row]:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return [(float(value),)]
        return []

    @staticmethod
    def _quantity(value: Any, vtype: str | None, system: str | None) -> list[Row]:
        if not isinstance(value, dict) or not isinstance(value.get("value"), int | float):
            return []
        number = float(value["value"])
        code = value.get("code") or value.get("currency")
        rows: list[Row] = [(value.get("system"), code, number)]
        unit = value.get("unit")
        if unit and unit != code:
            rows.append((None, unit, number))
        return rows

    @staticmethod
    def _uri(value: Any, vtype: str | None, system: str | None) -> list[Row]:
        return [(value[:512],)] if isinstance(value, str) else []

    def _reference(self, value: Any, vtype: str | None, system: str | None) -> list[Row]:
        if isinstance(value, str):  # canonical or uri used as a reference
            rtype, rid, url = split_reference(value, self.base_url)
            return [(rtype, rid, url or value)]
        if not isinstance(value, dict):
            return []
        ref = value.get("reference")
        if isinstance(ref, str):
            rtype, rid, url = split_reference(ref, self.base_url)
            if rtype or url:
                return [(rtype, rid, url)]
        return []
