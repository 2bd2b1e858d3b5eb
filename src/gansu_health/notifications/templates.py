"""What each event tells the patient: drafts of messages built from outbox events, in the
patient's language (zh-CN unless their Patient record prefers English).

``scheduling.appointment.booked`` → booking confirmation; ``.arrived`` → waiting-room reminder
with the queue position (候诊提醒; the reminder job sends one before the slot too);
``.cancelled`` → stop-clinic notice (停诊) with the refund and rebooking offers, or a cancellation
notice; ``.offered`` → a waitlist number to pay and confirm; ``scheduling.patient.suspended`` →
the suspension; ``payment.payment.succeeded`` → receipt; ``payment.refund.succeeded`` → refund
receipt. Other events make no message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from gansu_health.core.events import Event
from gansu_health.notifications import repository as repo
from gansu_health.notifications.catalog import TEXTS
from gansu_health.payment import repository as pay_repo
from gansu_health.scheduling.desk import ahead

Language = Callable[[Connection, str], str]  # (conn, patient id) → "zh" | "en"


def chinese(_conn: Connection, _patient: str) -> str:
    """Every patient reads Chinese (the default)."""
    return "zh"


def preferred_language(body: dict[str, Any]) -> str:
    """The language of a Patient's preferred (else first) communication: "en" or "zh"."""
    spoken = [c for c in body.get("communication") or [] if isinstance(c, dict)]
    spoken.sort(key=lambda c: not c.get("preferred"))
    for entry in spoken[:1]:
        language = entry.get("language") or {}
        codes = [str(c.get("code") or "") for c in language.get("coding") or []]
        if any(code.lower().startswith("en") for code in codes):
            return "en"
    return "zh"


@dataclass(frozen=True, slots=True)
class Draft:
    """One message to one patient."""

    kind: str
    patient: str
    title: str
    text: str
    about: str | None = None


def yuan(fen: int) -> str:
    """¥12.50."""
    return f"¥{fen / 100:.2f}"


def hhmm(micros: int, zone: ZoneInfo) -> str:
    """Local HH:MM."""
    return datetime.fromtimestamp(micros / 1_000_000, zone).strftime("%H:%M")


def when(row: Any, zone: ZoneInfo, lang: str = "zh") -> str:
    """'2027-03-03 上午 08:00–08:30 第3号' (or its English)."""
    t = TEXTS[lang]
    number = t["number"].format(n=row.number_seq) if row.number_seq else ""
    return (f"{row.day} {t['periods'].get(row.period, row.period)} "
            f"{hhmm(row.start_us, zone)}–{hhmm(row.end_us, zone)}{number}")


def _draft(lang: str, kind: str, patient: str, about: str | None, **values: Any) -> Draft:
    title, text = TEXTS[lang]["messages"][kind]
    return Draft(kind, patient, title, text.format(**values), about)


def _refund_note(conn: Connection, appointment: str, lang: str) -> str:
    paid = pay_repo.paid_for_appointment(conn, appointment)
    return TEXTS[lang]["refund-note"].format(amount=yuan(paid[0])) if paid else ""


def _offers(conn: Connection, offers: list[str], lang: str) -> str:
    t = TEXTS[lang]
    shown = []
    for offer in offers:
        schedule, _, rest = offer.partition("|")
        day, _, period = rest.partition("|")
        shown.append(f"{repo.schedule_display(conn, schedule.removeprefix('Schedule/'))} "
                     f"{day} {t['periods'].get(period, period)}")
    return t["offers"].format(items=t["list-separator"].join(shown)) if shown else ""


def reminder(conn: Connection, appointment: str, zone: ZoneInfo, *, arrived: bool,
             language: Language = chinese) -> Draft | None:
    """A waiting-room reminder (候诊提醒) with the queue position."""
    row = repo.booking(conn, appointment)
    if row is None or row.number_seq is None:
        return None
    lang = language(conn, row.patient)
    lead = TEXTS[lang]["arrived" if arrived else "starting-soon"]
    return _draft(lang, "waiting-reminder", row.patient, f"Appointment/{appointment}",
                  lead=lead, where=f"{row.display} {when(row, zone, lang)}",
                  waiting=ahead(conn, row.session_id, row.number_seq))


def _appointment(conn: Connection, event: Event, zone: ZoneInfo, language: Language
                 ) -> list[Draft]:
    kind = event.topic.rsplit(".", 1)[1]
    fid = str(event.payload["appointment"]).removeprefix("Appointment/")
    if kind == "arrived":
        found = reminder(conn, fid, zone, arrived=True, language=language)
        return [found] if found else []
    row = repo.booking(conn, fid)
    if row is None:
        return []
    lang = language(conn, row.patient)
    about = f"Appointment/{fid}"
    where = f"{row.display} {when(row, zone, lang)}"
    if kind == "booked":
        return [_draft(lang, "booking-confirmed", row.patient, about, where=where)]
    if kind == "offered":
        return [_draft(lang, "waitlist-offered", row.patient, about, where=where,
                       until=hhmm(row.hold_expires_us or row.start_us, zone))]
    if kind != "cancelled":
        return []
    reason = str(event.payload.get("reason") or "")
    refund = _refund_note(conn, fid, lang)
    if reason == "clinic-stopped":
        offers = _offers(conn, list(event.payload.get("alternatives") or []), lang)
        return [_draft(lang, "clinic-stopped", row.patient, about, where=where,
                       why=row.stop_reason or TEXTS[lang]["doctor-away"], refund=refund,
                       offers=offers)]
    if reason in ("patient", "institution", "hold-expired", "waitlist-closed"):
        return [_draft(lang, "booking-cancelled", row.patient, about, where=where,
                       why=TEXTS[lang]["reasons"][reason], refund=refund)]
    return []


def render(conn: Connection, event: Event, zone: ZoneInfo, language: Language = chinese
           ) -> list[Draft]:
    """The messages an event makes."""
    data = event.payload
    if event.topic.startswith("scheduling.appointment."):
        return _appointment(conn, event, zone, language)
    patient = str(data.get("patient") or "").removeprefix("Patient/")
    if event.topic == "scheduling.patient.suspended":
        return [_draft(language(conn, patient), "suspended", patient, None,
                       days=data["days"], until=str(data["until"])[:10])]
    about = str(data.get("invoice") or "") or None
    if event.topic == "payment.payment.succeeded":
        lang = language(conn, patient)
        what = TEXTS[lang]["registration-fee" if data.get("kind") == "registration"
                          else "clinic-fees"]
        return [_draft(lang, "payment-receipt", patient, about, amount=yuan(int(data["amount"])),
                       what=what, order=data["payment"])]
    if event.topic == "payment.refund.succeeded":
        lang = language(conn, patient)
        reason = str(data.get("reason"))
        return [_draft(lang, "refund-receipt", patient, about, amount=yuan(int(data["amount"])),
                       why=TEXTS[lang]["reasons"].get(reason, reason), order=data["payment"])]
    return []
