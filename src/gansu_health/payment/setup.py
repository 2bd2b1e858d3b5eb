"""Plug payments into a FhirApi (found by domains.py): ``Invoice/$pay``,
``$payment-reconciliation``, the payment gate of ``$book``, the guards on the resources payments
own, the refund subscriber on scheduling's cancellations and the refund retries."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from gansu_health.core.clock import now, to_micros
from gansu_health.core.database import read_transaction, write_transaction
from gansu_health.payment import gate, operations, resources
from gansu_health.payment import repository as repo
from gansu_health.payment.gateway import build_gateway
from gansu_health.payment.service import Payments
from gansu_health.scheduling import operations as sched_ops

if TYPE_CHECKING:
    from gansu_health.fhir.rest.dispatch import FhirApi

OWNED_TYPES = ("Invoice", "ChargeItem", "PaymentNotice", "PaymentReconciliation")


def retry_refunds(pay: Payments, engine: Engine) -> int:
    """Retry due refunds (a read first, so an idle node takes no write lock)."""
    moment = to_micros(now())
    with read_transaction(engine) as conn:
        if not repo.due_refunds(conn, moment, limit=1):
            return 0
    with write_transaction(engine) as conn:
        return pay.retry_refunds(conn, moment)


def setup(api: FhirApi) -> None:
    """Register the payment operations, hooks, gate and subscribers."""
    settings = api.settings
    pay = Payments(api.service.store, settings.node_id, ZoneInfo(settings.timezone),
                   build_gateway(settings), settings.payment_gate)
    operations.attach(api, pay)
    operations.register(api.registry)
    store = api.service.store
    for rtype in OWNED_TYPES:
        store.on_before_write(rtype, resources.guard_write)
        store.on_after_write(rtype, resources.guard_delete)
    sched_ops.add_gate(api, partial(gate.check, pay))
    api.events.subscribe("payment.refunds", "scheduling.appointment.", pay.on_event)
    api.events.every_round("payment.refund-retries", partial(retry_refunds, pay))
