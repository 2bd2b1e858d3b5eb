"""Booking for the citizen app: open numbers ($find), hold, pay (sandbox) and book.

The flow is date → department → doctor → slot → confirm → pay → done; each step narrows one
``Appointment/$find`` over the chosen hospital. The patient is the account holder or one of
their 就诊人; the guard checks who may book for whom. Citizens' bookings are paid before they
are booked (the payment gate): ``$hold`` → ``Invoice/$pay`` (idempotent) → ``$book``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from gansu_health.core.clock import now
from gansu_health.scheduling.resources import EXT_FEE, EXT_HOLD_EXPIRES, EXT_REMAINING
from gansu_health.ui.fhir_access import FhirAs
from gansu_health.ui.i18n import N_

Json = dict[str, Any]
DAYS_AHEAD = 7
PERIOD_LABELS = {"morning": N_("Morning"), "afternoon": N_("Afternoon"),
                 "night": N_("Evening")}


@dataclass(frozen=True, slots=True)
class Offer:
    """One time slot with open numbers (a proposed Appointment of $find)."""

    slot: str
    role: str
    doctor: str
    department: str
    start: str
    end: str
    remaining: int
    fee: float

    @property
    def day(self) -> str:
        """The local day of the slot."""
        return self.start[:10]

    @property
    def period(self) -> str:
        """morning, afternoon or night, from the local start time."""
        hour = int(self.start[11:13])
        return "morning" if hour < 12 else "afternoon" if hour < 18 else "night"

    @property
    def hours(self) -> str:
        """HH:MM–HH:MM."""
        return f"{self.start[11:16]}–{self.end[11:16]}"


def extension(resource: Json, url: str) -> Any:
    """The value of an extension of ``resource`` (None when absent)."""
    for ext in resource.get("extension") or []:
        if ext.get("url") == url:
            return next((v for k, v in ext.items() if k.startswith("value")), None)
    return None


def actor(appointment: Json, rtype: str) -> str:
    """The id of the first participant of ``rtype``."""
    for participant in appointment.get("participant") or []:
        ref = str((participant.get("actor") or {}).get("reference", ""))
        if ref.startswith(f"{rtype}/"):
            return ref.removeprefix(f"{rtype}/")
    return ""


def _offer(proposal: Json) -> Offer:
    return Offer(str((proposal.get("slot") or [{}])[0].get("reference", "")).removeprefix(
        "Slot/"), actor(proposal, "PractitionerRole"), str(proposal.get("description", "")),
        actor(proposal, "HealthcareService"), str(proposal["start"]), str(proposal["end"]),
        int(extension(proposal, EXT_REMAINING) or 0), fee_of(proposal))


def offers(fhir: FhirAs, hospital: str, start: date, end: date, *,
           department: str = "", role: str = "", count: int = 1000) -> list[Offer]:
    """Open online numbers of a hospital between two days, earliest first."""
    params = [("organization", hospital), ("start", start.isoformat()),
              ("end", end.isoformat()), ("_count", str(count))]
    if department:
        params.append(("department", department))
    if role:
        params.append(("provider", f"PractitionerRole/{role}"))
    bundle = fhir.call("GET", "Appointment/$find", params)
    return [_offer(e["resource"]) for e in bundle.get("entry") or []]


def _value(part: Json) -> Any:
    return next((v for k, v in part.items() if k.startswith("value")), None)


def sessions(fhir: FhirAs, hospital: str, start: date, end: date, *, department: str = ""
             ) -> list[Offer]:
    """Clinic sessions of a hospital with open online numbers (``Appointment/$availability``;
    ``slot`` is empty: a session, not a time slot), earliest first."""
    answer = fhir.call("GET", "Appointment/$availability", [
        ("organization", hospital), ("start", start.isoformat()), ("end", end.isoformat())])
    out = []
    for param in answer.get("parameter") or []:
        values = {p["name"]: _value(p) for p in param.get("part") or []}
        service = str(values["department"]["reference"]).removeprefix("HealthcareService/")
        if department and service != department:
            continue
        out.append(Offer("", str(values["actor"]["reference"]).removeprefix("PractitionerRole/"),
                         str(values["display"]), service, str(values["start"]),
                         str(values["end"]), int(values["remaining"]),
                         float(values["fee"]["value"])))
    return out


def window(today: date) -> list[date]:
    """The days a citizen can book: today and the next week."""
    return [today + timedelta(days=i) for i in range(DAYS_AHEAD + 1)]


def tally(found: list[Offer], key: Any) -> OrderedDict[str, int]:
    """Open numbers per ``key(offer)``, in first-seen order."""
    out: OrderedDict[str, int] = OrderedDict()
    for offer in found:
        out[key(offer)] = out.get(key(offer), 0) + offer.remaining
    return out


def next_free(found: list[Offer]) -> dict[str, Offer]:
    """The earliest open slot of each department."""
    out: dict[str, Offer] = {}
    for offer in found:
        out.setdefault(offer.department, offer)
    return out


def parse_day(value: str, today: date) -> date | None:
    """A day of the booking window, or None."""
    try:
        day = date.fromisoformat(value[:10])
    except ValueError:
        return None
    return day if today <= day <= today + timedelta(days=DAYS_AHEAD) else None


def hold(fhir: FhirAs, slot: str, patient: str) -> str:
    """Hold a number of ``slot`` for ``patient``; the Appointment id of the hold."""
    bundle = fhir.call("POST", "Appointment/$hold", body={
        "resourceType": "Parameters", "parameter": [
            {"name": "slot", "valueReference": {"reference": f"Slot/{slot}"}},
            {"name": "patient", "valueReference": {"reference": f"Patient/{patient}"}}]})
    return str(bundle["entry"][0]["resource"]["id"])


def pay(fhir: FhirAs, appointment: str, patient: str, card: str, key: str) -> Json:
    """Pay the registration fee of a hold (sandbox card numbers choose the outcome)."""
    parts: list[Json] = [
        {"name": "patient", "valueReference": {"reference": f"Patient/{patient}"}},
        {"name": "appointment", "valueReference": {"reference": f"Appointment/{appointment}"}}]
    if card.strip():
        parts.append({"name": "card", "valueString": card.strip()[:32]})
    return fhir.call("POST", "Invoice/$pay", body={"resourceType": "Parameters",
                                                   "parameter": parts},
                     headers={"idempotency-key": key})


def book(fhir: FhirAs, appointment: str, patient: str) -> None:
    """Confirm a paid hold."""
    fhir.call("POST", f"Appointment/{appointment}/$book", body={
        "resourceType": "Parameters", "parameter": [
            {"name": "patient", "valueReference": {"reference": f"Patient/{patient}"}}]})


def outcome(answer: Json) -> tuple[str, str]:
    """(outcome, message) of a $pay answer."""
    values = {p["name"]: p.get("valueString") for p in answer.get("parameter") or []}
    return str(values.get("outcome") or ""), str(values.get("message") or "")


def fee_of(appointment: Json) -> float:
    """The registration fee of an Appointment, in yuan."""
    return float((extension(appointment, EXT_FEE) or {}).get("value") or 0)


def hold_expires(appointment: Json) -> str:
    """When a hold lapses (a FHIR instant), or ''."""
    return str(extension(appointment, EXT_HOLD_EXPIRES) or "")


def today_in(zone: Any) -> date:
    """Today in the platform's zone."""
    return datetime.fromtimestamp(now().timestamp(), zone).date()
