"""Refunds by policy (cancel within the cutoff, 停诊 for everyone), refund retries, and the daily
reconciliation finding planted differences (operation and CLI)."""

from __future__ import annotations

from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update
from tests.payment.conftest import (
    Clock,
    Resident,
    api_of,
    appointment,
    clinic,
    deliver,
    events,
    op,
    payments,
    sandbox,
    value,
)
from typer.testing import CliRunner

from gansu_health.core.clock import to_micros
from gansu_health.core.database import write_transaction
from gansu_health.core.settings import Settings
from gansu_health.demo.registry import Clinician
from gansu_health.payment import reconcile
from gansu_health.payment.models import pay_refund, pay_sandbox_txn


def _booked(client: TestClient, settings: Settings, slot: str, key: str
            ) -> tuple[Resident, str, str]:
    me = Resident(client, settings)
    hold = appointment(me.call(client, "Appointment/$hold", patient=me.ref, slot=slot))
    paid = me.pay(client, hold["id"], key)
    me.call(client, f"Appointment/{hold['id']}/$book", patient=me.ref)
    return me, hold["id"], str(value(paid, "payment"))


def _refund(client: TestClient, payment: str) -> object:
    with api_of(client).engine.connect() as conn:
        return conn.execute(select(pay_refund).where(pay_refund.c.payment == payment)).first()


def test_cancel_within_the_cutoff_is_refunded(client: TestClient, settings: Settings,
                                              doctors: list[Clinician], clock: Clock) -> None:
    _, slots = clinic(client, doctors, perSlot=2)
    me, fid, payment = _booked(client, settings, slots[0], "refund-1")
    me.call(client, f"Appointment/{fid}/$cancel", patient=me.ref)
    deliver(client)
    refund = _refund(client, payment)
    assert refund is not None and refund.status == "succeeded" and refund.reason == "patient"
    invoice = client.get(f"/fhir/Invoice?subject=Patient/{me.patient}").json()["entry"][0]
    assert invoice["resource"]["status"] == "cancelled"
    assert "refunded: patient" in invoice["resource"]["cancelledReason"]
    done = events(client, "payment.refund.succeeded")[-1]
    assert done["payment"] == payment and done["appointment"] == f"Appointment/{fid}"
    deliver(client)  # delivering again refunds nothing twice
    with api_of(client).engine.connect() as conn:
        refunds = conn.execute(select(pay_sandbox_txn).where(
            pay_sandbox_txn.c.kind == "refund", pay_sandbox_txn.c.order_id == refund.id)).all()
    assert len(refunds) == 1


def test_stop_clinic_refunds_everyone(client: TestClient, settings: Settings,
                                      doctors: list[Clinician], clock: Clock) -> None:
    schedule, slots = clinic(client, doctors, perSlot=1)
    paid = [_booked(client, settings, slot, f"stop-{i}")[2] for i, slot in enumerate(slots[:3])]
    op(client, f"Schedule/{schedule}/$stop-clinic", date="2027-03-03", period="morning",
       reason="专家外出会诊")
    deliver(client)
    for payment in paid:
        refund = _refund(client, payment)
        assert refund is not None and refund.status == "succeeded"
        assert refund.reason == "clinic-stopped"


def test_failed_refunds_are_retried_with_backoff(client: TestClient, settings: Settings,
                                                 doctors: list[Clinician], clock: Clock) -> None:
    _, slots = clinic(client, doctors, perSlot=2)
    me, fid, payment = _booked(client, settings, slots[1], "retry-1")
    sandbox(client).refund_outcomes.extend(["error", "error"])
    me.call(client, f"Appointment/{fid}/$cancel", patient=me.ref)
    deliver(client)
    first = _refund(client, payment)
    assert first.status == "error" and first.attempts == 1  # type: ignore[attr-defined]
    api = api_of(client)
    with write_transaction(api.engine) as conn:  # not due yet
        assert payments(client).retry_refunds(conn, to_micros(clock.moment)) == 0
    clock.advance(seconds=61)
    with write_transaction(api.engine) as conn:
        assert payments(client).retry_refunds(conn, to_micros(clock.moment)) == 1
    assert _refund(client, payment).attempts == 2  # type: ignore[attr-defined]
    clock.advance(seconds=121)
    with write_transaction(api.engine) as conn:
        payments(client).retry_refunds(conn, to_micros(clock.moment))
    assert _refund(client, payment).status == "succeeded"  # type: ignore[attr-defined]


def test_reconciliation_finds_planted_differences(
        client: TestClient, settings: Settings, doctors: list[Clinician], clock: Clock,
        monkeypatch: object) -> None:
    _, slots = clinic(client, doctors, perSlot=2)
    payments_made = [_booked(client, settings, slots[3 + i], f"recon-{i}")[2] for i in range(3)]
    api = api_of(client)
    day = clock.moment.date()
    with write_transaction(api.engine) as conn:
        clean = reconcile.report(payments(client), conn, day)
        assert clean.balanced and {o for _, o, _ in clean.matched} >= set(payments_made)
        conn.execute(update(pay_sandbox_txn).where(
            pay_sandbox_txn.c.order_id == payments_made[0]).values(amount_fen=1))
        conn.execute(pay_sandbox_txn.delete().where(
            pay_sandbox_txn.c.order_id == payments_made[1]))
        conn.execute(insert(pay_sandbox_txn).values(
            id="sbx-stray", node="620000", kind="charge", order_id="pay-unknown", amount_fen=700,
            status="succeeded", created_us=to_micros(clock.moment),
            settled_us=to_micros(clock.moment)))
    answer = op(client, "$payment-reconciliation", date=day.isoformat())
    names = [(part["name"], {p["name"]: next(v for k, v in p.items() if k != "name")
                             for p in part.get("part", [])}) for part in answer["parameter"]]
    assert value(answer, "balanced") is False
    mismatched = [p for n, p in names if n == "mismatched"]
    assert mismatched == [{"kind": "charge", "order": payments_made[0],
                           "amount": mismatched[0]["amount"], "gatewayAmount": 1}]
    assert [p["order"] for n, p in names if n == "missingAtGateway"] == [payments_made[1]]
    assert [p["order"] for n, p in names if n == "missingOurs"] == ["pay-unknown"]
    _cli_reports_the_same(settings, day, monkeypatch)


def _cli_reports_the_same(settings: Settings, day: date, monkeypatch: object) -> None:
    from gansu_health.cli import app
    from gansu_health.core import database
    from gansu_health.core import settings as settings_module

    monkeypatch.setenv("GANSU_HEALTH_DATABASE_URL", settings.database_url)  # type: ignore[attr-defined]
    settings_module.get_settings.cache_clear()
    database.get_engine.cache_clear()
    try:
        result = CliRunner().invoke(app, ["payment", "reconcile", "--date", day.isoformat(),
                                          "--json"])
    finally:
        database.get_engine().dispose()
        settings_module.get_settings.cache_clear()
        database.get_engine.cache_clear()
    assert result.exit_code == 1, result.output
    assert '"pay-unknown"' in result.output and '"balanced": false' in result.output
