"""Security headers on every response, as a pure ASGI middleware (no body buffering)."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

STRICT_CSP = ("default-src 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'")
# FastAPI's Swagger UI and ReDoc pages load their bundles from jsDelivr and start inline
DOCS_CSP = ("default-src 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'; "
            "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net "
            "https://fonts.googleapis.com; "
            "font-src 'self' https://fonts.gstatic.com; "
            "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
            "worker-src 'self' blob:")
DOCS_PREFIXES = ("/docs", "/redoc")
NO_STORE_PREFIXES = ("/auth", "/oauth")
HSTS = b"max-age=31536000; includeSubDomains"


def _pairs(values: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in values.items()]


class SecurityHeadersMiddleware:
    """Adds CSP, frame, sniffing, referrer and permission headers; no-store on /auth, /oauth."""

    def __init__(self, app: ASGIApp, *, https: bool = False) -> None:
        self.app = app
        common = {"x-content-type-options": "nosniff", "x-frame-options": "DENY",
                  "referrer-policy": "no-referrer",
                  "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), "
                                        "usb=(), interest-cohort=()",
                  "cross-origin-opener-policy": "same-origin"}
        base = _pairs(common) + ([(b"strict-transport-security", HSTS)] if https else [])
        self._strict = [*base, (b"content-security-policy", STRICT_CSP.encode())]
        self._docs = [*base, (b"content-security-policy", DOCS_CSP.encode())]
        self._no_store = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]

    def _headers_for(self, path: str) -> list[tuple[bytes, bytes]]:
        if path.startswith(DOCS_PREFIXES):
            return self._docs
        if path.startswith(NO_STORE_PREFIXES):
            return self._strict + self._no_store
        return self._strict

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on and add the headers to the response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self._headers_for(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                _merge(message, extra)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _merge(message: MutableMapping[str, Any], extra: list[tuple[bytes, bytes]]) -> None:
    headers = list(message.get("headers", ()))
    present = {name.lower() for name, _ in headers}
    headers.extend(pair for pair in extra if pair[0] not in present)
    message["headers"] = headers
