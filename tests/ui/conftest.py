"""Browser-test fixtures: Debian's chromium through Playwright, the seeded world, artefacts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import REPO, LiveServer
from tests.ui import world

from gansu_health.core.settings import Settings
from gansu_health.devtools.bench_portal import seed_demo

CHROMIUM = Path(os.environ.get("GANSU_HEALTH_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
ARTEFACTS = Path(os.environ.get("GANSU_HEALTH_UI_ARTEFACTS",
                                REPO / "var" / "test-artefacts" / "ui"))
CLINIC_HOSPITAL = "gs-620100-h01"  # demo clinics are seeded here only (the tests' staff work there)
VIEWPORTS = {"mobile": {"width": 360, "height": 640}, "desktop": {"width": 1280, "height": 800}}


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium; skip without it, except in CI where it must be installed."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: `make system-deps` installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (make system-deps)")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium: Path) -> Iterator[Any]:
    """One headless chromium for the session (never a Playwright-downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def artefacts() -> Path:
    """Where screenshots go (kept after the run; not committed)."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    return ARTEFACTS


@dataclass
class UiWorld:
    """The live server and the people and staff of the seeded world."""

    server: LiveServer
    fhir: world.FhirClient
    adult: world.Person
    child: world.Person
    duplicate_of: world.Person
    duplicate_id: str
    settings: Settings

    @property
    def origin(self) -> str:
        """The server's origin (http://127.0.0.1:port)."""
        return self.server.base.removesuffix("/fhir")

    @property
    def app(self) -> Any:
        """The running app (for the development SMS sink and the account cipher)."""
        return self.server.server.config.app

    def sms_code(self, phone: str) -> str:
        """The last sign-in code the development SMS sink kept for ``phone``."""
        code = self.app.state.accounts.sms.last_code(phone)
        assert code, f"no SMS to {phone}"
        return str(code)

    def staff(self, username: str, role: str, organization: str | None = None,
              region: str | None = None) -> world.StaffLogin:
        """A fresh staff account with ``role`` at ``organization`` (by default the adult's
        registering institution; supervisors of ``region``)."""
        if organization is None:
            org = self.fhir.get(f"/Patient/{self.adult.patient_id}")["managingOrganization"]
            organization = org["reference"].removeprefix("Organization/")
        return world.create_staff(self.app.state.engine, self.app.state.accounts.cipher,
                                  self.settings, username, role, organization, region)


@pytest.fixture(scope="module")
def ui_world(settings: Settings, chromium: Path) -> Iterator[UiWorld]:
    """The demo province on the module's database, served by uvicorn on loopback."""
    seed_demo(settings, clinics=(CLINIC_HOSPITAL,))
    with LiveServer(settings) as server:
        fhir = world.FhirClient(server.base, server.headers)
        adult = world.adult_with_lab_results(fhir)
        child = world.register_child(fhir, adult)
        bundle = fhir.get("/Patient", birthdate="le1970-01-01", _count="50")
        original = next(world.identity_of(e["resource"]) for e in bundle["entry"]
                        if e["resource"]["id"] != adult.patient_id and any(
                            i["system"] == world.RESIDENT_ID_SYSTEM
                            for i in e["resource"].get("identifier", [])))
        duplicate = world.register_possible_duplicate(fhir, original)
        yield UiWorld(server, fhir, adult, child, original, duplicate, settings)


@pytest.fixture()
def page_factory(browser: Any, ui_world: UiWorld) -> Iterator[Any]:
    """New pages in fresh browser contexts (own cookies) at a viewport, zh-CN by default."""
    contexts: list[Any] = []

    def make(viewport: str = "mobile", locale: str = "zh-CN", workers: str = "block") -> Any:
        context = browser.new_context(viewport=VIEWPORTS[viewport], locale=locale,
                                      base_url=ui_world.origin, service_workers=workers)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield make
    for context in contexts:
        context.close()
