"""FHIR interactions over the store: validation, conditional logic, patch, search, history."""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import parse_qsl

import jsonpatch
from sqlalchemy import Connection, text

from gansu_health.core.database import is_sqlite
from gansu_health.core.errors import (
    BadRequest,
    InvalidResource,
    NotFound,
    OutcomeIssue,
    PreconditionFailed,
    UnprocessableEntity,
)
from gansu_health.core.settings import Settings
from gansu_health.fhir.definitions import fhir_model
from gansu_health.fhir.search.engine import SearchEngine, SearchResult
from gansu_health.fhir.search.params import SearchRequest, parse_search
from gansu_health.fhir.storage.repository import ResourceStore, Stored
from gansu_health.fhir.validation import validate_resource

ID_RE = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def check_type(rtype: str) -> str:
    """Raise NotFound unless ``rtype`` is an R4 resource type."""
    if rtype not in fhir_model().resource_types:
        raise NotFound(f"'{rtype}' is not a FHIR R4 resource type", expression="type")
    return rtype


def check_id(fid: str) -> str:
    """Raise BadRequest unless ``fid`` is a valid FHIR id."""
    if not ID_RE.fullmatch(fid):
        raise BadRequest(f"'{fid}' is not a valid resource id ([A-Za-z0-9-.]{{1,64}})",
                         expression="id")
    return fid


class FhirService:
    """The FHIR interactions; every method runs inside the caller's transaction."""

    def __init__(self, settings: Settings, store: ResourceStore, engine: SearchEngine) -> None:
        self.settings = settings
        self.store = store
        self.search_engine = engine

    def validate(self, body: Any, rtype: str | None = None, path: str = "") -> dict[str, Any]:
        """Validate a resource body; raise InvalidResource listing every error."""
        if not isinstance(body, dict):
            raise InvalidResource("The body must be a JSON object holding a FHIR resource")
        if rtype and body.get("resourceType") != rtype:
            raise InvalidResource(
                f"resourceType '{body.get('resourceType')}' does not match the URL type '{rtype}'",
                expression=f"{path}resourceType" if path else "resourceType")
        issues = [i for i in validate_resource(body, expected_type=rtype)
                  if i.severity in ("error", "fatal")]
        if issues:
            raise InvalidResource(
                issues[0].diagnostics,
                issues=[OutcomeIssue(i.severity, i.code, i.diagnostics,
                                     f"{path}{i.expression}" if path else i.expression)
                        for i in issues])
        return body

    def read(self, conn: Connection, rtype: str, fid: str) -> Stored:
        """Read the current version."""
        return self.store.read(conn, check_type(rtype), check_id(fid))

    def vread(self, conn: Connection, rtype: str, fid: str, version: str) -> Stored:
        """Read one version."""
        if not version.isdigit():
            raise NotFound(f"'{version}' is not a version of {rtype}/{fid}")
        return self.store.vread(conn, check_type(rtype), check_id(fid), int(version))

    def create(self, conn: Connection, rtype: str, body: Any, *, if_none_exist: str | None = None,
               validated: bool = False) -> tuple[Stored, bool]:
        """Create a resource (server-assigned id); with If-None-Exist return a match instead."""
        check_type(rtype)
        if not validated:
            self.validate(body, rtype)
        if if_none_exist:
            self._lock(conn, rtype, if_none_exist)
            matches = self.match(conn, rtype, if_none_exist, limit=2)
            if len(matches) > 1:
                raise PreconditionFailed(
                    f"If-None-Exist criteria '{if_none_exist}' match more than one {rtype}",
                    expression="If-None-Exist")
            if matches:
                return matches[0], False
        body.pop("id", None)
        return self.store.write(conn, body, method="create"), True

    def update(self, conn: Connection, rtype: str, fid: str, body: Any, *,
               if_match: str | None = None, validated: bool = False) -> Stored:
        """Update (or create with the client's id) a resource."""
        check_type(rtype)
        check_id(fid)
        if not validated:
            self.validate(body, rtype)
        if body.get("id") != fid:
            raise BadRequest(f"The resource id '{body.get('id')}' does not match the URL id "
                             f"'{fid}'", expression=f"{rtype}.id")
        return self.store.write(conn, body, fid=fid, if_match=parse_etag(if_match))

    def conditional_update(self, conn: Connection, rtype: str, criteria: str, body: Any, *,
                           if_match: str | None = None) -> Stored:
        """Update the single match of ``criteria``, or create when nothing matches."""
        check_type(rtype)
        self.validate(body, rtype)
        self._lock(conn, rtype, criteria)
        matches = self.match(conn, rtype, criteria, limit=2)
        if len(matches) > 1:
            raise PreconditionFailed(f"Criteria '{criteria}' match more than one {rtype}",
                                     expression="url")
        if matches:
            fid = matches[0].fid
            if body.get("id") not in (None, fid):
                raise BadRequest(f"Resource id '{body['id']}' differs from the match '{fid}'",
                                 expression=f"{rtype}.id")
            body["id"] = fid
            return self.store.write(conn, body, fid=fid, if_match=parse_etag(if_match))
        return self.store.write(conn, body, fid=body.get("id"), method="create")

    def patch(self, conn: Connection, rtype: str, fid: str, operations: Any, *,
              if_match: str | None = None) -> Stored:
        """Apply a JSON Patch to the current version."""
        current = self.read(conn, rtype, fid)
        if not isinstance(operations, list):
            raise BadRequest("A JSON Patch body must be an array of operations")
        try:
            patched = jsonpatch.JsonPatch(operations).apply(current.json())
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError) as exc:
            raise UnprocessableEntity(f"The patch cannot be applied: {exc}") from exc
        if patched.get("resourceType") != rtype or patched.get("id") != fid:
            raise UnprocessableEntity("A patch may not change resourceType or id")
        self.validate(patched, rtype)
        version = parse_etag(if_match) if if_match else current.version
        return self.store.write(conn, patched, fid=fid, if_match=version)

    def delete(self, conn: Connection, rtype: str, fid: str) -> Stored | None:
        """Delete a resource (a new version marks the deletion)."""
        return self.store.delete(conn, check_type(rtype), check_id(fid))

    def conditional_delete(self, conn: Connection, rtype: str, criteria: str) -> int:
        """Delete every match of ``criteria``; return how many were deleted."""
        check_type(rtype)
        if not criteria:
            raise PreconditionFailed("Conditional delete needs search criteria", expression="url")
        deleted = 0
        for stored in self.match(conn, rtype, criteria, limit=self.settings.max_page_size):
            deleted += self.store.delete(conn, rtype, stored.fid) is not None
        return deleted

    def parse(self, rtype: str, pairs: list[tuple[str, str]], *, strict: bool | None = None,
              ) -> SearchRequest:
        """Parse search parameters for ``rtype``."""
        strict = self.settings.strict_search_default if strict is None else strict
        return parse_search(check_type(rtype), pairs, strict=strict,
                            default_count=self.settings.default_page_size,
                            max_count=self.settings.max_page_size)

    def search(self, conn: Connection, req: SearchRequest) -> SearchResult:
        """Run a parsed search."""
        return self.search_engine.search(conn, req)

    def match(self, conn: Connection, rtype: str, criteria: str, *, limit: int) -> list[Stored]:
        """Return up to ``limit`` current matches of a conditional criteria string."""
        pairs = parse_qsl(criteria.lstrip("?"), keep_blank_values=True)
        if not pairs:
            raise PreconditionFailed("Conditional criteria are empty", expression="url")
        req = parse_search(rtype, pairs, strict=True, default_count=limit, max_count=limit)
        return self.search_engine.search(conn, req).matches

    @staticmethod
    def _lock(conn: Connection, rtype: str, criteria: str) -> None:
        """Serialise conditional writes with equal criteria (SQLite writers are serial anyway)."""
        if is_sqlite(conn):
            return
        key = int.from_bytes(hashlib.sha256(f"{rtype}?{criteria}".encode()).digest()[:8], "big",
                             signed=True)
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def parse_etag(value: str | None) -> int | None:
    """Read a version number from an ETag such as ``W/"3"``."""
    if value is None:
        return None
    raw = value.strip()
    raw = raw[2:] if raw.startswith("W/") else raw
    raw = raw.strip('"')
    if not raw.isdigit():
        raise BadRequest(f"'{value}' is not a valid ETag", expression="If-Match")
    return int(raw)
