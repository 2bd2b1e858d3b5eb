"""A resident in a real browser: signs in by SMS code, binds their ID, adds a child, reads the
records of both, sees who looked, finds a hospital, reads an article, switches language and
senior mode. Every page is checked with axe-core and photographed at both viewports."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.ui.checks import check_page, follow
from tests.ui.conftest import UiWorld
from tests.ui.journeys import add_child, bind, sign_in

PHONE = "13912345678"


def test_resident_journey(page_factory: Any, ui_world: UiWorld, artefacts: Path) -> None:
    page = page_factory()
    page.goto("/")
    assert page.get_by_role("heading", level=1).inner_text() == "健康甘肃"
    check_page(page, artefacts, "home")

    sign_in(page, ui_world, PHONE, artefacts)
    bind(page, ui_world)
    add_child(page, ui_world)
    assert page.get_by_role("heading", name=re.compile(ui_world.child.name)).is_visible()
    check_page(page, artefacts, "me")

    follow(page, page.get_by_role("link", name="我的档案").first)
    page.get_by_role("heading", name="诊断", exact=True).wait_for()
    assert "2型糖尿病" in page.locator("main").inner_text()
    check_page(page, artefacts, "records-visits")

    follow(page, page.get_by_role("link", name="检验检查", exact=True))
    row = page.get_by_role("row", name=re.compile("糖化血红蛋白"))
    assert "4–6 %" in row.inner_text()
    check_page(page, artefacts, "records-results")
    follow(page, row.get_by_role("link"))
    page.locator(".chart canvas").wait_for()  # ECharts loaded from /static and drew the trend
    assert page.get_by_role("table").get_by_text("参考范围").count() == 1
    check_page(page, artefacts, "records-trend")

    follow(page, page.get_by_role("link", name="处方"))
    assert "二甲双胍" in page.locator("main").inner_text()
    check_page(page, artefacts, "records-prescriptions")

    page.locator("#who").select_option(ui_world.child.patient_id)
    follow(page, page.get_by_role("button", name="查看", exact=True))
    follow(page, page.get_by_role("link", name="预防接种"))
    assert "麻腮风疫苗" in page.locator("main").inner_text()
    check_page(page, artefacts, "records-vaccines-child")

    ui_world.fhir.get(f"/Patient/{ui_world.adult.patient_id}")  # someone else looks
    page.goto("/records/access-log")
    log = page.locator("#access-rows").inner_text()
    assert "您或家人（居民端）" in log and "pytest" in log
    check_page(page, artefacts, "records-access-log")


def test_hospital_navigation_and_articles(page_factory: Any, ui_world: UiWorld,
                                          artefacts: Path) -> None:
    page = page_factory("desktop")
    page.goto("/hospitals")
    check_page(page, artefacts, "hospitals")
    with page.expect_response(re.compile(r"/hospitals\?.*city=620500")):
        page.get_by_label("城市").select_option("620500")  # htmx swaps the results in
    page.get_by_role("heading", name=re.compile("天水")).first.wait_for()
    assert "/hospitals?" in page.url and "city=620500" in page.url  # hx-push-url
    page.get_by_label("等级").select_option("3")
    page.get_by_role("heading", name=re.compile("天水市第一人民医院")).wait_for()
    follow(page, page.get_by_role("link", name="天水市第一人民医院"))
    assert "开诊时间" in page.locator("main").inner_text()
    assert "周一至周五 08:00–17:30" in page.locator("main").inner_text()
    check_page(page, artefacts, "hospital")

    page.goto("/articles")
    follow(page, page.get_by_role("link", name=re.compile("高血压")))
    assert "5克" in page.locator("main").inner_text()
    check_page(page, artefacts, "article")


def test_english_and_senior_mode(page_factory: Any, ui_world: UiWorld, artefacts: Path) -> None:
    page = page_factory()
    page.goto("/")
    normal = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    page.get_by_role("button", name="English").click()
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert page.get_by_role("heading", level=1).inner_text() == "Healthy Gansu"
    page.get_by_role("button", name="Senior mode (larger text)").click()
    page.wait_for_function("document.documentElement.classList.contains('senior')")
    senior = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert normal == 16 and senior >= 18  # MIIT: main text at least 18 in senior mode
    box = page.get_by_role("button", name=re.compile("Senior mode is on")).bounding_box()
    assert box["height"] >= 60  # touch targets of at least 60 px in senior mode
    check_page(page, artefacts, "home-en-senior")
    page.goto("/hospitals")
    check_page(page, artefacts, "hospitals-en-senior")


def test_installed_app_shows_the_offline_page(page_factory: Any, ui_world: UiWorld) -> None:
    page = page_factory(workers="allow")
    page.goto("/")
    assert page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()  # now controlled by the service worker, which cached the shell
    page.context.set_offline(True)
    page.goto("/hospitals")
    assert page.get_by_role("heading", level=1).inner_text() == "网络未连接"
    page.context.set_offline(False)
