"""``POST /payment/callback/{gateway}``: the gateway's signed asynchronous notifications.

Outside /fhir: callers are authenticated by the HMAC-SM3 signature, not a token. A forged or
altered body, a stale timestamp (± 5 min) or a nonce seen before (a replay) is refused; a
notification the gateway re-sends with a fresh nonce applies once (outcomes are idempotent).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gansu_health.core.clock import now, to_micros
from gansu_health.core.database import write_transaction
from gansu_health.core.errors import Conflict, NotFound, PlatformError, UnprocessableEntity
from gansu_health.payment import repository as repo
from gansu_health.payment.gateway import GatewayResult, Notification
from gansu_health.payment.operations import payments_of

router = APIRouter()


def receive(api: Any, gateway: str, headers: dict[str, str], body: bytes) -> Notification:
    """Verify and apply one callback in its own transaction."""
    pay = payments_of(api)
    if gateway != pay.gateway.name:
        raise NotFound(f"This node takes callbacks from '{pay.gateway.name}', not '{gateway}'",
                       expression="gateway")
    moment = to_micros(now())
    note = pay.gateway.parse_callback(headers, body, moment // 1_000_000)
    with write_transaction(api.engine) as conn:
        if not repo.remember_nonce(conn, gateway, note.nonce, note.event_id, pay.node, moment):
            raise Conflict(f"Callback nonce {note.nonce} was already used (replay refused)",
                           expression="x-pay-nonce")
        result = GatewayResult(note.status, note.txn, f"{gateway} callback {note.event_id}",
                               note.amount_fen)
        if note.kind == "charge":
            row = repo.payment(conn, note.order_id)
            if row is not None and row.amount_fen != note.amount_fen:
                raise UnprocessableEntity(
                    f"The callback amount {note.amount_fen} fen differs from payment "
                    f"{note.order_id} ({row.amount_fen} fen)", expression="amount")
            pay.settle(conn, note.order_id, result)
        elif note.kind == "refund":
            pay.settle_refund(conn, note.order_id, result)
        else:
            raise UnprocessableEntity(f"Unknown callback kind '{note.kind}'", expression="kind")
    return note


@router.post("/payment/callback/{gateway}", tags=["payment"])
async def callback(gateway: str, request: Request) -> Response:
    """Receive a gateway notification."""
    body = await request.body()
    try:
        await run_in_threadpool(receive, request.app.state.fhir, gateway,
                                dict(request.headers), body)
    except PlatformError as err:
        return Response(err.outcome_bytes(), err.status, media_type="application/fhir+json")
    return JSONResponse({"code": "SUCCESS"})
