"""Concurrent appends from threads, starting from a database with no chain head yet."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select

from gansu_health.core.database import build_engine, write_transaction
from gansu_health.core.settings import Settings
from gansu_health.identity.audit.models import audit_event, audit_head
from gansu_health.identity.audit.repository import AuditRecord, record, verify


@pytest.fixture(scope="module")
def engine(settings: Settings) -> Iterator[Engine]:
    eng = build_engine(settings.database_url, settings)
    yield eng
    eng.dispose()


def _read(patient: str, actor: str) -> AuditRecord:
    return AuditRecord(action="R", subtype="read", actor_type="Practitioner", actor_id=actor,
                       patient_id=patient, resource_type="Patient", resource_id=patient)


def test_concurrent_appends_keep_the_chain_valid(engine: Engine) -> None:
    threads, each = 8, 25
    with engine.connect() as conn:
        assert conn.execute(select(audit_head)).first() is None  # first appends race on it
    before = 0
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(each):
                with write_transaction(engine) as conn:
                    conn.execute(select(audit_head.c.id)).all()  # some other work first
                    record(conn, _read(f"p-thread-{t}", actor=f"doc-{i}"))
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not errors
    report = verify(engine)
    assert report.ok, report.problem
    assert report.last_id == before + threads * each
    with engine.connect() as conn:
        ids = conn.execute(select(audit_event.c.id).where(audit_event.c.id > before)
                           .order_by(audit_event.c.id)).scalars().all()
    assert ids == list(range(before + 1, before + threads * each + 1))

