"""Keyboard-only use of the main flows: skip link, visible focus, sign-in, search, navigation."""

from __future__ import annotations

from typing import Any

from tests.ui.conftest import UiWorld
from tests.ui.journeys import tab_to

PHONE = "13987654321"


def test_sign_in_and_find_a_hospital_with_the_keyboard(page_factory: Any,
                                                       ui_world: UiWorld) -> None:
    page = page_factory()
    page.goto("/signin")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('skip-link')")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    tab_to(page, "#f-phone")
    page.keyboard.type(PHONE)
    tab_to(page, "button[formaction='/signin/code']")
    page.keyboard.press("Enter")
    page.get_by_text("6位验证码已发送至").wait_for()
    tab_to(page, "#f-code")
    page.keyboard.type(ui_world.sms_code(PHONE))
    page.keyboard.press("Enter")  # submits the form with its default button: sign in
    page.wait_for_url("**/")
    assert page.get_by_role("button", name="退出").is_visible()

    tab_to(page, ".mainnav a[href='/hospitals']")
    page.keyboard.press("Enter")
    page.wait_for_url("**/hospitals")
    tab_to(page, "#f-city")
    page.keyboard.press("ArrowDown")  # the first city (兰州市): htmx refreshes the results
    page.get_by_role("link", name="兰州大学第一医院").wait_for()
    tab_to(page, "a[href='/hospitals/gs-620100-h01']")
    page.keyboard.press("Enter")
    page.wait_for_url("**/hospitals/gs-620100-h01")
    assert page.get_by_role("heading", level=1).inner_text() == "兰州大学第一医院"

    tab_to(page, "footer button[value='en']")
    page.keyboard.press("Enter")
    page.wait_for_function("document.documentElement.lang === 'en'")
