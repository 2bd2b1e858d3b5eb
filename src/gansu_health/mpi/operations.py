"""Patient/$match (FHIR R4 and IHE PDQm ITI-119) and Patient/$ihe-pix (IHE PIXm ITI-83).

$match scores golden Persons but answers Patients, as R4 and the PDQm Match Output Bundle ask:
one ``match`` entry per matching golden Person, holding the source Patient that scored best
against the input, with ``search.score`` and the match-grade extension. The Person itself is not
in the Bundle; the Patient carries its enterprise id, and ``Person?patient=Patient/<id>`` finds it.
"""

from __future__ import annotations

from typing import Any

from gansu_health.core.errors import BadRequest, NotFound, PlatformError
from gansu_health.fhir.operations import OperationCall, OperationRegistry, OperationResult
from gansu_health.mpi import parameters as p
from gansu_health.mpi import repository as repo
from gansu_health.mpi.engine import blocking_keys, features_from_patient
from gansu_health.mpi.golden import golden_ref
from gansu_health.mpi.protect import MpiVault, identifiers_of
from gansu_health.mpi.service import mpi_of
from gansu_health.mpi.settings import EMPI_SYSTEM

MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"
PIX_INPUTS = {"sourceIdentifier", "targetSystem"}


class Forbidden(PlatformError):
    """PIXm: the target domain is not known (403)."""

    status = 403
    code = "code-invalid"


def _match_input(call: OperationCall) -> tuple[dict[str, Any], bool, int | None]:
    body = call.body
    found = p.inputs(call)  # the query string, plus the parameters of a Parameters body
    if isinstance(body, dict) and body.get("resourceType") == "Patient":
        resource: Any = body
    else:
        values = found.get("resource") or []
        if len(values) != 1:
            raise BadRequest("$match needs exactly one Patient in the 'resource' parameter",
                             expression="resource")
        resource = values[0]
    if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
        raise BadRequest("The 'resource' parameter must hold a Patient", expression="resource")
    count = p.integer(found, "count", 0, low=1) if "count" in found else None
    return resource, p.boolean(found, "onlyCertainMatches"), count


def match(call: OperationCall) -> OperationResult:
    """Patient/$match: the best source Patient of each golden Person that matches, best first."""
    api = call.services
    mpi = mpi_of(api)
    resource, only_certain, count = _match_input(call)
    api.service.validate(dict(resource), "Patient")
    features = features_from_patient(resource)
    scored = mpi.scorer.score_goldens(call.conn, features, blocking_keys(features),
                                      exclude=None)
    if only_certain:
        scored = [s for s in scored if s.grade == "certain"]
    scored = scored[:count or mpi.settings.match_count]
    store = api.service.store
    loaded = {s.fid: s for s in store.load_many(
        call.conn, store.rids_of(call.conn, [("Patient", s.source_id) for s in scored])).values()}
    entries = [{"fullUrl": f"{call.base_url}/Patient/{s.source_id}",
                "resource": loaded[s.source_id].json(),
                "search": {"mode": "match", "score": s.score, "extension": [
                    {"url": MATCH_GRADE, "valueCode": s.grade}]}}
               for s in scored if s.source_id in loaded]
    return OperationResult({"resourceType": "Bundle", "type": "searchset",
                            "total": len(entries), "entry": entries})


def _split_identifier(value: str | None) -> tuple[str, str]:
    system, bar, ident = (value or "").partition("|")
    if not bar or not system or not ident:
        raise BadRequest("sourceIdentifier must be system|value", expression="sourceIdentifier")
    return system, ident


def pix(call: OperationCall) -> OperationResult:
    """Patient/$ihe-pix: the other identifiers and Patient records of the same person.

    ``targetId`` lists Patients; the golden ``Person/<id>`` is added only when ``targetSystem``
    asks for the enterprise id explicitly.
    """
    found = p.inputs(call)
    unknown = sorted(set(found) - PIX_INPUTS)
    if unknown:
        raise BadRequest(f"Unknown parameter '{unknown[0]}'", expression=unknown[0])
    system, value = _split_identifier(p.text(found, "sourceIdentifier", required=True))
    targets = [str(t) for t in found.get("targetSystem") or [] if t]
    conn = call.conn
    if system != EMPI_SYSTEM and not repo.system_known(conn, system):
        raise BadRequest("sourceIdentifier Assigning Authority not found",
                         expression="sourceIdentifier")
    for target in targets:
        if target != EMPI_SYSTEM and not repo.system_known(conn, target):
            raise Forbidden(f"targetSystem '{target}' not found", expression="targetSystem")
    goldens = _goldens_of(conn, system, value, mpi_of(call.services).vault)
    if not goldens:
        raise NotFound("sourceIdentifier Patient Identifier not found",
                       expression="sourceIdentifier")
    sources = sorted({link.source_id for g in goldens
                      for link in repo.links_of(conn, golden_id=g, result=repo.MATCH)})
    out: list[dict[str, Any]] = []
    refs: list[str] = []
    if not targets or EMPI_SYSTEM in targets:
        for g in goldens:
            row = repo.golden(conn, g)
            out.append(p.part("targetIdentifier", {"system": EMPI_SYSTEM, "value": row.empi_id}))
            if EMPI_SYSTEM in targets:
                refs.append(golden_ref(g))
    for fid, sys, val in identifiers_of(call.services.service.store, conn, sources):
        if (sys, val) != (system, value) and (not targets or sys in targets):
            out.append(p.part("targetIdentifier", {"system": sys, "value": val}))
            refs.append(f"Patient/{fid}")
    out += [p.part("targetId", {"reference": ref}) for ref in dict.fromkeys(refs)]
    return OperationResult(p.parameters(*out))


def _goldens_of(conn: Any, system: str, value: str, vault: MpiVault) -> list[str]:
    if system == EMPI_SYSTEM:
        row = repo.golden_by_empi(conn, value)
        while row is not None and row.status == "redirected":
            row = repo.golden(conn, row.redirect_to)
        return [row.golden_id] if row is not None else []
    goldens = []
    for fid in repo.sources_with_identifier(conn, system, vault.lookup_identifier(system, value)):
        link = repo.match_link(conn, fid)
        if link is not None:
            goldens.append(link.golden_id)
    return sorted(set(goldens))


def register(registry: OperationRegistry) -> None:
    """Register $match and $ihe-pix on Patient."""
    registry.register("match", match, levels={"type"}, types={"Patient"}, writes=False,
                      get_allowed=False,
                      description="FHIR R4 / IHE PDQm ITI-119: score patients via golden records",
                      access="person-lookup")
    registry.register("ihe-pix", pix, levels={"type"}, types={"Patient"},
                      description="IHE PIXm ITI-83: cross-reference patient identifiers",
                      access="person-lookup")
