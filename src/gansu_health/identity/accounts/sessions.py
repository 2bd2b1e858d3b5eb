"""Browser sessions: an opaque cookie whose SM3 hash keys ``web_session``, plus a CSRF token.

Other modules ask ``current_session(request)`` who is signed in. The lookup is cached in the
ASGI scope, so the CSRF middleware and the endpoint share one query.
"""

from __future__ import annotations

import secrets
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from starlette.requests import Request, cookie_parser
from starlette.responses import Response

from gansu_health.core.clock import now, to_micros
from gansu_health.core.database import read_transaction
from gansu_health.core.settings import Settings
from gansu_health.identity.accounts.models import account, web_session
from gansu_health.identity.accounts.repository import Account
from gansu_health.identity.crypto import sm3

SESSION_TTL_S = {"citizen": 7 * 24 * 3600, "staff": 12 * 3600}
COOKIE = "gh_session"
SECURE_COOKIE = "__Host-gh_session"  # the __Host- prefix pins it to this origin, path /, Secure
SCOPE_KEY = "gansu_health.session"
_MISSING = object()


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """The signed-in account of a browser session."""

    account_id: str
    kind: str
    csrf_token: str
    mfa: bool
    expires_us: int


def session_hash(session_id: str) -> str:
    """The stored key of a session id."""
    return sm3(session_id.encode("utf-8")).hex()


def is_https(settings: Settings) -> bool:
    """Whether the platform is served over HTTPS (from ``settings.base_url``)."""
    return settings.base_url.lower().startswith("https://")


def cookie_name(settings: Settings) -> str:
    """The session cookie's name for this deployment."""
    return SECURE_COOKIE if is_https(settings) else COOKIE


def create_session(conn: Connection, acct: Account, *, mfa: bool, source_ip: str | None = None,
                   user_agent: str | None = None) -> tuple[str, SessionInfo]:
    """Start a session for ``acct``; return the cookie value and the session."""
    session_id = secrets.token_urlsafe(32)
    t = to_micros(now())
    info = SessionInfo(acct.id, acct.kind, secrets.token_urlsafe(32), mfa,
                       t + SESSION_TTL_S[acct.kind] * 1_000_000)
    conn.execute(delete(web_session).where(web_session.c.expires_us < t))
    conn.execute(insert(web_session).values(
        session_hash=session_hash(session_id), node=acct.node, account_id=acct.id,
        csrf_token=info.csrf_token, mfa=mfa, created_us=t, expires_us=info.expires_us,
        revoked=False, source_ip=source_ip, user_agent=(user_agent or "")[:256] or None))
    return session_id, info


def lookup_session(conn: Connection, session_id: str) -> SessionInfo | None:
    """The live session of a cookie value: not revoked, not expired, account active."""
    row = conn.execute(select(web_session.c.account_id, account.c.kind, web_session.c.csrf_token,
                              web_session.c.mfa, web_session.c.expires_us)
                       .join(account, account.c.id == web_session.c.account_id)
                       .where(web_session.c.session_hash == session_hash(session_id),
                              web_session.c.revoked.is_(False),
                              web_session.c.expires_us > to_micros(now()),
                              account.c.status == "active")).first()
    if row is None:
        return None
    return SessionInfo(row.account_id, row.kind, row.csrf_token, bool(row.mfa), row.expires_us)


def revoke_session(conn: Connection, session_id: str) -> str | None:
    """End a session; return its account id (None when unknown)."""
    key = session_hash(session_id)
    owner = conn.execute(select(web_session.c.account_id).where(
        web_session.c.session_hash == key)).scalar()
    conn.execute(update(web_session).where(web_session.c.session_hash == key).values(
        revoked=True))
    return owner


def revoke_account_sessions(conn: Connection, account_id: str) -> int:
    """End every session of an account (disabled account, password change)."""
    result = conn.execute(update(web_session).where(web_session.c.account_id == account_id)
                          .values(revoked=True))
    return int(result.rowcount)


def set_session_cookie(response: Response, settings: Settings, session_id: str,
                       info: SessionInfo) -> None:
    """Attach the session cookie: HttpOnly, SameSite=Lax, Secure on HTTPS."""
    max_age = max(0, (info.expires_us - to_micros(now())) // 1_000_000)
    response.set_cookie(cookie_name(settings), session_id, max_age=max_age, path="/",
                        httponly=True, samesite="lax", secure=is_https(settings))


def clear_session_cookie(response: Response, settings: Settings) -> None:
    """Tell the browser to forget the session cookie."""
    response.delete_cookie(cookie_name(settings), path="/", httponly=True, samesite="lax",
                           secure=is_https(settings))


def session_cookie(scope: MutableMapping[str, Any], settings: Settings) -> str | None:
    """The session cookie value carried by an ASGI request."""
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            found = cookie_parser(value.decode("latin-1")).get(cookie_name(settings))
            if found:
                return found
    return None


def scope_session(scope: MutableMapping[str, Any], settings: Settings, engine: Engine
                  ) -> SessionInfo | None:
    """The session of an ASGI request, looked up once and cached in the scope (blocking)."""
    cached = scope.get(SCOPE_KEY, _MISSING)
    if cached is not _MISSING:
        return cached  # type: ignore[no-any-return]
    session_id = session_cookie(scope, settings)
    info = None
    if session_id:
        with read_transaction(engine) as conn:
            info = lookup_session(conn, session_id)
    scope[SCOPE_KEY] = info
    return info


def current_session(request: Request) -> SessionInfo | None:
    """Who is signed in with the request's session cookie (blocking: call from a thread)."""
    state = request.app.state
    return scope_session(request.scope, state.settings, state.engine)


def forget_cached_session(scope: MutableMapping[str, Any]) -> None:
    """Drop the cached lookup (after sign-in or sign-out within the same request)."""
    scope.pop(SCOPE_KEY, None)
