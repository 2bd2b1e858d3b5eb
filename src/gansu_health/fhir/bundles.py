"""Batch and transaction Bundles: ordering, urn:uuid and conditional references, all-or-nothing."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
from sqlalchemy import Connection

from gansu_health.core.errors import BadRequest, PayloadTooLarge, PlatformError
from gansu_health.fhir.service import FhirService
from gansu_health.fhir.storage.repository import Stored, WriteItem, new_id

ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
Entry = dict[str, Any]
GetHandler = Callable[[Connection, str], tuple[int, dict[str, Any] | None, Stored | None]]
# authorises a write entry: (conn, method, url, None) before it runs, then with the content written
EntryCheck = Callable[[Connection, str, str, dict[str, Any] | None], None]


def _no_check(conn: Connection, method: str, url: str, resource: dict[str, Any] | None) -> None:
    return None


def _walk_references(node: Any, rewrite: Callable[[str], str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                node[key] = rewrite(value)
            else:
                _walk_references(value, rewrite)
    elif isinstance(node, list):
        for item in node:
            _walk_references(item, rewrite)


def _response(status: str, stored: Stored | None, outcome: dict[str, Any] | None = None,
              body: dict[str, Any] | None = None) -> Entry:
    resp: dict[str, Any] = {"status": status}
    if stored is not None:
        resp["location"] = f"{stored.rtype}/{stored.fid}/_history/{stored.version}"
        resp["etag"] = stored.etag
        resp["lastModified"] = stored.last_modified
    if outcome:
        resp["outcome"] = outcome
    entry: Entry = {"response": resp}
    if body is not None:
        entry["resource"] = body
    return entry


class BundleProcessor:
    """Executes batch and transaction Bundles through the FHIR service."""

    def __init__(self, service: FhirService, get_handler: GetHandler,
                 check_entry: EntryCheck = _no_check) -> None:
        self.service = service
        self.get_handler = get_handler
        self.check_entry = check_entry

    def _checked(self, conn: Connection, i: int, entry: Entry, stored: Stored | None) -> None:
        if stored is not None and stored.content is not None:
            req = entry["request"]
            try:
                self.check_entry(conn, req["method"], req["url"], stored.json())
            except PlatformError as exc:
                raise _at_entry(exc, i) from None

    def check(self, bundle: Any) -> tuple[str, list[Entry]]:
        """Validate the envelope; return the bundle type and entries."""
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise BadRequest("POST to the base needs a Bundle", expression="resourceType")
        btype = bundle.get("type")
        if btype not in ("batch", "transaction"):
            raise BadRequest(f"Bundle.type must be batch or transaction, not '{btype}'",
                             expression="Bundle.type")
        entries = bundle.get("entry") or []
        if not isinstance(entries, list):
            raise BadRequest("Bundle.entry must be an array", expression="Bundle.entry")
        limit = self.service.settings.max_bundle_entries
        if len(entries) > limit:
            raise PayloadTooLarge(f"The Bundle has {len(entries)} entries; at most {limit} are "
                                  "accepted", expression="Bundle.entry")
        for i, entry in enumerate(entries):
            req = entry.get("request") if isinstance(entry, dict) else None
            if not isinstance(req, dict) or req.get("method") not in ORDER or not req.get("url"):
                raise BadRequest(f"Bundle.entry[{i}].request needs a method (GET, POST, PUT, "
                                 "PATCH, DELETE) and a url",
                                 expression=f"Bundle.entry[{i}].request")
        return btype, entries

    def transaction(self, conn: Connection, entries: list[Entry]) -> list[Entry]:
        """Run all entries in the caller's transaction; any error aborts everything."""
        idmap: dict[str, str] = {}
        for i, entry in enumerate(entries):
            try:
                self._prepare(conn, i, entry, idmap)
            except PlatformError as exc:
                raise _at_entry(exc, i) from None
        rewrite = self._rewriter(conn, idmap)
        for i, entry in enumerate(entries):
            if "resource" in entry:
                try:
                    _walk_references(entry["resource"], rewrite)
                except PlatformError as exc:
                    raise _at_entry(exc, i) from None
                self._validate(i, entry)
        results: list[Entry | None] = [None] * len(entries)
        order = sorted(range(len(entries)), key=lambda k: ORDER[entries[k]["request"]["method"]])
        creates = [i for i in order
                   if entries[i]["request"]["method"] == "POST" and "_existing" not in entries[i]]
        self._create_many(conn, entries, creates, results)
        puts = [i for i in order if _plain_put(entries[i])]
        if len({_put_key(entries[i]) for i in puts}) == len(puts):
            self._put_many(conn, entries, puts, results)
        for i in order:
            if results[i] is not None:
                continue
            try:
                results[i] = self._execute(conn, entries[i], idmap)
                self._checked(conn, i, entries[i], entries[i].get("_stored"))
            except PlatformError as exc:
                raise _at_entry(exc, i) from None
        return [r for r in results if r is not None]

    def _create_many(self, conn: Connection, entries: list[Entry], indexes: list[int],
                     results: list[Entry | None]) -> None:
        """Store every plain create of a transaction in one bulk write."""
        items = []
        for i in indexes:
            entries[i]["resource"]["id"] = entries[i]["_id"]
            items.append(WriteItem(entries[i]["resource"], entries[i]["_id"], new=True))
        for i, stored in zip(indexes, self.service.store.write_many(conn, items), strict=True):
            self._checked(conn, i, entries[i], stored)
            results[i] = _response("201 Created", stored)

    def _put_many(self, conn: Connection, entries: list[Entry], indexes: list[int],
                  results: list[Entry | None]) -> None:
        """Store every plain update-by-id of a transaction in one bulk write."""
        items = []
        for i in indexes:
            rtype, fid = _put_key(entries[i])
            resource = entries[i]["resource"]
            if resource.get("id") != fid:
                raise _at_entry(BadRequest(
                    f"The resource id '{resource.get('id')}' does not match the URL id '{fid}'",
                    expression=f"{rtype}.id"), i)
            items.append(WriteItem(resource, fid))
        for i, stored in zip(indexes, self.service.store.write_many(conn, items), strict=True):
            self._checked(conn, i, entries[i], stored)
            status = "201 Created" if stored.method == "create" else "200 OK"
            results[i] = _response(status, stored)

    def batch(self, conn: Connection, entries: list[Entry]) -> list[Entry]:
        """Run each entry on its own; failures become error responses."""
        out: list[Entry] = []
        for i, entry in enumerate(entries):
            try:
                with conn.begin_nested():
                    self._prepare(conn, i, entry, {})
                    self._validate(i, entry)
                    out.append(self._execute(conn, entry, {}))
                    self._checked(conn, i, entry, entry.get("_stored"))
            except PlatformError as exc:
                out.append(_response(str(exc.status), None, _at_entry(exc, i).outcome()))
        return out

    def _prepare(self, conn: Connection, i: int, entry: Entry, idmap: dict[str, str]) -> None:
        req = entry["request"]
        method = req["method"]
        resource = entry.get("resource")
        if method not in ("GET", "HEAD"):
            self.check_entry(conn, method, req["url"], None)
        if method in ("POST", "PUT") and not isinstance(resource, dict):
            raise BadRequest(f"Bundle.entry[{i}] ({method}) needs a resource",
                             expression=f"Bundle.entry[{i}].resource")
        full_url = entry.get("fullUrl")
        if method == "POST" and isinstance(resource, dict):
            rtype = resource["resourceType"]
            if req.get("ifNoneExist"):
                matches = self.service.match(conn, rtype, req["ifNoneExist"], limit=2)
                if len(matches) > 1:
                    raise BadRequest(f"Bundle.entry[{i}]: ifNoneExist matches more than one",
                                     expression=f"Bundle.entry[{i}].request.ifNoneExist")
                if matches:
                    entry["_existing"] = matches[0]
                    if full_url:
                        idmap[full_url] = f"{rtype}/{matches[0].fid}"
                    return
            entry["_id"] = new_id()
            if full_url:
                idmap[full_url] = f"{rtype}/{entry['_id']}"
        elif method == "PUT" and full_url and isinstance(resource, dict):
            path = urlsplit(req["url"]).path.strip("/").split("/")
            if len(path) == 2:
                idmap[full_url] = f"{path[0]}/{path[1]}"

    def _validate(self, i: int, entry: Entry) -> None:
        if entry["request"]["method"] in ("POST", "PUT"):
            rtype = urlsplit(entry["request"]["url"]).path.strip("/").split("/")[0]
            self.service.validate(entry["resource"], rtype, path=f"Bundle.entry[{i}].resource.")

    def _rewriter(self, conn: Connection, idmap: dict[str, str]) -> Callable[[str], str]:
        def rewrite(ref: str) -> str:
            if ref in idmap:
                return idmap[ref]
            if "?" in ref and not ref.startswith(("http:", "https:", "urn:")):
                rtype, _, criteria = ref.partition("?")
                matches = self.service.match(conn, rtype, criteria, limit=2)
                if len(matches) != 1:
                    raise BadRequest(f"Conditional reference '{ref}' matches {len(matches)} "
                                     "resources; exactly one is needed")
                idmap[ref] = f"{rtype}/{matches[0].fid}"
                return idmap[ref]
            return ref

        return rewrite

    def _execute(self, conn: Connection, entry: Entry, idmap: dict[str, str]) -> Entry:
        req = entry["request"]
        method, url = req["method"], req["url"]
        parts = urlsplit(url)
        segments = [s for s in parts.path.split("/") if s]
        resource = entry.get("resource")
        svc = self.service
        if method == "GET" or method == "HEAD":
            status, body, stored = self.get_handler(conn, url)
            return _response(str(status), stored, body=body)
        if method == "POST":
            if "_existing" in entry:
                return _response("200 OK", entry["_existing"])
            assert isinstance(resource, dict)
            resource["id"] = entry["_id"]
            stored = svc.store.write(conn, resource, fid=entry["_id"], method="create")
            entry["_stored"] = stored
            return _response("201 Created", stored)
        if method == "PUT":
            if len(segments) == 1:
                stored = svc.conditional_update(conn, segments[0], parts.query, resource,
                                                if_match=req.get("ifMatch"))
            elif len(segments) == 2:
                stored = svc.update(conn, segments[0], segments[1], resource,
                                    if_match=req.get("ifMatch"), validated=True)
            else:
                raise BadRequest(f"PUT url '{url}' must be Type/id or Type?criteria")
            entry["_stored"] = stored
            return _response("201 Created" if stored.method == "create" else "200 OK", stored)
        if method == "PATCH":
            if len(segments) != 2:
                raise BadRequest(f"PATCH url '{url}' must be Type/id")
            ops = _patch_body(resource)
            stored = svc.patch(conn, segments[0], segments[1], ops, if_match=req.get("ifMatch"))
            entry["_stored"] = stored
            return _response("200 OK", stored)
        if len(segments) == 2:
            svc.delete(conn, segments[0], segments[1])
        elif len(segments) == 1:
            svc.conditional_delete(conn, segments[0], parts.query)
        else:
            raise BadRequest(f"DELETE url '{url}' must be Type/id or Type?criteria")
        return _response("204 No Content", None)


def _plain_put(entry: Entry) -> bool:
    req = entry["request"]
    return bool(req["method"] == "PUT" and not req.get("ifMatch") and "?" not in req["url"]
                and len(_put_key(entry)) == 2)


def _put_key(entry: Entry) -> tuple[str, ...]:
    return tuple(s for s in urlsplit(entry["request"]["url"]).path.split("/") if s)


def _patch_body(resource: Any) -> Any:
    """Read JSON Patch operations carried in a Binary (base64) inside a Bundle entry."""
    if isinstance(resource, dict) and resource.get("resourceType") == "Binary":
        return orjson.loads(base64.b64decode(resource.get("data", "")))
    raise BadRequest("A PATCH entry carries its JSON Patch in a Binary resource")


def _at_entry(exc: PlatformError, i: int) -> PlatformError:
    """Point every issue of ``exc`` at entry ``i`` of the Bundle."""
    for issue in exc.issues:
        object.__setattr__(issue, "expression", _entry_path(i, issue.expression))
    if not exc.message.startswith("Bundle.entry"):
        exc.message = f"Bundle.entry[{i}]: {exc.message}"
    return exc


def _entry_path(i: int, expression: str | None) -> str:
    prefix = f"Bundle.entry[{i}]"
    if not expression:
        return prefix
    return expression if expression.startswith("Bundle.entry") else f"{prefix}.{expression}"
