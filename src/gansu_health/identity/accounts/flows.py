"""Sign-in flows shared by the JSON API and the HTML page: limits, transaction, then the result.

Each flow checks the in-memory rate limits, runs the service in one write transaction (so that
failed attempts, lockouts and audit rows are committed too) and raises the error afterwards.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Connection, Engine
from starlette.requests import Request

from gansu_health.core.database import write_transaction
from gansu_health.core.errors import PlatformError
from gansu_health.core.settings import Settings
from gansu_health.fhir.service import FhirService
from gansu_health.identity.accounts import otp
from gansu_health.identity.accounts.audit_events import ClientContext
from gansu_health.identity.accounts.repository import Account, normalise_username
from gansu_health.identity.accounts.service import AccountService, SignIn
from gansu_health.identity.accounts.sessions import (
    SessionInfo,
    forget_cached_session,
    revoke_session,
    session_cookie,
)
from gansu_health.identity.web.ratelimit import RateLimits, current_limits

log = logging.getLogger(__name__)


class SmsUnavailable(PlatformError):
    """The SMS gateway did not take the message (503)."""

    status = 503
    code = "transient"


@dataclass(frozen=True, slots=True)
class Deps:
    """What the account endpoints use, taken from ``app.state``."""

    settings: Settings
    engine: Engine
    accounts: AccountService
    fhir: FhirService
    limits: RateLimits


def deps(request: Request) -> Deps:
    """The account endpoints' collaborators of the running app."""
    state = request.app.state
    limits = getattr(state, "rate_limits", None)
    limits = current_limits() if limits is None else limits
    return Deps(state.settings, state.engine, state.accounts, state.fhir.service, limits)


def client_context(request: Request) -> ClientContext:
    """The caller's address and user agent."""
    return ClientContext(request.client.host if request.client else None,
                         request.headers.get("user-agent"))


def _ip(request: Request) -> str:
    return request.client.host if request.client else "-"


def request_code(request: Request, phone: str) -> otp.IssuedCode:
    """Create and send a sign-in code (429 when the address or the phone asks too often)."""
    d = deps(request)
    digits = otp.normalise_phone(phone)
    d.limits.check("otp-ip", _ip(request), expression="phone")
    with write_transaction(d.engine) as conn:
        issued = d.accounts.request_code(conn, digits)
    try:
        d.accounts.deliver_code(issued)
    except Exception as exc:  # a plug-in gateway may fail in any way; free the quota
        log.error("SMS gateway did not take a message: %r", exc)
        with write_transaction(d.engine) as conn:
            otp.withdraw_code(conn, d.accounts.cipher, digits)
        raise SmsUnavailable("The text message could not be sent; try again later",
                             expression="phone") from exc
    return issued


def citizen_login(request: Request, phone: str, code: str | None, password: str | None
                  ) -> tuple[Account, str, SessionInfo]:
    """Sign a resident in with an SMS code (or their password)."""
    d = deps(request)
    digits = otp.normalise_phone(phone)
    d.limits.check("signin-ip", _ip(request))
    d.limits.check("signin-user", f"phone:{digits}", expression="phone")
    with write_transaction(d.engine) as conn:
        if password and not code:
            result = d.accounts.citizen_password_login(conn, digits, password,
                                                       client_context(request))
        else:
            result = d.accounts.citizen_login(conn, digits, code or "", client_context(request))
        _retire_previous(request, d, conn, result)
    return result.unwrap()


def staff_login(request: Request, username: str, password: str, totp_code: str | None
                ) -> tuple[Account, str, SessionInfo]:
    """Sign staff in with username, password and TOTP."""
    d = deps(request)
    d.limits.check("signin-ip", _ip(request))
    d.limits.check("signin-user", f"user:{normalise_username(username, strict=False)}",
                   expression="username")
    with write_transaction(d.engine) as conn:
        result = d.accounts.staff_login(conn, username, password, totp_code,
                                        client_context(request))
        _retire_previous(request, d, conn, result)
    return result.unwrap()


def sign_out(request: Request) -> bool:
    """End the browser's session (audited); False when it had none. The caller clears the cookie."""
    d = deps(request)
    session_id = session_cookie(request.scope, d.settings)
    if not session_id:
        return False
    with write_transaction(d.engine) as conn:
        return d.accounts.logout(conn, session_id, client_context(request))


def _retire_previous(request: Request, d: Deps, conn: Connection, result: SignIn) -> None:
    """End the session the browser had before a successful sign-in (no session fixation)."""
    if result.error is not None:
        return
    previous = session_cookie(request.scope, d.settings)
    if previous:
        revoke_session(conn, previous)
    forget_cached_session(request.scope)
