"""Key rotation plus batched re-encryption keeps every value readable and re-keys them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, insert, select

from gansu_health.core.database import build_engine, write_transaction
from gansu_health.core.settings import Settings
from gansu_health.identity.crypto import envelope_key_id
from gansu_health.identity.keys import (
    EncryptedColumn,
    FieldCipher,
    MemoryKeyProvider,
    reencrypt_table,
)
from gansu_health.identity.reencrypt import ReencryptStats

ROWS = 257


@pytest.fixture(scope="module")
def engine(settings: Settings) -> Iterator[Engine]:
    eng = build_engine(settings.database_url, settings)
    yield eng
    eng.dispose()


def _phone(i: int) -> str:
    return f"139{i:08d}"


def _rid(i: int) -> str:
    return f"62010219900101{i:04d}"


def _table(engine: Engine, cipher: FieldCipher) -> Table:
    table = Table(f"t_secret_{uuid.uuid4().hex[:8]}", MetaData(),
                  Column("id", Integer, primary_key=True, autoincrement=False),
                  Column("node", String(16), nullable=False),
                  Column("phone_enc", String(200)), Column("phone_bidx", String(64)),
                  Column("rid_enc", String(200)))
    table.create(engine)
    with write_transaction(engine) as conn:
        conn.execute(insert(table), [
            {"id": i, "node": "620000", "phone_enc": cipher.encrypt(_phone(i), "phone"),
             "phone_bidx": cipher.blind_index(_phone(i), "phone"),
             "rid_enc": cipher.encrypt(_rid(i), "rid") if i % 5 else None}
            for i in range(1, ROWS + 1)])
    return table


def test_rotate_then_reencrypt_rekeys_every_value(engine: Engine) -> None:
    keys = MemoryKeyProvider()
    cipher = FieldCipher(keys)
    table = _table(engine, cipher)
    assert keys.rotate("data") == "d2"
    keys.rotate("index")
    columns = [EncryptedColumn("phone_enc", "phone", "phone_bidx", "phone"),
               EncryptedColumn("rid_enc", "rid")]
    with engine.connect() as conn:  # mid-rotation: old values read, old index found
        row = conn.execute(select(table).where(table.c.id == 7)).one()
        assert cipher.decrypt(row.phone_enc, "phone") == _phone(7)
        assert row.phone_bidx in cipher.blind_indexes(_phone(7), "phone")
    seen: list[int] = []

    def progress(stats: ReencryptStats) -> None:
        seen.append(stats.scanned)

    stats = reencrypt_table(engine, cipher, table, "id", columns, batch=50, progress=progress)
    assert (stats.scanned, stats.rewritten, stats.conflicts) == (ROWS, ROWS, 0)
    assert seen[:2] == [50, 100] and seen[-1] == ROWS
    with engine.connect() as conn:
        for row in conn.execute(select(table).order_by(table.c.id)):
            assert envelope_key_id(row.phone_enc) == "d2"
            assert cipher.decrypt(row.phone_enc, "phone") == _phone(row.id)
            assert row.phone_bidx == cipher.blind_index(_phone(row.id), "phone")
            if row.id % 5:
                assert envelope_key_id(row.rid_enc) == "d2"
                assert cipher.decrypt(row.rid_enc, "rid") == _rid(row.id)
            else:
                assert row.rid_enc is None
        hit = conn.execute(select(table.c.id).where(
            table.c.phone_bidx == cipher.blind_index("+86 139 0000 0042", "phone"))).all()
        assert [r.id for r in hit] == [42]
    again = reencrypt_table(engine, cipher, table, "id", columns, batch=100)
    assert (again.scanned, again.rewritten) == (ROWS, 0)
    table.drop(engine)
