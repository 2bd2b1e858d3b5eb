"""Our stored rows seen through authlib's model interfaces (client, code, token)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    InvalidScopeError,
    TokenMixin,
)

from gansu_health.core.clock import now, to_micros
from gansu_health.identity.oauth import policy
from gansu_health.identity.oauth.repository import ClientRow, CodeRow
from gansu_health.identity.scopes import ScopeError
from gansu_health.identity.tokens.repository import TokenRecord

GRANT_TYPES = {"system": frozenset({"client_credentials"}),
               "node": frozenset({"client_credentials"}),
               "public": frozenset({"authorization_code", "refresh_token"}),
               "confidential": frozenset({"authorization_code", "refresh_token"})}
ERROR_TEXT_FORBIDDEN = frozenset('"\\')


def error_text(text: str) -> str:
    """``text`` reduced to the characters RFC 6749 allows in error_description."""
    return "".join(c if " " <= c <= "~" and c not in ERROR_TEXT_FORBIDDEN else "?"
                   for c in text)


class OAuthClient(ClientMixin):  # type: ignore[misc]
    """A registered client as authlib sees it."""

    def __init__(self, row: ClientRow) -> None:
        self.row = row
        self.client_id = row.client_id

    @property
    def public(self) -> bool:
        """Whether the client cannot keep a credential (authenticates with ``none``)."""
        return self.row.token_endpoint_auth_method == "none"

    def get_client_id(self) -> str:
        """The client id."""
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        """No default: SMART apps always name their redirect_uri."""
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        """The requested scopes this client may receive; invalid_scope when none remain."""
        try:
            requested = policy.parse(scope)
        except ScopeError as exc:
            raise InvalidScopeError(description=error_text(str(exc))) from exc
        granted = policy.for_client(requested, self.row.kind, self.row.scope)
        if not granted.scopes:
            raise InvalidScopeError(description=(
                "no scope was requested" if not requested.scopes else
                "none of the requested scopes may be granted to this client"))
        return str(granted)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Exact match against the registered redirect URIs."""
        return redirect_uri in self.row.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        """Clients here never have shared secrets."""
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """One registered authentication method per client, on every endpoint."""
        return method == self.row.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        """Only apps use the authorisation endpoint, and only with ``code``."""
        return response_type == "code" and self.row.kind in policy.USER_FACING

    def check_grant_type(self, grant_type: str) -> bool:
        """Backend clients use client_credentials; apps the code flow and refresh."""
        return grant_type in GRANT_TYPES[self.row.kind]


@dataclass(frozen=True, slots=True)
class AuthorizedUser:
    """The signed-in account a code-flow token is issued for, with the patient it picked."""

    kind: str  # citizen | staff
    account_id: str
    patient: str | None = None

    def get_user_id(self) -> str:
        """The account id (authlib's user id)."""
        return self.account_id


class StoredCode(AuthorizationCodeMixin):  # type: ignore[misc]
    """An authorisation code row as authlib sees it."""

    def __init__(self, row: CodeRow) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        """The redirect_uri the code was issued for."""
        return self.row.redirect_uri

    def get_scope(self) -> str:
        """The scopes approved on the approval page."""
        return self.row.scope

    def user(self) -> AuthorizedUser:
        """The account the code was issued to."""
        return AuthorizedUser(self.row.principal_kind, self.row.account_id, self.row.patient)


class StoredToken(TokenMixin):  # type: ignore[misc]
    """A stored access or refresh token as authlib sees it."""

    def __init__(self, record: TokenRecord) -> None:
        self.record = record

    def check_client(self, client: Any) -> bool:
        """Whether the token was issued to ``client``."""
        return bool(self.record.client_id == client.get_client_id())

    def get_scope(self) -> str:
        """The granted scopes."""
        return self.record.scope

    def get_expires_in(self) -> int:
        """Seconds left (0 when expired)."""
        return max(0, (self.record.expires_us - to_micros(now())) // 1_000_000)

    def is_expired(self) -> bool:
        """Whether the token is past its expiry."""
        return to_micros(now()) >= self.record.expires_us

    def is_revoked(self) -> bool:
        """Whether the token was revoked."""
        return self.record.revoked

    def user(self) -> AuthorizedUser:
        """The account (or client) and patient context the token was issued for."""
        return AuthorizedUser(self.record.principal_kind, self.record.subject,
                              self.record.patient)
