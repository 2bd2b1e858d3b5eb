"""What each event tells the patient (zh-CN): drafts of messages built from outbox events.

``scheduling.appointment.booked`` → booking confirmation; ``.arrived`` → waiting-room reminder
with the queue position (候诊提醒; the reminder job sends one before the slot too);
``.cancelled`` → stop-clinic notice (停诊) with the refund and rebooking offers, or a cancellation
notice; ``.offered`` → a waitlist number to pay and confirm; ``scheduling.patient.suspended`` →
the suspension; ``payment.payment.succeeded`` → receipt; ``payment.refund.succeeded`` → refund
receipt. Other events make no message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from gansu_health.core.events import Event
from gansu_health.notifications import repository as repo
from gansu_health.payment import repository as pay_repo
from gansu_health.scheduling.desk import ahead

PERIODS = {"morning": "上午", "afternoon": "下午", "night": "夜间"}
REASONS = {"patient": "您已取消", "clinic-stopped": "停诊", "hold-expired": "锁号超时",
           "institution": "医院取消", "waitlist-closed": "候补结束", "duplicate": "重复支付",
           "late-payment": "支付时预约已取消", "limit-reached": "超出个人预约限额"}


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


def when(row: Any, zone: ZoneInfo) -> str:
    """'2027-03-03 上午 08:00–08:30 第3号'."""
    number = f" 第{row.number_seq}号" if row.number_seq else ""
    return (f"{row.day} {PERIODS.get(row.period, row.period)} {hhmm(row.start_us, zone)}–"
            f"{hhmm(row.end_us, zone)}{number}")


def _refund_note(conn: Connection, appointment: str) -> str:
    paid = pay_repo.paid_for_appointment(conn, appointment)
    return f"已支付的挂号费{yuan(paid[0])}将原路退回。" if paid else ""


def _offers(conn: Connection, offers: list[str]) -> str:
    shown = []
    for offer in offers:
        schedule, _, rest = offer.partition("|")
        day, _, period = rest.partition("|")
        shown.append(f"{repo.schedule_display(conn, schedule.removeprefix('Schedule/'))} "
                     f"{day} {PERIODS.get(period, period)}")
    return f"可改约：{'；'.join(shown)}。" if shown else ""


def reminder(conn: Connection, appointment: str, zone: ZoneInfo, *, arrived: bool) -> Draft | None:
    """A waiting-room reminder (候诊提醒) with the queue position."""
    row = repo.booking(conn, appointment)
    if row is None or row.number_seq is None:
        return None
    waiting = ahead(conn, row.session_id, row.number_seq)
    lead = "您已签到" if arrived else "您预约的就诊即将开始"
    return Draft("waiting-reminder", row.patient, "候诊提醒",
                 f"{lead}：{row.display} {when(row, zone)}，前面还有{waiting}位候诊，"
                 "请留意叫号。", f"Appointment/{appointment}")


def _appointment(conn: Connection, event: Event, zone: ZoneInfo) -> list[Draft]:
    kind = event.topic.rsplit(".", 1)[1]
    fid = str(event.payload["appointment"]).removeprefix("Appointment/")
    if kind == "arrived":
        found = reminder(conn, fid, zone, arrived=True)
        return [found] if found else []
    row = repo.booking(conn, fid)
    if row is None:
        return []
    about = f"Appointment/{fid}"
    where = f"{row.display} {when(row, zone)}"
    if kind == "booked":
        return [Draft("booking-confirmed", row.patient, "预约成功",
                      f"预约成功：{where}。请于就诊前30分钟内到院签到。", about)]
    if kind == "offered":
        return [Draft("waitlist-offered", row.patient, "候补成功",
                      f"候补成功：{where}已为您保留，请在"
                      f"{hhmm(row.hold_expires_us or row.start_us, zone)}前支付并确认。", about)]
    if kind != "cancelled":
        return []
    reason = str(event.payload.get("reason") or "")
    if reason == "clinic-stopped":
        return [Draft("clinic-stopped", row.patient, "停诊通知",
                      f"停诊通知：{where}因“{row.stop_reason or '医生停诊'}”停诊，您的预约已取消。"
                      f"{_refund_note(conn, fid)}"
                      f"{_offers(conn, list(event.payload.get('alternatives') or []))}", about)]
    if reason in ("patient", "institution", "hold-expired", "waitlist-closed"):
        return [Draft("booking-cancelled", row.patient, "预约已取消",
                      f"预约已取消（{REASONS[reason]}）：{where}。{_refund_note(conn, fid)}",
                      about)]
    return []


def render(conn: Connection, event: Event, zone: ZoneInfo) -> list[Draft]:
    """The messages an event makes."""
    data = event.payload
    if event.topic.startswith("scheduling.appointment."):
        return _appointment(conn, event, zone)
    patient = str(data.get("patient") or "").removeprefix("Patient/")
    if event.topic == "scheduling.patient.suspended":
        return [Draft("suspended", patient, "预约暂停",
                      f"因爽约，您的预约资格暂停{data['days']}天（至{str(data['until'])[:10]}）。")]
    about = str(data.get("invoice") or "") or None
    if event.topic == "payment.payment.succeeded":
        return [Draft("payment-receipt", patient, "支付成功",
                      f"支付成功：{yuan(int(data['amount']))}（"
                      f"{'挂号费' if data.get('kind') == 'registration' else '诊间费用'}），"
                      f"订单号{data['payment']}。", about)]
    if event.topic == "payment.refund.succeeded":
        return [Draft("refund-receipt", patient, "退款成功",
                      f"退款成功：{yuan(int(data['amount']))}已原路退回（"
                      f"{REASONS.get(str(data.get('reason')), str(data.get('reason')))}），"
                      f"订单号{data['payment']}。", about)]
    return []
