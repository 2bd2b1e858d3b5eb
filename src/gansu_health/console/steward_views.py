"""Data-steward pages: the review queue, a side-by-side comparison, merge and undo."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from gansu_health.console import steward
from gansu_health.console.pages import show, staff
from gansu_health.ui.i18n import N_
from gansu_health.ui.page_route import PageRoute

router = APIRouter(prefix="/console/steward", include_in_schema=False, route_class=PageRoute)
Id = Annotated[str, Form(max_length=64)]
NOTICES = {"undone": N_("The merge was undone: both records are separate again."),
           "distinct": N_("Marked as different people; they will not be proposed again.")}


@router.get("")
def review_queue(request: Request) -> Response:
    """Possible duplicates awaiting a decision."""
    who = staff(request)
    return show(request, who, "steward_queue.html", {
        "candidates": steward.queue(who.fhir),
        "notice": NOTICES.get(request.query_params.get("done", ""), "")})


@router.get("/compare/{source_id}/{golden_id}")
def compare(request: Request, source_id: str, golden_id: str) -> Response:
    """Both records side by side, with the decision buttons."""
    who = staff(request)
    return show(request, who, "steward_compare.html",
                {"cmp": steward.compare(who.fhir, source_id, golden_id)})


@router.post("/merge")
def merge(request: Request, from_golden: Id, to_golden: Id) -> Response:
    """Same person: merge the incoming record's golden record into the candidate."""
    who = staff(request)
    merge_id = steward.merge(who.fhir, from_golden, to_golden)
    return RedirectResponse(f"/console/steward/merged/{merge_id}?into={to_golden}", 303)


@router.get("/merged/{merge_id}")
def merged(request: Request, merge_id: int, into: str = "") -> Response:
    """The merge is done; it can be undone from here."""
    who = staff(request)
    return show(request, who, "steward_merged.html", {"merge_id": merge_id, "into": into[:64]})


@router.post("/unmerge")
def unmerge(request: Request, merge_id: Annotated[int, Form()]) -> Response:
    """Undo a merge."""
    who = staff(request)
    steward.unmerge(who.fhir, merge_id)
    return RedirectResponse("/console/steward?done=undone", 303)


@router.post("/distinct")
def distinct(request: Request, golden: Id, other: Id) -> Response:
    """Different people: never propose this pair again."""
    who = staff(request)
    steward.not_duplicate(who.fhir, golden, other)
    return RedirectResponse("/console/steward?done=distinct", 303)
