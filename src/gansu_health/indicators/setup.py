"""``$booking-indicators`` (system level, or on an Organization): booking indicators per
hospital or city and day. Inputs: ``start`` and ``end`` (visit days, default today), optionally
``organization`` or ``city`` (a GB/T 2260 code) to narrow, and ``groupBy`` = ``hospital``
(default) or ``city``. Answer: Parameters with one ``indicators`` part per (scope, day); see
``indicators.booking`` for the definitions. Access class ``indicators``: supervisors (kept to
their region here), administrators and system clients."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from gansu_health.core.clock import now
from gansu_health.core.errors import BadRequest, Forbidden
from gansu_health.fhir.operations import OperationCall, OperationResult
from gansu_health.fhir.rest.dispatch import current_request
from gansu_health.identity.policy.decide import region_prefix
from gansu_health.indicators.booking import city_of, compute, division
from gansu_health.indicators.repository import institutions_in
from gansu_health.mpi import parameters as p
from gansu_health.scheduling import find

if TYPE_CHECKING:
    from gansu_health.fhir.rest.dispatch import FhirApi


def _region() -> str | None:
    """The region a supervisor is kept to (None: everywhere)."""
    req = current_request.get()
    who = getattr(req, "principal", None)
    if who is None or who.kind != "staff" or "admin" in who.roles:
        return None
    if not who.region:
        raise Forbidden("Your supervisor account names no region")
    return region_prefix(who.region)


def indicators_op(call: OperationCall) -> OperationResult:
    """Compute the indicators."""
    store = call.services.service.store
    found = p.inputs(call)
    today = now().astimezone(ZoneInfo(call.services.settings.timezone)).date()
    start = find.parse_day(p.text(found, "start"), today, "start")
    end = find.parse_day(p.text(found, "end"), start, "end")
    if (end - start).days > 366 or end < start:
        raise BadRequest("end must be on or after start and within a year", expression="end")
    group = p.text(found, "groupBy") or "hospital"
    if group not in ("hospital", "city"):
        raise BadRequest("groupBy is hospital or city", expression="groupBy")
    organization = call.fid or (p.reference_id(found, "organization", "Organization")
                                if found.get("organization") else None)
    city = p.text(found, "city")
    region = _region()
    known = institutions_in(call.conn, start.isoformat(), end.isoformat())
    codes = {i: division(store, call.conn, i) for i in known}
    chosen = [i for i in known if (organization is None or i == organization)
              and (city is None or codes[i].startswith(region_prefix(city)))]
    if region is not None:
        outside = organization if organization and not codes.get(
            organization, division(store, call.conn, organization)).startswith(region) else (
            city if city and not region_prefix(city).startswith(region) else None)
        if outside:
            raise Forbidden(f"{outside} is outside your region ({region})")
        chosen = [i for i in chosen if codes[i].startswith(region)]

    def key(institution: str) -> str:
        return (f"Organization/{institution}" if group == "hospital"
                else city_of(codes[institution]) or "unknown")

    tallies = compute(call.conn, start.isoformat(), end.isoformat(), chosen, key)
    parts: list[dict[str, Any]] = []
    for (scope, day), tally in sorted(tallies.items()):
        row = [p.part("scope", scope), p.part("day", day)]
        row += [p.part(k, v) for k, v in tally.row().items() if v is not None]
        parts.append(p.part("indicators", row))
    return OperationResult(p.parameters(p.part("start", start.isoformat()),
                                        p.part("end", end.isoformat()),
                                        p.part("groupBy", group), *parts))


def setup(api: FhirApi) -> None:
    """Register ``$booking-indicators``."""
    for levels, types in (({"system"}, None), ({"instance"}, {"Organization"})):
        api.registry.register("booking-indicators", indicators_op, levels=levels, types=types,
                              access="indicators",
                              description="Booking indicators per hospital or city and day")
