"""Static assets: the package's ``static`` folder at /static, gzip-compressed, cache-busted URLs."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

STATIC_DIR = Path(__file__).parent / "static"
PREFIX = "/static"
VENDORED = {"htmx.org": "4.0.1", "echarts": "6.1.0"}
IMMUTABLE = b"public, max-age=31536000, immutable"
REVALIDATE = b"public, max-age=300"


@cache
def fingerprint(path: str) -> str:
    """A short content hash of a static file (changes whenever the file does)."""
    return hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:10]


def asset_url(path: str) -> str:
    """The URL of a static file, versioned by its content so it can be cached for a year."""
    return f"{PREFIX}/{path}?v={fingerprint(path)}"


class CachedStaticFiles(StaticFiles):
    """Static files with long caching for versioned URLs and short caching otherwise."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the file and set Cache-Control from the presence of ``?v=``."""
        versioned = b"v=" in scope.get("query_string", b"")

        async def send_cached(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", [])  # type: ignore[attr-defined]
                           if h[0] != b"cache-control"]
                headers.append((b"cache-control", IMMUTABLE if versioned else REVALIDATE))
                message["headers"] = headers
            await send(message)

        await super().__call__(scope, receive, send_cached)  # type: ignore[arg-type]


def static_app() -> GZipMiddleware:
    """The ASGI app serving /static (gzip for text assets over 500 bytes)."""
    return GZipMiddleware(CachedStaticFiles(directory=STATIC_DIR), minimum_size=500)
