"""Parse a FHIR search query string into criteria and result parameters."""

from __future__ import annotations

from dataclasses import dataclass, field

from gansu_health.core.errors import BadRequest, OutcomeIssue
from gansu_health.fhir.definitions import SearchParamDef, fhir_model, search_parameters

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
RESULT_PARAMS = {"_count", "_sort", "_include", "_revinclude", "_summary", "_elements", "_total",
                 "_cursor", "_format", "_pretty", "_contained", "_containedType", "_offset",
                 "_include:iterate", "_revinclude:iterate", "_include:recurse",
                 "_revinclude:recurse"}
MODIFIERS: dict[str, set[str]] = {
    "string": {"exact", "contains", "missing"},
    "token": {"not", "text", "missing", "below", "above", "in", "not-in"},
    "date": {"missing"},
    "number": {"missing"},
    "quantity": {"missing"},
    "uri": {"above", "below", "missing"},
    "reference": {"identifier", "missing"},
    "composite": {"missing"},
    "special": set(),
}
SUMMARY_MODES = {"true", "false", "text", "data", "count"}


class UnsupportedParameter(BadRequest):
    """A search parameter this server does not know or does not support (ignored if lenient)."""


@dataclass
class Criterion:
    """One query parameter: values are OR'ed; chain/has name the path into other resources."""

    name: str
    param: SearchParamDef | None  # None for _has
    modifier: str | None
    values: list[str]
    chains: list[tuple[str, Criterion]] = field(default_factory=list)  # (target type, criterion)
    has: tuple[str, str, Criterion] | None = None  # _has:Type:refparam:inner


@dataclass
class Include:
    """An _include or _revinclude directive."""

    source_type: str
    param: str  # "*" for all reference parameters
    target_type: str | None
    iterate: bool
    reverse: bool


@dataclass
class SearchRequest:
    """A parsed search: criteria (AND) and result parameters."""

    rtype: str
    criteria: list[Criterion] = field(default_factory=list)
    count: int = 20
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (param, descending)
    includes: list[Include] = field(default_factory=list)
    summary: str | None = None
    elements: list[str] | None = None
    total: str = "none"
    cursor: str | None = None
    warnings: list[OutcomeIssue] = field(default_factory=list)


def split_values(raw: str) -> list[str]:
    """Split on unescaped commas (``\\,`` keeps a literal comma)."""
    out, cur, i = [], [], 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw) and raw[i + 1] in ",$|\\":
            cur.append("\\" + raw[i + 1])
            i += 2
            continue
        if ch == ",":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur))
    return [v for v in out if v != ""]


def unescape(value: str) -> str:
    """Remove FHIR search escapes."""
    return value.replace("\\,", ",").replace("\\$", "$").replace("\\|", "|").replace("\\\\", "\\")


def split_escaped(value: str, sep: str) -> list[str]:
    """Split ``value`` on unescaped ``sep``."""
    parts, cur, i = [], [], 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            cur.append(value[i:i + 2])
            i += 2
            continue
        if value[i] == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(value[i])
        i += 1
    parts.append("".join(cur))
    return parts


def _param(rtype: str, code: str) -> SearchParamDef | None:
    return search_parameters().get(rtype, {}).get(code)


def parse_criterion(rtype: str, name: str, raw: str) -> Criterion:
    """Parse one ``name=value`` pair for ``rtype``; raises BadRequest naming the parameter."""
    if name.startswith("_has:"):
        return _parse_has(rtype, name, raw)
    head, dot, rest = name.partition(".")
    code, _, modifier = head.partition(":")
    param = _param(rtype, code)
    if param is None:
        raise UnsupportedParameter(f"Unknown search parameter '{code}' for {rtype}",
                                   expression=name)
    if (not param.expression and code not in ("_id", "_lastUpdated", "_text", "_content")) or (
            param.type == "special" and code != "near"):
        raise UnsupportedParameter(f"Search parameter '{code}' is not supported by this server",
                                   expression=name)
    if dot:
        if param.type != "reference":
            raise BadRequest(f"'{code}' is not a reference parameter and cannot be chained",
                             expression=name)
        targets = [modifier] if modifier else list(param.targets)
        if modifier and modifier not in fhir_model().resource_types:
            raise BadRequest(f"'{modifier}' is not a resource type", expression=name)
        link = rest.partition(".")[0].partition(":")[0]
        chained = [t for t in targets if link.startswith("_has") or _param(t, link)]
        if not chained:
            raise BadRequest(f"No target of '{code}' has a search parameter '{link}'",
                             expression=name)
        return Criterion(name, param, None, [],
                         chains=[(t, parse_criterion(t, rest, raw)) for t in chained])
    if modifier and modifier not in MODIFIERS.get(param.type, set()) and not (
            param.type == "reference" and modifier in fhir_model().resource_types):
        raise BadRequest(
            f"Modifier ':{modifier}' is not supported on {param.type} parameter '{code}'",
            expression=name)
    values = split_values(raw)
    if not values:
        raise BadRequest(f"Search parameter '{name}' has no value", expression=name)
    return Criterion(name, param, modifier or None, values)


def _parse_has(rtype: str, name: str, raw: str) -> Criterion:
    parts = name.split(":", 3)
    if len(parts) < 4:
        raise BadRequest("_has needs the form _has:Type:reference:parameter", expression=name)
    _, src_type, ref_param, inner = parts
    if src_type not in fhir_model().resource_types:
        raise BadRequest(f"'{src_type}' is not a resource type", expression=name)
    ref = _param(src_type, ref_param)
    if ref is None or ref.type != "reference":
        raise BadRequest(f"'{ref_param}' is not a reference parameter of {src_type}",
                         expression=name)
    return Criterion(name, None, None, [], has=(src_type, ref_param,
                                                parse_criterion(src_type, inner, raw)))


def _parse_include(value: str, reverse: bool, iterate: bool, name: str) -> Include:
    parts = value.split(":")
    if value == "*":
        return Include("*", "*", None, iterate, reverse)
    if len(parts) < 2 or parts[0] not in fhir_model().resource_types:
        raise BadRequest(f"'{value}' is not of the form Type:parameter[:targetType]",
                         expression=name)
    if parts[1] != "*":
        p = _param(parts[0], parts[1])
        if p is None or p.type != "reference":
            raise BadRequest(f"'{parts[1]}' is not a reference parameter of {parts[0]}",
                             expression=name)
    return Include(parts[0], parts[1], parts[2] if len(parts) > 2 else None, iterate, reverse)


def parse_search(rtype: str, pairs: list[tuple[str, str]], *, strict: bool,
                 default_count: int, max_count: int) -> SearchRequest:
    """Parse query pairs into a SearchRequest (lenient mode skips unknown parameters)."""
    req = SearchRequest(rtype, count=default_count)
    for name, raw in pairs:
        if name in RESULT_PARAMS or name.split(":")[0] in ("_include", "_revinclude"):
            _result_param(req, name, raw, max_count)
            continue
        try:
            req.criteria.append(parse_criterion(rtype, name, raw))
        except UnsupportedParameter as exc:
            if strict:
                raise
            req.warnings.append(OutcomeIssue("warning", "not-supported",
                                             exc.message + " (ignored)", name))
    return req


def _result_param(req: SearchRequest, name: str, raw: str, max_count: int) -> None:
    base = name.split(":")[0]
    if base == "_count":
        if not raw.isdigit():
            raise BadRequest(f"_count must be a non-negative integer, not '{raw}'",
                             expression="_count")
        req.count = min(int(raw), max_count)
    elif base == "_sort":
        for key in split_values(raw):
            desc = key.startswith("-")
            code = key.lstrip("-")
            if _param(req.rtype, code) is None:
                raise BadRequest(f"Cannot sort {req.rtype} by unknown parameter '{code}'",
                                 expression="_sort")
            req.sort.append((code, desc))
    elif base in ("_include", "_revinclude"):
        iterate = name.endswith((":iterate", ":recurse"))
        req.includes.extend(_parse_include(v, base == "_revinclude", iterate, name)
                            for v in split_values(raw))
    elif base == "_summary":
        if raw not in SUMMARY_MODES:
            raise BadRequest(f"_summary must be one of {sorted(SUMMARY_MODES)}",
                             expression="_summary")
        req.summary = raw
    elif base == "_elements":
        req.elements = [e.strip() for e in raw.split(",") if e.strip()]
    elif base == "_total":
        if raw not in ("none", "estimate", "accurate"):
            raise BadRequest("_total must be none, estimate or accurate", expression="_total")
        req.total = raw
    elif base == "_cursor":
        req.cursor = raw
    elif base in ("_contained", "_containedType", "_offset") and raw not in ("false", "0"):
        raise BadRequest(f"{base} is not supported", expression=base)
