"""Staff in a real browser: a data steward resolves a possible duplicate and undoes it; an
administrator edits a department's hours; navigation follows the roles."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.ui.checks import check_page, follow
from tests.ui.conftest import UiWorld
from tests.ui.journeys import staff_sign_in


def match_golden(ui_world: UiWorld, source: str) -> str:
    """The golden record the MPI matches ``source`` to (through the FHIR operation)."""
    found = ui_world.fhir.get("/$mdm-query-links", resourceId=f"Patient/{source}",
                              matchResult="MATCH")
    parts = {p["name"]: p.get("valueString") for p in found["parameter"][-1]["part"]}
    return str(parts["goldenResourceId"])


def test_steward_merges_a_possible_duplicate_then_undoes_it(
        page_factory: Any, ui_world: UiWorld, artefacts: Path) -> None:
    page = page_factory("desktop")
    page.goto("/console/signin")
    check_page(page, artefacts, "console-signin")
    staff_sign_in(page, ui_world.staff("steward1", "data-steward"))
    nav = page.get_by_role("navigation", name="主导航")
    assert nav.get_by_role("link", name="重复人员审核").is_visible()
    assert nav.get_by_role("link", name="机构人员管理").count() == 0  # admins only
    check_page(page, artefacts, "console-home")

    own_before = match_golden(ui_world, ui_world.duplicate_id)
    follow(page, page.get_by_role("link", name="重复人员审核").first)
    row = page.get_by_role("row", name=re.compile(ui_world.duplicate_id))
    check_page(page, artefacts, "console-steward-queue")
    follow(page, row.get_by_role("link", name=re.compile("比对")))
    table = page.get_by_role("table")
    name_row = table.get_by_role("row", name=re.compile("名称"))
    assert ui_world.duplicate_of.name in name_row.inner_text()
    id_row = table.get_by_role("row", name=re.compile("身份证号码"))
    assert "不一致" in id_row.inner_text()  # the differing field is marked in text, not colour
    check_page(page, artefacts, "console-steward-compare")
    candidate = page.url.rsplit("/", 1)[1]

    page.get_by_role("button", name="是同一人：合并").click()
    page.get_by_role("heading", name="已合并").wait_for()
    assert match_golden(ui_world, ui_world.duplicate_id) == f"Person/{candidate}"
    check_page(page, artefacts, "console-steward-merged")

    page.get_by_role("button", name="撤销本次合并").click()
    page.get_by_text("已撤销合并").wait_for()
    assert match_golden(ui_world, ui_world.duplicate_id) == own_before
    assert page.get_by_role("row", name=re.compile(ui_world.duplicate_id)).is_visible()


def test_admin_edits_department_hours(page_factory: Any, ui_world: UiWorld,
                                      artefacts: Path) -> None:
    page = page_factory("mobile")
    staff_sign_in(page, ui_world.staff("admin1", "admin"))
    nav = page.get_by_role("navigation", name="主导航")
    follow(page, nav.get_by_role("link", name="机构人员管理"))
    page.get_by_label("机构名称").fill("天水市第一人民医院")
    follow(page, page.get_by_role("button", name="搜索"))
    page.wait_for_url(re.compile(r"/console/registry\?q="))
    check_page(page, artefacts, "console-registry")
    follow(page, page.get_by_role("link", name="天水市第一人民医院"))
    page.wait_for_url(re.compile(r"/console/registry/Organization/"))
    check_page(page, artefacts, "console-registry-org")
    department = page.get_by_role("table").first.get_by_role("link").first
    name = department.inner_text()
    department.click()
    page.get_by_label("开始时间（时:分）").fill("07:30")
    check_page(page, artefacts, "console-registry-edit")
    page.get_by_role("button", name="保存").click()
    page.get_by_text("已保存").wait_for()
    service_id = page.get_by_role("link", name=name).get_attribute("href").split("/")[4]
    stored = ui_world.fhir.get(f"/HealthcareService/{service_id}")
    assert stored["availableTime"][0]["availableStartTime"] == "07:30:00"


def test_console_sections_follow_roles(page_factory: Any, ui_world: UiWorld) -> None:
    page = page_factory("desktop")
    staff_sign_in(page, ui_world.staff("steward2", "data-steward"))
    response = page.goto("/console/registry")
    assert response.status == 403
    assert page.get_by_role("alert").is_visible()
    page.context.clear_cookies()
    page.goto("/console/steward")
    assert "/console/signin?next=/console/steward" in page.url
