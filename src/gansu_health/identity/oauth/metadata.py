"""Where the authorisation server lives and what it announces (SMART configuration)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gansu_health.core.settings import Settings
from gansu_health.identity.oauth.jwks import SIGNING_ALGORITHMS
from gansu_health.identity.oauth.policy import PRINCIPAL_EXTRAS

CAPABILITIES = ("launch-standalone", "client-public", "client-confidential-asymmetric",
                "context-standalone-patient", "permission-v1", "permission-v2",
                "permission-patient", "permission-user", "authorize-post")
SCOPES_SUPPORTED = ("patient/*.cruds", "user/*.cruds", "system/*.cruds", "patient/*.read",
                    "user/*.read", "system/*.read", *sorted(frozenset().union(
                        *PRINCIPAL_EXTRAS.values())))


@dataclass(frozen=True, slots=True)
class Urls:
    """The public URLs of the authorisation server's endpoints."""

    issuer: str
    fhir_base: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Urls:
        """Derive them from the public FHIR base URL (``…/fhir`` → the server's origin)."""
        base = settings.base_url.rstrip("/")
        return cls(issuer=base.removesuffix("/fhir"), fhir_base=base)

    @property
    def authorize(self) -> str:
        """The authorisation endpoint."""
        return f"{self.issuer}/oauth/authorize"

    @property
    def token(self) -> str:
        """The token endpoint (also the audience of client assertions)."""
        return f"{self.issuer}/oauth/token"

    @property
    def introspect(self) -> str:
        """The introspection endpoint (RFC 7662)."""
        return f"{self.issuer}/oauth/introspect"

    @property
    def revoke(self) -> str:
        """The revocation endpoint (RFC 7009)."""
        return f"{self.issuer}/oauth/revoke"


def smart_configuration(urls: Urls) -> dict[str, Any]:
    """The ``.well-known/smart-configuration`` document."""
    return {
        "issuer": urls.issuer,
        "authorization_endpoint": urls.authorize,
        "token_endpoint": urls.token,
        "introspection_endpoint": urls.introspect,
        "revocation_endpoint": urls.revoke,
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": list(SIGNING_ALGORITHMS),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "scopes_supported": list(SCOPES_SUPPORTED),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": list(CAPABILITIES),
    }


OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def capability_security(urls: Urls) -> dict[str, Any]:
    """``CapabilityStatement.rest.security`` announcing SMART on FHIR and its OAuth endpoints."""
    return {
        "cors": True,
        "service": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
            "code": "SMART-on-FHIR", "display": "SMART-on-FHIR"}],
            "text": "OAuth2 with SMART on FHIR v2 scopes (bearer tokens)"}],
        "extension": [{"url": OAUTH_URIS, "extension": [
            {"url": "authorize", "valueUri": urls.authorize},
            {"url": "token", "valueUri": urls.token},
            {"url": "introspect", "valueUri": urls.introspect},
            {"url": "revoke", "valueUri": urls.revoke}]}],
        "description": "Every interaction needs a bearer token; see "
                       f"{urls.fhir_base}/.well-known/smart-configuration",
    }
