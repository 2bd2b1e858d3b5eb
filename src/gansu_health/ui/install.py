"""Install the shared UI on the app: renderer, /static, preferences, manifest, service worker."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gansu_health.core.settings import Settings
from gansu_health.ui.assets import PREFIX, static_app
from gansu_health.ui.navigation import FeatureSlots
from gansu_health.ui.routes import router
from gansu_health.ui.session_guard import SignInRequired
from gansu_health.ui.templating import Renderer

# where features that arrive later (booking, payments, e-health card, notifications, registrar,
# check-in desk, supervisor dashboard) register their entries; see FeatureSlots
SLOTS = ("home", "me", "hospital", "console")


def install_ui(app: FastAPI, settings: Settings) -> Renderer:
    """Create the renderer (``app.state.ui``) and the feature slots, mount the shared routes."""
    ui = Renderer([], settings.timezone)
    app.state.ui = ui
    app.state.ui_slots = FeatureSlots({slot: [] for slot in SLOTS})
    app.mount(PREFIX, static_app(), name="static")
    app.include_router(router)

    async def to_signin(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        return RedirectResponse(exc.location(request), 303)

    app.add_exception_handler(SignInRequired, to_signin)
    return ui


def add_templates(app: FastAPI, folder: Path) -> None:
    """Make the templates under ``folder`` available to the renderer."""
    ui: Renderer = app.state.ui
    ui.add_folder(folder)
