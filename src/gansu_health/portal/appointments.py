"""My appointments: the bookings of the account holder and their 就诊人, with the payment and
refund of each, check-in status and the waiting-room position (``Appointment/<id>/$queue``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gansu_health.portal.booking import actor, extension, fee_of
from gansu_health.portal.family import Person
from gansu_health.scheduling.resources import EXT_NUMBER
from gansu_health.ui.fhir_access import FhirAs, FhirCallError
from gansu_health.ui.i18n import N_

Json = dict[str, Any]
STATUS_LABELS = {"pending": N_("Awaiting payment"), "booked": N_("Booked"),
                 "arrived": N_("Checked in"), "noshow": N_("Missed"),
                 "cancelled": N_("Cancelled"), "waitlist": N_("On the waitlist"),
                 "fulfilled": N_("Seen"), "proposed": N_("Proposed")}
REASON_LABELS = {"patient": N_("You cancelled it"), "clinic-stopped": N_("The clinic was stopped"),
                 "hold-expired": N_("Not paid in time"), "rescheduled": N_("Moved"),
                 "institution": N_("Cancelled by the hospital"),
                 "waitlist-closed": N_("The waitlist closed"),
                 "limit-reached": N_("Booking limit reached")}
PAYMENT_LABELS = {"paid": N_("Paid"), "refunded": N_("Refunded"), "unpaid": N_("Not paid")}


@dataclass(frozen=True, slots=True)
class Booking:
    """One appointment as the citizen sees it."""

    id: str
    patient: str
    person: str
    status: str
    start: str
    end: str
    doctor: str
    department: str
    hospital: str
    number: int | None
    fee: float
    reason: str
    reason_text: str
    payment: str
    ahead: int | None = None

    @property
    def cancellable(self) -> bool:
        """Whether a cancel button is offered (the engine still enforces the deadline)."""
        return self.status in ("pending", "booked", "waitlist")


def _payments(fhir: FhirAs, patient: str) -> dict[str, str]:
    """{Appointment id: paid | refunded | unpaid} from the patient's registration fees."""
    charges = fhir.search("ChargeItem", [("subject", f"Patient/{patient}"), ("_count", "200")])
    by_charge: dict[str, str] = {}
    for charge in charges:
        for info in charge.get("supportingInformation") or []:
            ref = str(info.get("reference", ""))
            if ref.startswith("Appointment/"):
                by_charge[charge["id"]] = ref.removeprefix("Appointment/")
    out: dict[str, str] = {}
    if not by_charge:
        return out
    for bill in fhir.search("Invoice", [("subject", f"Patient/{patient}"), ("_count", "200")]):
        state = {"balanced": "paid", "cancelled": "refunded"}.get(str(bill.get("status")),
                                                                  "unpaid")
        for line in bill.get("lineItem") or []:
            ref = str((line.get("chargeItemReference") or {}).get("reference", ""))
            appointment = by_charge.get(ref.removeprefix("ChargeItem/"))
            if appointment:
                out[appointment] = state
    return out


def _booking(appt: Json, person: Person, included: dict[str, Json], paid: dict[str, str]
             ) -> Booking:
    role = included.get(f"PractitionerRole/{actor(appt, 'PractitionerRole')}", {})
    service = included.get(f"HealthcareService/{actor(appt, 'HealthcareService')}", {})
    reason = appt.get("cancelationReason") or {}
    code = next((c.get("code", "") for c in reason.get("coding") or []), "")
    number = extension(appt, EXT_NUMBER)
    return Booking(appt["id"], person.patient_id, person.name or "", str(appt.get("status")),
                   str(appt.get("start", "")), str(appt.get("end", "")),
                   str(appt.get("description", "")), str(service.get("name", "")),
                   str((role.get("organization") or {}).get("display", "")),
                   int(number) if number is not None else None, fee_of(appt),
                   code, str(reason.get("text", "")), paid.get(appt["id"], ""))


def bookings(fhir: FhirAs, person: Person, count: int = 30) -> list[Booking]:
    """A person's appointments, latest visit first."""
    found, included = fhir.search_with_includes("Appointment", [
        ("patient", f"Patient/{person.patient_id}"), ("_sort", "-date"),
        ("_count", str(count)), ("_include", "Appointment:actor")])
    paid = _payments(fhir, person.patient_id) if found else {}
    return [_booking(a, person, included, paid) for a in found]


def queue(fhir: FhirAs, booking: Booking) -> int | None:
    """Patients ahead in the waiting room (None when not booked or checked in)."""
    if booking.status not in ("booked", "arrived"):
        return None
    try:
        answer = fhir.call("GET", f"Appointment/{booking.id}/$queue",
                           [("patient", booking.patient)])
    except FhirCallError:
        return None
    return next((int(p["valueInteger"]) for p in answer.get("parameter") or []
                 if p.get("name") == "ahead"), None)


def cancel(fhir: FhirAs, appointment: str, patient: str) -> None:
    """Cancel a booking (within the hospital's deadline; a paid fee is refunded)."""
    fhir.call("POST", f"Appointment/{appointment}/$cancel", body={
        "resourceType": "Parameters", "parameter": [
            {"name": "patient", "valueReference": {"reference": f"Patient/{patient}"}}]})
