"""The payment-gateway port, and the signing of asynchronous callbacks.

A real provider (UnionPay 银联, WeChat Pay 微信支付, Alipay 支付宝) plugs in here: implement
``PaymentGateway`` and name it in ``GANSU_HEALTH_PAYMENT_GATEWAY`` as ``package.module:Class``
(constructed with the ``Settings``). ``charge`` should only place the order (fast: it runs inside
the request's transaction) and let the outcome arrive by callback or ``query``; ``refund``
likewise. Every method receives the caller's connection: real providers ignore it, the sandbox
keeps its ledger there. The merchant order number is our payment id, derived from the caller's
Idempotency-Key, so providers that deduplicate on it never charge twice.

Callbacks are signed with HMAC-SM3 over ``<timestamp>\\n<nonce>\\n<body>`` with the shared secret
(``GANSU_HEALTH_PAYMENT_CALLBACK_SECRET``) in ``X-Pay-Timestamp``, ``X-Pay-Nonce`` and
``X-Pay-Signature`` (hex); adapters for providers with their own scheme (WeChat Pay v3 signs with
RSA/SM2 certificates) verify it in ``parse_callback`` and map it to a ``Notification``.
"""

from __future__ import annotations

import hmac as std_hmac
import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection

from gansu_health.core.errors import BadRequest, Unauthorized
from gansu_health.core.settings import Settings
from gansu_health.identity.crypto import hmac_sm3

OUTCOMES = ("succeeded", "processing", "declined", "error")
TIMESTAMP, NONCE, SIGNATURE = "x-pay-timestamp", "x-pay-nonce", "x-pay-signature"
TOLERANCE_S = 300


@dataclass(frozen=True, slots=True)
class Order:
    """What we ask the gateway to charge."""

    order_id: str
    amount_fen: int
    description: str
    hints: Mapping[str, str] = field(default_factory=dict)  # e.g. card, sandbox outcome


@dataclass(frozen=True, slots=True)
class GatewayResult:
    """The gateway's answer about a charge or a refund."""

    status: str  # one of OUTCOMES
    txn: str | None = None
    message: str = ""
    amount_fen: int | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    """A verified asynchronous callback: the outcome of a charge or a refund."""

    event_id: str
    kind: str  # charge | refund
    order_id: str  # our payment id (charge) or refund id (refund)
    status: str
    txn: str | None
    amount_fen: int
    nonce: str = ""


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One settled transaction in the gateway's daily statement."""

    kind: str  # charge | refund
    order_id: str
    txn: str
    amount_fen: int


class PaymentGateway(ABC):
    """A payment provider as the platform sees it."""

    name = "gateway"

    @abstractmethod
    def charge(self, conn: Connection, order: Order) -> GatewayResult:
        """Place (and, when the provider answers at once, settle) a charge."""

    @abstractmethod
    def query(self, conn: Connection, order_id: str) -> GatewayResult:
        """Ask for the current outcome of a charge."""

    @abstractmethod
    def refund(self, conn: Connection, refund_id: str, order_id: str, amount_fen: int
               ) -> GatewayResult:
        """Refund ``amount_fen`` of a settled charge; ``refund_id`` makes it idempotent."""

    @abstractmethod
    def statement(self, conn: Connection, start_us: int, end_us: int) -> list[StatementLine]:
        """The provider's settled transactions in ``[start_us, end_us)`` (the daily statement)."""

    @abstractmethod
    def parse_callback(self, headers: Mapping[str, str], body: bytes, now_s: int
                       ) -> Notification:
        """Verify a callback's signature and freshness and read it; raise Unauthorized."""


def signature(secret: bytes, timestamp: str, nonce: str, body: bytes) -> str:
    """The hex HMAC-SM3 of a callback."""
    return hmac_sm3(secret, f"{timestamp}\n{nonce}\n".encode() + body).hex()


def sign(secret: bytes, body: bytes, timestamp: int, nonce: str) -> dict[str, str]:
    """The headers that sign a callback body."""
    return {TIMESTAMP: str(timestamp), NONCE: nonce,
            SIGNATURE: signature(secret, str(timestamp), nonce, body)}


def verify(secret: bytes, headers: Mapping[str, str], body: bytes, now_s: int) -> str:
    """Check a callback's HMAC-SM3 signature and timestamp; return its nonce."""
    low = {k.lower(): v for k, v in headers.items()}
    stamp, nonce, given = low.get(TIMESTAMP, ""), low.get(NONCE, ""), low.get(SIGNATURE, "")
    if not stamp or not nonce or not given:
        raise Unauthorized(f"A payment callback needs the {TIMESTAMP}, {NONCE} and {SIGNATURE} "
                           "headers", expression=SIGNATURE)
    if not std_hmac.compare_digest(signature(secret, stamp, nonce, body), given.lower()):
        raise Unauthorized("The callback signature does not match its body (forged or altered)",
                           expression=SIGNATURE)
    if not stamp.isdigit() or abs(int(stamp) - now_s) > TOLERANCE_S:
        raise Unauthorized(f"The callback timestamp {stamp} is more than {TOLERANCE_S} s away "
                           "from now (stale or replayed)", expression=TIMESTAMP)
    if len(nonce) > 64:
        raise BadRequest("The callback nonce is longer than 64 characters", expression=NONCE)
    return nonce


def read_notification(body: bytes, nonce: str) -> Notification:
    """Read the JSON body of a platform-format callback."""
    try:
        data: dict[str, Any] = orjson.loads(body)
        return Notification(str(data["id"]), str(data["kind"]), str(data["order"]),
                            str(data["status"]), data.get("txn"), int(data["amount"]), nonce)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise BadRequest("The callback body must be JSON with id, kind, order, status and "
                         "amount", expression="body") from None


def build_gateway(settings: Settings) -> PaymentGateway:
    """The gateway named by ``settings.payment_gateway``: ``sandbox`` or ``module:Class``."""
    name = settings.payment_gateway.strip()
    if name == "sandbox":
        from gansu_health.payment.sandbox import SandboxGateway

        return SandboxGateway(settings.node_id, settings.payment_callback_secret.encode())
    module, colon, attr = name.partition(":")
    if not colon:
        raise ValueError(f"payment_gateway must be 'sandbox' or 'module:Class', not {name!r}")
    gateway = getattr(importlib.import_module(module), attr)(settings)
    if not isinstance(gateway, PaymentGateway):
        raise TypeError(f"{name} does not build a PaymentGateway")
    return gateway
