"""Mount the citizen app on the process: its pages and its templates."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from gansu_health.portal.account_views import router as account_router
from gansu_health.portal.appointment_views import router as appointment_router
from gansu_health.portal.booking_views import router as booking_router
from gansu_health.portal.card_views import router as card_router
from gansu_health.portal.home_views import router as home_router
from gansu_health.portal.hospital_views import router as hospital_router
from gansu_health.portal.inbox_views import router as inbox_router
from gansu_health.portal.records_views import router as records_router
from gansu_health.portal.signin_views import router as signin_router
from gansu_health.ui.install import add_templates

TEMPLATES = Path(__file__).parent / "templates"


def install_portal(app: FastAPI) -> None:
    """Serve the citizen app at ``/`` (needs ``install_ui`` first)."""
    add_templates(app, TEMPLATES)
    for router in (home_router, signin_router, account_router, hospital_router, records_router,
                   booking_router, appointment_router, card_router, inbox_router):
        app.include_router(router)
