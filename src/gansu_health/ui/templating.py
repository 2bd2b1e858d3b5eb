"""Jinja2 rendering: one environment per locale (gettext installed), shared filters and globals."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from gansu_health.ui.assets import asset_url
from gansu_health.ui.context import PageContext, page_context
from gansu_health.ui.i18n import CATALOGUE_DIRS, LOCALES, translations

UI_TEMPLATES = Path(__file__).parent / "templates"
BABEL_LOCALES = {"zh-CN": "zh_Hans_CN", "en": "en"}


def _parse_instant(value: str) -> datetime | date | None:
    try:
        if len(value) > 10:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        if len(value) == 10:
            return date.fromisoformat(value)
    except ValueError:
        return None
    return None


class Renderer:
    """Renders templates found in the UI folder and the folders apps add, in each locale."""

    def __init__(self, folders: Iterable[Path], timezone: str) -> None:
        self.folders = [UI_TEMPLATES, *folders]
        self.zone = ZoneInfo(timezone)
        self.envs = {locale: self._environment(locale) for locale in LOCALES}

    def add_folder(self, folder: Path) -> None:
        """Search ``folder`` for templates too (apps add theirs when installed)."""
        self.folders.append(folder)
        for env in self.envs.values():
            assert isinstance(env.loader, FileSystemLoader)
            env.loader.searchpath.append(str(folder))

    def _environment(self, locale: str) -> Environment:
        env = Environment(loader=FileSystemLoader(list(self.folders)),
                          autoescape=select_autoescape(default=True, default_for_string=True),
                          undefined=StrictUndefined, extensions=["jinja2.ext.i18n"],
                          trim_blocks=True, lstrip_blocks=True, auto_reload=False)
        env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
        babel_locale = BABEL_LOCALES[locale]

        def when(value: str | None, style: str = "medium") -> str:
            """A FHIR date or dateTime in the reader's language and the platform's zone."""
            if not value:
                return ""
            parsed = _parse_instant(value)
            if isinstance(parsed, datetime):
                local = parsed.astimezone(self.zone) if parsed.tzinfo else parsed
                return format_datetime(local, "yyyy-MM-dd HH:mm", locale=babel_locale)
            if isinstance(parsed, date):
                return format_date(parsed, style, locale=babel_locale)
            return value

        env.filters["when"] = when
        env.globals.update(asset=asset_url, locale=locale, translated=locale in CATALOGUE_DIRS)
        return env

    def render(self, request: Request, name: str, values: Mapping[str, Any] | None = None, *,
               status: int = 200, page: PageContext | None = None,
               headers: Mapping[str, str] | None = None) -> HTMLResponse:
        """The HTML response of template ``name`` for the request's locale."""
        page = page or page_context(request)
        body = self.envs[page.lang].get_template(name).render(page=page, **(values or {}))
        response = HTMLResponse(body, status, headers=dict(headers or {}))
        response.headers["Vary"] = "Cookie, Accept-Language, HX-Request"
        if page.session is not None:  # personal pages stay off shared devices' caches
            response.headers["Cache-Control"] = "private, no-store"
        return response


def renderer(request: Request) -> Renderer:
    """The app's renderer."""
    found: Renderer = request.app.state.ui
    return found
