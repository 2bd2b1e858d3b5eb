"""App-wide UI endpoints: preferences (language, senior mode), PWA manifest, service worker."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from gansu_health.identity.accounts.views import safe_next
from gansu_health.ui.assets import STATIC_DIR, asset_url
from gansu_health.ui.context import LANG_COOKIE, SENIOR_COOKIE, page_context
from gansu_health.ui.i18n import LOCALES
from gansu_health.ui.templating import renderer

router = APIRouter(include_in_schema=False)
YEAR_S = 365 * 24 * 3600
THEME = "#0b6e4f"


@router.post("/ui/preferences")
def set_preferences(request: Request, next: Annotated[str, Form(max_length=2048)] = "/",
                    lang: Annotated[str, Form(max_length=8)] = "",
                    senior: Annotated[str, Form(max_length=2)] = "") -> Response:
    """Remember the chosen language and/or senior mode (长辈版) in cookies, then go back."""
    response = RedirectResponse(safe_next(next), 303)
    if lang in LOCALES:
        response.set_cookie(LANG_COOKIE, lang, max_age=YEAR_S, samesite="lax", path="/")
    if senior in ("0", "1"):
        response.set_cookie(SENIOR_COOKIE, senior, max_age=YEAR_S, samesite="lax", path="/")
    return response


@router.get("/manifest.webmanifest")
def manifest(request: Request) -> JSONResponse:
    """The web app manifest that makes the citizen app installable."""
    lang = page_context(request).lang
    icons: list[dict[str, Any]] = [
        {"src": asset_url(f"icons/icon-{size}.png"), "sizes": f"{size}x{size}",
         "type": "image/png", "purpose": "any"} for size in (192, 512)]
    icons.append({"src": asset_url("icons/maskable-512.png"), "sizes": "512x512",
                  "type": "image/png", "purpose": "maskable"})
    return JSONResponse({
        "name": "健康甘肃" if lang == "zh-CN" else "Healthy Gansu",
        "short_name": "健康甘肃" if lang == "zh-CN" else "Healthy Gansu",
        "description": "甘肃省互联网+医疗健康平台 Gansu Internet + Healthcare",
        "lang": lang, "dir": "ltr", "id": "/", "start_url": "/", "scope": "/",
        "display": "standalone", "orientation": "portrait",
        "background_color": "#ffffff", "theme_color": THEME, "icons": icons,
        "categories": ["health", "medical"]},
        media_type="application/manifest+json",
        headers={"Cache-Control": "public, max-age=3600", "Vary": "Cookie, Accept-Language"})


@router.get("/sw.js")
def service_worker() -> Response:
    """The service worker, served from the root so that its scope is the whole app."""
    source = (STATIC_DIR / "js" / "sw.js").read_text("utf-8")
    shell = [asset_url(p) for p in ("css/app.css", "js/app.js", "vendor/htmx/htmx.min.js",
                                    "icons/icon-192.png")]
    body = source.replace("__SHELL__", ",".join(f'"{u}"' for u in shell))
    return Response(body, media_type="text/javascript",
                    headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"})


@router.get("/offline")
def offline(request: Request) -> Response:
    """Shown by the service worker when the network is unreachable."""
    return renderer(request).render(request, "ui/offline.html")
