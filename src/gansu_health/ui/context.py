"""What every page needs to know about its request: locale, senior mode, session, CSRF token."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from gansu_health.identity.accounts.sessions import SessionInfo, current_session
from gansu_health.ui.i18n import negotiate

LANG_COOKIE = "gh_lang"
SENIOR_COOKIE = "gh_senior"


@dataclass(frozen=True, slots=True)
class PageContext:
    """The per-request facts templates use."""

    lang: str
    senior: bool
    session: SessionInfo | None
    path: str
    partial: bool  # an htmx request asking for a fragment

    @property
    def csrf(self) -> str:
        """The session's CSRF token (empty when nobody is signed in)."""
        return self.session.csrf_token if self.session else ""


def page_context(request: Request) -> PageContext:
    """The page context of ``request`` (blocking: it looks the session up)."""
    lang = negotiate(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
    partial = (request.headers.get("hx-request") == "true"
               and request.headers.get("hx-request-type") != "full")
    return PageContext(lang, request.cookies.get(SENIOR_COOKIE) == "1", current_session(request),
                       request.url.path, partial)
