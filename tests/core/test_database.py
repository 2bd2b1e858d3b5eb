"""Pipelined writes: statements sent together, driver reads inside, errors undo the block."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from gansu_health.core.database import (
    build_engine,
    fetch_rows,
    in_pipeline,
    is_sqlite,
    pipelined,
    write_transaction,
)
from gansu_health.core.events import emit_many, outbox, transaction_id
from gansu_health.core.settings import Settings
from gansu_health.fhir.setup import build_service
from gansu_health.fhir.storage.repository import PIPELINE_ROWS, WriteItem
from gansu_health.fhir.storage.tables import INDEX_TABLES


def test_a_pipelined_block_writes_and_reads_with_the_driver(settings: Settings) -> None:
    engine = build_engine(settings.database_url, settings)
    with write_transaction(engine) as conn:
        before = conn.execute(select(func.count()).select_from(outbox)).scalar_one()
        with pipelined(conn):
            assert in_pipeline(conn) is not is_sqlite(conn)
            with pipelined(conn):  # nested: sent with the outer block
                emit_many(conn, [("test.one", {"n": 1})], settings.node_id)
            emit_many(conn, [("test.two", {"n": 2}), ("test.three", {"n": 3})],
                      settings.node_id)
            seen = fetch_rows(conn, "SELECT topic FROM outbox WHERE topic LIKE %s ORDER BY id",
                              ("test.%",))
            txid = transaction_id(conn)
        assert not in_pipeline(conn)
        assert [r[0] for r in seen] == ["test.one", "test.two", "test.three"]
        rows = conn.execute(select(outbox.c.txid).where(outbox.c.topic.like("test.%"))).all()
        assert {r.txid for r in rows} == {txid}
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == before + 3
    engine.dispose()


def test_an_error_in_a_pipelined_block_undoes_the_transaction(settings: Settings) -> None:
    engine = build_engine(settings.database_url, settings)
    service = build_service(settings)
    with write_transaction(engine) as conn:
        kept = service.store.write(conn, {"resourceType": "Patient", "active": True})
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"), \
            write_transaction(engine) as conn, pipelined(conn):
        service.store.write(conn, {"resourceType": "Patient", "gender": "male"})
        conn.exec_driver_sql(  # the same row id again
            "INSERT INTO resource (rid, node, rtype, fid, version, updated_us, deleted) "
            "VALUES (%s, 'x', 'Patient', 'dup', 1, 0, false)".replace(
                "%s", "?" if is_sqlite(conn) else "%s"), (kept.rid,))
    with engine.connect() as conn:
        patients = conn.execute(select(func.count()).select_from(
            INDEX_TABLES["token"]).where(INDEX_TABLES["token"].c.code == "male")).scalar_one()
    assert patients == 0
    engine.dispose()


def test_large_and_small_writes_index_the_same(settings: Settings) -> None:
    """A write past ``PIPELINE_ROWS`` COPYs its rows; a small one sends column arrays."""
    engine = build_engine(settings.database_url, settings)
    service = build_service(settings)
    many = PIPELINE_ROWS // 4 + 1  # each Patient below has more than four index rows

    def person(i: int) -> dict[str, object]:
        return {"resourceType": "Patient", "active": i % 2 == 0, "gender": "female",
                "birthDate": "1990-01-02", "name": [{"family": f"Ma{i}", "given": ["Li"]}],
                "identifier": [{"system": "urn:test:bulk", "value": str(i)}]}

    with write_transaction(engine) as conn:
        big = service.store.write_many(conn, [WriteItem(person(i), None) for i in range(many)])
        small = service.store.write_many(conn, [WriteItem(person(i), None) for i in range(3)])
    token = INDEX_TABLES["token"]
    with engine.connect() as conn:
        def rows_of(rid: int) -> list[tuple[object, ...]]:
            return sorted(tuple(r[2:]) for r in conn.execute(select(token).where(
                token.c.rid == rid)))
        assert len(rows_of(big[0].rid)) > 1
        assert rows_of(big[0].rid) == rows_of(small[0].rid)
        assert rows_of(big[1].rid) == rows_of(small[1].rid)
    engine.dispose()
