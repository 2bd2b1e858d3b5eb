"""Steps shared by the browser journeys: sign-in, binding and family, keyboard focus, and clinic
sessions made through the FHIR API (a session open right now, for check-in)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pyotp
import pytest
from tests.ui.checks import check_page
from tests.ui.conftest import CLINIC_HOSPITAL, UiWorld
from tests.ui.world import StaffLogin

HOSPITAL = CLINIC_HOSPITAL
DOCTOR_ROLE = "gs-620100-h01-d002-role"  # not a demo-clinic doctor: the tests give them sessions


@dataclass(frozen=True)
class Clinic:
    """A session the tests made: the doctor, their department, the day and the Slot ids."""

    schedule: str
    doctor: str
    department: str
    day: str
    period: str
    slots: list[str]


def sign_in(page: Any, ui_world: UiWorld, phone: str, artefacts: Path | None = None) -> None:
    """Sign in through the sign-in page with the code from the SMS sink."""
    page.goto("/signin?next=/me")
    page.get_by_label("手机号").fill(phone)
    page.get_by_role("button", name="获取验证码").click()
    page.get_by_text("6位验证码已发送至").wait_for()
    if artefacts:
        check_page(page, artefacts, "signin")
    page.get_by_label("短信验证码").fill(ui_world.sms_code(phone))
    page.get_by_role("button", name="登录", exact=True).click()
    page.wait_for_url("**/me")


def bind(page: Any, ui_world: UiWorld) -> None:
    """Real-name binding of the adult (on the Me page)."""
    page.get_by_label("身份证姓名").first.fill(ui_world.adult.name)
    page.locator("#bind-id").fill(ui_world.adult.resident_id)
    page.get_by_role("button", name="认证并绑定").click()
    page.get_by_text("实名认证成功").wait_for()


def add_child(page: Any, ui_world: UiWorld) -> None:
    """Add the adult's child as a 就诊人 (on the Me page)."""
    page.locator("#add-rel").select_option("child")
    page.locator("#add-name").fill(ui_world.child.name)
    page.locator("#add-id").fill(ui_world.child.resident_id)
    page.get_by_role("button", name="添加", exact=True).click()
    page.get_by_text("已添加就诊人").wait_for()


def tab_to(page: Any, selector: str, limit: int = 60) -> None:
    """Press Tab until ``selector`` has the focus; it must show a visible focus indicator."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            outline = page.evaluate(
                "() => { const s = getComputedStyle(document.activeElement);"
                " return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2; }")
            assert outline, f"{selector} has no visible focus indicator"
            return
    raise AssertionError(f"{selector} cannot be reached with the Tab key")


def staff_sign_in(page: Any, login: StaffLogin) -> None:
    """Sign in on the console's page with password and the authenticator's current code."""
    page.goto("/console/signin")
    page.get_by_label("用户名").fill(login.username)
    page.get_by_label("密码").fill(login.password)
    page.get_by_label("动态口令").fill(pyotp.TOTP(login.totp_secret).now())
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/console$"))


def _operation(ui_world: UiWorld, path: str, headers: dict[str, str] | None = None,
               **values: Any) -> dict[str, Any]:
    parts = [{"name": k, "valueReference" if isinstance(v, dict) else "valueString": v}
             for k, v in values.items()]
    response = ui_world.fhir.http.post(path, content=orjson.dumps(
        {"resourceType": "Parameters", "parameter": parts}),
        headers={"Content-Type": "application/fhir+json", **(headers or {})})
    assert response.status_code < 300, response.text
    return dict(response.json())


def clinic(ui_world: UiWorld, day: date, start: str = "08:00", end: str = "12:00",
           period: str = "morning", slot_minutes: int = 30) -> Clinic:
    """A session of the test doctor on ``day`` (made bookable first)."""
    schedule = _operation(ui_world, f"/PractitionerRole/{DOCTOR_ROLE}/$bookable")["id"]
    made = _operation(ui_world, f"/Schedule/{schedule}/$session", date=day.isoformat(),
                      period=period, start=start, end=end, slotMinutes=str(slot_minutes),
                      perSlot="4")
    role = ui_world.fhir.get(f"/PractitionerRole/{DOCTOR_ROLE}")
    service = ui_world.fhir.get(f"/{role['healthcareService'][0]['reference']}")
    return Clinic(schedule, role["practitioner"]["display"], service["name"], day.isoformat(),
                  period, [p["valueReference"]["reference"].removeprefix("Slot/")
                           for p in made["parameter"]])


def clinic_now(ui_world: UiWorld) -> Clinic:
    """A session of the test doctor that is open now (check-in is open), in local time."""
    local = datetime.now(ZoneInfo(ui_world.settings.timezone))
    first = local.replace(minute=local.minute - local.minute % 5, second=0, microsecond=0)
    last = first + timedelta(minutes=60)
    if last.date() != first.date():
        pytest.skip("no clinic session fits before midnight")
    period = "morning" if first.hour < 12 else "afternoon" if first.hour < 18 else "night"
    return clinic(ui_world, first.date(), first.strftime("%H:%M"), last.strftime("%H:%M"),
                  period)


def book_paid(ui_world: UiWorld, patient: str, slot: str) -> str:
    """Hold, pay (sandbox) and book a number through the API; the Appointment id."""
    who = {"reference": f"Patient/{patient}"}
    held = _operation(ui_world, "/Appointment/$hold", slot={"reference": f"Slot/{slot}"},
                      patient=who)
    appointment = held["entry"][0]["resource"]["id"]
    _operation(ui_world, "/Invoice/$pay", {"Idempotency-Key": uuid.uuid4().hex}, patient=who,
               appointment={"reference": f"Appointment/{appointment}"})
    _operation(ui_world, f"/Appointment/{appointment}/$book", patient=who)
    return str(appointment)


def wait_for_text(page: Any, url: str, pattern: str, tries: int = 20) -> None:
    """Reload ``url`` until the main content matches ``pattern`` (events arrive shortly)."""
    for _ in range(tries):
        page.goto(url)
        if re.search(pattern, page.locator("main").inner_text()):
            return
        page.wait_for_timeout(500)
    raise AssertionError(f"{url} never showed {pattern!r}: {page.locator('main').inner_text()}")
