"""Bills: the registration fee of an Appointment, or clinic orders (ChargeItems) a hospital sent.

A registration invoice is made the first time the patient pays for a hold (the fee is the
session's, from the institution's policy by doctor title); asking again answers the same invoice.
Clinic orders are ChargeItems the hospital wrote (``billable``, ``subject`` the patient,
``priceOverride`` × ``quantity``, ``performingOrganization`` or ``requestingOrganization`` the
payee); paying some of them bills them once on a new Invoice and marks them ``billed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from gansu_health.core.clock import now, to_micros
from gansu_health.core.errors import Conflict, NotFound, UnprocessableEntity
from gansu_health.fhir.storage.repository import new_id
from gansu_health.payment import repository as repo
from gansu_health.payment import resources as res
from gansu_health.scheduling import repository as sched_repo

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from gansu_health.payment.service import Payments


def _store(pay: Payments, conn: Connection, patient: str, institution: str, kind: str,
           items: Sequence[tuple[str, int]], appointment: str | None,
           charges: Sequence[dict[str, Any]]) -> Any:
    fid, at = new_id(), to_micros(now())
    total = sum(f for _, f in items)
    repo.insert_invoice(conn, items, id=fid, node=pay.node, patient=patient,
                        institution=institution, kind=kind, appointment=appointment,
                        amount_fen=total, status="issued", created_us=at, updated_us=at)
    res.write(conn, pay.store, [*charges, res.invoice(fid, "issued", patient, institution, items,
                                                      at, pay.zone)])
    return repo.invoice(conn, fid)


def registration_invoice(pay: Payments, conn: Connection, appointment: str, patient: str
                         ) -> Any:
    """The invoice of an appointment's registration fee (made on first use)."""
    found = repo.invoice_for_appointment(conn, appointment, lock=True)
    if found is not None:
        if found.patient != patient:
            raise UnprocessableEntity(f"Appointment/{appointment} is not a booking of "
                                      f"Patient/{patient}", expression="patient")
        return found
    row = sched_repo.appointment(conn, appointment)
    if row is None:
        raise NotFound(f"Appointment/{appointment} is not a booking of the number-source pool",
                       expression="appointment")
    if row.patient != patient:
        raise UnprocessableEntity(f"Appointment/{appointment} is not a booking of "
                                  f"Patient/{patient}", expression="patient")
    if row.status not in ("held", "booked"):
        raise Conflict(f"Appointment/{appointment} is {row.status}; only a hold or a booking "
                       "has a fee to pay", expression="appointment")
    visit = sched_repo.visit(conn, row.session_id)
    assert visit is not None
    if visit.fee_cents <= 0:
        raise UnprocessableEntity(f"Appointment/{appointment} has no registration fee",
                                  expression="appointment")
    item = new_id()
    charge = res.registration_charge(item, patient, visit.institution, appointment,
                                     visit.fee_cents, visit.display, to_micros(now()), pay.zone)
    return _store(pay, conn, patient, visit.institution, "registration",
                  [(item, visit.fee_cents)], appointment, [charge])


def _fen(charge: dict[str, Any], fid: str) -> int:
    try:
        price = Decimal(str(charge["priceOverride"]["value"]))
        quantity = Decimal(str((charge.get("quantity") or {}).get("value", 1)))
    except (KeyError, TypeError, InvalidOperation):
        raise UnprocessableEntity(f"ChargeItem/{fid} needs priceOverride.value (yuan) to be "
                                  "paid online", expression="ChargeItem.priceOverride") from None
    fen = int((price * quantity * 100).to_integral_value())
    if fen <= 0 or (charge["priceOverride"].get("currency") or "CNY") != "CNY":
        raise UnprocessableEntity(f"ChargeItem/{fid} must cost a positive amount in CNY",
                                  expression="ChargeItem.priceOverride")
    return fen


def clinic_invoice(pay: Payments, conn: Connection, patient: str, charge_items: Sequence[str]
                   ) -> Any:
    """An invoice over clinic orders; the same set asked again answers its open invoice."""
    ids = sorted(set(charge_items))
    billed = repo.billed_on(conn, ids)
    if billed:
        invoices = set(billed.values())
        if len(billed) == len(ids) and len(invoices) == 1:
            found = repo.invoice(conn, invoices.pop(), lock=True)
            if found is not None and [i for i, _ in repo.items_of(conn, found.id)] == ids:
                return found
        item = sorted(billed)[0]
        raise Conflict(f"ChargeItem/{item} is already billed on Invoice/{billed[item]}",
                       expression="chargeItem")
    items, charges, payees = [], [], set()
    for fid in ids:
        charge = pay.store.read(conn, "ChargeItem", fid).json()
        if (charge.get("subject") or {}).get("reference") != f"Patient/{patient}":
            raise UnprocessableEntity(f"ChargeItem/{fid} is not a charge of Patient/{patient}",
                                      expression="chargeItem")
        if charge.get("status") != "billable":
            raise Conflict(f"ChargeItem/{fid} is {charge.get('status')}, not billable",
                           expression="chargeItem")
        payee = (charge.get("performingOrganization") or charge.get("requestingOrganization")
                 or {}).get("reference", "")
        if not payee.startswith("Organization/"):
            raise UnprocessableEntity(f"ChargeItem/{fid} names no performingOrganization to pay",
                                      expression="ChargeItem.performingOrganization")
        payees.add(payee.removeprefix("Organization/"))
        items.append((fid, _fen(charge, fid)))
        charges.append({**charge, "status": "billed"})
    if len(payees) != 1:
        raise UnprocessableEntity("Pay the ChargeItems of one institution at a time",
                                  expression="chargeItem")
    return _store(pay, conn, patient, payees.pop(), "clinic", items, None, charges)
