"""HTTP endpoints of the authorisation server: authorize, token, introspect, revoke, SMART config.

Mount with ``app.include_router(router)`` before the ``/fhir/{path}`` catch-all, so that
``/fhir/.well-known/smart-configuration`` is answered here.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import urlencode

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import InvalidRequestError, InvalidScopeError, OAuth2Error
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from gansu_health.core.database import read_transaction, write_transaction
from gansu_health.identity.accounts.sessions import SessionInfo, current_session
from gansu_health.identity.audit.repository import AuditRecord
from gansu_health.identity.oauth import policy, subjects, views
from gansu_health.identity.oauth.adapters import AuthorizedUser, OAuthClient
from gansu_health.identity.oauth.metadata import Urls, smart_configuration
from gansu_health.identity.oauth.server import HttpInput, OAuthServer

router = APIRouter(tags=["oauth"])
SIGNIN = "/auth/signin"
OWN_FIELDS = frozenset({"decision", "csrf_token", "patient"})  # the approval form's own fields


def _urls(request: Request) -> Urls:
    return Urls.from_settings(request.app.state.settings)


async def _params(request: Request) -> list[tuple[str, str]]:
    if request.method == "GET":
        return list(request.query_params.multi_items())
    form = await request.form()
    return [(k, v) for k, v in form.multi_items() if isinstance(v, str)]


def _http(request: Request, url: str, params: list[tuple[str, str]]) -> HttpInput:
    return HttpInput(request.method, url, {k.lower(): v for k, v in request.headers.items()},
                     params, request.client.host if request.client else None,
                     request.headers.get("user-agent"))


def _run(request: Request, http: HttpInput, action: Callable[[OAuthServer], Response],
         audit_subtype: str | None) -> Response:
    state = request.app.state
    with write_transaction(state.engine) as conn:
        server = OAuthServer(conn, state.settings, _urls(request), http,
                             audit_subtype=audit_subtype,
                             fhir_user=partial(subjects.fhir_user, conn))
        response = action(server)
        server.flush_audit()
    return response


@router.post("/oauth/token", summary="Token endpoint (code, refresh, client credentials)")
async def token(request: Request) -> Response:
    """Exchange a grant for an access token."""
    http = _http(request, _urls(request).token, await _params(request))
    return await run_in_threadpool(_run, request, http, lambda s: s.create_token_response(http),
                                   "token-issue")


@router.post("/oauth/introspect", summary="Token introspection (RFC 7662)")
async def introspect(request: Request) -> Response:
    """Tell an authenticated client whether a token is active, and what it grants."""
    http = _http(request, _urls(request).introspect, await _params(request))
    return await run_in_threadpool(
        _run, request, http, lambda s: s.create_endpoint_response("introspection", http), None)


@router.post("/oauth/revoke", summary="Token revocation (RFC 7009)")
async def revoke(request: Request) -> Response:
    """Revoke a token of the authenticated client."""
    http = _http(request, _urls(request).revoke, await _params(request))
    return await run_in_threadpool(
        _run, request, http, lambda s: s.create_endpoint_response("revocation", http),
        "token-revoke")


@router.get("/.well-known/smart-configuration", summary="SMART App Launch configuration")
@router.get("/fhir/.well-known/smart-configuration", include_in_schema=False)
def smart_config(request: Request) -> JSONResponse:
    """The SMART configuration document (served at the root and under the FHIR base)."""
    return JSONResponse(smart_configuration(_urls(request)))


@router.get("/oauth/approval.css", include_in_schema=False)
def approval_css() -> Response:
    """The approval page's stylesheet (the CSP allows no inline styles)."""
    return Response(views.CSS, media_type="text/css",
                    headers={"cache-control": "public, max-age=3600"})


@router.api_route("/oauth/authorize", methods=["GET", "POST"], summary="Authorisation endpoint")
async def authorize(request: Request) -> Response:
    """Ask the signed-in person to approve an app's request, then redirect with a code."""
    return await run_in_threadpool(_authorize, request, await _params(request))


def _authorize(request: Request, params: list[tuple[str, str]]) -> Response:
    session = current_session(request)
    request_params = [(k, v) for k, v in params if k not in OWN_FIELDS]
    form: dict[str, str] = {}
    for key, value in params:
        form.setdefault(key, value)
    decision = form.get("decision")
    if session is None:
        target = f"/oauth/authorize?{urlencode(request_params)}"
        if request.method == "POST" and decision is None:
            # a cross-site POST carries no SameSite=Lax cookie: come back as a GET
            return RedirectResponse(target, 303)
        return RedirectResponse(f"{SIGNIN}?{urlencode({'next': target})}", 303)
    urls = _urls(request)
    http = _http(request, urls.authorize, request_params)
    state = request.app.state
    opener = write_transaction if decision else read_transaction
    with opener(state.engine) as conn:
        server = OAuthServer(conn, state.settings, urls, http)
        store = state.fhir.service.store if hasattr(state, "fhir") else None
        response = _consent(server, store, session, form, decision)
        server.flush_audit()
    return response


def _consent(server: OAuthServer, store: Any, session: SessionInfo, form: dict[str, str],
             decision: str | None) -> Response:
    try:
        grant = server.get_consent_grant(server.http, end_user=None)
    except OAuth2Error as error:
        if error.redirect_uri:  # the client and its redirect URI are known: tell the app
            return server.handle_response(*error())
        detail = error.description or error.error
        return views.error_page("授权请求无效：应用未登记，或回调地址与登记的不一致。",
                                f"Invalid authorisation request: {detail}")
    oauth_request = grant.request
    client: OAuthClient = oauth_request.client
    state_value = oauth_request.payload.state

    def refuse(error_class: type[OAuth2Error], description: str) -> Response:
        error = error_class(description, redirect_uri=grant.redirect_uri, state=state_value)
        return server.handle_response(*error())

    aud = oauth_request.payload.data.get("aud")
    if aud and aud.rstrip("/") != server.urls.fhir_base:
        return refuse(InvalidRequestError, "aud must be the FHIR base URL of this server")
    granted = policy.for_principal(policy.parse(oauth_request.scope), session.kind)
    if not granted.scopes:
        return refuse(InvalidScopeError, f"none of the requested scopes fit a {session.kind} "
                                         "account")
    choices = None
    if "patient" in granted.contexts():
        choices = subjects.patient_choices(server.conn, store, session.account_id)
        if not choices:
            back = add_params_to_uri(grant.redirect_uri, [
                ("error", "access_denied"), ("error_description", "no patient record to share"),
                *([("state", state_value)] if state_value else [])])
            return views.error_page(
                "您的账号尚未完成实名认证，也没有添加就诊人，暂时无法授权该应用。",
                "Your account has no verified patient record or family member yet, so this "
                "app cannot be given access.", status=403, back_url=back)
    if decision is None:
        return views.approval_page(
            client_name=client.row.name, account=subjects.account_name(server.conn,
                                                                       session.account_id),
            scopes=granted, choices=choices, params=server.http.params,
            csrf_token=session.csrf_token)
    if not hmac.compare_digest(form.get("csrf_token", "").encode(), session.csrf_token.encode()):
        return views.error_page("页面已失效，请回到应用重新发起授权。",
                                "This page has expired (CSRF check failed); start again from "
                                "the app.", status=403)
    audit = partial(AuditRecord, action="E", subtype="authorize", actor_type=session.kind,
                    actor_id=session.account_id,
                    query=f"client_id={client.client_id}&scope={granted}")
    if decision != "approve":
        server.audit(audit(outcome=4, reason="denied by the user"))
        denied: Response = server.create_authorization_response(oauth_request, grant_user=None,
                                                                grant=grant)
        return denied
    patient = None
    if choices:
        patient = form.get("patient") or choices[0].patient_id
        if patient not in {c.patient_id for c in choices}:
            return views.error_page("所选就诊人不属于您的账号。",
                                    "The selected patient is not one of your family members.")
    server.audit(audit(patient_id=patient))
    approved: Response = server.create_authorization_response(
        oauth_request, grant_user=AuthorizedUser(session.kind, session.account_id, patient),
        grant=grant)
    return approved
