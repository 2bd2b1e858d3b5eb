"""Shape resources and Bundles for the wire: _summary, _elements, searchset and history."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

import orjson

from gansu_health.core.clock import fhir_instant, now, to_micros
from gansu_health.core.errors import OutcomeIssue, operation_outcome
from gansu_health.fhir import jsonio
from gansu_health.fhir.definitions import fhir_model
from gansu_health.fhir.storage.repository import Stored

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
             "code": "SUBSETTED", "display": "subsetted"}
ALWAYS = {"resourceType", "id", "meta"}


def _mark_subsetted(body: dict[str, Any]) -> dict[str, Any]:
    meta = dict(body.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    body["meta"] = meta
    return body


def summarize(body: dict[str, Any], mode: str | None, elements: list[str] | None
              ) -> dict[str, Any]:
    """Apply _summary / _elements to a resource."""
    if mode in (None, "false") and not elements:
        return body
    rtype = body.get("resourceType", "")
    typedef = fhir_model().types.get(rtype)
    if elements:
        keep = ALWAYS | {e.split(".")[0] for e in elements}
        choice = {e.split(".")[0] for e in elements}
        out = {k: v for k, v in body.items() if k in keep or _choice_base(k) in choice
               or k.lstrip("_") in keep}
        return _mark_subsetted(out)
    if mode == "text":
        mandatory = {p for p, e in (typedef.elements.items() if typedef else []) if e.min > 0
                     and "." not in p}
        keep = ALWAYS | {"text"} | mandatory
        return _mark_subsetted({k: v for k, v in body.items() if k.lstrip("_") in keep})
    if mode == "data":
        return _mark_subsetted({k: v for k, v in body.items() if k != "text"})
    if mode == "true" and typedef:
        summary = {p.replace("[x]", "") for p, e in typedef.elements.items()
                   if "." not in p and (e.summary or e.min > 0)}
        out = {k: v for k, v in body.items()
               if k in ALWAYS or k.lstrip("_") in summary or _choice_base(k) in summary}
        return _mark_subsetted(out)
    return body


def _choice_base(key: str) -> str:
    for i, ch in enumerate(key):
        if ch.isupper():
            return key[:i]
    return key


def resource_bytes(stored: Stored, mode: str | None = None,
                   elements: list[str] | None = None) -> bytes:
    """Return the JSON bytes to send for a stored resource (no re-encoding when unfiltered)."""
    if stored.content is None:
        return b"{}"
    if mode in (None, "false") and not elements:
        return stored.content
    return jsonio.dumps(summarize(stored.json(), mode, elements))


def page_link(base: str, path: str, params: list[tuple[str, str]], cursor: str | None) -> str:
    kept = [(k, v) for k, v in params if k != "_cursor"]
    if cursor:
        kept.append(("_cursor", cursor))
    query = urlencode(kept)
    return f"{base}/{path}" + (f"?{query}" if query else "")


class RawBundle:
    """A Bundle assembled from pre-encoded resource bytes, to avoid re-serialising content."""

    def __init__(self, btype: str, total: int | None = None) -> None:
        self.head: dict[str, Any] = {"resourceType": "Bundle", "id": str(uuid.uuid4()),
                                     "meta": {"lastUpdated": fhir_instant(to_micros(now()))},
                                     "type": btype}
        if total is not None:
            self.head["total"] = total
        self.links: list[dict[str, str]] = []
        self.entries: list[bytes] = []

    def link(self, relation: str, url: str) -> None:
        """Add a link."""
        self.links.append({"relation": relation, "url": url})

    def add(self, entry: dict[str, Any], resource: bytes | None = None) -> None:
        """Add an entry; ``resource`` bytes are spliced in as ``entry.resource``."""
        encoded = orjson.dumps(entry)
        if resource is not None:
            encoded = encoded[:-1] + (b',"resource":' if len(entry) else b'"resource":') \
                + resource + b"}"
        self.entries.append(encoded)

    def encode(self) -> bytes:
        """Return the Bundle JSON."""
        head = dict(self.head)
        if self.links:
            head["link"] = self.links
        encoded = orjson.dumps(head)[:-1]
        return encoded + b',"entry":[' + b",".join(self.entries) + b"]}" if self.entries \
            else encoded + b"}"


def searchset(base: str, path: str, params: list[tuple[str, str]], result: Any,
              mode: str | None, elements: list[str] | None,
              warnings: list[OutcomeIssue]) -> bytes:
    """Build a searchset Bundle from a SearchResult."""
    bundle = RawBundle("searchset", result.total)
    bundle.link("self", page_link(base, path, params, None if not _cursor(params)
                                   else _cursor(params)))
    if _cursor(params):
        bundle.link("first", page_link(base, path, params, None))
    if result.next_cursor:
        bundle.link("next", page_link(base, path, params, result.next_cursor))
    if mode == "count":
        return bundle.encode()
    for stored in result.matches:
        bundle.add({"fullUrl": f"{base}/{stored.rtype}/{stored.fid}",
                    "search": {"mode": "match"}}, resource_bytes(stored, mode, elements))
    for stored in result.included:
        bundle.add({"fullUrl": f"{base}/{stored.rtype}/{stored.fid}",
                    "search": {"mode": "include"}}, resource_bytes(stored, mode, elements))
    if warnings:
        bundle.add({"search": {"mode": "outcome"}}, orjson.dumps(operation_outcome(warnings)))
    return bundle.encode()


def _cursor(params: list[tuple[str, str]]) -> str | None:
    return next((v for k, v in params if k == "_cursor"), None)


def history_bundle(base: str, path: str, params: list[tuple[str, str]], versions: list[Stored],
                   next_cursor: str | None, total: int | None, poll_cursor: str | None = None,
                   ) -> bytes:
    """Build a history Bundle; a change feed also gets a ``poll`` link to resume from."""
    bundle = RawBundle("history", total)
    bundle.link("self", page_link(base, path, params, _cursor(params)))
    if next_cursor:
        bundle.link("next", page_link(base, path, params, next_cursor))
    if poll_cursor is not None or ("_sort", "_lastUpdated") in params:
        bundle.link("poll", page_link(base, path, params, poll_cursor))
    for v in versions:
        method = {"create": "POST", "update": "PUT", "delete": "DELETE"}.get(v.method, "PUT")
        url = v.rtype if method == "POST" else f"{v.rtype}/{v.fid}"
        status = {"POST": "201 Created", "PUT": "200 OK", "DELETE": "204 No Content"}[method]
        entry = {"fullUrl": f"{base}/{v.rtype}/{v.fid}",
                 "request": {"method": method, "url": url},
                 "response": {"status": status, "etag": v.etag, "lastModified": v.last_modified}}
        bundle.add(entry, v.content)
    return bundle.encode()


def transaction_response(btype: str, entries: list[dict[str, Any]]) -> bytes:
    """Build a batch-response or transaction-response Bundle."""
    return jsonio.dumps({"resourceType": "Bundle", "id": str(uuid.uuid4()),
                         "type": f"{btype}-response", "entry": entries})
