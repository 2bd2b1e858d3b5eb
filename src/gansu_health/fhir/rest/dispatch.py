"""Route a FHIR HTTP request to its interaction and shape the response."""

from __future__ import annotations

import functools
import random
import time
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from gansu_health.core.clock import to_micros
from gansu_health.core.database import is_transient, read_transaction, write_transaction
from gansu_health.core.errors import (
    BadRequest,
    Forbidden,
    Gone,
    MethodNotAllowed,
    NotAcceptable,
    NotFound,
    PlatformError,
)
from gansu_health.core.events import EventBus
from gansu_health.core.settings import Settings
from gansu_health.fhir import jsonio
from gansu_health.fhir.operations import (
    Deferred,
    Operation,
    OperationCall,
    OperationRegistry,
)
from gansu_health.fhir.rest import views
from gansu_health.fhir.rest.entries import BundleEntries
from gansu_health.fhir.rest.guard import (
    CREATE,
    DELETE,
    READ,
    SEARCH,
    UPDATE,
    Guard,
    OpenGuard,
)
from gansu_health.fhir.rest.history import HistoryQuery, history_body
from gansu_health.fhir.rest.messages import FHIR_JSON as FHIR_JSON
from gansu_health.fhir.rest.messages import FhirRequest as FhirRequest
from gansu_health.fhir.rest.messages import FhirResponse as FhirResponse
from gansu_health.fhir.rest.messages import current_request as current_request
from gansu_health.fhir.rest.messages import error_response as error_response
from gansu_health.fhir.rest.messages import (
    failure_response,
    operation_response,
    stored_headers,
    when_answered,
)
from gansu_health.fhir.service import FhirService, check_id, check_type
from gansu_health.fhir.storage.repository import Stored

TRANSIENT_RETRIES = 2


class FhirApi:
    """The FHIR endpoint: one transaction per request, errors as OperationOutcome."""

    def __init__(self, settings: Settings, engine: Engine, service: FhirService,
                 registry: OperationRegistry) -> None:
        self.settings = settings
        self.engine = engine
        self.service = service
        self.registry = registry
        self.capability: bytes = b"{}"
        self.events = EventBus()
        self.guard: Guard = OpenGuard()
        self.bundles = BundleEntries(self)

    def handle(self, req: FhirRequest) -> FhirResponse:
        """Serve one request, mapping every platform error to an OperationOutcome (a deferred
        response is audited by ``settle``)."""
        response = FhirResponse(500)
        token = current_request.set(req)
        try:
            try:
                self.guard.authenticate(req)
                self.negotiate(req)
                response = self._route_again_if_undone(req)
            except (PlatformError, DBAPIError) as exc:
                response = failure_response(exc)
            return response
        finally:
            current_request.reset(token)
            if response.later is None:
                self._audit(req, response.status)

    async def settle(self, req: FhirRequest, response: FhirResponse) -> FhirResponse:
        """Await a deferred response (``response.later``) on the event loop, answering errors
        as ``handle`` does, and audit the request with the final status."""
        later, response = response.later, FhirResponse(500)
        token = current_request.set(req)
        try:
            try:
                if later is not None:
                    response = await later()
            except (PlatformError, DBAPIError) as exc:
                response = failure_response(exc)
            return response
        finally:
            current_request.reset(token)
            self._audit(req, response.status)

    def _audit(self, req: FhirRequest, status: int) -> None:
        if req.principal is not None:
            self.guard.finish(req, status)

    def _route_again_if_undone(self, req: FhirRequest) -> FhirResponse:
        """Route the request; run it again (twice at most, after a short random pause) when the
        database undid its transaction for a deadlock or serialisation conflict. Operations are
        not run again: some call out (a payment gateway) inside their transaction."""
        for attempt in range(TRANSIENT_RETRIES + 1):
            try:
                return self._route(req)
            except DBAPIError as exc:
                if not is_transient(exc) or attempt == TRANSIENT_RETRIES or "$" in req.path:
                    raise
                time.sleep(random.uniform(0.005, 0.03) * (attempt + 1))
        raise AssertionError("unreachable")

    @staticmethod
    def negotiate(req: FhirRequest) -> None:
        """Refuse a request that asks for a format other than JSON."""
        fmt = next((v for k, v in req.params if k == "_format"), None)
        accept = req.headers.get("accept", "")
        wanted = fmt or accept
        if wanted and "xml" in wanted and "json" not in wanted:
            raise NotAcceptable("This server speaks FHIR JSON only", expression="_format")

    def json_body(self, req: FhirRequest) -> Any:
        """The request's JSON body, or raise BadRequest."""
        if not req.body:
            raise BadRequest("The request has no body")
        try:
            return jsonio.loads(req.body)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"Malformed JSON: {exc}") from exc

    def _strict(self, req: FhirRequest) -> bool | None:
        prefer = req.headers.get("prefer", "")
        if "handling=strict" in prefer:
            return True
        return False if "handling=lenient" in prefer else None

    def _route(self, req: FhirRequest) -> FhirResponse:
        parts = [p for p in req.path.strip("/").split("/") if p]
        method = req.method
        if not parts:
            if method == "POST":
                return self.bundles.serve(req)
            raise MethodNotAllowed("Use POST with a batch or transaction Bundle at the base")
        head = parts[0]
        if head == "metadata" and len(parts) == 1:
            return FhirResponse(200, self.capability)
        if head == "_history" and len(parts) == 1:
            return self._history(req, None, None)
        if head.startswith("$"):
            return self._operation(req, head[1:], None, None)
        rtype = check_type(head)
        if len(parts) == 1:
            return self._type_level(req, rtype)
        second = parts[1]
        if second == "_search" and len(parts) == 2 and method == "POST":
            return self._search(req, rtype, self._form(req))
        if second == "_history" and len(parts) == 2:
            return self._history(req, rtype, None)
        if second.startswith("$") and len(parts) == 2:
            return self._operation(req, second[1:], rtype, None)
        fid = check_id(second)
        if len(parts) == 2:
            return self._instance(req, rtype, fid)
        third = parts[2]
        if third.startswith("$") and len(parts) == 3:
            return self._operation(req, third[1:], rtype, fid)
        if third == "_history" and len(parts) == 3:
            return self._history(req, rtype, fid)
        if third == "_history" and len(parts) == 4 and method == "GET":
            req.access.interaction("vread", "R", rtype, fid)
            self.guard.permit(req, rtype, READ)
            with read_transaction(self.engine) as conn:
                stored = self.service.vread(conn, rtype, fid, parts[3])
                self.check_current(conn, req, rtype, fid)
            return self._resource(stored, req)
        raise NotFound(f"No FHIR interaction at '{req.path}'")

    def _form(self, req: FhirRequest) -> list[tuple[str, str]]:
        body = parse_qsl(req.body.decode("utf-8"), keep_blank_values=True) if req.body else []
        return req.params + body

    def _type_level(self, req: FhirRequest, rtype: str) -> FhirResponse:
        method = req.method
        criteria = "&".join(f"{k}={v}" for k, v in req.params if k != "_format")
        guard, note = self.guard, req.access
        if method == "GET":
            return self._search(req, rtype, req.params)
        if method == "POST":
            note.interaction("create", "C", rtype)
            guard.permit(req, rtype, CREATE)
            body = self.json_body(req)
            with write_transaction(self.engine) as conn:
                stored, created = self.service.create(
                    conn, rtype, body, if_none_exist=req.headers.get("if-none-exist"))
                guard.check(conn, req, CREATE if created else READ, stored.json())
            note.resource_id = stored.fid
            return self._written(req, stored, 201 if created else 200)
        if method == "PUT":
            note.interaction("update", "U", rtype)
            guard.permit(req, rtype, UPDATE)
            body = self.json_body(req)
            with write_transaction(self.engine) as conn:
                self.check_matches(conn, req, rtype, criteria, UPDATE, 2)
                stored = self.service.conditional_update(
                    conn, rtype, criteria, body, if_match=req.headers.get("if-match"))
                guard.check(conn, req, UPDATE, stored.json())
            note.resource_id = stored.fid
            return self._written(req, stored, 201 if stored.method == "create" else 200)
        if method == "DELETE":
            note.interaction("delete", "D", rtype)
            guard.permit(req, rtype, DELETE)
            with write_transaction(self.engine) as conn:
                self.check_matches(conn, req, rtype, criteria, DELETE,
                                    self.settings.max_page_size)
                self.service.conditional_delete(conn, rtype, criteria)
            return FhirResponse(204)
        if method == "PATCH":
            note.interaction("patch", "U", rtype)
            guard.permit(req, rtype, UPDATE)
            ops = self.json_body(req)
            with write_transaction(self.engine) as conn:
                matches = self.service.match(conn, rtype, criteria, limit=2)
                if len(matches) != 1:
                    raise BadRequest(f"Conditional patch needs exactly one match, found "
                                     f"{len(matches)}", expression="url")
                guard.check(conn, req, UPDATE, matches[0].json())
                stored = self.service.patch(conn, rtype, matches[0].fid, ops,
                                            if_match=req.headers.get("if-match"))
                guard.check(conn, req, UPDATE, stored.json())
            note.resource_id = stored.fid
            return self._written(req, stored, 200)
        raise MethodNotAllowed(f"{method} is not supported on /{rtype}")

    def check_matches(self, conn: Connection, req: FhirRequest, rtype: str, criteria: str,
                       permission: str, limit: int) -> None:
        if criteria:
            for stored in self.service.match(conn, rtype, criteria, limit=limit):
                self.guard.check(conn, req, permission, stored.json())

    def _instance(self, req: FhirRequest, rtype: str, fid: str) -> FhirResponse:
        method = req.method
        guard = self.guard
        if method in ("GET", "HEAD"):
            req.access.interaction("read", "R", rtype, fid)
            guard.permit(req, rtype, READ)
            with read_transaction(self.engine) as conn:
                stored = self.service.read(conn, rtype, fid)
                guard.check(conn, req, READ, stored.json())
            return self._resource(stored, req)
        if method not in ("PUT", "PATCH", "DELETE"):
            raise MethodNotAllowed(f"{method} is not supported on /{rtype}/{fid}")
        permission = DELETE if method == "DELETE" else UPDATE
        req.access.interaction(method.lower() if method != "PUT" else "update",
                               permission.upper(), rtype, fid)
        guard.permit(req, rtype, permission)
        body = self.json_body(req) if method != "DELETE" else None
        with write_transaction(self.engine) as conn:
            self.check_current(conn, req, rtype, fid, permission)
            if method == "DELETE":
                self.service.delete(conn, rtype, fid)
                return FhirResponse(204)
            if method == "PUT":
                stored = self.service.update(conn, rtype, fid, body,
                                             if_match=req.headers.get("if-match"))
            else:
                stored = self.service.patch(conn, rtype, fid, body,
                                            if_match=req.headers.get("if-match"))
            guard.check(conn, req, UPDATE, stored.json())
        return self._written(req, stored, 201 if stored.method == "create" else 200)

    def _resource(self, stored: Stored, req: FhirRequest) -> FhirResponse:
        headers = stored_headers(stored, self.settings.base_url)
        headers.pop("Location")
        if req.headers.get("if-none-match", "").replace('W/', '').strip('"') == str(
                stored.version):
            return FhirResponse(304, b"", headers)
        since = req.headers.get("if-modified-since")
        if since:
            try:
                moment = parsedate_to_datetime(since)
            except (TypeError, ValueError):
                moment = None
            if moment is not None and stored.updated_us // 1_000_000 <= to_micros(
                    moment) // 1_000_000:
                return FhirResponse(304, b"", headers)
        mode = next((v for k, v in req.params if k == "_summary"), None)
        elements = next((v.split(",") for k, v in req.params if k == "_elements"), None)
        return FhirResponse(200, views.resource_bytes(stored, mode, elements), headers)

    def _written(self, req: FhirRequest, stored: Stored, status: int) -> FhirResponse:
        headers = stored_headers(stored, self.settings.base_url)
        prefer = req.headers.get("prefer", "")
        if "return=minimal" in prefer:
            return FhirResponse(status, b"", headers)
        if "return=OperationOutcome" in prefer:
            outcome = {"resourceType": "OperationOutcome", "issue": [
                {"severity": "information", "code": "informational",
                 "diagnostics": f"{stored.rtype}/{stored.fid} version {stored.version} stored"}]}
            return FhirResponse(status, orjson.dumps(outcome), headers)
        return FhirResponse(status, stored.content or b"", headers)

    def _existing(self, conn: Connection, rtype: str, fid: str) -> dict[str, Any] | None:
        """The current content of a resource, or None when it is unknown or deleted."""
        try:
            return self.service.store.read(conn, rtype, fid).json()
        except (NotFound, Gone):
            return None

    def check_current(self, conn: Connection, req: FhirRequest, rtype: str, fid: str,
                       permission: str = READ) -> None:
        current = self._existing(conn, rtype, fid)
        if current is not None:
            self.guard.check(conn, req, permission, current)

    def _search(self, req: FhirRequest, rtype: str, params: list[tuple[str, str]]
                ) -> FhirResponse:
        req.access.interaction("search-type", "E", rtype)
        req.access.query = self._audit_query(rtype, params)
        self.guard.permit(req, rtype, SEARCH)
        with read_transaction(self.engine) as conn:
            body = self.searchset(conn, req, rtype, params)
        return FhirResponse(200, body)

    def _audit_query(self, rtype: str, params: list[tuple[str, str]]) -> str:
        """The query as the audit trail keeps it: values of sealed parameters masked."""
        protection = self.service.store.protection
        if protection is None:
            return urlencode(params)

        def sealed(name: str) -> bool:
            last = name.split(":")[0].split(".")[-1]
            return protection.seals_param(rtype, last) or protection.seals_param("Patient", last)

        return urlencode([(k, "***" if sealed(k) else v) for k, v in params])

    def searchset(self, conn: Connection, req: FhirRequest, rtype: str,
                   params: list[tuple[str, str]]) -> bytes:
        narrowed = self.guard.narrow(conn, req, rtype, params)
        search = self.service.parse(rtype, narrowed, strict=self._strict(req))
        result = self.service.search(conn, search)
        shown = self.guard.visible(conn, req, result.matches)
        included = self.guard.visible(conn, req, result.included)
        if len(shown) != len(result.matches) or len(included) != len(result.included):
            result.total = None  # a count would disclose what was withheld
        result.matches, result.included = shown, included
        return views.searchset(self.settings.base_url, rtype, params, result, search.summary,
                               search.elements, search.warnings)

    def _history(self, req: FhirRequest, rtype: str | None, fid: str | None) -> FhirResponse:
        level = "history-instance" if fid else "history-type" if rtype else "history-system"
        req.access.interaction(level, "R", rtype, fid)
        if fid is None:
            self.guard.history(req, rtype)
        else:
            self.guard.permit(req, rtype or "", READ)
        query = HistoryQuery.parse(req.params, self.settings.max_page_size,
                                   self.settings.timezone)
        with read_transaction(self.engine) as conn:
            if fid is not None and self.service.store.current(conn, rtype or "", fid) is None:
                raise NotFound(f"{rtype}/{fid} is not known")
            if fid is not None:
                self.check_current(conn, req, rtype or "", fid)
            versions = self.service.store.history(conn, rtype=rtype, fid=fid, **query.window())
        return FhirResponse(200, history_body(self.settings.base_url, rtype, fid, req.params,
                                              query, versions))

    def _operation(self, req: FhirRequest, name: str, rtype: str | None, fid: str | None
                   ) -> FhirResponse:
        level = "instance" if fid else "type" if rtype else "system"
        op = self.registry.find(name, level, rtype)
        if req.method == "GET" and not op.get_allowed:
            raise MethodNotAllowed(f"${name} must be invoked with POST")
        if req.method not in ("GET", "POST"):
            raise MethodNotAllowed(f"${name} is invoked with GET or POST")
        body = self.json_body(req) if req.method == "POST" and req.body else None
        req.access.interaction("operation", "U" if op.writes else "E", rtype, fid)
        req.access.query = f"${name}"
        self.precheck(req, op, rtype, fid, body)
        transaction = write_transaction if op.writes else read_transaction
        with transaction(self.engine) as conn:
            self.guard.operation(conn, req, op, rtype, fid, body)
            result = op.handler(OperationCall(conn, rtype, fid, req.params, body,
                                              self.settings.base_url, self, req.deferrable))
        if isinstance(result, Deferred):
            return FhirResponse(202, later=functools.partial(when_answered, result))
        return operation_response(result)

    def precheck(self, req: FhirRequest, op: Operation, rtype: str | None, fid: str | None,
                 body: Any) -> None:
        """Run the operation's precheck (answers known without a transaction), if it has one."""
        if op.precheck is None or rtype is None:
            return
        try:
            self.guard.permit(req, rtype, UPDATE if op.writes else SEARCH)
        except Forbidden:
            return  # no shortcut: the access class decides (residents book by operations)
        op.precheck(self, fid, req.params, body)
