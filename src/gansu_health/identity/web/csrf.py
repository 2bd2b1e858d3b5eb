"""CSRF protection for cookie sessions, as a pure ASGI middleware.

An unsafe request (not GET/HEAD/OPTIONS/TRACE) that carries a live session cookie must present
the session's CSRF token in ``X-CSRF-Token`` or, for url-encoded forms, the ``csrf_token``
field. Requests with ``Authorization: Bearer`` are authenticated by the token, not the cookie,
and pass; so do requests without a live session (the endpoint sees them as anonymous) and the
exempt paths, which never act with the session's authority (sign-in, OAuth back-channel).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from urllib.parse import parse_qsl

import anyio.to_thread
import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gansu_health.core.errors import Forbidden, PayloadTooLarge, PlatformError
from gansu_health.core.settings import Settings
from gansu_health.identity.accounts.sessions import scope_session, session_cookie

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# authenticated by client credentials, the grant or the credentials they carry, never by the
# browser session: sign-in endpoints and the OAuth back-channel
DEFAULT_EXEMPT = ("/oauth/token", "/oauth/revoke", "/oauth/introspect", "/oauth/register",
                  "/auth/otp", "/auth/citizen/login", "/auth/staff/login", "/auth/signin/otp",
                  "/auth/signin/citizen", "/auth/signin/staff")
FORM_TYPE = b"application/x-www-form-urlencoded"
MAX_FORM_BYTES = 64 * 1024
HEADER = b"x-csrf-token"
FIELD = "csrf_token"


class CsrfMiddleware:
    """Refuses cookie-authenticated unsafe requests without the session's CSRF token (403)."""

    def __init__(self, app: ASGIApp, *, settings: Settings,
                 exempt: Iterable[str] = DEFAULT_EXEMPT) -> None:
        self.app = app
        self.settings = settings
        self.exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the token of unsafe cookie-authenticated requests, then pass them on."""
        if (scope["type"] != "http" or scope["method"] in SAFE_METHODS
                or scope["path"] in self.exempt):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])  # duplicate names: the last wins, enough here
        if headers.get(b"authorization", b"")[:7].lower() == b"bearer ":
            await self.app(scope, receive, send)
            return
        if session_cookie(scope, self.settings) is None:
            await self.app(scope, receive, send)
            return
        engine = scope["app"].state.engine
        session = await anyio.to_thread.run_sync(scope_session, scope, self.settings, engine)
        if session is None:
            await self.app(scope, receive, send)
            return
        presented = headers.get(HEADER, b"").decode("latin-1")
        try:
            if not presented and headers.get(b"content-type", b"").startswith(FORM_TYPE):
                body = await _read_body(receive)
                receive = _replay(body)
                presented = dict(parse_qsl(body.decode("utf-8", "replace"))).get(FIELD, "")
        except PlatformError as exc:
            await _refuse(send, exc)
            return
        if presented and hmac.compare_digest(presented.encode(), session.csrf_token.encode()):
            await self.app(scope, receive, send)
            return
        await _refuse(send, Forbidden("This request needs the session's CSRF token in the "
                                      "X-CSRF-Token header", expression="X-CSRF-Token"))


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise PayloadTooLarge("Form too large", expression="body")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _refuse(send: Send, error: PlatformError) -> None:
    body = orjson.dumps(error.outcome())
    await send({"type": "http.response.start", "status": error.status,
                "headers": [(b"content-type", b"application/fhir+json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
