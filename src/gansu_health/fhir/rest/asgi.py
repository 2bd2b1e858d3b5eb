"""The FHIR interface over HTTP as a pure ASGI layer in front of the web framework.

Every request under ``/fhir`` goes straight to ``FhirApi.handle`` (in a thread of the front's
own pool, ``core.threads``, since it uses the blocking database drivers), unless ``quick`` knows
the answer from memory: no framework routing, request objects or exception layers on the hot
path. An operation may answer later (``Deferred``: a booking waiting for its batch): its thread
and transaction are then freed and the answer is awaited here, on the event loop
(``FhirApi.settle``). The security-headers and CSRF middlewares still wrap it; everything else,
and the few framework routes under ``/fhir`` (the SMART discovery document), passes on
unchanged.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gansu_health.core.errors import MethodNotAllowed, PayloadTooLarge, PlatformError
from gansu_health.core.load import Load
from gansu_health.core.threads import RequestThreads
from gansu_health.fhir.rest.dispatch import FHIR_JSON, FhirApi, FhirRequest, FhirResponse
from gansu_health.fhir.rest.quick import answer_from_memory

PREFIX = "/fhir"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})
PASS_THROUGH = ("/fhir/.well-known/",)  # served by framework routes
log = logging.getLogger(__name__)


class BodyTooLarge(Exception):
    """The request body grew past the limit while it was read."""


class ClientGone(Exception):
    """The client disconnected before its request body arrived: nothing to answer."""


class FhirFront:
    """ASGI middleware answering ``/fhir`` itself and passing every other request on."""

    def __init__(self, app: ASGIApp, *, api: FhirApi, max_body: int,
                 load: Load | None = None) -> None:
        self.app = app
        self.api = api
        self.max_body = max_body
        self.load = load or Load()
        self.threads = RequestThreads(api.settings.request_threads, "fhir-request")

    def _ours(self, scope: Scope) -> str | None:
        """The FHIR path of the request (below the base), or None when it is not ours."""
        if scope["type"] != "http":
            return None
        path: str = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        if (path != PREFIX and not path.startswith(PREFIX + "/")) or path.startswith(PASS_THROUGH):
            return None
        return path[len(PREFIX):].lstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a FHIR request, or hand the request to the application."""
        path = self._ours(scope)
        if path is None:
            await self.app(scope, receive, send)
            return
        self.load.enter()
        try:
            response = await self._serve(scope, receive, path)
            await _send(send, response, scope["method"] == "HEAD")
        except ClientGone:
            return
        finally:
            self.load.leave()

    async def _serve(self, scope: Scope, receive: Receive, path: str) -> FhirResponse:
        method = scope["method"]
        if method not in METHODS:
            return _error(MethodNotAllowed(f"{method} is not a FHIR interaction"))
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope["headers"]}
        length = headers.get("content-length", "")
        too_large = PayloadTooLarge(f"The body has more than {self.max_body} bytes; at most "
                                    f"{self.max_body} are accepted")
        if length.isdigit() and int(length) > self.max_body:
            return _error(too_large)
        try:
            body = await _read(receive, self.max_body)
        except BodyTooLarge:
            return _error(too_large)
        client = scope.get("client")
        req = FhirRequest(method, path,
                          parse_qsl(scope["query_string"].decode("latin-1"),
                                    keep_blank_values=True),
                          headers, body, client_ip=client[0] if client else None,
                          deferrable=True)
        quick = answer_from_memory(self.api, req)
        if quick is not None:
            return quick
        try:
            response = await self.threads.run(self.api.handle, req)
            if response.later is not None:  # awaited here: the request's thread is free
                response = await self.api.settle(req, response)
            return response
        except Exception:
            log.exception("FHIR request failed: %s /fhir/%s", method, path)
            return _error(PlatformError("The server failed to answer this request"))


def _error(exc: PlatformError) -> FhirResponse:
    return FhirResponse(exc.status, exc.outcome_bytes())


async def _read(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _send(send: Send, response: FhirResponse, head: bool) -> None:
    body = b"" if head else response.body
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1"))
           for k, v in response.headers.items()]
    if response.body and not any(name == b"content-type" for name, _ in raw):
        raw.append((b"content-type", FHIR_JSON.encode()))
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
