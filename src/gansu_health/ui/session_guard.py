"""Pages that need someone signed in: ``require(request, kind)`` or a redirect to sign in."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request

from gansu_health.identity.accounts.sessions import SessionInfo
from gansu_health.ui.context import PageContext, page_context

SIGNIN_PAGES = {"citizen": "/signin", "staff": "/console/signin"}


class SignInRequired(Exception):
    """Nobody (or the wrong kind of account) is signed in; the handler redirects."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind

    def location(self, request: Request) -> str:
        """The sign-in page, coming back to the requested page afterwards."""
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return f"{SIGNIN_PAGES[self.kind]}?next={quote(target, safe='/')}"


def require(request: Request, kind: str) -> tuple[PageContext, SessionInfo]:
    """The page context and session of a signed-in account of ``kind``."""
    page = page_context(request)
    if page.session is None or page.session.kind != kind:
        raise SignInRequired(kind)
    return page, page.session
