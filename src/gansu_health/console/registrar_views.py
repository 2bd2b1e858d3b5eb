"""Registrar pages: doctors and their schedules, templates, release, 停诊 and 加号."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from gansu_health.console import registrar
from gansu_health.console.pages import Staff, show, staff
from gansu_health.core.errors import PlatformError
from gansu_health.ui.feedback import error_msgid
from gansu_health.ui.i18n import N_
from gansu_health.ui.page_route import PageRoute

router = APIRouter(prefix="/console/schedules", include_in_schema=False, route_class=PageRoute)
Text = Annotated[str, Form(max_length=200)]
NOTICES = {"template": N_("The template was saved. Release it to publish the sessions."),
           "published": N_("Released: the sessions up to the booking horizon are published."),
           "stopped": N_("The clinic was stopped; its patients are told and refunded."),
           "extra": N_("The extra numbers were added.")}
SESSION = "/{schedule}/session/{day}/{period}"


def _labels() -> dict[str, Any]:
    return {"weekdays": registrar.WEEKDAYS, "periods": registrar.PERIODS,
            "channels": registrar.CHANNELS, "notice": ""}


@router.get("")
def doctors(request: Request) -> Response:
    """The institution's doctors: manage a schedule, or make a doctor bookable."""
    who = staff(request)
    name, found = registrar.doctors(who.fhir, who.fhir.principal.organization or "",
                                    who.page.lang)
    return show(request, who, "schedules.html", {"institution": name, "doctors": found})


@router.post("/bookable")
def bookable(request: Request, role: Annotated[str, Form(max_length=64)]) -> Response:
    """Make a doctor bookable, then manage their schedule."""
    who = staff(request)
    return RedirectResponse(f"/console/schedules/{registrar.make_bookable(who.fhir, role)}", 303)


def _schedule_page(request: Request, who: Staff, schedule: str, *, error: str = "",
                   status: int = 200) -> Response:
    found = registrar.schedule_of(who.fhir, who.fhir.principal.organization, schedule)
    return show(request, who, "schedule.html", {
        **_labels(), "schedule": found, "templates": registrar.templates(who.fhir, schedule),
        "sessions": registrar.sessions(who.fhir, schedule), "error": error,
        "notice": NOTICES.get(request.query_params.get("done", ""), "")}, status=status)


@router.get("/{schedule}")
def schedule_page(request: Request, schedule: str) -> Response:
    """A doctor's templates and the sessions of the next two weeks."""
    return _schedule_page(request, staff(request), schedule[:64])


async def _form(request: Request) -> dict[str, str]:
    return {k: str(v)[:200] for k, v in (await request.form()).items()}


@router.post("/{schedule}/template")
async def template(request: Request, schedule: str) -> Response:
    """Save a weekly template."""
    form = await _form(request)
    return await run_in_threadpool(_change, request, schedule[:64], "template",
                                   lambda who: registrar.set_template(who.fhir, schedule, form))


@router.post("/{schedule}/publish")
def publish(request: Request, schedule: str) -> Response:
    """Release (publish) the template sessions."""
    return _change(request, schedule[:64], "published",
                   lambda who: registrar.publish(who.fhir, schedule))


def _change(request: Request, schedule: str, done: str, action: Any) -> Response:
    who = staff(request)
    registrar.schedule_of(who.fhir, who.fhir.principal.organization, schedule)
    try:
        action(who)
    except PlatformError as exc:
        return _schedule_page(request, who, schedule, error=error_msgid(exc),
                              status=exc.status)
    return RedirectResponse(f"/console/schedules/{schedule}?done={done}", 303)


def _session_page(request: Request, who: Staff, schedule: str, day: str, period: str, *,
                  error: str = "", status: int = 200) -> Response:
    found = registrar.schedule_of(who.fhir, who.fhir.principal.organization, schedule)
    session = next((s for s in registrar.sessions(who.fhir, schedule)
                    if s.day == day and s.period == period), None)
    return show(request, who, "session.html", {
        **_labels(), "schedule": found, "session": session, "day": day, "period": period,
        "error": error, "notice": NOTICES.get(request.query_params.get("done", ""), "")},
        status=status)


@router.get(SESSION)
def session_page(request: Request, schedule: str, day: str, period: str) -> Response:
    """One session: its numbers, stop it, add numbers."""
    return _session_page(request, staff(request), schedule[:64], day[:10], period[:10])


@router.post(SESSION + "/stop")
def stop(request: Request, schedule: str, day: str, period: str, reason: Text = "") -> Response:
    """Stop the clinic (停诊) with a reason."""
    who = staff(request)
    registrar.schedule_of(who.fhir, who.fhir.principal.organization, schedule)
    try:
        registrar.stop(who.fhir, schedule, day, period, reason.strip())
    except PlatformError as exc:
        return _session_page(request, who, schedule, day, period, error=error_msgid(exc),
                             status=exc.status)
    return RedirectResponse(f"/console/schedules/{schedule}?done=stopped", 303)


@router.post(SESSION + "/extra")
def extra(request: Request, schedule: str, day: str, period: str, count: Text = "1",
          channel: Text = "window", reason: Text = "") -> Response:
    """Add numbers (加号) with a reason."""
    who = staff(request)
    registrar.schedule_of(who.fhir, who.fhir.principal.organization, schedule)
    try:
        registrar.extra(who.fhir, schedule, day, period,
                        int(count) if count.isdigit() else 0, channel, reason.strip())
    except PlatformError as exc:
        return _session_page(request, who, schedule, day, period, error=error_msgid(exc),
                             status=exc.status)
    return RedirectResponse(f"/console/schedules/{schedule}/session/{day}/{period}?done=extra",
                            303)
