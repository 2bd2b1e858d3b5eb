"""Web security: rate limits, security headers and CSRF protection, installed on the app."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI

from gansu_health.core.settings import Settings
from gansu_health.identity.accounts.sessions import is_https
from gansu_health.identity.web.csrf import DEFAULT_EXEMPT, CsrfMiddleware
from gansu_health.identity.web.headers import SecurityHeadersMiddleware
from gansu_health.identity.web.ratelimit import (
    Policy,
    RateLimits,
    check_client_quota,
    current_limits,
    use_limits,
)

__all__ = ["Policy", "RateLimits", "check_client_quota", "current_limits",
           "install_web_security"]


def install_web_security(app: FastAPI, settings: Settings, *, limits: RateLimits | None = None,
                         csrf_exempt: Iterable[str] = DEFAULT_EXEMPT) -> RateLimits:
    """Add the headers and CSRF middlewares and make ``limits`` the process's rate limits."""
    limits = limits or RateLimits(policies={
        "client": Policy(settings.client_quota_per_minute, 60.0)})
    use_limits(limits)
    app.state.rate_limits = limits
    app.add_middleware(CsrfMiddleware, settings=settings, exempt=tuple(csrf_exempt))
    app.add_middleware(SecurityHeadersMiddleware, https=is_https(settings))
    return limits
