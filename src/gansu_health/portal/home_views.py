"""The home page and the health-education articles."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from gansu_health.core.errors import NotFound
from gansu_health.portal import articles
from gansu_health.portal.navigation import HOME_TILES
from gansu_health.portal.pages import show
from gansu_health.ui.context import page_context
from gansu_health.ui.i18n import N_
from gansu_health.ui.page_route import PageRoute

router = APIRouter(include_in_schema=False, route_class=PageRoute)
SIGNED_OUT = N_("You have signed out.")


@router.get("/")
def home(request: Request) -> Response:
    """The citizen app's home: services, plus whatever later features registered."""
    page = page_context(request)
    tiles = [*HOME_TILES, *request.app.state.ui_slots.items("home")]
    return show(request, "home.html", {
        "tiles": tiles, "articles": articles.articles(page.lang)[:3],
        "notice": SIGNED_OUT if request.query_params.get("signed_out") else ""}, page=page)


@router.get("/articles")
def article_list(request: Request) -> Response:
    """All health-education articles."""
    page = page_context(request)
    return show(request, "articles.html", {"articles": articles.articles(page.lang)}, page=page)


@router.get("/articles/{slug}")
def article_page(request: Request, slug: str) -> Response:
    """One article."""
    page = page_context(request)
    found = articles.article(slug, page.lang)
    if found is None:
        raise NotFound(f"No article {slug}")
    return show(request, "article.html", {"article": found}, page=page)
