"""Pages read and write FHIR as the signed-in person: ``FhirApi.handle`` with their Principal.

Going through the API (not the tables) means pages show exactly what the access rules let this
person see, and every look is audited like any other FHIR request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request

from gansu_health.core.database import read_transaction
from gansu_health.core.errors import OutcomeIssue, PlatformError
from gansu_health.fhir.rest.dispatch import FhirApi, FhirRequest
from gansu_health.identity.accounts.service import load_principal
from gansu_health.identity.accounts.sessions import SessionInfo
from gansu_health.identity.principal import Principal
from gansu_health.identity.scopes import ScopeSet

Json = dict[str, Any]
CITIZEN_SCOPES = "patient/*.cruds"
STAFF_SCOPES = "user/*.cruds"
# anonymous visitors may browse the institution directory, nothing else
DIRECTORY_TYPES = ("Organization", "Location", "HealthcareService", "Practitioner",
                   "PractitionerRole")
DIRECTORY_SCOPES = " ".join(f"system/{t}.rs" for t in DIRECTORY_TYPES)


class FhirCallError(PlatformError):
    """A FHIR interaction made for a page failed; carries the API's status and outcome."""

    def __init__(self, status: int, outcome: Json) -> None:
        issues = outcome.get("issue") or [{}]
        first = issues[0]
        message = first.get("diagnostics") or first.get("code") or f"HTTP {status}"
        expression = (first.get("expression") or [None])[0]
        super().__init__(message, issues=[OutcomeIssue(
            first.get("severity", "error"), first.get("code", "exception"), message, expression)])
        self.status = status


@dataclass(frozen=True, slots=True)
class FhirAs:
    """FHIR interactions on behalf of one principal."""

    api: FhirApi
    principal: Principal
    client_ip: str | None = None

    def call(self, method: str, path: str, params: list[tuple[str, str]] | None = None,
             body: Json | None = None, headers: dict[str, str] | None = None) -> Json:
        """Run one interaction; return the JSON body or raise ``FhirCallError``."""
        sent = {"accept": "application/fhir+json", **(headers or {})}
        if body is not None:
            sent["content-type"] = "application/fhir+json"
        response = self.api.handle(FhirRequest(
            method, path, params or [], sent, orjson.dumps(body) if body is not None else b"",
            client_ip=self.client_ip, principal=self.principal))
        parsed: Json = orjson.loads(response.body) if response.body else {}
        if response.status >= 400:
            raise FhirCallError(response.status, parsed)
        if "ETag" in response.headers:
            parsed.setdefault("_etag", response.headers["ETag"])
        return parsed

    def search(self, rtype: str, params: list[tuple[str, str]]) -> list[Json]:
        """The matching resources of a search (first page)."""
        bundle = self.call("GET", rtype, params)
        return [e["resource"] for e in bundle.get("entry") or []
                if (e.get("search") or {}).get("mode", "match") == "match"]

    def search_with_includes(self, rtype: str, params: list[tuple[str, str]]
                             ) -> tuple[list[Json], dict[str, Json]]:
        """The matches of a search and its included resources keyed ``Type/id``."""
        bundle = self.call("GET", rtype, params)
        matches: list[Json] = []
        included: dict[str, Json] = {}
        for entry in bundle.get("entry") or []:
            resource = entry["resource"]
            if (entry.get("search") or {}).get("mode", "match") == "match":
                matches.append(resource)
            else:
                included[f"{resource['resourceType']}/{resource['id']}"] = resource
        return matches, included

    def read(self, rtype: str, fid: str) -> Json:
        """One resource (with its ETag under ``_etag``)."""
        return self.call("GET", f"{rtype}/{fid}")

    def update(self, resource: Json, etag: str | None) -> Json:
        """Update a resource, refusing a lost update when ``etag`` is given."""
        body = {k: v for k, v in resource.items() if k != "_etag"}
        return self.call("PUT", f"{body['resourceType']}/{body['id']}", body=body,
                         headers={"if-match": etag} if etag else None)


def client_ip(request: Request) -> str | None:
    """The caller's address."""
    return request.client.host if request.client else None


def as_session(request: Request, session: SessionInfo) -> FhirAs:
    """FHIR as the signed-in citizen (their 就诊人) or staff member (their roles)."""
    api: FhirApi = request.app.state.fhir
    scopes = CITIZEN_SCOPES if session.kind == "citizen" else STAFF_SCOPES
    client = "portal" if session.kind == "citizen" else "console"
    with read_transaction(api.engine) as conn:
        principal = load_principal(conn, session.account_id, ScopeSet.parse(scopes),
                                   client_id=client, token_id=None, patient=None)
    return FhirAs(api, principal, client_ip(request))


def as_directory_reader(request: Request) -> FhirAs:
    """FHIR for anonymous visitors: read and search the institution directory only."""
    principal = Principal("system", "portal-directory", ScopeSet.parse(DIRECTORY_SCOPES),
                          display="健康甘肃 portal (anonymous)", client_id="portal")
    return FhirAs(request.app.state.fhir, principal, client_ip(request))
