"""The ASGI application: one FastAPI process serving FHIR, the citizen app and the console."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from anyio import to_thread
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from sqlalchemy import Engine
from starlette.responses import JSONResponse

from gansu_health import __version__
from gansu_health.console.install import install_console
from gansu_health.core.database import build_engine, warm_pool
from gansu_health.core.load import Load
from gansu_health.core.settings import Settings, get_settings
from gansu_health.fhir.rest.asgi import FhirFront
from gansu_health.fhir.rest.dispatch import FhirApi
from gansu_health.fhir.rest.openapi import merge_into
from gansu_health.fhir.setup import build_fhir_api
from gansu_health.identity.accounts.install import install_accounts
from gansu_health.identity.oauth.metadata import Urls, capability_security
from gansu_health.identity.oauth.router import router as oauth_router
from gansu_health.identity.policy.guard import SecurityGuard
from gansu_health.identity.web import install_web_security
from gansu_health.payment.callbacks import router as payment_callbacks
from gansu_health.portal.install import install_portal
from gansu_health.ui.install import install_ui

log = logging.getLogger(__name__)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The application's OpenAPI schema with the FHIR interface described in it."""
    if app.openapi_schema is None:
        app.openapi_schema = merge_into(get_openapi(
            title=app.title, version=app.version, description=app.description,
            routes=app.routes))
    return app.openapi_schema


def _warm(engine: Engine, connections: int) -> None:
    try:
        warm_pool(engine, connections)
    except Exception:  # the pool fills on demand instead
        log.warning("could not open the database connections ahead of use", exc_info=True)


def _deliver_events(api: FhirApi, stop: threading.Event, interval: float, load: Load) -> None:
    """Hand outbox events to subscribers until ``stop`` is set (stepping aside during bursts)."""
    while not stop.wait(interval):
        if load.should_wait():
            continue
        try:
            api.events.deliver(api.engine, api.settings.node_id)
            api.events.run_jobs(api.engine)
        except Exception:
            log.exception("event delivery failed; retrying")


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the application for the configured node and database."""
    settings = settings or get_settings()
    engine = engine or build_engine(settings.database_url, settings)
    api = build_fhir_api(settings, engine)
    load = Load(settings.event_busy_requests, settings.event_max_wait_s)
    if settings.security_enabled:
        api.guard = SecurityGuard(engine, api.service, settings.node_id,
                                  settings.audit_flush_ms, settings.token_cache_s)
        capability = orjson.loads(api.capability)
        capability["rest"][0]["security"] = capability_security(Urls.from_settings(settings))
        api.capability = orjson.dumps(capability)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        stop = threading.Event()
        threading.Thread(target=_warm, args=(engine, settings.db_pool_size), daemon=True,
                         name="pool-warmer").start()
        worker = threading.Thread(target=_deliver_events, args=(
            api, stop, settings.event_delivery_s, load), daemon=True, name="outbox")
        if settings.event_delivery_s > 0:
            worker.start()
        yield
        stop.set()
        if worker.is_alive():
            worker.join(timeout=5)
        close = getattr(api.guard, "close", None)
        if close is not None:
            close()  # audit rows still queued

    app = FastAPI(title="gansu-health", version=__version__, lifespan=lifespan,
                  description="Gansu provincial Internet + Healthcare platform")
    app.state.settings = settings
    app.state.engine = engine
    app.state.fhir = api
    app.state.load = load
    # the innermost middleware: /fhir skips the framework's routing, inside the security layers
    app.add_middleware(FhirFront, api=api, max_body=settings.max_body_bytes, load=load)
    install_accounts(app, settings)
    install_web_security(app, settings)
    app.include_router(oauth_router)  # first: it answers /fhir/.well-known/smart-configuration
    app.include_router(payment_callbacks)  # /payment/callback/{gateway}: signed, no token
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    install_ui(app, settings)
    install_portal(app)  # the citizen app at /
    install_console(app)  # the staff console at /console

    @app.get("/healthz", tags=["ops"])
    def healthz() -> JSONResponse:
        """Report liveness."""
        return JSONResponse({"status": "ok", "node": settings.node_id})

    return app
