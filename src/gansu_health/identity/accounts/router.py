"""JSON endpoints under /auth: SMS codes, citizen and staff sign-in, sign-out, me, 就诊人."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

from gansu_health.core.clock import fhir_instant
from gansu_health.core.database import read_transaction, write_transaction
from gansu_health.core.errors import Forbidden, PlatformError, Unauthorized
from gansu_health.identity.accounts import flows, members, repository
from gansu_health.identity.accounts.repository import Account, Member
from gansu_health.identity.accounts.sessions import (
    SessionInfo,
    clear_session_cookie,
    current_session,
    set_session_cookie,
)
from gansu_health.identity.accounts.sms import mask_phone
from gansu_health.identity.web.errors import PlatformErrorRoute

router = APIRouter(prefix="/auth", tags=["auth"], route_class=PlatformErrorRoute)


class OtpRequest(BaseModel):
    """Ask for a sign-in code."""

    phone: str = Field(max_length=32)


class CitizenLogin(BaseModel):
    """Resident sign-in: phone and SMS code (or the password they set)."""

    phone: str = Field(max_length=32)
    code: str | None = Field(default=None, max_length=16)
    password: str | None = Field(default=None, max_length=256)


class StaffLogin(BaseModel):
    """Staff sign-in: username, password and the authenticator code."""

    username: str = Field(max_length=128)
    password: str = Field(max_length=256)
    totp: str | None = Field(default=None, max_length=16)


class ResidentProof(BaseModel):
    """Who a resident is: the resident ID number and the name on it."""

    resident_id: str = Field(max_length=32)
    name: str = Field(max_length=64)


class NewMember(ResidentProof):
    """A 就诊人 to add."""

    relationship: str = Field(max_length=16)
    guardian: bool | None = None


class NewPassword(BaseModel):
    """Set or change the account's password."""

    password: str = Field(max_length=256)
    current_password: str | None = Field(default=None, max_length=256)


def require_session(request: Request, kind: str | None = None) -> SessionInfo:
    """The request's session; 401 without one, 403 when it is not of ``kind``."""
    session = current_session(request)
    if session is None:
        raise Unauthorized("Sign in first", expression="session")
    if kind and session.kind != kind:
        raise Forbidden(f"Only {kind} accounts can do this", expression="session")
    return session


def _signed_in(request: Request, acct: Account, session_id: str, info: SessionInfo
               ) -> JSONResponse:
    response = JSONResponse({"account": {"id": acct.id, "kind": acct.kind},
                             "csrf_token": info.csrf_token, "mfa": info.mfa,
                             "expires": fhir_instant(info.expires_us)})
    set_session_cookie(response, flows.deps(request).settings, session_id, info)
    return response


@router.post("/otp", status_code=202)
def post_otp(request: Request, body: OtpRequest) -> dict[str, Any]:
    """Send a 6-digit sign-in code to a mobile phone (1 a minute, 10 a day)."""
    issued = flows.request_code(request, body.phone)
    return {"sent": True, "phone": mask_phone(issued.phone), "expires_in": issued.expires_in,
            "resend_after": 60}


@router.post("/citizen/login")
def citizen_login(request: Request, body: CitizenLogin) -> JSONResponse:
    """Sign a resident in (the account is created on first sign-in); sets the session cookie."""
    return _signed_in(request, *flows.citizen_login(request, body.phone, body.code,
                                                    body.password))


@router.post("/staff/login")
def staff_login(request: Request, body: StaffLogin) -> JSONResponse:
    """Sign staff in with password and TOTP; sets the session cookie."""
    return _signed_in(request, *flows.staff_login(request, body.username, body.password,
                                                  body.totp))


@router.post("/logout")
def logout(request: Request) -> JSONResponse:
    """End the browser session and clear its cookie."""
    response = JSONResponse({"signed_out": flows.sign_out(request)})
    clear_session_cookie(response, flows.deps(request).settings)
    return response


def _account_view(request: Request, acct: Account, session: SessionInfo,
                  grants: list[repository.RoleGrant]) -> dict[str, Any]:
    phone = flows.deps(request).accounts.phone_of(acct)
    return {"id": acct.id, "kind": acct.kind, "display_name": acct.display_name,
            "username": acct.username, "phone": mask_phone(phone) if phone else None,
            "patient": acct.patient_id, "has_password": acct.password_hash is not None,
            "totp": acct.totp_enc is not None, "mfa": session.mfa,
            "csrf_token": session.csrf_token,
            "roles": [{"organization": g.organization_id, "role": g.role,
                       "practitioner": g.practitioner_id, "region": g.region} for g in grants]}


@router.get("/me")
def me(request: Request) -> dict[str, Any]:
    """The signed-in account (phone masked), its roles and the session's CSRF token."""
    session = require_session(request)
    d = flows.deps(request)
    with read_transaction(d.engine) as conn:
        acct = repository.get_account(conn, session.account_id)
        if acct is None:
            raise Unauthorized("Sign in first", expression="session")
        return _account_view(request, acct, session, repository.list_roles(conn, acct.id))


@router.put("/me/password", status_code=204)
def put_password(request: Request, body: NewPassword) -> Response:
    """Set a password (residents may then sign in without a code) or change it."""
    session = require_session(request)
    d = flows.deps(request)
    with write_transaction(d.engine) as conn:
        acct = repository.get_account(conn, session.account_id, lock=True)
        if acct is None:
            raise Unauthorized("Sign in first", expression="session")
        d.accounts.set_password(conn, acct, body.password, body.current_password)
    return Response(status_code=204)


@router.post("/me/bind")
def bind(request: Request, body: ResidentProof) -> dict[str, Any]:
    """Real-name binding (实名认证): link the account to the resident's own Patient."""
    session = require_session(request, "citizen")
    d = flows.deps(request)
    with write_transaction(d.engine) as conn:
        patient_id = members.find_resident(conn, d.fhir, body.resident_id, body.name)
        members.bind_self(conn, session.account_id, patient_id, d.settings.node_id)
    return {"patient": patient_id}


def _member_view(request: Request, conn: Any, member: Member) -> dict[str, Any]:
    fhir = flows.deps(request).fhir
    display = None
    try:
        stored = fhir.read(conn, "Patient", member.patient_id)
        names = orjson.loads(stored.content or b"{}").get("name") or []
        display = names[0].get("text") or "".join(
            [names[0].get("family") or "", *(names[0].get("given") or [])]) if names else None
    except PlatformError:
        pass
    return {"patient": member.patient_id, "reference": f"Patient/{member.patient_id}",
            "display": display, "relationship": member.relationship,
            "guardian": member.guardian, "added": fhir_instant(member.created_us)}


@router.get("/me/members")
def get_members(request: Request) -> dict[str, Any]:
    """The account's 就诊人, the account holder first."""
    session = require_session(request, "citizen")
    with read_transaction(flows.deps(request).engine) as conn:
        return {"members": [_member_view(request, conn, m)
                            for m in members.list_members(conn, session.account_id)]}


@router.post("/me/members", status_code=201)
def post_member(request: Request, body: NewMember) -> dict[str, Any]:
    """Add a 就诊人, proven by resident ID number and name."""
    session = require_session(request, "citizen")
    d = flows.deps(request)
    guardian = body.guardian if body.guardian is not None else body.relationship == "child"
    with write_transaction(d.engine) as conn:
        patient_id = members.find_resident(conn, d.fhir, body.resident_id, body.name)
        member = members.add_member(conn, session.account_id, patient_id, body.relationship,
                                    guardian=guardian, node=d.settings.node_id)
        return _member_view(request, conn, member)


@router.delete("/me/members/{patient_id}", status_code=204)
def delete_member(request: Request, patient_id: str) -> Response:
    """Remove a 就诊人."""
    session = require_session(request, "citizen")
    with write_transaction(flows.deps(request).engine) as conn:
        members.remove_member(conn, session.account_id, patient_id)
    return Response(status_code=204)

