"""Mount the staff console at /console."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from gansu_health.console.checkin_views import router as checkin_router
from gansu_health.console.indicators_views import router as indicators_router
from gansu_health.console.registrar_views import router as registrar_router
from gansu_health.console.registry_views import router as registry_router
from gansu_health.console.signin_views import router as signin_router
from gansu_health.console.steward_views import router as steward_router
from gansu_health.ui.install import add_templates

TEMPLATES = Path(__file__).parent / "templates"


def install_console(app: FastAPI) -> None:
    """Serve the console (needs ``install_ui`` first)."""
    add_templates(app, TEMPLATES)
    for router in (signin_router, steward_router, registry_router, registrar_router,
                   checkin_router, indicators_router):
        app.include_router(router)
