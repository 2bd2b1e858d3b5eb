"""FHIR operations of the electronic health card.

Holder side (access ``card-holder``: the person, a guardian or consenting family account, a
registrar at a card desk, system clients): ``Patient/<id>/$card-issue`` (``pin``),
``Patient/<id>/$card-code`` (``kind`` dynamic|static, ``image`` svg|png, ``scale``),
``Patient/<id>/$card-revoke`` (``reason``, ``reissue``), ``Patient/<id>/$card-usage`` (a card
desk sees the uses at its own institution only; ``shown`` says which).
Terminal side (access ``card-terminal``: system clients and registrars, nurses, doctors):
``Patient/$card-verify`` (``code``, ``factor``, ``step``) and ``Appointment/$card-check-in``
(``code``, ``factor``, ``appointment`` — or the terminal institution's booking on ``date``,
today by default). The terminal's institution is the staff member's, or the system client's
registered organisation; operators and clients without one name it with ``organization``.
``$card-keys`` lists the SM2 public keys codes are signed with.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection

from gansu_health.card import images, people, views
from gansu_health.card import repository as repo
from gansu_health.card.service import CardService
from gansu_health.card.steps import parse_step
from gansu_health.card.verify import CardRefused, Terminal, Verifier
from gansu_health.core.clock import now, to_micros
from gansu_health.core.errors import BadRequest, Forbidden, NotFound
from gansu_health.fhir.operations import OperationCall, OperationRegistry, OperationResult
from gansu_health.fhir.rest.dispatch import current_request
from gansu_health.fhir.rest.messages import note_patients
from gansu_health.identity.oauth.repository import get_client
from gansu_health.mpi import parameters as p
from gansu_health.scheduling import attendance, find
from gansu_health.scheduling import resources as res
from gansu_health.scheduling.operations import bundle, scheduler_of

_VERIFIERS: WeakKeyDictionary[Any, Verifier] = WeakKeyDictionary()
Inputs = dict[str, list[Any]]
NO_STORE = {"Cache-Control": "no-store"}


def attach(api: Any, verifier: Verifier) -> None:
    """Remember the card system of a FHIR endpoint."""
    _VERIFIERS[api] = verifier


def verifier_of(api: Any) -> Verifier:
    """Return the card system attached to a FHIR endpoint."""
    return _VERIFIERS[api]


def _cards(call: OperationCall) -> CardService:
    return verifier_of(call.services).cards


def _principal() -> Any:
    req = current_request.get()
    return req.principal if req is not None else None


def _actor() -> str:
    who = _principal()
    return "anonymous" if who is None else str(who.subject)


def terminal(conn: Connection, found: Inputs) -> Terminal:
    """The scanning terminal's institution and identity, from the caller."""
    given = p.text(found, "organization")
    given = given.removeprefix("Organization/") if given else None
    who = _principal()
    if who is None:
        return Terminal(given, "anonymous", "system")
    own = who.organization if who.kind == "staff" else None
    if who.kind == "system" and who.client_id:
        client = get_client(conn, who.client_id)
        own = client.organization_id if client is not None else None
    if who.kind == "staff" and not own:
        raise Forbidden("Your account acts for no institution; a terminal needs one",
                        expression="organization")
    if own and given and given != own:
        raise Forbidden(f"You act for Organization/{own}, not Organization/{given}",
                        expression="organization")
    actor = who.subject if who.kind == "staff" else (who.client_id or who.subject)
    return Terminal(own or given, str(actor), str(who.kind))


def _refused(exc: CardRefused) -> OperationResult:
    """Answer a refusal without raising, so the attempt logged with it is committed."""
    return OperationResult(exc.outcome(), exc.status)


# ---- holder side ---------------------------------------------------------------------------


def issue_op(call: OperationCall) -> OperationResult:
    """Patient/<id>/$card-issue: the person's card, issued on first request (201)."""
    assert call.fid is not None
    found = p.inputs(call)
    row, created = _cards(call).issue(call.conn, call.fid, _actor(), p.text(found, "pin"))
    note_patients(call.fid)
    return OperationResult(views.card(row), 201 if created else 200)


def code_op(call: OperationCall) -> OperationResult:
    """Patient/<id>/$card-code: a fresh dynamic code (or the static code), text or image."""
    assert call.fid is not None
    found = p.inputs(call)
    kind = (p.text(found, "kind") or "dynamic").lower()
    if kind not in ("dynamic", "static"):
        raise BadRequest(f"Unknown code kind '{kind}'; use dynamic or static", expression="kind")
    made = _cards(call).code(call.conn, call.fid, "dynamic" if kind == "dynamic" else "static")
    note_patients(call.fid)
    image = p.text(found, "image")
    if image:
        data, media = images.render(made.text, image, p.integer(found, "scale", 4, low=1,
                                                                 high=20))
        return OperationResult(data, 200, {"Content-Type": media, **NO_STORE})
    extra = [{"name": "code", "valueString": made.text},
             {"name": "codeKind", "valueCode": made.payload.kind}]
    if made.payload.expires_s:
        extra += [p.instant("expires", made.payload.expires_s * 1_000_000),
                  p.part("lifetime", made.payload.expires_s - made.payload.issued_s)]
    return OperationResult(views.card(made.card, *extra), 200, dict(NO_STORE))


def revoke_op(call: OperationCall) -> OperationResult:
    """Patient/<id>/$card-revoke: stop the card now; ``reissue`` (default true) replaces it."""
    assert call.fid is not None
    found = p.inputs(call)
    reissue = p.text(found, "reissue")
    old, new = _cards(call).revoke(call.conn, call.fid, (p.text(found, "reason") or "lost"),
                                   _actor(), reissue=reissue is None or p.boolean(
                                       found, "reissue"))
    note_patients(call.fid)
    parts = [{"name": "revoked", "part": views.card_parts(old)}]
    if new is not None:
        parts.append({"name": "card", "part": views.card_parts(new)})
    return OperationResult({"resourceType": "Parameters", "parameter": parts})


def _usage_scope() -> str | None:
    """The one institution whose uses the caller may see: a card desk (staff) sees where the
    card was used at its own institution, not the person's visits elsewhere; None: all."""
    who = _principal()
    if who is None or who.kind != "staff":
        return None
    return str(who.organization or "")


def usage_op(call: OperationCall) -> OperationResult:
    """Patient/<id>/$card-usage: uses of the person's cards, newest first (``_count``,
    ``_before`` = the id of the last row seen); card desks see their institution's only."""
    assert call.fid is not None
    found = p.inputs(call)
    person = _cards(call).person(call.conn, call.fid)
    before = p.text(found, "_before")
    if before is not None and not before.isdigit():
        raise BadRequest("'_before' must be a usage row number", expression="_before")
    goldens = people.goldens(call.conn, person)
    scope = _usage_scope()
    rows = repo.uses(call.conn, goldens, limit=p.integer(found, "_count", 50, low=1, high=500),
                     before_id=int(before) if before else None, organization=scope)
    note_patients(call.fid)
    parts: list[dict[str, Any]] = [{"name": "shown", "valueString": "all" if scope is None
                                    else f"Organization/{scope}"}]
    parts += [{"name": "card", "part": views.card_parts(row)}
              for row in repo.cards_of(call.conn, goldens)]
    parts += [views.use(row) for row in rows]
    if rows:
        parts.append({"name": "next", "valueString": str(rows[-1].id)})
    return OperationResult({"resourceType": "Parameters", "parameter": parts})


# ---- terminal side -------------------------------------------------------------------------


def verify_op(call: OperationCall) -> OperationResult:
    """Patient/$card-verify: check a scanned code; answer the identity and the ids."""
    found = p.inputs(call)
    ver = verifier_of(call.services)
    step = parse_step(p.text(found, "step"))
    where = terminal(call.conn, found)
    try:
        ok = ver.verify(call.conn, p.text(found, "code", required=True) or "", where, step,
                        p.text(found, "factor"))
    except CardRefused as exc:
        return _refused(exc)
    ver.record(call.conn, ok, where, step)
    note_patients(ok.local_patient, ok.card.patient)
    identity = people.identity(ver.cards.service, call.conn, ok.person, ok.local_patient)
    return OperationResult(views.verified(ok, identity, step, where.organization))


def check_in_op(call: OperationCall) -> OperationResult:
    """Appointment/$card-check-in: check the card holder in for their booking here."""
    found = p.inputs(call)
    ver = verifier_of(call.services)
    sched = scheduler_of(call.services)
    where = terminal(call.conn, found)
    try:
        ok = ver.verify(call.conn, p.text(found, "code", required=True) or "", where,
                        "check-in", p.text(found, "factor"))
    except CardRefused as exc:
        return _refused(exc)
    row = _booking(call, found, ok.person.sources, where.organization)
    fid = str(row.id)
    if where.organization and row.institution != where.organization:
        raise BadRequest(f"Appointment/{fid} is at Organization/{row.institution}, not at this "
                         f"terminal's Organization/{where.organization}",
                         expression="appointment")
    stored = attendance.check_in(sched, call.conn, fid, row.patient)
    ver.record(call.conn, ok, where, "check-in", appointment=fid)
    note_patients(row.patient, ok.local_patient)
    return bundle(call, stored)


def _booking(call: OperationCall, found: Inputs, patients: tuple[str, ...],
             organization: str | None) -> Any:
    """The booking row to check in: the appointment named (it must be the holder's), or the
    holder's booking at the terminal's institution on ``date`` (today by default)."""
    sched = scheduler_of(call.services)
    named = p.text(found, "appointment")
    if named:
        row = sched.booking_row(call.conn, named.removeprefix("Appointment/"))
        if row.patient not in patients:
            raise BadRequest(f"{named} is not a booking of the card holder",
                             expression="appointment")
        return row
    if not organization:
        raise BadRequest("Name the 'appointment', or the terminal's 'organization'",
                         expression="appointment")
    today = date.fromisoformat(res.local_day(to_micros(now()), sched.zone))
    day = find.parse_day(p.text(found, "date"), today, "date").isoformat()
    fid = attendance.booking_on(call.conn, patients, organization, day)
    if fid is None:
        raise NotFound(f"The card holder has no booking at Organization/{organization} on "
                       f"{day}", expression="appointment")
    return sched.booking_row(call.conn, fid)


def keys_op(call: OperationCall) -> OperationResult:
    """$card-keys: the SM2 public keys that sign card codes (for offline verification)."""
    keys = verifier_of(call.services).cards.keys.public_keys()
    return OperationResult({"resourceType": "Parameters", "parameter": [
        {"name": "key", "part": [{"name": "kid", "valueString": kid},
                                 {"name": "algorithm", "valueCode": "SM2-SM3"},
                                 {"name": "publicKey", "valueString": public}]}
        for kid, public in keys]})


def register(registry: OperationRegistry) -> None:
    """Register the card operations."""
    patient, one = {"Patient"}, {"instance"}
    registry.register("card-issue", issue_op, levels=one, types=patient, writes=True,
                      get_allowed=False, access="card-holder",
                      description="Issue (or return) the person's e-health card")
    registry.register("card-code", code_op, levels=one, types=patient, access="card-holder",
                      description="A dynamic or static QR code of the card, as text or an "
                      "SVG/PNG image")
    registry.register("card-revoke", revoke_op, levels=one, types=patient, writes=True,
                      get_allowed=False, access="card-holder",
                      description="Revoke the card (lost, stolen…) and reissue it")
    registry.register("card-usage", usage_op, levels=one, types=patient, access="card-holder",
                      description="The card's usage log")
    registry.register("card-verify", verify_op, levels={"type"}, types=patient, writes=True,
                      get_allowed=False, access="card-terminal",
                      description="Verify a scanned e-health-card QR code at a terminal")
    registry.register("card-check-in", check_in_op, levels={"type"}, types={"Appointment"},
                      writes=True, get_allowed=False, access="card-terminal",
                      description="Check the card holder in for their booking")
    registry.register("card-keys", keys_op, levels={"system"}, access="open",
                      description="SM2 public keys of the e-health-card codes")
