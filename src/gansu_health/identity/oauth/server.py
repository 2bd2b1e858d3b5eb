"""authlib's AuthorizationServer bound to Starlette requests, our stores and our audit trail.

One server is built per HTTP request around the request's database transaction, so that grants,
stores and the audit trail all see the same connection.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson
from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    InvalidScopeError,
    JsonPayload,
    JsonRequest,
    OAuth2Error,
    OAuth2Payload,
    OAuth2Request,
)
from sqlalchemy import Connection
from starlette.responses import Response

from gansu_health.core.settings import Settings
from gansu_health.identity.audit.repository import AuditRecord, record
from gansu_health.identity.oauth import policy
from gansu_health.identity.oauth.adapters import AuthorizedUser, OAuthClient, error_text
from gansu_health.identity.oauth.assertion import PrivateKeyJwt
from gansu_health.identity.oauth.grants import (
    CodeGrant,
    Introspection,
    RefreshGrant,
    Revocation,
    S256CodeChallenge,
    SystemGrant,
)
from gansu_health.identity.oauth.metadata import Urls
from gansu_health.identity.oauth.repository import get_client
from gansu_health.identity.scopes import ScopeError
from gansu_health.identity.tokens import repository as tokens

# authlib refuses plain-http request URIs; TLS ends at the deployment's reverse proxy, so the
# scheme this process sees says nothing about the transport: requests are built on this URI and
# the real one is set afterwards
_TRANSPORT_PLACEHOLDER = "https://localhost/"


@dataclass(frozen=True, slots=True)
class HttpInput:
    """What the server needs of one HTTP request, read up front (form parsing is async)."""

    method: str
    url: str  # the public URL of the endpoint
    headers: Mapping[str, str]
    params: list[tuple[str, str]]  # the query (GET) or the form body (POST)
    source_ip: str | None = None
    user_agent: str | None = None


class FormPayload(OAuth2Payload):  # type: ignore[misc]
    """Request parameters: first value per name in ``data``, every value in ``datalist``."""

    def __init__(self, params: list[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in params:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        """First value of each parameter."""
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        """Every value of each parameter."""
        return self._datalist


class FormRequest(OAuth2Request):  # type: ignore[misc]
    """An OAuth2Request over an :class:`HttpInput`."""

    def __init__(self, http: HttpInput) -> None:
        super().__init__(http.method, _TRANSPORT_PLACEHOLDER, headers=dict(http.headers))
        self.uri = http.url
        self.payload = FormPayload(http.params)
        self.http = http

    @property
    def args(self) -> dict[str, str]:
        """Query parameters (GET requests)."""
        return self.payload.data if self.method == "GET" else {}

    @property
    def form(self) -> dict[str, str]:
        """Body parameters (POST requests)."""
        return self.payload.data if self.method == "POST" else {}


class ParamsJsonPayload(JsonPayload):  # type: ignore[misc]
    """A JSON payload made of the request parameters."""

    def __init__(self, params: list[tuple[str, str]]) -> None:
        self._data = dict(params)

    @property
    def data(self) -> dict[str, str]:
        """The parameters."""
        return self._data


class OAuthServer(AuthorizationServer):  # type: ignore[misc]
    """The authorisation server for one request, on the request's transaction."""

    def __init__(self, conn: Connection, settings: Settings, urls: Urls, http: HttpInput, *,
                 audit_subtype: str | None = None,
                 fhir_user: Callable[[str, str], str | None] | None = None) -> None:
        super().__init__()
        self.conn, self.settings, self.urls, self.http = conn, settings, urls, http
        self.audit_subtype = audit_subtype  # failures of this request are audited under it
        self.fhir_user = fhir_user or (lambda _kind, _subject: None)
        self.issued_access_hash: str | None = None
        self.audits: list[AuditRecord] = []
        self.register_token_generator("default", self.generate_bearer_token)
        audiences = sorted({urls.token, http.url})
        self.register_client_auth_method("private_key_jwt", PrivateKeyJwt(conn, audiences))
        self.register_grant(CodeGrant, [S256CodeChallenge(required=True)])
        self.register_grant(RefreshGrant)
        self.register_grant(SystemGrant)
        self.register_endpoint(Introspection)
        self.register_endpoint(Revocation)

    # --- framework glue -------------------------------------------------------------------
    def create_oauth2_request(self, request: HttpInput | OAuth2Request | None) -> OAuth2Request:
        """Wrap the request (authlib passes ours back in, or None for 'the current one')."""
        if isinstance(request, OAuth2Request):
            return request
        return FormRequest(request or self.http)

    def create_json_request(self, request: HttpInput | None) -> JsonRequest:
        """A JSON request over the same parameters (no endpoint here takes JSON bodies)."""
        http = request or self.http
        json_request = JsonRequest(http.method, http.url, dict(http.headers))
        json_request.payload = ParamsJsonPayload(http.params)
        return json_request

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]
                        ) -> Response:
        """Turn authlib's (status, body, headers) into a Starlette response."""
        content = orjson.dumps(body) if isinstance(body, dict) else (body or b"")
        return Response(content, status, headers=dict(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """authlib's signals are not used."""

    def handle_error_response(self, request: OAuth2Request, error: OAuth2Error) -> Response:
        """Audit a refused request (when this endpoint audits failures) and answer it."""
        if self.audit_subtype:
            client = getattr(request, "client", None)
            self.audit(AuditRecord(
                action="E", subtype=self.audit_subtype, actor_type="client",
                actor_id=client.client_id if client else request.payload.data.get("client_id"),
                outcome=4, reason=f"{error.error}: {error.description}"[:512]))
        response: Response = super().handle_error_response(request, error)
        return response

    # --- stores -------------------------------------------------------------------------------
    def query_client(self, client_id: str) -> OAuthClient | None:
        """The enabled client with this id."""
        row = get_client(self.conn, client_id)
        return OAuthClient(row) if row and not row.disabled else None

    def validate_requested_scope(self, scope: str | None) -> None:
        """Refuse malformed SMART scopes (narrowing happens per client and principal)."""
        try:
            policy.parse(scope)
        except ScopeError as exc:
            raise InvalidScopeError(description=error_text(str(exc))) from exc

    def generate_bearer_token(self, grant_type: str, client: OAuthClient,
                              user: AuthorizedUser | None = None, scope: str | None = None,
                              expires_in: int | None = None,
                              include_refresh_token: bool = True) -> dict[str, Any]:
        """An opaque bearer token; a refresh token only with offline_access/online_access."""
        granted = client.get_allowed_scope(scope)
        token: dict[str, Any] = {"token_type": "Bearer",
                                 "access_token": tokens.new_token_string(),
                                 "expires_in": expires_in or self.settings.access_token_ttl_s,
                                 "scope": granted}
        if include_refresh_token and policy.wants_refresh(granted):
            token["refresh_token"] = tokens.new_token_string()
        return token

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Store the token pair hashed, add the patient context to the response, audit it."""
        client: OAuthClient = request.client
        user: AuthorizedUser | None = request.user
        kind, subject, patient = ((user.kind, user.account_id, user.patient) if user
                                  else ("system", client.client_id, None))
        access, refresh = token["access_token"], token.get("refresh_token")
        # a municipal node's client acts for its node (the Principal's node)
        node = client.row.node if client.row.kind == "node" else self.settings.node_id
        common = {"client_id": client.client_id, "principal_kind": kind, "subject": subject,
                  "scope": token["scope"], "node": node or self.settings.node_id,
                  "patient": patient}
        tokens.store(self.conn, access, ttl_s=token["expires_in"], pair=refresh, **common)
        if refresh:
            tokens.store(self.conn, refresh, token_type="refresh", pair=access,
                         ttl_s=self.settings.refresh_token_ttl_s, **common)
        if patient:
            token["patient"] = patient
        self.issued_access_hash = tokens.token_hash(access)
        self.audit(AuditRecord(
            action="E", subtype="token-issue", actor_type=kind, actor_id=subject,
            patient_id=patient, query=f"grant_type={request.payload.grant_type}"
                                      f"&client_id={client.client_id}&scope={token['scope']}"))

    # --- audit --------------------------------------------------------------------------------
    def audit(self, event: AuditRecord) -> None:
        """Queue an audit row; :meth:`flush_audit` appends them at the end of the transaction."""
        self.audits.append(event)

    def flush_audit(self) -> None:
        """Append the queued audit rows (late: the chain head stays locked until commit)."""
        for event in self.audits:
            record(self.conn, replace(
                event, node=event.node or self.settings.node_id,
                source_ip=event.source_ip or self.http.source_ip,
                user_agent=(event.user_agent or self.http.user_agent or "")[:256] or None))
        self.audits.clear()
