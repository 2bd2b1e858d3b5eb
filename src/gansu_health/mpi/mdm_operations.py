"""HAPI-MDM-style link management for data stewards; every operation takes and returns Parameters.

Registered at the system level (``/fhir/$mdm-query-links``), on Patient
(``/fhir/Patient/$mdm-query-links``) and on Person. Golden records are Persons:
``goldenResourceId`` (and the golden ids of $mdm-not-duplicate and $mdm-merge-golden-resources)
are ``Person/<id>`` (a bare id is accepted too); ``resourceId``/``sourceResourceId`` name source
``Patient/<id>`` records.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from gansu_health.core.errors import BadRequest
from gansu_health.fhir.operations import Handler, OperationCall, OperationRegistry, OperationResult
from gansu_health.mpi import parameters as p
from gansu_health.mpi import repository as repo
from gansu_health.mpi.golden import GOLDEN_TYPE, golden_ref
from gansu_health.mpi.repository import MATCH, POSSIBLE_MATCH, Link
from gansu_health.mpi.service import mpi_of
from gansu_health.mpi.stewardship import RESULTS, Stewardship

LINK_SOURCES = ("AUTO", "MANUAL")


def _steward(call: OperationCall) -> Stewardship:
    return Stewardship(mpi_of(call.services))


def _link_part(link: Link, name: str = "link") -> dict[str, Any]:
    parts = [p.part("goldenResourceId", golden_ref(link.golden_id)),
             p.part("sourceResourceId", f"Patient/{link.source_id}"),
             p.part("matchResult", link.match_result), p.part("linkSource", link.link_source),
             p.part("version", link.version), p.part("modelVersion", link.model_version),
             p.instant("linkCreated", link.created_us),
             p.instant("linkUpdated", link.updated_us)]
    if link.score is not None:
        parts.append(p.part("score", float(link.score)))
    if link.grade is not None:
        parts.append(p.part("grade", link.grade))
    return p.part(name, parts)


def _choice(found: dict[str, list[Any]], name: str, allowed: tuple[str, ...]) -> str | None:
    value = p.text(found, name)
    if value is not None and value not in allowed:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)}", expression=name)
    return value


def _page(call: OperationCall, name: str, found: dict[str, list[Any]], links: list[Link],
          offset: int, count: int) -> dict[str, Any]:
    base = f"{call.base_url}/{call.rtype + '/' if call.rtype else ''}${name}"
    query = [(k, str(v)) for k, vs in found.items() if k not in ("_offset", "_count")
             for v in vs if isinstance(v, str | int | bool)]

    def url(start: int) -> str:
        return f"{base}?{urlencode([*query, ('_offset', str(start)), ('_count', str(count))])}"

    parts = [{"name": "self", "valueUri": url(offset)}]
    if offset > 0:
        parts.append({"name": "prev", "valueUri": url(max(0, offset - count))})
    if len(links) > count:
        parts.append({"name": "next", "valueUri": url(offset + count)})
    return p.parameters(*parts, *(_link_part(link) for link in links[:count]))


def _query(call: OperationCall, name: str, result: str | None, by_score: bool
           ) -> OperationResult:
    found = p.inputs(call)
    golden = p.golden_id(found, "goldenResourceId") if "goldenResourceId" in found else None
    source = p.patient_id(found, "resourceId") if "resourceId" in found else None
    result = result or _choice(found, "matchResult", RESULTS)
    link_source = _choice(found, "linkSource", LINK_SOURCES)
    offset = p.integer(found, "_offset", 0, high=10**9)
    count = p.integer(found, "_count", 20, low=1)
    links = repo.query_links(call.conn, golden_id=golden, source_id=source, result=result,
                             link_source=link_source, offset=offset, limit=count + 1,
                             by_score=by_score)
    return OperationResult(_page(call, name, found, links, offset, count))


def query_links(call: OperationCall) -> OperationResult:
    """$mdm-query-links: links filtered by golden record, source, result and source, paged."""
    return _query(call, "mdm-query-links", None, False)


def review_queue(call: OperationCall) -> OperationResult:
    """$mdm-review-queue: the POSSIBLE_MATCH links awaiting a steward, highest score first."""
    return _query(call, "mdm-review-queue", POSSIBLE_MATCH, True)


def _set_link(call: OperationCall, must_exist: bool, default: str | None) -> OperationResult:
    found = p.inputs(call)
    result = p.text(found, "matchResult", required=default is None) or default
    assert result is not None
    link = _steward(call).set_link(call.conn, p.golden_id(found, "goldenResourceId"),
                                   p.patient_id(found, "resourceId"), result,
                                   must_exist=must_exist)
    return OperationResult(p.parameters(_link_part(link)))


def update_link(call: OperationCall) -> OperationResult:
    """$mdm-update-link: set an existing link to MATCH or NO_MATCH by hand (MANUAL)."""
    return _set_link(call, True, None)


def create_link(call: OperationCall) -> OperationResult:
    """$mdm-create-link: link a source to a golden record by hand (MATCH unless told)."""
    return _set_link(call, False, MATCH)


def not_duplicate(call: OperationCall) -> OperationResult:
    """$mdm-not-duplicate: two golden records are different people; never propose them again."""
    found = p.inputs(call)
    resolved = _steward(call).not_duplicate(call.conn, p.golden_id(found, "goldenResourceId"),
                                            p.golden_id(found, "resourceId"))
    return OperationResult(p.parameters(p.part("success", True), p.part("resolved", resolved)))


def merge(call: OperationCall) -> OperationResult:
    """$mdm-merge-golden-resources: merge one golden record into another (undoable)."""
    found = p.inputs(call)
    resource = (found.get("resource") or [None])[0]
    if resource is not None and not (isinstance(resource, dict) and
                                     resource.get("resourceType") == GOLDEN_TYPE):
        raise BadRequest(f"'resource' must be a {GOLDEN_TYPE}", expression="resource")
    merge_id, body = _steward(call).merge(
        call.conn, p.golden_id(found, "fromGoldenResourceId"),
        p.golden_id(found, "toGoldenResourceId"), resource)
    return OperationResult(p.parameters(p.part("mergeId", merge_id), p.part("resource", body)))


def unmerge(call: OperationCall) -> OperationResult:
    """$mdm-unmerge: undo a merge (by mergeId, or the latest one of goldenResourceId)."""
    found = p.inputs(call)
    merge_id = p.integer(found, "mergeId", 0, low=1, high=2**62) if "mergeId" in found else None
    golden = p.golden_id(found, "goldenResourceId") if "goldenResourceId" in found else None
    if merge_id is None and golden is None:
        raise BadRequest("Give mergeId or goldenResourceId", expression="mergeId")
    done, restored_from, restored_to = _steward(call).unmerge(call.conn, merge_id, golden)
    return OperationResult(p.parameters(p.part("mergeId", done),
                                        p.part("fromGoldenResource", restored_from),
                                        p.part("toGoldenResource", restored_to)))


def link_history(call: OperationCall) -> OperationResult:
    """$mdm-link-history: every recorded state of the links of golden and/or source records."""
    found = p.inputs(call)
    goldens = [p.golden_id({"g": [v]}, "g") for v in found.get("goldenResourceId") or []]
    sources = [p.patient_id({"s": [v]}, "s") for v in found.get("resourceId") or []]
    if not goldens and not sources:
        raise BadRequest("Give goldenResourceId and/or resourceId",
                         expression="goldenResourceId")
    rows = repo.link_history(call.conn, golden_ids=goldens, source_ids=sources)
    out = [p.part("historical-link", [
        p.part("linkId", int(r.link_id)), p.part("goldenResourceId", golden_ref(r.golden_id)),
        p.part("sourceResourceId", f"Patient/{r.source_id}"),
        p.part("matchResult", r.match_result), p.part("linkSource", r.link_source),
        p.part("action", r.action), p.part("reason", r.reason),
        p.instant("revisionTimestamp", r.changed_us),
        *([p.part("score", float(r.score))] if r.score is not None else [])]) for r in rows]
    return OperationResult(p.parameters(*out))


_OPERATIONS: tuple[tuple[str, Handler, bool, str], ...] = (
    ("mdm-query-links", query_links, False, "Query MPI links"),
    ("mdm-review-queue", review_queue, False, "Possible matches awaiting review"),
    ("mdm-link-history", link_history, False, "History of MPI links"),
    ("mdm-update-link", update_link, True, "Set a link MATCH or NO_MATCH by hand"),
    ("mdm-create-link", create_link, True, "Create a link by hand"),
    ("mdm-not-duplicate", not_duplicate, True, "Declare two golden records distinct"),
    ("mdm-merge-golden-resources", merge, True, "Merge two golden records"),
    ("mdm-unmerge", unmerge, True, "Undo a golden-record merge"),
)


def register(registry: OperationRegistry) -> None:
    """Register the link-management operations at the system level, on Patient and Person."""
    for name, handler, writes, description in _OPERATIONS:
        registry.register(name, handler, levels={"system"}, writes=writes,
                          get_allowed=not writes, description=description, access="steward")
        registry.register(name, handler, levels={"type"}, types={"Patient", GOLDEN_TYPE},
                          writes=writes, get_allowed=not writes, description=description,
                          access="steward")
