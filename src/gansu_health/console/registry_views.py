"""Registry administration pages (admins): institutions, departments and staff."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from gansu_health.console import registry_admin
from gansu_health.console.pages import show, staff
from gansu_health.core.errors import NotFound, PlatformError
from gansu_health.portal import directory_codes as codes
from gansu_health.ui.feedback import error_msgid
from gansu_health.ui.page_route import PageRoute

router = APIRouter(prefix="/console/registry", include_in_schema=False, route_class=PageRoute)


@router.get("")
def institutions(request: Request, q: str = "", city: str = "") -> Response:
    """Search institutions."""
    who = staff(request)
    return show(request, who, "registry_list.html", {
        "q": q[:40], "city": city[:6], "cities": codes.cities(),
        "orgs": registry_admin.institutions(who.fhir, q[:40], city[:6])})


@router.get("/Organization/{org_id}")
def institution(request: Request, org_id: str) -> Response:
    """One institution with its departments and staff."""
    who = staff(request)
    org, services, people = registry_admin.institution(who.fhir, org_id)
    return show(request, who, "registry_org.html", {
        "org": org, "services": services, "people": people,
        "saved": request.query_params.get("saved") == "1"})


def _check_type(rtype: str) -> None:
    if rtype not in registry_admin.EDITABLE:
        raise NotFound(f"{rtype} is not edited here")


@router.get("/{rtype}/{fid}/edit")
def edit_form(request: Request, rtype: str, fid: str, back: str = "") -> Response:
    """The edit form of an institution, a department or a member of staff."""
    _check_type(rtype)
    who = staff(request)
    resource = who.fhir.read(rtype, fid)
    return show(request, who, "registry_edit.html", {
        "rtype": rtype, "resource": resource, "fields": registry_admin.EDITABLE[rtype],
        "values": {f.key: f.get(resource) for f in registry_admin.EDITABLE[rtype]},
        "etag": resource.get("_etag", ""), "back": back[:64]})


@router.post("/{rtype}/{fid}/edit")
async def save(request: Request, rtype: str, fid: str) -> Response:
    """Save the edit form through FHIR (If-Match: a concurrent edit is refused, not lost)."""
    _check_type(rtype)
    form = {k: str(v)[:200] for k, v in (await request.form()).items()}
    return await run_in_threadpool(_save, request, rtype, fid, form)


def _save(request: Request, rtype: str, fid: str, form: dict[str, str]) -> Response:
    who = staff(request)
    back = form.get("back", "")
    try:
        registry_admin.edit(who.fhir, rtype, fid, form.get("etag", ""), form)
    except PlatformError as exc:
        resource = who.fhir.read(rtype, fid)
        return show(request, who, "registry_edit.html", {
            "rtype": rtype, "resource": resource, "fields": registry_admin.EDITABLE[rtype],
            "values": form, "etag": resource.get("_etag", ""), "back": back,
            "error": error_msgid(exc)}, status=exc.status)
    target = back or (fid if rtype == "Organization" else "")
    if target:
        return RedirectResponse(f"/console/registry/Organization/{target}?saved=1", 303)
    return RedirectResponse(f"/console/registry?{urlencode({'saved': '1'})}", 303)
