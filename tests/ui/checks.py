"""What every page visit checks: axe-core finds no serious or critical violation; screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from axe_playwright_python.sync_playwright import Axe
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


def check_page(page: Any, folder: Path, name: str) -> None:
    """Check the current page's accessibility and keep its screenshots."""
    assert page.evaluate("document.documentElement.lang") in ("zh-CN", "en")
    problems = accessibility_violations(page)
    assert not problems, f"{name}: " + "\n".join(problems)
    screenshots(page, folder, name)
