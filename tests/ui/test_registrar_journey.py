"""Staff of the booking side in a real browser: a registrar adds numbers to a clinic with a
reason, then stops the clinic, and the booked resident sees the cancellation and the refund in
their appointments and their messages; a supervisor reads the booking indicators by city and
hospital as charts and tables; each role sees its own sections."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from tests.ui.checks import check_page, follow
from tests.ui.conftest import UiWorld
from tests.ui.journeys import (
    HOSPITAL,
    bind,
    book_paid,
    clinic,
    sign_in,
    staff_sign_in,
    wait_for_text,
)

PHONE = "13922223333"
REASON = "医生外出会诊"


def test_registrar_stops_a_clinic_and_the_resident_is_refunded(
        page_factory: Any, ui_world: UiWorld, artefacts: Path) -> None:
    session = clinic(ui_world, date.today() + timedelta(days=2))
    resident = page_factory()
    sign_in(resident, ui_world, PHONE)
    bind(resident, ui_world)
    book_paid(ui_world, ui_world.adult.patient_id, session.slots[0])

    page = page_factory("desktop")
    staff_sign_in(page, ui_world.staff("registrar1", "registrar", HOSPITAL))
    nav = page.get_by_role("navigation", name="主导航")
    assert nav.get_by_role("link", name="签到台").is_visible()
    assert nav.get_by_role("link", name="预约指标").count() == 0  # supervisors only
    follow(page, nav.get_by_role("link", name="排班管理"))
    check_page(page, artefacts, "console-schedules")
    follow(page, page.get_by_role("link", name=f"管理 {session.doctor}"))
    page.get_by_role("heading", name="每周排班模板").wait_for()
    check_page(page, artefacts, "console-schedule")
    follow(page, page.locator(f"a[href$='/session/{session.day}/{session.period}']"))

    page.get_by_label("数量").fill("2")
    page.locator("#extra-reason").fill("复诊患者较多")
    page.get_by_role("button", name="确认加号").click()
    page.get_by_text("已加号").wait_for()
    window = page.get_by_role("row", name=re.compile("^窗口"))
    assert window.get_by_role("cell").nth(3).inner_text() == "2"
    check_page(page, artefacts, "console-session")

    page.locator("#stop-reason").fill(REASON)
    page.get_by_role("button", name="确认停诊").click()
    page.get_by_text("已停诊，已通知患者并退款").wait_for()
    assert REASON in page.locator("main").inner_text()

    wait_for_text(resident, "/appointments", "已退款")
    main = resident.locator("main").inner_text()
    assert "已取消" in main and "医生停诊" in main
    check_page(resident, artefacts, "appointments-stopped")
    wait_for_text(resident, "/inbox", "退款成功")
    assert "停诊通知" in resident.locator("main").inner_text()
    assert REASON in resident.locator("main").inner_text()
    check_page(resident, artefacts, "inbox-stopped")


def test_supervisor_reads_indicators_by_city_and_hospital(
        page_factory: Any, ui_world: UiWorld, artefacts: Path) -> None:
    page = page_factory("desktop")
    staff_sign_in(page, ui_world.staff("supervisor1", "supervisor", HOSPITAL, "620100"))
    nav = page.get_by_role("navigation", name="主导航")
    assert nav.get_by_role("link", name="排班管理").count() == 0
    follow(page, nav.get_by_role("link", name="预约指标"))
    page.locator(".chart canvas").first.wait_for()  # ECharts drew the bars
    assert page.locator(".chart canvas").count() == 2
    cities = page.get_by_role("table", name="按城市统计的指标")
    assert cities.get_by_role("row", name=re.compile("兰州市")).is_visible()
    hospitals = page.get_by_role("table", name="按医院统计的指标")
    assert hospitals.get_by_role("row", name=re.compile("兰州大学第一医院")).is_visible()
    check_page(page, artefacts, "console-indicators")
    assert page.goto("/console/schedules").status == 403
