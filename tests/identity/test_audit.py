"""The SM3-chained audit trail: append, verify, tamper detection, concurrency, search, purge."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, delete, exc, func, insert, select, text, update

from gansu_health.core.clock import now, set_clock
from gansu_health.core.database import build_engine, is_sqlite, read_transaction, write_transaction
from gansu_health.core.settings import Settings
from gansu_health.identity.audit.models import audit_event, audit_head
from gansu_health.identity.audit.repository import (
    AuditRecord,
    RetentionError,
    VerifyReport,
    purge,
    record,
    record_many,
    record_now,
    search_by_patient,
    verify,
)


@pytest.fixture(scope="module")
def engine(settings: Settings) -> Iterator[Engine]:
    eng = build_engine(settings.database_url, settings)
    yield eng
    eng.dispose()


def _read(patient: str, actor: str = "doc-1", **extra: Any) -> AuditRecord:
    return AuditRecord(action="R", subtype="read", actor_type="Practitioner", actor_id=actor,
                       actor_name="王医生", patient_id=patient, resource_type="Observation",
                       resource_id=f"obs-{patient}", purpose_of_use="TREAT",
                       source_ip="10.62.0.8", user_agent="his-client/1.0", **extra)


def _fill(engine: Engine, n: int, patient: str = "p-fill") -> None:
    for i in range(n):
        record_now(engine, _read(patient, actor=f"doc-{i}"))


@contextmanager
def attacker(engine: Engine) -> Iterator[Connection]:
    """Raw SQL with the append-only triggers bypassed, as someone with DDL rights could."""
    with write_transaction(engine) as conn:
        if is_sqlite(conn):
            ddl = conn.execute(text("SELECT sql FROM sqlite_master WHERE type = 'trigger' "
                                    "AND tbl_name = 'audit_event'")).scalars().all()
            for name in ("audit_event_no_update", "audit_event_no_delete"):
                conn.execute(text(f"DROP TRIGGER {name}"))
            yield conn
            for sql in ddl:
                conn.execute(text(sql))
        else:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            yield conn


def verify_tampered(engine: Engine, tamper: Callable[[Connection], object]) -> VerifyReport:
    """Tamper with raw SQL, verify, then put every row and the head back as they were."""
    with read_transaction(engine) as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(audit_event))]
        head = [dict(r._mapping) for r in conn.execute(select(audit_head))]
    with attacker(engine) as conn:
        tamper(conn)
    report = verify(engine)
    with attacker(engine) as conn:
        conn.execute(delete(audit_event))
        conn.execute(delete(audit_head))
        conn.execute(insert(audit_event), rows)
        conn.execute(insert(audit_head), head)
    assert verify(engine).ok
    return report


def _base(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(audit_head.c.base_id)).scalar_one())


def test_chain_appends_and_verifies(engine: Engine) -> None:
    _fill(engine, 5)
    with write_transaction(engine) as conn:
        first = record(conn, _read("p-1"))
        second = record(conn, AuditRecord(action="C", subtype="create", patient_id="p-1",
                                          user_agent="x" * 1000, query="a\x00b"))
    assert second.id == first.id + 1 and second.prev_hash == first.hash
    assert len(second.user_agent or "") == 256 and second.query == "ab"
    report = verify(engine, batch=3)
    assert report.ok and report.checked >= 7 and report.broken_id is None
    with pytest.raises(ValueError, match="action"):
        record_now(engine, AuditRecord(action="X", subtype="read"))
    with pytest.raises(ValueError, match="outcome"):
        record_now(engine, AuditRecord(action="R", subtype="read", outcome=3))


def test_batch_append_links_every_row_in_order(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        before = record(conn, _read("p-0"))
        rows = record_many(conn, [_read(f"p-{i}") for i in range(1, 5)])
        after = record(conn, _read("p-5"))
    assert [r.id for r in rows] == list(range(before.id + 1, before.id + 5))
    assert [r.patient_id for r in rows] == ["p-1", "p-2", "p-3", "p-4"]
    assert rows[0].prev_hash == before.hash and after.prev_hash == rows[-1].hash
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    assert verify(engine).ok
    with write_transaction(engine) as conn, pytest.raises(ValueError, match="action"):
        record_many(conn, [_read("p-6"), AuditRecord(action="X", subtype="read")])
    assert verify(engine).ok


def test_rolled_back_append_leaves_chain_intact(engine: Engine) -> None:
    with pytest.raises(RuntimeError), write_transaction(engine) as conn:
        record(conn, _read("p-rollback"))
        raise RuntimeError("abort the request")
    record_now(engine, _read("p-after"))
    assert verify(engine).ok


def test_append_only_triggers_refuse_update_and_delete(engine: Engine) -> None:
    _fill(engine, 1)
    with pytest.raises(exc.DBAPIError), write_transaction(engine) as conn:
        conn.execute(update(audit_event).values(actor_id="mallory"))
    with pytest.raises(exc.DBAPIError), write_transaction(engine) as conn:
        conn.execute(delete(audit_event).where(audit_event.c.id == 1))
    assert verify(engine).ok



def test_detects_edited_row(engine: Engine) -> None:
    _fill(engine, 6)
    base = _base(engine)
    report = verify_tampered(engine, lambda c: c.execute(
        update(audit_event).where(audit_event.c.id == base + 4).values(actor_id="mallory")))
    assert not report.ok and report.broken_id == base + 4
    assert "edited" in (report.problem or "") and report.checked == 3


def test_detects_deleted_row(engine: Engine) -> None:
    _fill(engine, 6)
    base = _base(engine)
    report = verify_tampered(engine, lambda c: c.execute(
        delete(audit_event).where(audit_event.c.id == base + 5)))
    assert not report.ok and report.broken_id == base + 5
    assert "missing" in (report.problem or "")


def test_detects_deleted_tail_and_renumbered_rows(engine: Engine) -> None:
    _fill(engine, 3)
    with engine.connect() as conn:
        last = int(conn.execute(select(audit_head.c.last_id)).scalar_one())
    report = verify_tampered(engine, lambda c: c.execute(
        delete(audit_event).where(audit_event.c.id == last)))
    assert not report.ok and report.broken_id == last and "end" in (report.problem or "")

    def delete_and_renumber(conn: Connection) -> None:
        conn.execute(delete(audit_event).where(audit_event.c.id == last - 1))
        conn.execute(update(audit_event).where(audit_event.c.id == last)
                     .values(id=last - 1))
    report = verify_tampered(engine, delete_and_renumber)
    assert not report.ok and report.broken_id == last - 1


def test_detects_reordered_rows(engine: Engine) -> None:
    _fill(engine, 6)
    base = _base(engine)

    def swap(conn: Connection) -> None:
        for old, new in ((base + 2, -1), (base + 3, base + 2), (-1, base + 3)):
            conn.execute(update(audit_event).where(audit_event.c.id == old).values(id=new))
    report = verify_tampered(engine, swap)
    assert not report.ok and report.broken_id == base + 2
    assert "link" in (report.problem or "")


def test_search_by_patient_newest_first_paged(engine: Engine) -> None:
    for i in range(5):
        record_now(engine, _read("p-search", actor=f"doc-s{i}"))
    record_now(engine, _read("p-other"))
    with read_transaction(engine) as conn:
        page1 = search_by_patient(conn, "p-search", limit=2)
        assert [r.actor_id for r in page1.rows] == ["doc-s4", "doc-s3"]
        page2 = search_by_patient(conn, "p-search", limit=2, before=page1.next_before)
        page3 = search_by_patient(conn, "p-search", limit=2, before=page2.next_before)
    assert [r.actor_id for r in page2.rows] == ["doc-s2", "doc-s1"]
    assert [r.actor_id for r in page3.rows] == ["doc-s0"] and page3.next_before is None


def test_purge_refuses_young_rows_and_keeps_chain_verifiable(engine: Engine) -> None:
    _fill(engine, 4, "p-old")
    with pytest.raises(RetentionError, match="younger"):
        purge(engine, now() - timedelta(days=30))
    with pytest.raises(RetentionError, match="six months"):
        purge(engine, now() - timedelta(days=300), retention=timedelta(days=90))
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(audit_event)).scalar_one()
        last = int(conn.execute(select(audit_head.c.last_id)).scalar_one())
    real = now()
    set_clock(lambda: real + timedelta(days=400))
    try:
        young = record_now(engine, _read("p-new"))  # recorded "now", 400 days on
        report = purge(engine, real + timedelta(days=100), batch=7)
    finally:
        set_clock(None)
    assert report.deleted == total and report.through_id == last
    assert len(report.anchors) == -(-total // 7)
    result = verify(engine)
    assert result.ok, result.problem
    assert result.first_id == young.id and result.last_id == report.anchors[-1]
    with read_transaction(engine) as conn:
        assert search_by_patient(conn, "p-old").rows == []
        assert [r.id for r in search_by_patient(conn, "p-new").rows] == [young.id]
    tail = verify_tampered(engine, lambda c: c.execute(
        delete(audit_event).where(audit_event.c.id == young.id)))
    assert not tail.ok and tail.broken_id == young.id
