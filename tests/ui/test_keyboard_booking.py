"""Keyboard-only booking: from the home page's tile through date, department, doctor, time,
the patient, confirm and pay, every control reached with Tab (with a visible focus) and used
with Enter, Space or the arrow keys."""

from __future__ import annotations

from typing import Any

from tests.ui.conftest import UiWorld
from tests.ui.journeys import add_child, bind, sign_in, tab_to

PHONE = "13933334444"


def test_book_with_the_keyboard_only(page_factory: Any, ui_world: UiWorld) -> None:
    page = page_factory()
    sign_in(page, ui_world, PHONE)
    bind(page, ui_world)
    add_child(page, ui_world)

    page.goto("/")
    tab_to(page, ".tiles a[href='/book']")
    page.keyboard.press("Enter")
    page.wait_for_url("**/book")
    tab_to(page, "a[href^='/book?hospital=gs-620100-h01']")
    page.keyboard.press("Enter")
    for step in ("date", "department", "doctor", "slot"):  # the first open choice each time
        page.locator("ol.steps").wait_for()
        tab_to(page, "a.choice")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert f"{step}=" in page.url
    tab_to(page, "input[name='who']:checked")
    page.keyboard.press("ArrowDown")  # the radio group: the child
    assert page.evaluate("document.activeElement.value") == ui_world.child.patient_id
    tab_to(page, "form[action='/book'] button[type='submit']")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="支付挂号费").wait_for()
    tab_to(page, "#f-card")
    page.keyboard.press("Enter")  # submits the payment form with its only button
    page.get_by_text("预约并支付成功").wait_for()
    assert ui_world.child.name in page.locator("main").inner_text()
    tab_to(page, "a[href^='/card?who=']")
    page.keyboard.press("Enter")
    page.wait_for_url("**/card?who=*")
    tab_to(page, "form[action='/card/issue'] button")
    page.keyboard.press(" ")
    page.locator("#card-code").wait_for()
