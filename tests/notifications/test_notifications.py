"""Messages from events: confirmations and receipts in the citizen's inbox, waiting-room
reminders with the queue position, retries with backoff and the dead letter."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from fastapi.testclient import TestClient
from tests.payment.conftest import (
    ZONE,
    Clock,
    Resident,
    api_of,
    appointment,
    clinic,
    deliver,
    dispatch,
    events,
    new_patient,
    op,
)

from gansu_health.core.clock import to_micros
from gansu_health.core.database import write_transaction
from gansu_health.core.settings import Settings
from gansu_health.demo.registry import Clinician
from gansu_health.notifications.channels import (
    DeliveryError,
    Notifier,
    Outgoing,
    SinkNotifier,
    SmsNotifier,
)
from gansu_health.notifications.setup import notifications_of


class Flaky(Notifier):
    """Fails ``failures`` times, then delivers (``failures`` < 0: always fails)."""

    def __init__(self, name: str, failures: int) -> None:
        self.name = name
        self.failures = failures
        self.sent: list[Outgoing] = []

    def send(self, out: Outgoing) -> None:
        if self.failures != 0:
            self.failures -= 1
            raise DeliveryError("provider busy (HTTP 503)")
        self.sent.append(out)


class NoSms:
    """An SMS provider that must not be called."""

    def send(self, phone: str, template: str, params: Mapping[str, str]) -> None:
        raise AssertionError("no phone: the provider is never asked")


def _inbox(client: TestClient, me: Resident) -> list[dict[str, object]]:
    found = client.get(f"/fhir/Communication?recipient={me.ref}", headers=me.headers)
    assert found.status_code == 200, found.text
    return [e["resource"] for e in found.json().get("entry", [])]


def test_confirmation_and_receipt_reach_the_inbox(client: TestClient, settings: Settings,
                                                  doctors: list[Clinician], clock: Clock) -> None:
    _, slots = clinic(client, doctors, perSlot=2)
    me = Resident(client, settings)
    hold = appointment(me.call(client, "Appointment/$hold", patient=me.ref, slot=slots[0]))
    me.pay(client, hold["id"], "n-1")
    me.call(client, f"Appointment/{hold['id']}/$book", patient=me.ref)
    dispatch(client)
    sink = notifications_of(api_of(client)).channels["sink"]
    assert isinstance(sink, SinkNotifier)
    kinds = {m.kind for m in sink.recent(me.patient)}
    assert {"booking-confirmed", "payment-receipt"} <= kinds
    inbox = _inbox(client, me)
    texts = " ".join(str(c["payload"]) for c in inbox)  # type: ignore[index]
    assert "预约成功" in texts and "第1号" in texts and "支付成功" in texts
    assert {c["status"] for c in inbox} == {"completed"}
    stranger = Resident(client, settings)
    assert _inbox(client, stranger) == [] and client.get(  # narrowed to their own records
        f"/fhir/Communication?recipient={me.ref}", headers=stranger.headers).json().get(
        "entry") is None


def test_waiting_room_reminders_show_the_queue(client: TestClient, settings: Settings,
                                               doctors: list[Clinician], clock: Clock) -> None:
    _, slots = clinic(client, doctors, perSlot=2)
    first, second, later = (f"Patient/{new_patient(client)}" for _ in range(3))
    op(client, "Appointment/$book", patient=first, slot=slots[0])
    mine = appointment(op(client, "Appointment/$book", patient=second, slot=slots[0]))
    op(client, "Appointment/$book", patient=later, slot=slots[2])
    clock.set(datetime(2027, 3, 3, 7, 45, tzinfo=ZONE))
    op(client, f"Appointment/{mine['id']}/$check-in", patient=second)
    dispatch(client)
    sink = notifications_of(api_of(client)).channels["sink"]
    assert isinstance(sink, SinkNotifier)
    arrived = [m for m in sink.recent(second.removeprefix("Patient/"))
               if m.kind == "waiting-reminder"]
    assert len(arrived) == 1 and "您已签到" in arrived[0].text and "前面还有1位" in arrived[0].text
    service = notifications_of(api_of(client))
    clock.set(datetime(2027, 3, 3, 8, 10, tzinfo=ZONE))  # slot 3 starts at 09:00
    with write_transaction(api_of(client).engine) as conn:
        assert service.remind(conn, to_micros(clock.moment), lead_minutes=60) == 1
        assert service.remind(conn, to_micros(clock.moment), lead_minutes=60) == 0
    dispatch(client)
    soon = [m for m in sink.recent(later.removeprefix("Patient/")) if m.kind == "waiting-reminder"]
    assert len(soon) == 1 and "即将开始" in soon[0].text and "09:00" in soon[0].text


def test_retries_with_backoff_then_dead_letter(client: TestClient, settings: Settings,
                                               doctors: list[Clinician], clock: Clock) -> None:
    service = notifications_of(api_of(client))
    saved = (service.channels, service.max_attempts)
    flaky, broken = Flaky("sms", 2), Flaky("wechat", -1)
    service.channels, service.max_attempts = {"sms": flaky, "wechat": broken}, 3
    try:
        _, slots = clinic(client, doctors, perSlot=2)
        patient = new_patient(client)
        op(client, "Appointment/$book", patient=f"Patient/{patient}", slot=slots[1])
        deliver(client)
        for seconds in (0, 31, 61, 3600):
            clock.advance(seconds=seconds)
            service.dispatch(api_of(client).engine)
    finally:
        service.channels, service.max_attempts = saved
    assert [m.kind for m in flaky.sent] == ["booking-confirmed"] and flaky.failures == 0
    dead = [e for e in events(client, "notifications.delivery.dead")
            if e["patient"] == f"Patient/{patient}"]
    assert len(dead) == 1 and dead[0]["channel"] == "wechat" and dead[0]["attempts"] == 3
    assert "503" in dead[0]["error"]
    inbox = client.get(f"/fhir/Communication?recipient=Patient/{patient}").json()["entry"]
    assert inbox[0]["resource"]["status"] == "completed"


def test_every_channel_failing_leaves_the_message_not_done(
        client: TestClient, settings: Settings, doctors: list[Clinician], clock: Clock) -> None:
    service = notifications_of(api_of(client))
    saved = service.channels
    # one channel configuration throughout: the app's own delivery thread may dispatch too
    service.channels = {"sms": SmsNotifier(NoSms())}
    try:
        _, slots = clinic(client, doctors, perSlot=2)
        patient = new_patient(client)  # no phone: a permanent failure, not retried
        op(client, "Appointment/$book", patient=f"Patient/{patient}", slot=slots[2])
        deliver(client)
        service.dispatch(api_of(client).engine)
    finally:
        service.channels = saved
    inbox = client.get(f"/fhir/Communication?recipient=Patient/{patient}").json()["entry"]
    assert inbox[0]["resource"]["status"] == "not-done"
    assert "no mobile phone" in inbox[0]["resource"]["statusReason"]["text"]


def test_a_patient_who_prefers_english_is_written_to_in_english(
        client: TestClient, settings: Settings, doctors: list[Clinician], clock: Clock) -> None:
    _, slots = clinic(client, doctors, perSlot=2)
    made = client.post("/fhir/Patient", json={
        "resourceType": "Patient", "name": [{"family": "Smith", "given": ["Anna"]}],
        "gender": "female", "birthDate": "1990-05-01", "communication": [
            {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "zh-CN"}]}},
            {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en-GB"}]},
             "preferred": True}]})
    assert made.status_code == 201, made.text
    anna = made.json()["id"]
    chinese = new_patient(client)
    booked = appointment(op(client, "Appointment/$book", patient=f"Patient/{anna}",
                            slot=slots[1]))
    op(client, "Appointment/$book", patient=f"Patient/{chinese}", slot=slots[1])
    op(client, f"Appointment/{booked['id']}/$cancel", patient=f"Patient/{anna}")
    dispatch(client)
    sink = notifications_of(api_of(client)).channels["sink"]
    assert isinstance(sink, SinkNotifier)
    mine = {m.kind: m for m in sink.recent(anna)}
    confirmed = mine["booking-confirmed"]
    assert confirmed.title == "Booking confirmed" and "morning" in confirmed.text
    assert re.search(r", No\. \d+\. Please check in", confirmed.text)
    assert mine["booking-cancelled"].text.startswith("Booking cancelled (cancelled by you)")
    theirs = {m.kind: m for m in sink.recent(chinese)}
    assert theirs["booking-confirmed"].title == "预约成功" and re.search(
        r"上午 \d\d:\d\d–\d\d:\d\d 第\d+号", theirs["booking-confirmed"].text)
