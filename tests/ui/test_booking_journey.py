"""A resident books for their child in a real browser: hospital page → date → department →
doctor → time → confirm → pay (sandbox) → done; shows the child's e-health card, whose dynamic
QR code refreshes itself; the check-in desk checks the child in with that code (pasted as
text, as a scanner types it); the resident sees the appointment as arrived, with the waiting
room, and the messages. Every new page is checked with axe-core and photographed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from tests.ui.checks import check_page, follow
from tests.ui.conftest import UiWorld
from tests.ui.journeys import (
    HOSPITAL,
    add_child,
    bind,
    clinic_now,
    sign_in,
    staff_sign_in,
    wait_for_text,
)

from gansu_health.core.settings import Settings

PHONE = "13911112222"
CODE_TTL_S = 20  # the page fetches a new code 15 s before the shown one expires: after 5 s


@pytest.fixture(scope="module")
def settings(db_url: str) -> Settings:
    """Short-lived dynamic codes, so that the refresh is seen within the test."""
    return Settings(database_url=db_url, base_url="http://testserver/fhir",
                    card_dynamic_qr_ttl_s=CODE_TTL_S)


def test_book_for_a_child_pay_show_the_card_and_check_in(
        page_factory: Any, ui_world: UiWorld, artefacts: Path) -> None:
    session = clinic_now(ui_world)
    page = page_factory()
    sign_in(page, ui_world, PHONE)
    bind(page, ui_world)
    add_child(page, ui_world)
    child = ui_world.child

    page.goto(f"/hospitals/{HOSPITAL}")
    assert page.get_by_role("heading", name="近期余号").is_visible()
    check_page(page, artefacts, "hospital-next-numbers")
    follow(page, page.get_by_role("link", name="预约挂号").last)
    check_page(page, artefacts, "book-date")
    follow(page, page.locator(".choices a.choice").first)  # today: the session open now
    check_page(page, artefacts, "book-department")
    follow(page, page.get_by_role("link", name=re.compile(session.department)))
    check_page(page, artefacts, "book-doctor")
    follow(page, page.get_by_role("link", name=re.compile(session.doctor)))
    check_page(page, artefacts, "book-time")
    follow(page, page.locator(".choices a.choice").first)
    page.get_by_role("radio", name=child.name).check()
    check_page(page, artefacts, "book-confirm")
    page.get_by_role("button", name="锁定号源并支付").click()

    page.get_by_role("heading", name="支付挂号费").wait_for()
    check_page(page, artefacts, "book-pay")
    page.get_by_role("button", name=re.compile("支付 ¥")).click()
    page.get_by_text("预约并支付成功").wait_for()
    main = page.locator("main").inner_text()
    assert child.name in main and "已预约" in main and "已支付" in main
    check_page(page, artefacts, "appointment-booked")
    appointment_url = page.url

    follow(page, page.get_by_role("link", name="出示电子健康卡"))
    page.get_by_role("button", name="申领电子健康卡").click()
    qr = page.get_by_role("img", name=re.compile(f"{child.name}的电子健康卡二维码"))
    qr.wait_for()
    assert qr.locator("svg").count() == 1
    check_page(page, artefacts, "card")
    first = page.locator("#card-code-text").text_content()
    page.wait_for_function(  # htmx swaps in a fresh code before this one expires
        "old => document.querySelector('#card-code-text').textContent !== old", arg=first,
        timeout=(CODE_TTL_S + 5) * 1000)
    refreshed = page.locator("#card-code-text").text_content()
    assert refreshed and refreshed.startswith("GSEHC1:") and refreshed != first

    desk = page_factory("desktop")
    staff_sign_in(desk, ui_world.staff("desk1", "registrar", HOSPITAL))
    follow(desk, desk.get_by_role("navigation", name="主导航").get_by_role("link", name="签到台"))
    desk.wait_for_url("**/console/checkin")
    check_page(desk, artefacts, "console-checkin")
    # the code on the phone now, as the resident shows it at the desk (the page swaps codes well
    # before they expire, so the shown one is valid for a while even on a slow machine)
    code = page.locator("#card-code-text").text_content()
    assert code and code.startswith("GSEHC1:")
    desk.get_by_label("电子健康卡二维码").fill(code)
    desk.get_by_role("button", name="核验").click()
    desk.get_by_role("heading", name=f"已核验：{child.name}").wait_for()
    check_page(desk, artefacts, "console-checkin-verified")
    desk.get_by_role("button", name=re.compile("^签到")).click()
    desk.get_by_text(f"{child.name}已签到").wait_for()

    wait_for_text(page, appointment_url, "已签到")
    assert "前面还有0位候诊" in page.locator("#queue").inner_text()
    check_page(page, artefacts, "appointment-arrived")
    page.goto("/appointments")
    assert "已签到" in page.locator("main").inner_text()
    check_page(page, artefacts, "appointments")
    wait_for_text(page, "/inbox", "候诊提醒")
    assert "预约成功" in page.locator("main").inner_text()
    check_page(page, artefacts, "inbox")
