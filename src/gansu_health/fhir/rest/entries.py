"""Batch and transaction Bundles at the base: every entry authorised as if sent on its own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy import Connection

from gansu_health.core.database import write_transaction
from gansu_health.core.errors import BadRequest
from gansu_health.fhir import jsonio
from gansu_health.fhir.bundles import BundleProcessor
from gansu_health.fhir.rest import views
from gansu_health.fhir.rest.guard import CREATE, DELETE, READ, SEARCH, UPDATE
from gansu_health.fhir.rest.messages import FhirRequest, FhirResponse, current_request
from gansu_health.fhir.storage.repository import Stored

if TYPE_CHECKING:
    from gansu_health.fhir.rest.dispatch import FhirApi


class BundleEntries:
    """Serve a POSTed batch or transaction Bundle for a FhirApi, entry by entry."""

    def __init__(self, api: FhirApi) -> None:
        self.api = api
        self.processor = BundleProcessor(api.service, self._get, self._check)

    def serve(self, req: FhirRequest) -> FhirResponse:
        """Run the Bundle in one transaction and answer its response Bundle."""
        bundle = self.api.json_body(req)
        btype, entries = self.processor.check(bundle)
        req.access.interaction(btype, "E")
        with write_transaction(self.api.engine) as conn:
            if btype == "transaction":
                results = self.processor.transaction(conn, entries)
            else:
                results = self.processor.batch(conn, entries)
        return FhirResponse(200, views.transaction_response(btype, results))

    def _get(self, conn: Connection, url: str) -> tuple[int, dict[str, Any] | None,
                                                        Stored | None]:
        """Answer a GET entry (a read or a search) with the caller's rights."""
        api = self.api
        parts = urlsplit(url)
        segs = [s for s in parts.path.split("/") if s]
        req = current_request.get()
        assert req is not None
        if len(segs) == 2:
            api.guard.permit(req, segs[0], READ)
            stored = api.service.read(conn, segs[0], segs[1])
            api.guard.check(conn, req, READ, stored.json())
            return 200, stored.json(), stored
        if len(segs) == 1:
            api.guard.permit(req, segs[0], SEARCH)
            params = parse_qsl(parts.query, keep_blank_values=True)
            body = api.searchset(conn, req, segs[0], params)
            return 200, jsonio.loads(body), None
        raise BadRequest(f"GET url '{url}' in a Bundle must be Type/id or Type?query")

    def _check(self, conn: Connection, method: str, url: str,
               resource: dict[str, Any] | None) -> None:
        """Authorise one write entry (before, then after writing)."""
        api = self.api
        req = current_request.get()
        assert req is not None
        segs = [s for s in urlsplit(url).path.split("/") if s]
        if resource is not None:  # the content as written (after the write)
            api.guard.check(conn, req, CREATE if method == "POST" else UPDATE, resource)
            return
        permission = {"POST": CREATE, "PUT": UPDATE, "PATCH": UPDATE, "DELETE": DELETE}[method]
        rtype = segs[0] if segs else ""
        api.guard.permit(req, rtype, permission)
        if len(segs) == 2 and method != "POST":
            api.check_current(conn, req, rtype, segs[1], permission)
        elif len(segs) == 1 and method in ("PUT", "DELETE"):
            api.check_matches(conn, req, rtype, urlsplit(url).query, permission,
                              api.settings.max_page_size)
