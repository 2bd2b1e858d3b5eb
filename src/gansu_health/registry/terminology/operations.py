"""Terminology operations: CodeSystem/$lookup, $validate-code (CodeSystem, ValueSet), $expand."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from gansu_health.core.clock import fhir_instant, now, to_micros
from gansu_health.core.errors import BadRequest, NotFound, PayloadTooLarge
from gansu_health.fhir.operations import OperationCall, OperationRegistry, OperationResult
from gansu_health.registry.terminology.expand import (
    Expansion,
    Member,
    compile_value_set,
    contains_entry,
)
from gansu_health.registry.terminology.model import CodeSystemIndex, Concept, Json
from gansu_health.registry.terminology.params import Coded, Inputs, parameters, typed
from gansu_health.registry.terminology.source import TerminologyCache, TerminologySource

MAX_EXPANSION = 10_000


def _designation(d: Json) -> Json:
    parts = [typed("language", "valueCode", d.get("language")),
             typed("use", "valueCoding", d.get("use")),
             typed("value", "valueString", d.get("value"))]
    return {"name": "designation", "part": [p for p in parts if p]}


def _property(code: str, key: str, value: Any) -> Json:
    return {"name": "property", "part": [{"name": "code", "valueCode": code},
                                         {"name": "value", key: value}]}


def _verdict(result: bool, message: str | None, display: str | None) -> OperationResult:
    return OperationResult(parameters(typed("result", "valueBoolean", result),
                                      typed("message", "valueString", message),
                                      typed("display", "valueString", display)))


class TerminologyOperations:
    """The operation handlers of one FhirApi, sharing one cache of compiled terminology."""

    def __init__(self, cache: TerminologyCache) -> None:
        self.cache = cache

    def source(self, call: OperationCall) -> TerminologySource:
        """Return a terminology view on the call's connection."""
        return TerminologySource(self.cache, call.conn, call.services.service)

    def _code_system(self, call: OperationCall, src: TerminologySource, inputs: Inputs,
                     *names: str) -> CodeSystemIndex:
        if call.fid:
            return src.code_system_by_id(call.fid)
        coding = inputs.complex("coding") or {}
        url = next((v for n in names if (v := inputs.text(n))), None) or coding.get("system")
        if not url:
            raise BadRequest(f"Name the code system with {' or '.join(names)}",
                             expression=names[0])
        found = src.code_system(url, inputs.text("version") or coding.get("version"))
        if found is None:
            raise NotFound(f"CodeSystem {url} is not known to this server", expression=names[0])
        return found

    def lookup(self, call: OperationCall) -> OperationResult:
        """CodeSystem/$lookup: display, designations and properties (parent/child included)."""
        inputs = Inputs(call)
        src = self.source(call)
        cs = self._code_system(call, src, inputs, "system")
        code = inputs.text("code") or (inputs.complex("coding") or {}).get("code")
        if not code:
            raise BadRequest("$lookup needs a code (or a coding)", expression="code")
        concept = cs.get(code)
        if concept is None:
            raise NotFound(f"Code '{code}' is not in {cs.url}", expression="code")
        wanted = set(inputs.texts("property"))
        out = [typed("name", "valueString", cs.name), typed("version", "valueString", cs.version),
               typed("display", "valueString", concept.display),
               typed("definition", "valueString", concept.definition)]
        if not wanted or "designation" in wanted:
            out += [_designation(d) for d in concept.designations]
        out += self._properties(cs, concept, wanted, inputs.day())
        return OperationResult(parameters(*out))

    @staticmethod
    def _properties(cs: CodeSystemIndex, concept: Concept, wanted: set[str],
                    as_of: date | None) -> list[Json]:
        out = []
        for prop in concept.properties:
            name = prop.get("code", "")
            if wanted and name not in wanted:
                continue
            key = next((k for k in prop if k.startswith("value")), None)
            if key:
                out.append(_property(name, key, prop[key]))
        for name, codes in (("parent", concept.parents), ("child", concept.children)):
            if not wanted or name in wanted:
                out += [_property(name, "valueCode", c) for c in codes]
        if (not wanted or "inactive" in wanted) and "inactive" not in cs.property_types:
            out.append(_property("inactive", "valueBoolean", concept.inactive(as_of)))
        return out

    def validate_code_system(self, call: OperationCall) -> OperationResult:
        """CodeSystem/$validate-code: is the code in the system, with the right display?"""
        inputs = Inputs(call)
        src = self.source(call)
        cs = self._code_system(call, src, inputs, "url", "system")
        codings = inputs.codings(default_system=cs.url)
        if not codings:
            raise BadRequest("$validate-code needs code, coding or codeableConcept",
                             expression="code")
        verdicts = [self._check_in_system(cs, c, inputs.day()) for c in codings]
        return _verdict(*next((v for v in verdicts if v[0]), verdicts[0]))

    @staticmethod
    def _check_in_system(cs: CodeSystemIndex, coded: Coded, as_of: date | None
                         ) -> tuple[bool, str | None, str | None]:
        system, code, display, _, _ = coded
        if system and system != cs.url:
            return False, f"The system {system} is not {cs.url}", None
        concept = cs.get(code)
        if concept is None:
            fragment = "" if cs.content == "complete" else \
                f" (this CodeSystem is a {cs.content}, so the code may still exist)"
            return False, f"Unknown code '{code}' in {cs.url}{fragment}", None
        return _display_verdict(cs.url, concept, display, as_of, lambda d: cs.display_matches(
            concept, d))

    def validate_value_set(self, call: OperationCall) -> OperationResult:
        """ValueSet/$validate-code: is the coding in the value set (as of ``date``)?"""
        inputs = Inputs(call)
        src = self.source(call)
        expansion = self._expansion(call, src, inputs)
        codings = inputs.codings()
        if not codings:
            raise BadRequest("$validate-code needs code, coding or codeableConcept",
                             expression="code")
        as_of = inputs.day()
        allow_abstract = inputs.flag("abstract", False)
        verdicts = [self._check_in_value_set(expansion, c, as_of, allow_abstract,
                                             inputs.flag("activeOnly")) for c in codings]
        return _verdict(*next((v for v in verdicts if v[0]), verdicts[0]))

    @staticmethod
    def _check_in_value_set(expansion: Expansion, coded: Coded, as_of: date | None,
                            allow_abstract: bool, active_only: bool
                            ) -> tuple[bool, str | None, str | None]:
        system, code, display, _, _ = coded
        name = expansion.url or "the value set"
        members = [m for m in expansion.by_code.get(code, []) if not system or m.system == system]
        if as_of is not None:
            members = [m for m in members if m.exists_on(as_of)]
        if not members:
            when = f" on {as_of.isoformat()}" if as_of else ""
            return False, f"The code '{system + '#' if system else ''}{code}' is not in " \
                          f"{name}{when}", None
        if len(members) > 1:
            return False, f"The code '{code}' is in {name} in several systems; give the system", \
                None
        member = members[0]
        if member.concept is not None and member.concept.abstract and not allow_abstract:
            return False, f"'{code}' is an abstract (grouping) code in {name}", member.display
        if active_only and member.inactive(as_of):
            return False, f"'{code}' is inactive in {member.system}", member.display
        if member.concept is None:
            if display is not None and display != member.display:
                return False, _wrong_display(display, member), member.display
            return True, None, member.display
        return _display_verdict(member.system, member.concept, display, as_of,
                                lambda d: d == member.display or d in member.names())

    def _expansion(self, call: OperationCall, src: TerminologySource, inputs: Inputs
                   ) -> Expansion:
        if call.fid:
            return src.value_set_by_id(call.fid)
        inline = inputs.complex("valueSet")
        if inline is not None:
            return compile_value_set(inline, src)
        url = inputs.text("url")
        if not url:
            raise BadRequest("Name the value set with url (or an id, or a valueSet resource)",
                             expression="url")
        url, _, version = url.partition("|")
        return src.value_set(url, inputs.text("valueSetVersion") or version or None)

    def expand(self, call: OperationCall) -> OperationResult:
        """ValueSet/$expand with filter, count/offset paging, activeOnly and date."""
        inputs = Inputs(call)
        expansion = self._expansion(call, self.source(call), inputs)
        text = inputs.text("filter") or ""
        active_only = inputs.flag("activeOnly")
        as_of = inputs.day()
        offset = inputs.integer("offset", 0) or 0
        count = inputs.integer("count")
        selected = expansion.select(text=text, active_only=active_only, as_of=as_of)
        if count is None and len(selected) > MAX_EXPANSION:
            raise PayloadTooLarge(f"The expansion has {len(selected)} codes; page it with count "
                                  f"(at most {MAX_EXPANSION} without count)", expression="count")
        page = selected[offset:offset + count if count is not None else None]
        used = [typed("filter", "valueString", text or None),
                typed("offset", "valueInteger", offset),
                typed("count", "valueInteger", count),
                typed("activeOnly", "valueBoolean", active_only or None),
                typed("date", "valueDateTime", inputs.text("date"))]
        designations = inputs.flag("includeDesignations")
        body: Json = {"resourceType": "ValueSet", **expansion.header, "expansion": {
            "identifier": f"urn:uuid:{uuid.uuid4()}", "timestamp": fhir_instant(to_micros(now())),
            "total": len(selected), "offset": offset, "parameter": [p for p in used if p],
            "contains": [contains_entry(m, as_of=as_of, designations=designations)
                         for m in page]}}
        if not body["expansion"]["contains"]:
            del body["expansion"]["contains"]
        return OperationResult(body)

    def register(self, registry: OperationRegistry) -> None:
        """Register the four operations."""
        levels = {"type", "instance"}
        registry.register("lookup", self.lookup, levels=levels, types={"CodeSystem"},
                          description="Look up a code: display, designations, properties",
                          access="open")
        registry.register("validate-code", self.validate_code_system, levels=levels,
                          types={"CodeSystem"}, description="Validate a code in a CodeSystem",
                          access="open")
        registry.register("validate-code", self.validate_value_set, levels=levels,
                          types={"ValueSet"}, description="Validate a code in a ValueSet",
                          access="open")
        registry.register("expand", self.expand, levels=levels, types={"ValueSet"},
                          description="Expand a ValueSet (filter, paging, activeOnly, date)",
                          access="open")


def _wrong_display(display: str, member: Member | Concept) -> str:
    return f"Wrong display '{display}' for code '{member.code}': should be '{member.display}'"


def _display_verdict(system: str, concept: Concept, display: str | None, as_of: date | None,
                     matches: Any) -> tuple[bool, str | None, str | None]:
    if display is not None and not matches(display):
        return False, _wrong_display(display, concept), concept.display
    if concept.inactive(as_of):
        return True, f"The code '{concept.code}' is inactive in {system}", concept.display
    return True, None, concept.display
