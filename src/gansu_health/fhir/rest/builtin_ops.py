"""Operations the FHIR repository itself provides: $everything, $validate, $reindex."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select, tuple_

from gansu_health.core.errors import BadRequest, InvalidResource, NotFound
from gansu_health.fhir.definitions import patient_compartment
from gansu_health.fhir.operations import OperationCall, OperationRegistry, OperationResult
from gansu_health.fhir.rest import views
from gansu_health.fhir.search.engine import decode_cursor, encode_cursor
from gansu_health.fhir.search.values import date_range
from gansu_health.fhir.storage.repository import Stored
from gansu_health.fhir.storage.tables import idx_ref, resource

SHARED_TYPES = {"Organization", "Practitioner", "PractitionerRole", "Location", "Medication",
                "Device", "Substance", "HealthcareService"}


def _param(call: OperationCall, name: str) -> str | None:
    return next((v for k, v in call.params if k == name), None)


def everything(call: OperationCall) -> OperationResult:
    """Patient/$everything: the patient, their compartment and the shared resources it names."""
    api = call.services
    assert call.fid is not None
    patient = api.service.read(call.conn, "Patient", call.fid)
    count = min(int(_param(call, "_count") or 100), api.settings.max_page_size)
    types = {t for v in (_param(call, "_type") or "").split(",") if (t := v.strip())}
    since = _param(call, "_since")
    cursor = _param(call, "_cursor")
    after = decode_cursor(cursor)[0] if cursor else 0
    pairs = [(rtype, p) for rtype, params in patient_compartment().items() for p in params
             if not types or rtype in types]
    conds: list[Any] = [idx_ref.c.target_type == "Patient", idx_ref.c.target_id == call.fid,
                        tuple_(idx_ref.c.rtype, idx_ref.c.param).in_(pairs),
                        resource.c.deleted.is_(False)]
    since_us = -(2**62)
    if since:
        rng = date_range(since, api.settings.timezone)
        if rng is None:
            raise BadRequest(f"_since '{since}' is not an instant", expression="_since")
        since_us = rng[0]
        conds.append(resource.c.updated_us >= since_us)
    compartment = select(resource.c.rid).join(idx_ref, idx_ref.c.rid == resource.c.rid).where(
        and_(*conds)).group_by(resource.c.rid)
    query = compartment.where(resource.c.rid > after).order_by(resource.c.rid).limit(count + 1)
    rids = [r.rid for r in call.conn.execute(query)]
    more = len(rids) > count
    rids = rids[:count]
    loaded = api.service.store.load_many(call.conn, rids)
    members = [loaded[r] for r in rids if r in loaded]
    first_page = cursor is None
    with_patient = (not types or "Patient" in types) and patient.updated_us >= since_us
    if first_page and with_patient:
        members.insert(0, patient)
    shared_rids = _shared(call, pairs, since_us) if not types or types & SHARED_TYPES else []
    shared: list[Stored] = []
    if first_page:
        loaded = api.service.store.load_many(call.conn, shared_rids)
        shared = [loaded[r] for r in shared_rids if r in loaded]
    in_compartment = call.conn.execute(
        select(func.count()).select_from(compartment.subquery())).scalar_one()
    bundle = views.RawBundle("searchset", int(in_compartment) + with_patient + len(shared_rids))
    path = f"Patient/{call.fid}/$everything"
    bundle.link("self", views.page_link(call.base_url, path, call.params, cursor))
    if more and rids:
        bundle.link("next", views.page_link(call.base_url, path, call.params,
                                             encode_cursor([rids[-1]])))
    for stored in [*members, *shared]:
        bundle.add({"fullUrl": f"{call.base_url}/{stored.rtype}/{stored.fid}",
                    "search": {"mode": "match"}}, stored.content)
    return OperationResult(bundle.encode())


def _shared(call: OperationCall, pairs: list[tuple[str, str]], since_us: int) -> list[int]:
    """Return the row ids of shared resources (organisations, practitioners…) the record names."""
    member = idx_ref.alias("member")
    compartment = select(member.c.rid).where(
        member.c.target_type == "Patient", member.c.target_id == call.fid,
        tuple_(member.c.rtype, member.c.param).in_(pairs))
    target = resource.alias("target")
    query = (select(target.c.rid).join(idx_ref, and_(idx_ref.c.target_type == target.c.rtype,
                                                     idx_ref.c.target_id == target.c.fid))
             .where(or_(idx_ref.c.rid.in_(compartment),
                        and_(idx_ref.c.rtype == "Patient",
                             idx_ref.c.rid.in_(select(resource.c.rid).where(
                                 resource.c.rtype == "Patient", resource.c.fid == call.fid)))),
                    target.c.rtype.in_(SHARED_TYPES), target.c.deleted.is_(False),
                    target.c.updated_us >= since_us)
             .distinct().order_by(target.c.rid).limit(call.services.settings.max_include))
    return [r.rid for r in call.conn.execute(query)]


def validate(call: OperationCall) -> OperationResult:
    """$validate: check a resource without storing it; answer with an OperationOutcome."""
    body = call.body
    mode = _param(call, "mode")
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        candidate = None
        for p in body.get("parameter", []):
            if p.get("name") == "resource":
                candidate = p.get("resource")
            elif p.get("name") == "mode":
                mode = p.get("valueCode")
        body = candidate
    if mode == "delete":
        if call.fid is None:
            raise BadRequest("$validate mode=delete needs an instance")
        return OperationResult({"resourceType": "OperationOutcome", "issue": [_ok()]})
    if body is None and call.fid and call.rtype:
        body = call.services.service.read(call.conn, call.rtype, call.fid).json()
    if body is None:
        raise BadRequest("$validate needs a resource in the body")
    try:
        call.services.service.validate(body, call.rtype)
    except InvalidResource as exc:
        return OperationResult(exc.outcome())
    return OperationResult({"resourceType": "OperationOutcome", "issue": [_ok()]})


def _ok() -> dict[str, Any]:
    return {"severity": "information", "code": "informational",
            "diagnostics": "Validation successful: no errors"}


def reindex(call: OperationCall) -> OperationResult:
    """$reindex: rebuild the search index of one resource, a type, or everything."""
    query = select(resource.c.rid).where(resource.c.deleted.is_(False))
    if call.rtype:
        query = query.where(resource.c.rtype == call.rtype)
    if call.fid:
        query = query.where(resource.c.fid == call.fid)
    rids = [r.rid for r in call.conn.execute(query)]
    if call.fid and not rids:
        raise NotFound(f"{call.rtype}/{call.fid} is not known")
    done = call.services.service.store.reindex(call.conn, rids)
    return OperationResult({"resourceType": "Parameters", "parameter": [
        {"name": "count", "valueInteger": done}]})


def register_builtin(registry: OperationRegistry) -> None:
    """Register the repository's own operations."""
    registry.register("everything", everything, levels={"instance"}, types={"Patient"},
                      description="All of a patient's record, paged", access="patient")
    registry.register("validate", validate, levels={"type", "instance"},
                      description="Validate a resource against the R4 definitions",
                      access="open")
    registry.register("reindex", reindex, levels={"system", "type", "instance"}, writes=True,
                      get_allowed=False, description="Rebuild search indexes")

