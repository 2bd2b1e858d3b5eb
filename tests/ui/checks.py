"""What every page visit checks: axe-core finds no serious or critical violation; screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Error as PlaywrightError
from tests.ui.conftest import VIEWPORTS

BLOCKING = {"serious", "critical"}
_axe = Axe()


def accessibility_violations(page: Any) -> list[str]:
    """The serious and critical axe-core violations of the page, one line each."""
    results = _axe.run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']} at "
            f"{[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v.get("impact") in BLOCKING]


def screenshots(page: Any, folder: Path, name: str) -> None:
    """Full-page screenshots of the current page at 360×640 and 1280×800."""
    before = page.viewport_size
    for label, size in VIEWPORTS.items():
        page.set_viewport_size(size)
        page.screenshot(path=str(folder / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(before)


def settled_lang(page: Any, attempts: int = 5) -> str:
    """The page's language once a navigation a click may have started has finished loading."""
    for _ in range(attempts):
        page.wait_for_load_state("load")
        try:
            lang = page.evaluate("document.documentElement && document.documentElement.lang")
        except PlaywrightError:  # the document was swapped while we looked
            lang = None
        if lang:
            return str(lang)
        page.wait_for_timeout(200)
    return ""


def follow(page: Any, target: Any) -> None:
    """Click a link or submit button and wait until the page it leads to has loaded."""
    with page.expect_navigation():
        target.click()


def check_page(page: Any, folder: Path, name: str) -> None:
    """Check the current page's accessibility and keep its screenshots."""
    assert settled_lang(page) in ("zh-CN", "en")
    problems = accessibility_violations(page)
    assert not problems, f"{name}: " + "\n".join(problems)
    screenshots(page, folder, name)
